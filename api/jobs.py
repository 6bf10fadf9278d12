"""The job manager: accepts jobs into the store, runs them on an executor within the CPU slots,
records their progress, and tells subscribers (the SSE streams) what happens.

Its threads cannot die: the scheduler, the recorder (every store write the executor's events
cause, in order, retried through locks, I/O errors and full disks until it lands) and the keeper
(leases, cancels from other servers, recovery of jobs whose server died, retention) each catch
and report their errors and carry on; ``/healthz`` says ``degraded`` with the reason meanwhile.
Nothing a request does waits for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import shutil
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from makespan.api.errors import QueueFullError
from makespan.api.executor import Executor, JobStartError
from makespan.api.health import Health
from makespan.api.local_executor import kill_stale_job_process
from makespan.api.requests import ParsedJob, ServiceLimits
from makespan.api.settings import Settings
from makespan.api.store import (
    JobRecord,
    JobStatus,
    JobStore,
    Recovery,
    StoreUnavailableError,
    server_identity,
)
from makespan.api.worker import CHECKPOINT_FILE, RESULT_FILE, JobTask, read_json_file
from makespan.solvers.options import OptionsError, SolveOptions
from makespan.solvers.pipeline import given_solution, steered

log = logging.getLogger("makespan.jobs")

SCHEDULE_EVERY_S = 1.0
"""How often the queue is looked at even when nothing pokes the scheduler (other servers'
submissions, retries after a database error)."""

RECOVER_EVERY_S = 5.0
"""How often jobs left by a dead server are looked for."""

EXPIRE_EVERY_S = 3600.0
"""How often finished jobs past their retention are deleted (more often for a retention
shorter than four times this: a quarter of it, at least every second)."""

SUBSCRIBER_QUEUE = 256
"""Events buffered per SSE stream; a stream that falls behind loses its oldest incumbents."""


@dataclass(frozen=True)
class JobEvent:
    """One server-sent event: ``status``, ``incumbent`` or ``done``."""

    kind: str
    data: dict[str, Any] | None
    seq: int | None = None


@dataclass
class _Subscriber:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[JobEvent]


class JobManager:
    """Owns the store, the executor and the slot accounting of one server."""

    def __init__(
        self, settings: Settings, store: JobStore, executor: Executor, health: Health
    ) -> None:
        self.settings = settings
        self.store = store
        self.executor = executor
        self.health = health
        self.owner = server_identity()
        self.limits = ServiceLimits(
            size_limits=settings.size_limits,
            max_time_limit_s=settings.max_time_limit_s,
            default_time_limit_s=settings.default_time_limit,
        )
        self._lock = threading.RLock()
        self._used_slots = 0
        self._here: dict[str, int] = {}
        """Jobs running on this server, with the slots each holds."""
        self._subscribers: dict[str, list[_Subscriber]] = {}
        self._records: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.queue_length: int | None = None
        """Jobs queued at the scheduler's last look (``/healthz`` reads it, not the store)."""
        self.queue_read_at: float | None = None
        """When the scheduler last read the queue (``time.monotonic()``)."""
        self._renewed_at = time.monotonic()
        """When this server's leases were last renewed."""

    # life cycle -------------------------------------------------------------------------

    def start(self) -> Recovery:
        """Finish or requeue what a previous server left behind, then start the threads."""
        self._adopt_job_folders()
        recovery = self._recover()
        self._guarded("retention", self._expire)
        self.executor.start(self)
        for target in (self._schedule_loop, self._record_loop, self._keep_loop):
            thread = threading.Thread(target=target, daemon=True, name=target.__name__)
            thread.start()
            self._threads.append(thread)
        self._wake.set()
        return recovery

    def shutdown(self) -> None:
        """Stop the threads and the job processes; their jobs are re-run by the next start
        (this server's leases are released so that it need not wait for them)."""
        self._stopping.set()
        self._wake.set()
        self._records.put(None)
        for thread in self._threads:
            thread.join(timeout=10)
        self.executor.shutdown()
        with contextlib.suppress(Exception):
            self.store.retrying(lambda: self.store.release(self.owner), "release", patience_s=3)

    # requests ---------------------------------------------------------------------------

    def submit(self, job: ParsedJob) -> JobRecord:
        """Check the job against the CPU slots and the queue, store it queued, and schedule."""
        if job.options.job_initial is not None:
            job = self._from_job(job)
        slots = job.options.workers or 1
        if slots > self.settings.workers:
            raise OptionsError(
                "options.workers",
                f"{slots} workers exceed this service's {self.settings.workers} CPU slots",
            )
        queued = self.queue_length  # the scheduler's count, at most a second old: no query here
        if queued is not None and queued >= self.settings.max_queue:
            raise QueueFullError(f"the queue is full ({self.settings.max_queue} jobs waiting)")
        stored_options = job.options.model_copy(update={"workers": slots}).model_dump(mode="json")
        record = self.store.insert(
            job.model.kind, job.instance.model_dump_json(), stored_options, slots
        )
        with self._lock:
            self.queue_length = (self.queue_length or 0) + 1
        self._wake.set()
        return record

    def _from_job(self, job: ParsedJob) -> ParsedJob:
        """``options.job_initial`` resolved: that job's solution as the initial solution."""
        source_id = job.options.job_initial
        record = None if source_id is None else self.store.get(source_id)
        solution = None if record is None else (record.result or {}).get("solution")
        if record is None or record.problem != job.model.kind or solution is None:
            kind = job.model.kind
            raise OptionsError(
                "options.job_initial",
                f"no finished {kind} job {source_id!r} with a solution to start from",
            )
        options = job.options.model_copy(update={"initial_solution": solution})
        given_solution(steered(job.model, job.instance, options), job.instance, solution)
        return ParsedJob(job.model, job.instance, options)

    def cancel(self, job_id: str) -> JobRecord | None:
        """Cancel a queued job at once, or ask a running one to stop with its best answer."""
        before = self.store.get(job_id)
        if before is None or before.status.is_final:
            return before
        after = self.store.request_cancel(job_id)
        if after is not None and after.status is JobStatus.CANCELLED:
            self._publish_final(after)
        elif job_id in self._here:
            self.executor.cancel(job_id)
        return after

    def purge(self, job_id: str) -> bool | None:
        """Delete a finished job now: True when deleted, False when it has not finished, None
        when there is no such job."""
        record = self.store.get(job_id)
        if record is None:
            return None
        return self.store.purge(job_id)

    # executor events (from the executor's threads: queued for the recorder) ---------------

    def on_incumbent(self, job_id: str, incumbent: dict[str, Any]) -> None:
        """Store the progress point, then pass it on."""
        self._records.put(lambda: self._record_incumbent(job_id, incumbent))

    def on_checkpoint(self, job_id: str, result: dict[str, Any]) -> None:
        """Keep the job's best answer so far in the store (for a server that takes it over)."""
        self._records.put(lambda: self.store.save_checkpoint(job_id, result, self.owner))

    def on_result(self, job_id: str, result: dict[str, Any]) -> None:
        """A job ended with a Result: done, or cancelled when it was stopped."""
        cancelled = result.get("termination") == "cancelled"
        status = JobStatus.CANCELLED if cancelled else JobStatus.DONE
        self._release(job_id)
        self._records.put(lambda: self._record_final(job_id, status, result=result))

    def on_error(self, job_id: str, error: dict[str, Any]) -> None:
        """A job ended without a Result."""
        self._release(job_id)
        self._records.put(lambda: self._record_final(job_id, JobStatus.FAILED, error=error))

    def _record_incumbent(self, job_id: str, incumbent: dict[str, Any]) -> None:
        seq = self.store.add_incumbent(
            job_id, incumbent["time_s"], incumbent["objective"], incumbent["bound"]
        )
        self._publish(job_id, JobEvent("incumbent", incumbent, seq))

    def _record_final(
        self,
        job_id: str,
        status: JobStatus,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        try:
            self.store.finish(job_id, status, result, error)
        except (ValueError, TypeError) as problem:  # a result the store cannot hold
            failure = {
                "type": "unstorable",
                "message": f"the result could not be stored: {problem}",
            }
            self.store.finish(job_id, JobStatus.FAILED, error=failure)
        self.executor.forget(job_id)
        record = self.store.get(job_id)
        if record is not None:
            self._publish_final(record)

    # the threads --------------------------------------------------------------------------

    def _schedule_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(SCHEDULE_EVERY_S)
            self._wake.clear()
            self._guarded("scheduler", self._schedule)

    def _record_loop(self) -> None:
        while True:
            action = self._records.get()
            if action is None:
                return
            self._guarded("recorder", partial(self.store.retrying, action, "record"))

    def _keep_loop(self) -> None:
        started = time.monotonic()
        expire_every = min(EXPIRE_EVERY_S, max(1.0, self.settings.retention_days * 86400 / 4))
        due = {
            "renew": 0.0,
            "recover": started + RECOVER_EVERY_S,
            "expire": started + expire_every,
        }
        while not self._stopping.wait(1.0):
            now = time.monotonic()
            self._guarded("cancels", self._follow_cancels)
            if now >= due["renew"]:
                due["renew"] = now + self.store.lease_s / 3
                self._guarded("leases", self._renew_leases)
            if now >= due["recover"]:
                due["recover"] = now + RECOVER_EVERY_S
                self._guarded("recovery", self._recover)
            if now >= due["expire"]:
                due["expire"] = now + expire_every
                self._guarded("retention", self._expire)

    def _guarded(self, part: str, action: Callable[[], Any]) -> None:
        """Run one step of a thread; an error is logged and reported, never fatal."""
        try:
            action()
            self.health.clear(part)
        except Exception as error:
            log.exception("%s", part)
            self.health.problem(part, f"{type(error).__name__}: {error}")
            self._stopping.wait(0.5)

    # scheduling ---------------------------------------------------------------------------

    def _schedule(self) -> None:
        self.queue_length = self.store.retrying(
            partial(self.store.count, JobStatus.QUEUED), "read the queue"
        )
        self.queue_read_at = time.monotonic()
        while self.queue_length and not self._stopping.is_set():
            with self._lock:
                free = self.settings.workers - self._used_slots
            claim = partial(self.store.claim_oldest, self.owner, free)
            record = self.store.retrying(claim, "claim") if free > 0 else None
            if record is None:
                return  # none queued, or the oldest needs more slots than are free
            with self._lock:
                self.queue_length = max(0, (self.queue_length or 1) - 1)
            self._start(record)

    def _start(self, record: JobRecord) -> None:
        with self._lock:
            self._used_slots += record.slots
            self._here[record.id] = record.slots
        self._publish(record.id, JobEvent("status", {"status": JobStatus.RUNNING.value}))
        instance = self.store.retrying(lambda: self.store.instance(record.id), "read")
        task = JobTask(
            job_id=record.id,
            problem=record.problem,
            instance_json=instance,
            options=SolveOptions.model_validate(record.options),
        )
        try:
            self.executor.submit(task)
        except JobStartError as error:
            self.on_error(record.id, {"type": "start_failed", "message": str(error)})
        except Exception as error:  # an executor's bug must not leave the job claimed forever
            log.exception("starting job %s", record.id)
            message = f"could not start the job: {type(error).__name__}: {error}"
            self.on_error(record.id, {"type": "start_failed", "message": message})

    def _release(self, job_id: str) -> None:
        with self._lock:
            self._used_slots -= self._here.pop(job_id, 0)
        self._wake.set()

    # leases, cancels, recovery, retention -----------------------------------------------

    def _follow_cancels(self) -> None:
        """Stop the jobs running here that were cancelled on any server."""
        with self._lock:
            here = list(self._here)
        if here:
            for job_id in self.store.retrying(lambda: self.store.cancel_requested(here), "read"):
                self.executor.cancel(job_id)

    def _renew_leases(self) -> None:
        """Extend this server's claims; once they have gone unrenewed for most of a lease
        (the database out of reach), stop the jobs, since another server may take them over:
        no job runs twice at once, and a late answer of ours is refused by the store."""
        with self._lock:
            here = list(self._here)
        renew = partial(self.store.renew, self.owner, here)
        try:
            self.store.retrying(renew, "renew leases", patience_s=self.store.lease_s / 3)
        except StoreUnavailableError:
            if time.monotonic() - self._renewed_at > 0.8 * self.store.lease_s:
                for job_id in here:
                    self.executor.cancel(job_id)
            raise
        self._renewed_at = time.monotonic()

    def _recover(self) -> Recovery:
        recovery = self.store.retrying(
            lambda: self.store.recover(self.owner, self.settings.max_attempts, _owner_alive),
            "recover",
        )
        for job_id in recovery.finished:
            record = self.store.get(job_id)
            if record is not None:
                self._publish_final(record)
        if recovery.requeued:
            log.info("requeued %d jobs of a stopped server", len(recovery.requeued))
            self._wake.set()
        return recovery

    def _adopt_job_folders(self) -> None:
        """Finish the jobs whose final answer a previous server on this machine left in their
        folders (it died while storing it), keep their checkpoints, and make sure their
        processes are gone."""
        folder_root = self.settings.job_folders
        if not folder_root.is_dir():
            return
        for folder in folder_root.iterdir():
            record = self.store.get(folder.name)
            if record is not None and record.status is JobStatus.RUNNING:
                if record.owner is not None and _owner_alive(record.owner):
                    continue
                kill_stale_job_process(folder)
                self._adopt(record, folder)
            shutil.rmtree(folder, ignore_errors=True)

    def _adopt(self, record: JobRecord, folder: Path) -> None:
        final = read_json_file(folder / RESULT_FILE)
        if final is not None and final.get("kind") == "result":
            cancelled = final["payload"].get("termination") == "cancelled"
            status = JobStatus.CANCELLED if cancelled else JobStatus.DONE
            self.store.retrying(lambda: self.store.finish(record.id, status, final["payload"]), "")
            return
        checkpoint = read_json_file(folder / CHECKPOINT_FILE)
        if checkpoint is not None:
            keep = partial(self.store.save_checkpoint, record.id, checkpoint, record.owner or "")
            self.store.retrying(keep, "keep a checkpoint")

    def _expire(self) -> None:
        retention = timedelta(days=self.settings.retention_days)
        deleted = self.store.retrying(lambda: self.store.expire(retention), "expire")
        if deleted:
            log.info("deleted %d jobs finished more than %s ago", deleted, retention)

    # subscribers ------------------------------------------------------------------------

    def subscribe(self, job_id: str) -> asyncio.Queue[JobEvent]:
        """A queue that receives the job's events from now on (call from the event loop)."""
        events: asyncio.Queue[JobEvent] = asyncio.Queue(SUBSCRIBER_QUEUE)
        with self._lock:
            self._subscribers.setdefault(job_id, []).append(
                _Subscriber(asyncio.get_running_loop(), events)
            )
        return events

    def unsubscribe(self, job_id: str, events: asyncio.Queue[JobEvent]) -> None:
        """Stop sending events to ``events``."""
        with self._lock:
            subscribers = self._subscribers.get(job_id, [])
            subscribers[:] = [s for s in subscribers if s.queue is not events]
            if not subscribers:
                self._subscribers.pop(job_id, None)

    def _publish_final(self, record: JobRecord) -> None:
        self._publish(
            record.id, JobEvent("status", {"status": record.status.value, "error": record.error})
        )
        self._publish(record.id, JobEvent("done", record.result))

    def _publish(self, job_id: str, event: JobEvent) -> None:
        with self._lock:
            subscribers = list(self._subscribers.get(job_id, []))
        for subscriber in subscribers:
            with contextlib.suppress(RuntimeError):  # its loop closed: the stream is gone
                subscriber.loop.call_soon_threadsafe(_offer, subscriber.queue, event)


def _offer(events: asyncio.Queue[JobEvent], event: JobEvent) -> None:
    """Put ``event``, dropping the oldest waiting one when the stream has fallen behind."""
    if events.full():
        with contextlib.suppress(asyncio.QueueEmpty):
            events.get_nowait()
    events.put_nowait(event)


def _owner_alive(owner: str) -> bool:
    """Whether the server named ``owner`` (``host:pid:random``) may still be running: False
    only when it ran on this machine and its process is gone."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # an earlier server with our pid: we are its successor
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"makespan" in command
