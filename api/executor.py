"""Executors run jobs somewhere and report back; the job manager never knows where.

:class:`LocalProcessExecutor` runs each job in its own process (started from a fork server with
the solver preloaded), so a crash or a kill never takes the server down. The time limit is
enforced by the solver and backed by a hard kill at ``time limit + grace``.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Protocol

from makespan.api import worker

DEFAULT_KILL_GRACE_S = 10.0
"""How long a solve may run past its time limit before its executor kills it."""

_FINAL_EVENT_GRACE_S = 3.0
"""How long after a job process exits its final event may still be on its way."""


class ExecutorEvents(Protocol):
    """Where an executor reports what its jobs do."""

    def on_incumbent(self, job_id: str, incumbent: dict[str, Any]) -> None:
        """An improving solution or bound."""

    def on_result(self, job_id: str, result: dict[str, Any]) -> None:
        """The job's final Result."""

    def on_error(self, job_id: str, error: dict[str, Any]) -> None:
        """The job ended without a Result (exception, crash, kill)."""


@dataclass(frozen=True)
class JobTask:
    """Everything a worker needs to run one job."""

    job_id: str
    problem: str
    instance_json: str
    options: dict[str, Any]
    slots: int
    time_limit_s: float


class Executor(ABC):
    """Runs job tasks and reports through :class:`ExecutorEvents`."""

    @abstractmethod
    def start(self, events: ExecutorEvents) -> None:
        """Begin accepting tasks."""

    @abstractmethod
    def submit(self, task: JobTask) -> None:
        """Start running a task now (the caller has reserved its slots)."""

    @abstractmethod
    def cancel(self, job_id: str) -> None:
        """Ask a running task to stop and report its best incumbent."""

    @abstractmethod
    def shutdown(self) -> None:
        """Stop everything; running jobs stay 'running' in the store and are recovered later."""


@dataclass
class _Running:
    task: JobTask
    process: Any
    cancel: Any
    deadline: float
    exited_at: float | None = None
    finished: bool = False
    killed_reason: str | None = None


class LocalProcessExecutor(Executor):
    """One process per job on this machine, started from a preloaded fork server."""

    def __init__(self, kill_grace_s: float = DEFAULT_KILL_GRACE_S) -> None:
        self.kill_grace_s = kill_grace_s
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(["makespan.api.worker"])
        self._queue: Any = self._ctx.Queue()
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()
        self._events: ExecutorEvents | None = None
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, events: ExecutorEvents) -> None:
        """Start the event reader and the watchdog."""
        self._events = events
        for target in (self._read_events, self._watch):
            thread = threading.Thread(
                target=target, daemon=True, name=f"executor-{target.__name__}"
            )
            thread.start()
            self._threads.append(thread)

    def submit(self, task: JobTask) -> None:
        """Start the job's process."""
        cancel = self._ctx.Event()
        process = self._ctx.Process(
            target=worker.run_job,
            args=(task.job_id, task.problem, task.instance_json, task.options, self._queue, cancel),
            name=f"makespan-job-{task.job_id[:8]}",
            daemon=False,  # a job may start processes of its own (the Pyomo backend does)
        )
        deadline = time.monotonic() + task.time_limit_s + self.kill_grace_s
        with self._lock:  # started under the lock: the watchdog never sees an unstarted process
            self._running[task.job_id] = _Running(task, process, cancel, deadline)
            process.start()

    def cancel(self, job_id: str) -> None:
        """Set the job's cancel event; the solver stops cooperatively."""
        with self._lock:
            running = self._running.get(job_id)
        if running is not None:
            running.cancel.set()

    def shutdown(self) -> None:
        """Kill every job process and stop the threads."""
        self._stopping.set()
        with self._lock:
            running = list(self._running.values())
            self._running.clear()
        for job in running:
            if job.process.is_alive():
                job.process.kill()
            job.process.join(timeout=5)
        self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=5)

    def _read_events(self) -> None:
        assert self._events is not None
        while True:
            item = self._queue.get()
            if item is None:
                return
            kind, job_id, payload = item
            if kind == "incumbent":
                self._events.on_incumbent(job_id, payload)
                continue
            if not self._mark_finished(job_id):
                continue
            if kind == "result":
                self._events.on_result(job_id, payload)
            else:
                self._events.on_error(job_id, payload)

    def _mark_finished(self, job_id: str) -> bool:
        """Forget a job once its final event arrived; False when it was already reported."""
        with self._lock:
            running = self._running.pop(job_id, None)
        if running is None or running.finished:
            return False
        running.finished = True
        return True

    def _watch(self) -> None:
        assert self._events is not None
        while not self._stopping.wait(0.2):
            now = time.monotonic()
            with self._lock:
                jobs = list(self._running.values())
            for job in jobs:
                self._check(job, now)

    def _check(self, job: _Running, now: float) -> None:
        assert self._events is not None
        alive = job.process.is_alive()
        if alive and now > job.deadline:
            job.process.kill()
            job.killed_reason = (
                f"killed: still running {self.kill_grace_s:g} s after its "
                f"{job.task.time_limit_s:g} s time limit"
            )
            alive = False
        if alive:
            return
        if job.exited_at is None:
            job.process.join(timeout=0)
            job.exited_at = now
        if job.killed_reason is None and now - job.exited_at < _FINAL_EVENT_GRACE_S:
            return  # its result may still be in the queue
        if self._mark_finished(job.task.job_id):
            message = job.killed_reason or (
                f"the solver process exited with code {job.process.exitcode} without a result"
            )
            kind = "killed" if job.killed_reason else "crashed"
            self._events.on_error(job.task.job_id, {"type": kind, "message": message})


EXECUTOR_PATTERN = r"^(local|ray(:.+)?)$"
"""``local`` (a process per job here), ``ray`` (a local Ray) or ``ray:ADDRESS`` (a cluster)."""


def make_executor(spec: str, kill_grace_s: float, num_cpus: int | None = None) -> Executor:
    """The executor ``spec`` names; Ray is imported only when asked for.

    Raises:
        ValueError: an unknown spec, or ``ray`` without the ``makespan[ray]`` extra installed.
    """
    kind, _, address = spec.partition(":")
    if kind == "local" and not address:
        return LocalProcessExecutor(kill_grace_s)
    if kind != "ray":
        raise ValueError(f"unknown executor {spec!r}; expected local, ray or ray:ADDRESS")
    try:
        from makespan.api.ray_executor import RayExecutor
    except ImportError:
        raise ValueError("the ray executor needs Ray: pip install 'makespan[ray]'") from None
    return RayExecutor(address or None, kill_grace_s, num_cpus)
