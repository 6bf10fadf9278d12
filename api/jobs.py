"""The job manager: accepts jobs into the store, runs them on an executor within the CPU slots,
records their progress, and tells subscribers (the SSE streams) what happens."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from makespan.api.executor import Executor, JobTask
from makespan.api.settings import Settings
from makespan.api.store import JobRecord, JobStatus, JobStore
from makespan.solvers.options import OptionsError, SolveOptions


class QueueFullError(RuntimeError):
    """The queue holds ``max_queue`` jobs already; try again later."""


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
    """Owns the store, the executor and the slot accounting of one service."""

    def __init__(self, settings: Settings, store: JobStore, executor: Executor) -> None:
        self.settings = settings
        self.store = store
        self.executor = executor
        self._lock = threading.RLock()
        self._used_slots = 0
        self._running_slots: dict[str, int] = {}
        self._subscribers: dict[str, list[_Subscriber]] = {}

    # life cycle -------------------------------------------------------------------------

    def start(self) -> tuple[int, int]:
        """Recover jobs a previous run left behind and start the queue; (requeued, failed)."""
        recovered = self.store.recover(self.settings.max_attempts)
        self.executor.start(self)
        self._schedule()
        return recovered

    def shutdown(self) -> None:
        """Stop the executor; running jobs are re-run by the next start."""
        self.executor.shutdown()

    # requests ---------------------------------------------------------------------------

    def submit(self, problem: str, instance: BaseModel, options: SolveOptions) -> JobRecord:
        """Validate the job against the service limits, store it queued, and schedule."""
        if options.time_limit_s > self.settings.max_time_limit_s:
            raise OptionsError(
                "options.time_limit_s",
                f"{options.time_limit_s:g} s exceeds this service's maximum of "
                f"{self.settings.max_time_limit_s:g} s",
            )
        slots = options.workers or 1
        if slots > self.settings.workers:
            raise OptionsError(
                "options.workers",
                f"{slots} workers exceed this service's {self.settings.workers} CPU slots",
            )
        if self.store.count(JobStatus.QUEUED) >= self.settings.max_queue:
            raise QueueFullError(f"the queue is full ({self.settings.max_queue} jobs waiting)")
        stored_options = options.model_copy(update={"workers": slots}).model_dump(mode="json")
        record = self.store.insert(problem, instance.model_dump_json(), stored_options, slots)
        self._schedule()
        return record

    def cancel(self, job_id: str) -> JobRecord | None:
        """Cancel a queued job at once, or ask a running one to stop with its best incumbent."""
        record = self.store.get(job_id)
        if record is None or record.status.is_final:
            return record
        self.store.request_cancel(job_id)
        if record.status is JobStatus.QUEUED:
            self.store.finish(job_id, JobStatus.CANCELLED)
            self._publish_final(job_id)
        else:
            self.executor.cancel(job_id)
        return self.store.get(job_id)

    # scheduling -------------------------------------------------------------------------

    def _schedule(self) -> None:
        with self._lock:
            for record in self.store.queued():
                free = self.settings.workers - self._used_slots
                if record.slots > free:
                    return  # first come, first served: no job overtakes an older one
                self._used_slots += record.slots
                self._running_slots[record.id] = record.slots
                self.store.mark_running(record.id)
                self._publish(record.id, JobEvent("status", {"status": JobStatus.RUNNING.value}))
                self.executor.submit(
                    JobTask(
                        job_id=record.id,
                        problem=record.problem,
                        instance_json=self.store.instance(record.id),
                        options=record.options,
                        slots=record.slots,
                        time_limit_s=float(record.options["time_limit_s"]),
                    )
                )

    def _release(self, job_id: str) -> None:
        with self._lock:
            self._used_slots -= self._running_slots.pop(job_id, 0)
        self._schedule()

    # executor events --------------------------------------------------------------------

    def on_incumbent(self, job_id: str, incumbent: dict[str, Any]) -> None:
        """Store the progress point and pass it on."""
        seq = self.store.add_incumbent(
            job_id, incumbent["time_s"], incumbent["objective"], incumbent["bound"]
        )
        self._publish(job_id, JobEvent("incumbent", incumbent, seq))

    def on_result(self, job_id: str, result: dict[str, Any]) -> None:
        """A job ended with a Result: done, or cancelled when it was stopped."""
        cancelled = result.get("termination") == "cancelled"
        self.store.finish(job_id, JobStatus.CANCELLED if cancelled else JobStatus.DONE, result)
        self._publish_final(job_id)
        self._release(job_id)

    def on_error(self, job_id: str, error: dict[str, Any]) -> None:
        """A job ended without a Result."""
        self.store.finish(job_id, JobStatus.FAILED, error=error)
        self._publish_final(job_id)
        self._release(job_id)

    # subscribers ------------------------------------------------------------------------

    def subscribe(self, job_id: str) -> asyncio.Queue[JobEvent]:
        """A queue that receives the job's events from now on (call from the event loop)."""
        queue: asyncio.Queue[JobEvent] = asyncio.Queue()
        with self._lock:
            self._subscribers.setdefault(job_id, []).append(
                _Subscriber(asyncio.get_running_loop(), queue)
            )
        return queue

    def unsubscribe(self, job_id: str, queue: asyncio.Queue[JobEvent]) -> None:
        """Stop sending events to ``queue``."""
        with self._lock:
            subscribers = self._subscribers.get(job_id, [])
            subscribers[:] = [s for s in subscribers if s.queue is not queue]
            if not subscribers:
                self._subscribers.pop(job_id, None)

    def _publish_final(self, job_id: str) -> None:
        record = self.store.get(job_id)
        if record is None:
            return
        self._publish(
            job_id, JobEvent("status", {"status": record.status.value, "error": record.error})
        )
        self._publish(job_id, JobEvent("done", record.result))

    def _publish(self, job_id: str, event: JobEvent) -> None:
        with self._lock:
            subscribers = list(self._subscribers.get(job_id, []))
        for subscriber in subscribers:
            subscriber.loop.call_soon_threadsafe(subscriber.queue.put_nowait, event)
