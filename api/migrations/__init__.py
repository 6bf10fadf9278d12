"""Alembic migrations of the job store (run by :func:`makespan.api.schema.migrate`)."""
