"""Jobs as Ray tasks: the same solves on a local Ray or a cluster (`pip install makespan[ray]`).

Each job is one task reserving ``num_cpus = workers`` on whichever node has them, so API servers
and solver nodes scale separately. Progress comes back through a Ray queue, cancellation through
a small actor the task polls, and the time limit is backed by ``ray.cancel(force=True)`` at
``time limit + grace``. Every node needs makespan installed in the same version.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from typing import Any

import ray
from ray.util.queue import Empty, Queue
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from makespan.api.executor import Executor, ExecutorEvents, final_from_checkpoint
from makespan.api.worker import JobTask
from makespan.solvers.options import KILL_GRACE_S

_POLL_S = 0.2

_START_ALLOWANCE_S = 600.0
"""A task not started this long after its submission (no free CPU, a worker that will not
start) is force-cancelled; once started it gets its time limit plus the grace."""


@ray.remote(num_cpus=0)
class _CancelBoard:
    """Which jobs were asked to stop; tasks poll it (an actor outlives any one task)."""

    def __init__(self) -> None:
        self.cancelled: set[str] = set()

    def cancel(self, job_id: str) -> None:
        self.cancelled.add(job_id)

    def is_cancelled(self, job_id: str) -> bool:
        return job_id in self.cancelled

    def forget(self, job_id: str) -> None:
        self.cancelled.discard(job_id)


class _Progress:
    """The worker's event sink inside a task: incumbents and checkpoints to the Ray queue (the
    final answer is the task's return value)."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue

    def put(self, obj: Any) -> None:
        """Send one event; when the queue is gone (its node died) the progress is lost, not the
        job: the task's return value still carries the answer."""
        with contextlib.suppress(Exception):
            self.queue.put_nowait(obj)


# No retries: a task that dies (its node lost, its worker killed for memory) ends its job once,
# with its last checkpoint or the reason, instead of starting over with a fresh deadline.
@ray.remote(max_retries=0, retry_exceptions=False)
def _run_task(task: JobTask, queue: Queue, board: Any) -> dict[str, Any]:
    from makespan.api.worker import solve_job  # imported on the worker node

    job_id = task.job_id
    progress = _Progress(queue)
    progress.put(("started", job_id, {}))  # the kill deadline counts from the first start
    stop = threading.Event()
    done = threading.Event()

    def poll_board() -> None:
        while not done.wait(_POLL_S):
            if ray.get(board.is_cancelled.remote(job_id)):
                stop.set()
                return

    threading.Thread(target=poll_board, daemon=True).start()
    try:
        return solve_job(task, progress, stop)
    finally:
        done.set()


def _head_node() -> str:
    """The id of the cluster's head node (this driver's node when there is no marked head)."""
    for node in ray.nodes():  # type: ignore[no-untyped-call]
        if node.get("Alive") and "node:__internal_head__" in node.get("Resources", {}):
            return str(node["NodeID"])
    return str(ray.get_runtime_context().get_node_id())


@dataclass
class _Running:
    task: JobTask
    ref: Any
    deadline: float
    started: bool = False
    killed: bool = False
    checkpoint: dict[str, Any] | None = None


class RayExecutor(Executor):
    """Runs each job as a Ray task on the cluster at ``address`` (None: a local Ray)."""

    def __init__(
        self,
        address: str | None = None,
        kill_grace_s: float = KILL_GRACE_S,
        num_cpus: int | None = None,
    ) -> None:
        self.address = address
        self.kill_grace_s = kill_grace_s
        self.num_cpus = num_cpus
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._events: ExecutorEvents | None = None
        self._started_ray = False
        self._queue: Queue | None = None
        self._board: Any = None

    def start(self, events: ExecutorEvents) -> None:
        """Connect to (or start) Ray, then start the result and progress readers."""
        self._events = events
        if not ray.is_initialized():
            if self.address:
                ray.init(address=self.address, log_to_driver=False)
            else:
                ray.init(num_cpus=self.num_cpus, include_dashboard=False, log_to_driver=False)
            self._started_ray = True
        # The progress queue and the cancel board live on the head node, which lives as long as
        # the cluster: a solver node that dies must not take every job's progress along.
        here = NodeAffinitySchedulingStrategy(_head_node(), soft=True)
        self._queue = Queue(actor_options={"num_cpus": 0, "scheduling_strategy": here})
        self._board = _CancelBoard.options(scheduling_strategy=here).remote()  # type: ignore[attr-defined]
        for target in (self._read_incumbents, self._collect):
            thread = threading.Thread(target=target, daemon=True, name=f"ray-{target.__name__}")
            thread.start()
            self._threads.append(thread)

    def submit(self, task: JobTask) -> None:
        """Start the job as a task reserving ``task.slots`` CPUs."""
        assert self._queue is not None, "start() first"
        ref = _run_task.options(num_cpus=task.slots, name=f"makespan-job-{task.job_id[:8]}").remote(
            task, self._queue, self._board
        )
        limit = task.options.time_limit_s
        deadline = time.monotonic() + _START_ALLOWANCE_S + limit + self.kill_grace_s
        with self._lock:
            self._running[task.job_id] = _Running(task, ref, deadline)

    def cancel(self, job_id: str) -> None:
        """Ask the task to stop; it returns its best incumbent."""
        self._board.cancel.remote(job_id)

    def shutdown(self) -> None:
        """Stop the readers and force-cancel every task; a Ray we started is shut down."""
        self._stopping.set()
        with self._lock:
            running = list(self._running.values())
            self._running.clear()
        for job in running:
            ray.cancel(job.ref, force=True)
        for thread in self._threads:
            thread.join(timeout=5)
        if self._started_ray:
            ray.shutdown()

    def _read_incumbents(self) -> None:
        assert self._events is not None and self._queue is not None
        while not self._stopping.is_set():
            try:
                kind, job_id, payload = self._queue.get(timeout=_POLL_S)
            except Empty:
                continue
            except Exception:  # the queue actor died with the cluster; results still arrive
                if self._stopping.wait(1.0):
                    return
                continue
            if kind == "started":
                self._started(job_id)
            elif kind == "checkpoint":
                self._keep_checkpoint(job_id, payload)
            else:
                self._events.on_incumbent(job_id, payload)

    def _started(self, job_id: str) -> None:
        with self._lock:
            job = self._running.get(job_id)
            if job is not None and not job.started:  # the first start sets the deadline, once
                job.started = True
                limit = job.task.options.time_limit_s
                job.deadline = time.monotonic() + limit + self.kill_grace_s

    def _keep_checkpoint(self, job_id: str, checkpoint: dict[str, Any]) -> None:
        assert self._events is not None
        with self._lock:
            job = self._running.get(job_id)
            if job is not None:
                job.checkpoint = checkpoint
        self._events.on_checkpoint(job_id, checkpoint)

    def _collect(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                jobs = {job.ref: job for job in self._running.values()}
            if not jobs:
                self._stopping.wait(_POLL_S)
                continue
            ready, _ = ray.wait(list(jobs), num_returns=1, timeout=_POLL_S)
            for ref in ready:
                self._finish(jobs[ref])
            self._enforce_deadlines(jobs.values())

    def _finish(self, job: _Running) -> None:
        assert self._events is not None
        with self._lock:
            if self._running.pop(job.task.job_id, None) is None:
                return
        self._board.forget.remote(job.task.job_id)
        try:
            final = ray.get(job.ref)
        except Exception as error:  # cancelled by force, killed for memory, or the node died
            self._report_lost(job, error)
            return
        if final["kind"] == "result":
            self._events.on_result(job.task.job_id, final["payload"])
        else:
            self._events.on_error(job.task.job_id, final["payload"])

    def _report_lost(self, job: _Running, error: Exception) -> None:
        """A task that returned nothing: its last checkpoint, or the reason it ended."""
        assert self._events is not None
        limit = job.task.options.time_limit_s
        if job.killed:
            termination = "time_limit"
            reason = (
                f"killed: not finished {self.kill_grace_s:g} s after its {limit:g} s time limit"
            )
        else:
            termination = "error"
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            reason = f"the Ray task failed ({type(error).__name__}: {first_line[:300]})"
        result = final_from_checkpoint(job.checkpoint, termination, reason)
        if result is not None:
            self._events.on_result(job.task.job_id, result)
        else:
            kind = "killed" if job.killed else "crashed"
            self._events.on_error(job.task.job_id, {"type": kind, "message": reason})

    def _enforce_deadlines(self, jobs: Any) -> None:
        now = time.monotonic()
        for job in jobs:
            if not job.killed and now > job.deadline:
                job.killed = True
                ray.cancel(job.ref, force=True)
