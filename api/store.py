"""The job store: one SQLite file holding every job, its options, instance, incumbents and result.

A job answered with an id is in this file before the answer leaves, so it survives a restart:
on start, :meth:`JobStore.recover` puts jobs that were running back in the queue (they are
re-run from scratch, up to ``max_attempts`` starts) and marks the rest failed with the reason.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    problem TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    options TEXT NOT NULL,
    instance TEXT NOT NULL,
    slots INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, created_at);
CREATE TABLE IF NOT EXISTS incumbents (
    job_id TEXT NOT NULL REFERENCES jobs (id),
    seq INTEGER NOT NULL,
    time_s REAL NOT NULL,
    objective REAL,
    bound REAL,
    PRIMARY KEY (job_id, seq)
);
"""


class JobStatus(StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """True for done, failed and cancelled."""
        return self in (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)


@dataclass(frozen=True)
class JobRecord:
    """One row of the store, without the instance (read that with :meth:`JobStore.instance`)."""

    id: str
    problem: str
    status: JobStatus
    created_at: str
    started_at: str | None
    finished_at: str | None
    options: dict[str, Any]
    slots: int
    attempts: int
    cancel_requested: bool
    result: dict[str, Any] | None
    error: dict[str, Any] | None


def now() -> str:
    """The current UTC time in ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_COLUMNS = (
    "id, problem, status, created_at, started_at, finished_at, options, slots, attempts, "
    "cancel_requested, result, error"
)


class JobStore:
    """Thread-safe access to the jobs database (one connection, serialised by a lock)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def insert(self, problem: str, instance: str, options: dict[str, Any], slots: int) -> JobRecord:
        """Store a new queued job; durable when this returns."""
        job_id = uuid.uuid4().hex
        with self._lock:
            self._db.execute(
                "INSERT INTO jobs (id, problem, status, created_at, options, instance, slots) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (job_id, problem, JobStatus.QUEUED, now(), json.dumps(options), instance, slots),
            )
        record = self.get(job_id)
        assert record is not None
        return record

    def get(self, job_id: str) -> JobRecord | None:
        """The job with this id, or None."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
        return None if row is None else _record(row)

    def instance(self, job_id: str) -> str:
        """The stored JSON instance of a job."""
        with self._lock:
            row = self._db.execute("SELECT instance FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return str(row[0])

    def recent(self, limit: int, status: JobStatus | None = None) -> list[JobRecord]:
        """The newest jobs first, optionally of one status."""
        query = f"SELECT {_COLUMNS} FROM jobs"
        params: tuple[Any, ...] = ()
        if status is not None:
            query += " WHERE status = ?"
            params = (status.value,)
        query += " ORDER BY created_at DESC, rowid DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, (*params, limit)).fetchall()
        return [_record(row) for row in rows]

    def queued(self) -> list[JobRecord]:
        """Queued jobs, oldest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE status = ? ORDER BY created_at, rowid",
                (JobStatus.QUEUED.value,),
            ).fetchall()
        return [_record(row) for row in rows]

    def count(self, status: JobStatus) -> int:
        """How many jobs have this status."""
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM jobs WHERE status = ?", (status,)
            ).fetchone()
        return int(row[0])

    def mark_running(self, job_id: str) -> None:
        """A worker took the job."""
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET status = ?, started_at = ?, attempts = attempts + 1 WHERE id = ?",
                (JobStatus.RUNNING, now(), job_id),
            )

    def request_cancel(self, job_id: str) -> None:
        """Remember that the job was asked to stop (survives a restart)."""
        with self._lock:
            self._db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))

    def add_incumbent(
        self, job_id: str, time_s: float, objective: float | None, bound: float | None
    ) -> int:
        """Append one progress point; returns its sequence number (0 for the first)."""
        with self._lock:
            (seq,) = self._db.execute(
                "SELECT COUNT(*) FROM incumbents WHERE job_id = ?", (job_id,)
            ).fetchone()
            self._db.execute(
                "INSERT INTO incumbents (job_id, seq, time_s, objective, bound) "
                "VALUES (?, ?, ?, ?, ?)",
                (job_id, seq, time_s, objective, bound),
            )
        return int(seq)

    def incumbents(self, job_id: str) -> list[dict[str, Any]]:
        """The progress points of a job, in order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT time_s, objective, bound FROM incumbents WHERE job_id = ? ORDER BY seq",
                (job_id,),
            ).fetchall()
        return [{"time_s": t, "objective": _num(o), "bound": _num(b)} for t, o, b in rows]

    def finish(
        self,
        job_id: str,
        status: JobStatus,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        """Record the end of a job, unless it already ended."""
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET status = ?, finished_at = ?, result = ?, error = ? "
                "WHERE id = ? AND status IN (?, ?)",
                (
                    status,
                    now(),
                    None if result is None else json.dumps(result, allow_nan=False),
                    None if error is None else json.dumps(error),
                    job_id,
                    JobStatus.QUEUED,
                    JobStatus.RUNNING,
                ),
            )

    def recover(self, max_attempts: int) -> tuple[int, int]:
        """After a restart: running jobs go back to the queue, or fail once out of attempts.

        Returns (requeued, failed).
        """
        with self._lock:
            rows = self._db.execute(
                "SELECT id, attempts, cancel_requested FROM jobs WHERE status = ?",
                (JobStatus.RUNNING.value,),
            ).fetchall()
        requeued = failed = 0
        for job_id, attempts, cancelled in rows:
            if cancelled:
                self._set_final(job_id, JobStatus.CANCELLED, None)
            elif attempts >= max_attempts:
                reason = {
                    "type": "interrupted",
                    "message": f"the server stopped during this job's {attempts} starts",
                }
                self._set_final(job_id, JobStatus.FAILED, reason)
                failed += 1
            else:
                with self._lock:
                    self._db.execute(
                        "UPDATE jobs SET status = ?, started_at = NULL WHERE id = ?",
                        (JobStatus.QUEUED, job_id),
                    )
                    self._db.execute("DELETE FROM incumbents WHERE job_id = ?", (job_id,))
                requeued += 1
        return requeued, failed

    def _set_final(self, job_id: str, status: JobStatus, error: dict[str, Any] | None) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET status = ?, finished_at = ?, error = ? WHERE id = ?",
                (status, now(), None if error is None else json.dumps(error), job_id),
            )


def _num(value: float | None) -> float | int | None:
    if value is not None and float(value).is_integer():
        return int(value)
    return value


def _record(row: tuple[Any, ...]) -> JobRecord:
    (
        job_id,
        problem,
        status,
        created,
        started,
        finished,
        options,
        slots,
        attempts,
        cancel,
        result,
        error,
    ) = row
    return JobRecord(
        id=job_id,
        problem=problem,
        status=JobStatus(status),
        created_at=created,
        started_at=started,
        finished_at=finished,
        options=json.loads(options),
        slots=slots,
        attempts=attempts,
        cancel_requested=bool(cancel),
        result=None if result is None else json.loads(result),
        error=None if error is None else json.loads(error),
    )
