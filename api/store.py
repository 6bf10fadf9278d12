"""The job store: every job, its options, instance, incumbents, checkpoint and result.

One interface over SQLAlchemy Core, so the same code runs on the embedded SQLite file and on a
shared PostgreSQL database; the schema is created and upgraded by Alembic migrations
(``api/migrations``) when the store opens.

A job answered with an id is in the database before the answer leaves. A running job is
*claimed* by one server under a lease (``owner``, ``lease_expires``) that the server renews;
when the server dies its leases run out and :meth:`JobStore.recover` puts those jobs back in the
queue (re-run from scratch, up to ``max_attempts`` starts) or finishes them with their last
checkpoint. State changes are conditional updates, so a cancelled job can never start and a
finished job never changes again.

Transient database errors (``database is locked``, I/O errors, a full disk, a dropped
connection) are retried with backoff: without limit for the server's own bookkeeping
(:meth:`JobStore.retrying`), for a bounded time on request paths, which then answer 503.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from makespan.api.health import Health
from makespan.api.schema import incumbents, jobs, migrate

log = logging.getLogger("makespan.store")

T = TypeVar("T")

LEASE_S = 30.0
"""How long a claim on a running job lasts unless its server renews it (the default of
``MAKESPAN_LEASE_S``): what a dead server's jobs wait before another server takes them over."""

REQUEST_RETRY_S = 8.0
"""How long a request waits out a busy database before it answers 503."""

MAX_INCUMBENTS = 500
"""Progress points kept per job; past it every other older point is dropped."""

SQLITE_BUSY_TIMEOUT_MS = 2000
"""How long one SQLite statement waits for a lock before the retry loop takes over."""


class StoreUnavailableError(RuntimeError):
    """The database could not be reached or stayed locked; the request may be retried (503)."""


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
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED})


@dataclass(frozen=True)
class JobRecord:
    """One job, without its instance (read that with :meth:`JobStore.instance`)."""

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
    owner: str | None = None


_last_id_ns = 0
_id_lock = threading.Lock()


def new_job_id() -> str:
    """A fresh job id, 32 hex digits: nanoseconds since the epoch, then 64 random bits.

    Ids from one process strictly increase, so jobs stored within the same millisecond (their
    ``created_at`` tie) are still claimed in the order they were accepted.
    """
    global _last_id_ns
    with _id_lock:
        _last_id_ns = max(time.time_ns(), _last_id_ns + 1)
        stamp = _last_id_ns
    return f"{stamp:016x}{secrets.token_hex(8)}"


def now() -> str:
    """The current UTC time in ISO 8601, millisecond precision (sorts as text)."""
    return iso(datetime.now(UTC))


def iso(moment: datetime) -> str:
    """``moment`` in the store's ISO 8601 form."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def server_identity() -> str:
    """A name for this server process, unique across restarts: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def database_url(target: str | Path) -> str:
    """The SQLAlchemy URL of ``MAKESPAN_DB``: a file path for SQLite, or a PostgreSQL URL."""
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + text.split("://", 1)[1]
    if text.startswith(("postgresql+", "sqlite:")):
        return text
    return f"sqlite:///{Path(text).expanduser()}"


_RECORD_COLUMNS = (
    jobs.c.id,
    jobs.c.problem,
    jobs.c.status,
    jobs.c.created_at,
    jobs.c.started_at,
    jobs.c.finished_at,
    jobs.c.options,
    jobs.c.slots,
    jobs.c.attempts,
    jobs.c.cancel_requested,
    jobs.c.result,
    jobs.c.error,
    jobs.c.owner,
)


class JobStore:
    """Thread-safe access to the jobs database (a connection pool; no lock of ours)."""

    def __init__(
        self, target: str | Path, health: Health | None = None, *, lease_s: float = LEASE_S
    ) -> None:
        self.url = database_url(target)
        self.health = health or Health()
        self.lease_s = lease_s
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            Path(self.url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = _engine(self.url)
        self._writer = self.engine.execution_options(immediate=True)
        migrate(self.engine)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    # -- transactions and retries --------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._writer.begin() as connection:
            yield connection

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as connection:
            yield connection

    def retrying(self, action: Callable[[], T], what: str, *, patience_s: float | None = None) -> T:
        """Run ``action``, retrying transient database errors with backoff: forever when
        ``patience_s`` is None (the server's own bookkeeping), else for that long, then
        :class:`StoreUnavailableError`. While it retries, the health report says why."""
        started = time.monotonic()
        delay = 0.05
        while True:
            try:
                value = action()
            except (OperationalError, DBAPIError) as error:
                if not _transient(error):
                    raise
                waited = time.monotonic() - started
                self.health.problem(
                    f"store: {what}", f"{_reason(error)} (retrying for {waited:.0f} s)"
                )
                if patience_s is not None and waited >= patience_s:
                    reason = _reason(error)
                    raise StoreUnavailableError(f"the job store is unavailable: {reason}") from None
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            self.health.clear(f"store: {what}")
            return value

    def _patiently(self, action: Callable[[], T], what: str) -> T:
        return self.retrying(action, what, patience_s=REQUEST_RETRY_S)

    # -- requests ------------------------------------------------------------------------

    def insert(self, problem: str, instance: str, options: dict[str, Any], slots: int) -> JobRecord:
        """Store a new queued job; durable when this returns."""
        job_id = new_job_id()
        created = now()
        row = {
            "id": job_id,
            "problem": problem,
            "status": JobStatus.QUEUED.value,
            "created_at": created,
            "options": json.dumps(options),
            "instance": instance,
            "slots": slots,
        }

        def insert() -> None:
            with self._write() as c:
                c.execute(jobs.insert().values(**row))

        self._patiently(insert, "insert")
        return JobRecord(
            id=job_id,
            problem=problem,
            status=JobStatus.QUEUED,
            created_at=created,
            started_at=None,
            finished_at=None,
            options=options,
            slots=slots,
            attempts=0,
            cancel_requested=False,
            result=None,
            error=None,
        )

    def get(self, job_id: str) -> JobRecord | None:
        """The job with this id, or None."""

        def get() -> JobRecord | None:
            with self._read() as c:
                row = c.execute(sa.select(*_RECORD_COLUMNS).where(jobs.c.id == job_id)).first()
            return None if row is None else _record(row)

        return self._patiently(get, "read")

    def instance(self, job_id: str) -> str:
        """The stored JSON instance of a job."""

        def read() -> str:
            with self._read() as c:
                value = c.execute(sa.select(jobs.c.instance).where(jobs.c.id == job_id)).scalar()
            return str(value)

        return self._patiently(read, "read")

    def recent(self, limit: int, status: JobStatus | None = None) -> list[JobRecord]:
        """The newest jobs first, optionally of one status (by the creation-time index)."""
        query = sa.select(*_RECORD_COLUMNS).order_by(jobs.c.created_at.desc(), jobs.c.id.desc())
        if status is not None:
            query = query.where(jobs.c.status == status.value)

        def read() -> list[JobRecord]:
            with self._read() as c:
                return [_record(row) for row in c.execute(query.limit(limit))]

        return self._patiently(read, "read")

    def count(self, status: JobStatus, *, patience_s: float = REQUEST_RETRY_S) -> int:
        """How many jobs have this status (waiting out a busy database up to ``patience_s``)."""

        def read() -> int:
            with self._read() as c:
                query = sa.select(sa.func.count()).where(jobs.c.status == status.value)
                return int(c.execute(query).scalar() or 0)

        return self.retrying(read, "read", patience_s=patience_s)

    def request_cancel(self, job_id: str) -> JobRecord | None:
        """Cancel a queued job at once (``cancelled`` is final), or remember that a running one
        was asked to stop. Returns the job as it now is."""

        def cancel() -> None:
            with self._write() as c:
                c.execute(
                    jobs.update()
                    .where(jobs.c.id == job_id, jobs.c.status.not_in(_FINAL))
                    .values(cancel_requested=1)
                )
                c.execute(
                    jobs.update()
                    .where(jobs.c.id == job_id, jobs.c.status == JobStatus.QUEUED.value)
                    .values(status=JobStatus.CANCELLED.value, finished_at=now())
                )

        self._patiently(cancel, "cancel")
        return self.get(job_id)

    def purge(self, job_id: str) -> bool:
        """Delete a finished job and its progress now; False when it is not finished."""

        def purge() -> bool:
            with self._write() as c:
                deleted = c.execute(
                    jobs.delete().where(jobs.c.id == job_id, jobs.c.status.in_(_FINAL))
                ).rowcount
                if deleted:
                    c.execute(incumbents.delete().where(incumbents.c.job_id == job_id))
            return bool(deleted)

        return self._patiently(purge, "purge")

    def incumbents(self, job_id: str, after: int = -1) -> list[dict[str, Any]]:
        """The progress points of a job after sequence number ``after``, in order, each with
        its sequence number."""

        def read() -> list[dict[str, Any]]:
            query = (
                sa.select(
                    incumbents.c.seq,
                    incumbents.c.time_s,
                    incumbents.c.objective,
                    incumbents.c.bound,
                )
                .where(incumbents.c.job_id == job_id, incumbents.c.seq > after)
                .order_by(incumbents.c.seq)
            )
            with self._read() as c:
                rows = c.execute(query).all()
            return [
                {"seq": s, "time_s": t, "objective": _num(o), "bound": _num(b)}
                for s, t, o, b in rows
            ]

        return self._patiently(read, "read")

    # -- the server's bookkeeping (retried without limit by the caller) ------------------

    def claim(self, job_id: str, owner: str) -> bool:
        """queued -> running for ``owner`` under a fresh lease; False when the job is no longer
        queued (cancelled, or claimed by another server)."""
        with self._write() as c:
            return self._claim(c, job_id, owner)

    def claim_oldest(self, owner: str, free_slots: int) -> JobRecord | None:
        """Claim the oldest queued job if it fits in ``free_slots``; None when there is none
        or it does not fit (first come, first served: no job overtakes an older one).

        On PostgreSQL the row is locked with ``FOR UPDATE SKIP LOCKED``, so servers sharing the
        database each take a different job without waiting for one another; SQLite's write
        lock serialises the claims.
        """
        oldest = (
            sa.select(jobs.c.id, jobs.c.slots)
            .where(jobs.c.status == JobStatus.QUEUED.value)
            .order_by(jobs.c.created_at, jobs.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        with self._write() as c:
            row = c.execute(oldest).first()
            if row is None or row.slots > free_slots or not self._claim(c, row.id, owner):
                return None
            claimed = c.execute(sa.select(*_RECORD_COLUMNS).where(jobs.c.id == row.id)).first()
        return None if claimed is None else _record(claimed)

    def _claim(self, c: Connection, job_id: str, owner: str) -> bool:
        claimed = c.execute(
            jobs.update()
            .where(jobs.c.id == job_id, jobs.c.status == JobStatus.QUEUED.value)
            .values(
                status=JobStatus.RUNNING.value,
                started_at=now(),
                attempts=jobs.c.attempts + 1,
                owner=owner,
                lease_expires=time.time() + self.lease_s,
            )
        ).rowcount
        if claimed:
            c.execute(incumbents.delete().where(incumbents.c.job_id == job_id))
        return bool(claimed)

    def renew(self, owner: str, job_ids: list[str]) -> None:
        """Extend the leases of the jobs this server runs."""
        if not job_ids:
            return
        with self._write() as c:
            c.execute(
                jobs.update()
                .where(_held_by(owner), jobs.c.id.in_(job_ids))
                .values(lease_expires=time.time() + self.lease_s)
            )

    def release(self, owner: str) -> None:
        """End this server's leases now (a clean shutdown): the next server re-runs its jobs
        without waiting for them to expire."""
        with self._write() as c:
            c.execute(jobs.update().where(_held_by(owner)).values(lease_expires=0.0))

    def cancel_requested(self, job_ids: list[str]) -> set[str]:
        """Which of these jobs were asked to stop (by any server)."""
        if not job_ids:
            return set()
        query = sa.select(jobs.c.id).where(jobs.c.id.in_(job_ids), jobs.c.cancel_requested == 1)
        with self._read() as c:
            return {row[0] for row in c.execute(query)}

    def add_incumbent(
        self, job_id: str, time_s: float, objective: float | None, bound: float | None
    ) -> int:
        """Append one progress point; returns its sequence number (0 for the first). Past
        :data:`MAX_INCUMBENTS` points, every other older one is dropped (the first and the
        latest are always kept)."""
        with self._write() as c:
            last = c.execute(
                sa.select(sa.func.max(incumbents.c.seq)).where(incumbents.c.job_id == job_id)
            ).scalar()
            seq = 0 if last is None else int(last) + 1
            c.execute(
                incumbents.insert().values(
                    job_id=job_id, seq=seq, time_s=time_s, objective=objective, bound=bound
                )
            )
            if seq >= MAX_INCUMBENTS:
                kept = c.execute(
                    sa.select(sa.func.count()).where(incumbents.c.job_id == job_id)
                ).scalar()
                if (kept or 0) > MAX_INCUMBENTS:
                    _thin(c, job_id)
        return seq

    def save_checkpoint(self, job_id: str, result: dict[str, Any], owner: str) -> None:
        """Keep a running job's best checked answer, for a server that takes it over."""
        text = json.dumps(result, allow_nan=False)
        with self._write() as c:
            c.execute(
                jobs.update().where(_held_by(owner), jobs.c.id == job_id).values(checkpoint=text)
            )

    def finish(
        self,
        job_id: str,
        status: JobStatus,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        *,
        owner: str | None = None,
    ) -> bool:
        """Record the end of a job, unless it already ended; True when this call ended it.

        With ``owner``, only while that server still holds the job: a server that lost its
        lease (another took the job over) cannot overwrite the job's end.
        """
        claim = sa.true() if owner is None else jobs.c.owner == owner
        with self._write() as c:
            ended = c.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.status.not_in(_FINAL), claim)
                .values(
                    status=status.value,
                    finished_at=now(),
                    result=None if result is None else json.dumps(result, allow_nan=False),
                    error=None if error is None else json.dumps(error),
                    checkpoint=None,
                    lease_expires=None,
                )
            ).rowcount
        return bool(ended)

    def recover(self, owner: str, max_attempts: int, alive: Callable[[str], bool]) -> Recovery:
        """Running jobs whose server is gone: back to the queue, or final once out of attempts.

        A job's server is gone when its lease expired, or when ``alive(owner)`` says so (a
        process on this machine that no longer exists). A job out of attempts ends ``done``
        with its last checkpoint when it has one, else ``failed`` with the reason.
        """
        query = sa.select(
            jobs.c.id,
            jobs.c.attempts,
            jobs.c.cancel_requested,
            jobs.c.owner,
            jobs.c.lease_expires,
            jobs.c.checkpoint,
        ).where(jobs.c.status == JobStatus.RUNNING.value, jobs.c.owner != owner)
        with self._read() as c:
            rows = c.execute(query).all()
        recovery = Recovery()
        moment = time.time()
        for job_id, attempts, cancelled, previous, expires, checkpoint in rows:
            if (expires or 0.0) > moment and previous is not None and alive(previous):
                continue
            self._recover_one(job_id, attempts, bool(cancelled), checkpoint, max_attempts, recovery)
        return recovery

    def _recover_one(
        self,
        job_id: str,
        attempts: int,
        cancelled: bool,
        checkpoint: str | None,
        max_attempts: int,
        recovery: Recovery,
    ) -> None:
        best = None if checkpoint is None else json.loads(checkpoint)
        if cancelled:
            self.finish(job_id, JobStatus.CANCELLED, best)
            recovery.finished.append(job_id)
        elif attempts >= max_attempts:
            reason = f"the server running this job stopped during each of its {attempts} starts"
            if best is not None:
                best["message"] = "; ".join(filter(None, [best.get("message"), reason]))
                self.finish(job_id, JobStatus.DONE, best)
            else:
                self.finish(
                    job_id, JobStatus.FAILED, error={"type": "interrupted", "message": reason}
                )
            recovery.finished.append(job_id)
        else:
            with self._write() as c:
                c.execute(
                    jobs.update()
                    .where(jobs.c.id == job_id, jobs.c.status == JobStatus.RUNNING.value)
                    .values(status=JobStatus.QUEUED.value, started_at=None, owner=None)
                )
            recovery.requeued.append(job_id)

    def delete_finished_before(self, cutoff: datetime) -> int:
        """Delete the jobs that finished before ``cutoff``, with their progress; how many."""
        stamp = iso(cutoff)
        with self._write() as c:
            old = sa.select(jobs.c.id).where(jobs.c.status.in_(_FINAL), jobs.c.finished_at < stamp)
            c.execute(incumbents.delete().where(incumbents.c.job_id.in_(old)))
            return int(
                c.execute(
                    jobs.delete().where(jobs.c.status.in_(_FINAL), jobs.c.finished_at < stamp)
                ).rowcount
            )

    def expire(self, retention: timedelta) -> int:
        """Delete finished jobs older than ``retention``."""
        return self.delete_finished_before(datetime.now(UTC) - retention)


@dataclass
class Recovery:
    """What :meth:`JobStore.recover` did: jobs put back in the queue, and jobs it ended."""

    requeued: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)


_FINAL = tuple(status.value for status in FINAL_STATUSES)


def _held_by(owner: str) -> sa.ColumnElement[bool]:
    """Running jobs that ``owner`` holds."""
    return sa.and_(jobs.c.owner == owner, jobs.c.status == JobStatus.RUNNING.value)


def _thin(c: Connection, job_id: str) -> None:
    """Drop every other point but the first and the newest: the curve keeps its shape."""
    rows = [
        row[0]
        for row in c.execute(
            sa.select(incumbents.c.seq)
            .where(incumbents.c.job_id == job_id)
            .order_by(incumbents.c.seq)
        )
    ]
    dropped = rows[1:-1:2]
    if dropped:
        c.execute(
            incumbents.delete().where(incumbents.c.job_id == job_id, incumbents.c.seq.in_(dropped))
        )


def _engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return sa.create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=8)
    engine = sa.create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        pool_size=8,
        max_overflow=16,
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions begin as below, not implicitly
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # Writers take the write lock up front (a deferred transaction that upgrades to a
        # writer can fail at once instead of waiting); readers never take it, so reads go on
        # while another process holds the write lock.
        immediate = connection.get_execution_options().get("immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


_TRANSIENT = (
    "database is locked",
    "database table is locked",
    "disk i/o error",
    "database or disk is full",
    "unable to open database",
    "server closed the connection",
    "connection",
    "could not serialize",
    "deadlock detected",
    "timeout",
)


def _transient(error: DBAPIError) -> bool:
    if getattr(error, "connection_invalidated", False):
        return True
    text = str(error.orig).lower()
    return any(marker in text for marker in _TRANSIENT)


def _reason(error: DBAPIError) -> str:
    return str(error.orig).splitlines()[0] if error.orig is not None else str(error)


def _num(value: float | None) -> float | int | None:
    if value is not None and float(value).is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _record(row: Any) -> JobRecord:
    return JobRecord(
        id=row.id,
        problem=row.problem,
        status=JobStatus(row.status),
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        options=json.loads(row.options),
        slots=row.slots,
        attempts=row.attempts,
        cancel_requested=bool(row.cancel_requested),
        result=None if row.result is None else json.loads(row.result),
        error=None if row.error is None else json.loads(row.error),
        owner=row.owner,
    )
