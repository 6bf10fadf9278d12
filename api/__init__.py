"""The ways users reach makespan: the ``makespan`` command line (:mod:`makespan.api.cli`), the REST
service (:mod:`makespan.api.server`) and the Python SDK (:mod:`makespan.api.client`)."""
