"""Problem models: one package per kind, each with instance, formats, heuristics, compile, check.

:class:`InstanceError` is the one exception bad instance input raises.
"""

from makespan.models.errors import InstanceError

__all__ = ["InstanceError"]
