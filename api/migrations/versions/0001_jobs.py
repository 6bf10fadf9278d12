"""The jobs and incumbents tables as makespan first made them (before migrations existed).

``if_not_exists`` lets a database made by that version pass through unchanged.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op

from makespan.api.schema import incumbent_columns_0001, job_columns_0001

revision = "0001"
down_revision = None


def upgrade() -> None:
    """Create the two tables and the status index."""
    op.create_table("jobs", *job_columns_0001(), if_not_exists=True)
    op.create_index("jobs_by_status", "jobs", ["status", "created_at"], if_not_exists=True)
    op.create_table("incumbents", *incumbent_columns_0001(), if_not_exists=True)
