"""Leases (which server runs a job, until when), checkpoints, and the creation-time index.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

from makespan.api.schema import job_columns_0002

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    """Add the claim and checkpoint columns and the indexes the list and the janitor use."""
    with op.batch_alter_table("jobs") as batch:
        for column in job_columns_0002():
            batch.add_column(column)
    op.create_index("jobs_by_created", "jobs", ["created_at"])
    op.create_index("jobs_by_finished", "jobs", ["status", "finished_at"])
    op.create_index("jobs_by_owner", "jobs", ["owner", "status"])
