"""The job store's tables, and the migrations that create and upgrade them (Alembic).

The columns are declared once here, grouped by the revision that introduced them (those groups
are frozen: a change is a new revision); the migrations in ``api/migrations/versions`` build the
tables from them step by step, and :func:`migrate` runs whatever a database is missing when a
store opens it. A database made by an older makespan (before migrations) is upgraded in place.
"""

from __future__ import annotations

import threading
from importlib.resources import files
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

metadata = sa.MetaData()


def job_columns_0001() -> list[sa.Column[Any]]:
    """The ``jobs`` columns as revision 0001 created them (frozen: later revisions add)."""
    return [
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("problem", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("started_at", sa.Text),
        sa.Column("finished_at", sa.Text),
        sa.Column("options", sa.Text, nullable=False),
        sa.Column("instance", sa.Text, nullable=False),
        sa.Column("slots", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("cancel_requested", sa.Integer, nullable=False, server_default="0"),
        sa.Column("result", sa.Text),
        sa.Column("error", sa.Text),
    ]


def job_columns_0002() -> list[sa.Column[Any]]:
    """The ``jobs`` columns revision 0002 added: the claim of the server running a job
    (``owner``, ``lease_expires``) and its best answer so far (``checkpoint``)."""
    return [
        sa.Column("owner", sa.Text),
        sa.Column("lease_expires", sa.Float),
        sa.Column("checkpoint", sa.Text),
    ]


def incumbent_columns_0001() -> list[sa.Column[Any]]:
    """The ``incumbents`` columns as revision 0001 created them."""
    return [
        sa.Column("job_id", sa.Text, primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("time_s", sa.Float, nullable=False),
        sa.Column("objective", sa.Float),
        sa.Column("bound", sa.Float),
    ]


jobs = sa.Table("jobs", metadata, *job_columns_0001(), *job_columns_0002())
"""One row per job, as the latest revision leaves it."""

incumbents = sa.Table("incumbents", metadata, *incumbent_columns_0001())
"""A job's progress points, in order of ``seq``."""

MIGRATIONS = "makespan.api:migrations"
"""Where Alembic finds the migration scripts (inside the installed package)."""


_MIGRATING = threading.Lock()
"""Alembic keeps its running context in module globals: one migration at a time per process."""


def migrate(engine: Engine) -> None:
    """Bring the database's schema up to date (creating it when it is empty)."""
    with _MIGRATING:
        _upgrade(engine)


def _upgrade(engine: Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(files("makespan.api").joinpath("migrations")))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Servers starting together on one database migrate one at a time (the lock ends
            # with the transaction).
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


_LOCK = 0x6D616B65
"""The advisory lock key the migrations hold on PostgreSQL ("make")."""
