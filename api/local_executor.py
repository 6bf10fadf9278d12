"""Jobs as processes on this machine: :class:`LocalProcessExecutor`.

Jobs run in job processes started from a fork server with the solver preloaded, so a crash or a
kill never takes the server down. A job process is kept warm: it runs one job at a time and
then waits for the next (up to :data:`JOBS_PER_PROCESS`, then it is replaced), so a small solve
pays neither a fork nor a warm-up; as many stay idle as the server has CPU slots. Each job has
its own folder and its process runs nothing else meanwhile, so one killed or slow job cannot
wedge or misreport another: incumbents come over its process's pipe, tagged with the job's id;
its checkpoint and its final answer are files in its folder, read once it says it ended or its
process has exited. The time limit is enforced by the solver and backed by a kill at ``time
limit + grace``; a killed job (or one whose process died) still ends with its last checkpoint,
and fails only when it had none. A process that was killed, died, or ran a cancelled job is not
used again.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import select
import shutil
import signal
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from makespan.api import job_process
from makespan.api.executor import Executor, ExecutorEvents, JobStartError, final_from_checkpoint
from makespan.api.health import Health
from makespan.api.worker import (
    CHECKPOINT_FILE,
    PID_FILE,
    RESULT_FILE,
    JobTask,
    process_start_time,
    read_json_file,
)
from makespan.solvers.options import KILL_GRACE_S

log = logging.getLogger("makespan.executor")

_TICK_S = 0.2
"""How often the monitor looks at deadlines when nothing else happens."""

_RETRY_WARM_S = 5.0
"""How long after a failed start of a job process ahead of time the next is tried."""

JOBS_PER_PROCESS = 200
"""Jobs a job process runs before it is replaced (whatever a solve leaves behind in a process,
a library's caches or leaks, is bounded by this)."""

MAX_IDLE_RESIDENT_BYTES = 2 << 30
"""A job process that holds more memory than this after a job (a large model's pages the
allocator keeps) is replaced rather than kept idle; a fresh one holds a few hundred MiB."""


@dataclass(eq=False)
class _Process:
    """A job process: its inbox (the server sends), its outbox (the server reads). Compared
    by identity: two processes are never the same one."""

    process: Any
    inbox: Any
    outbox: Any
    pidfd: int | None
    """Readable once the process has exited: a pidfd of the process itself (None where there
    is none), because the fork server's status pipe reports a live process as exited when the
    fork server dies."""
    jobs: int = 0
    outbox_open: bool = True
    sender: job_process.Outbox = field(init=False)
    """The inbox's sending side, one message at a time (the scheduler and cancels send)."""

    def __post_init__(self) -> None:
        self.sender = job_process.Outbox(self.inbox)

    @property
    def exit_handle(self) -> Any:
        """What to wait on for the process's exit: its pidfd, else its sentinel."""
        return self.process.sentinel if self.pidfd is None else self.pidfd

    def alive(self) -> bool:
        """Whether the process still runs."""
        if self.pidfd is not None:
            return not select.select([self.pidfd], [], [], 0)[0]
        return bool(self.process.is_alive())

    def send(self, message: tuple[Any, ...]) -> bool:
        """One message to the inbox; False when the process is gone."""
        return self.sender.send(message)

    def kill(self) -> None:
        """SIGKILL the process (its channels stay open until :meth:`end`)."""
        with contextlib.suppress(OSError, ValueError):
            self.process.kill()

    def end(self, *, kill: bool) -> None:
        """Let the process go: close its inbox (an idle process then exits), or kill it; its
        handles are released once it has exited."""
        if kill:
            self.kill()
        for channel in (self.inbox, self.outbox):
            with contextlib.suppress(OSError):
                channel.close()
        self.outbox_open = False

    def reap(self) -> bool:
        """Collect an ended process; True once it has exited and is released."""
        self.process.join(timeout=0)
        if self.process.exitcode is None:
            return False
        if self.pidfd is not None:
            with contextlib.suppress(OSError):
                os.close(self.pidfd)
            self.pidfd = None
        return True


@dataclass
class _Running:
    task: JobTask
    worker: _Process
    folder: Path
    deadline: float
    cancel_deadline: float | None = None
    killed_for: str | None = None
    ended: bool = False
    final_message: dict[str, Any] | None = None


class LocalProcessExecutor(Executor):
    """Jobs in warm job processes on this machine, started from a preloaded fork server."""

    def __init__(
        self,
        state_dir: Path,
        kill_grace_s: float = KILL_GRACE_S,
        health: Health | None = None,
        warm: int = 1,
    ) -> None:
        self.state_dir = state_dir
        self.kill_grace_s = kill_grace_s
        self.health = health or Health()
        self.warm = max(1, warm)
        """Idle job processes kept ready (the server's CPU slots: as many as can run at once)."""
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(["makespan.api.fork_preload"])
        self._running: dict[str, _Running] = {}
        self._idle: list[_Process] = []
        self._ending: list[_Process] = []
        self._lock = threading.Lock()
        self._events: ExecutorEvents | None = None
        self._stopping = threading.Event()
        self._monitor: threading.Thread | None = None
        self._server = (os.getpid(), process_start_time(os.getpid()) or "")
        self._warm_retry_at = 0.0
        self._wake_read, self._wake_write = os.pipe()
        """Written to when a job starts, so that the monitor watches it at once (not at its
        next tick: a small solve would wait for it)."""
        for end in (self._wake_read, self._wake_write):
            os.set_blocking(end, False)

    def start(self, events: ExecutorEvents) -> None:
        """Start the monitor thread (channels, exits, deadlines), which also starts the first
        job process (and with it the fork server) before any job asks for one."""
        self._events = events
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._monitor = threading.Thread(target=self._monitor_loop, daemon=True, name="executor")
        self._monitor.start()

    def submit(self, task: JobTask) -> None:
        """Run the job in an idle job process, or a new one; a failure to start leaves nothing
        behind. A fork server that dies during the start (it is restarted on the next one) gets
        one more try."""
        folder = self.state_dir / task.job_id
        try:
            self._start_job(task, folder)
        except EOFError:
            kill_stale_job_process(folder)  # forked just before the fork server died, maybe
            self._start_or_fail(task, folder)
        except Exception as error:
            self._fail_start(folder, error)

    def _start_or_fail(self, task: JobTask, folder: Path) -> None:
        try:
            self._start_job(task, folder)
        except Exception as error:
            self._fail_start(folder, error)

    def _fail_start(self, folder: Path, error: Exception) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        reason = str(error) or type(error).__name__
        raise JobStartError(f"could not start the solver process: {reason}") from None

    def _start_job(self, task: JobTask, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in (RESULT_FILE, CHECKPOINT_FILE, PID_FILE):
            (folder / stale).unlink(missing_ok=True)  # from an earlier attempt
        worker = self._take_idle() or self._new_process()
        with self._lock:  # registered first: the monitor never sees a half-started job
            deadline = time.monotonic() + task.options.time_limit_s + self.kill_grace_s
            self._running[task.job_id] = _Running(task, worker, folder, deadline)
            worker.jobs += 1
        if not worker.send((job_process.RUN, task, str(folder))):
            with self._lock:
                self._running.pop(task.job_id, None)
            worker.end(kill=True)
            self._retire(worker)
            raise OSError("the job process ended before it took the job")
        self._wake_monitor()

    def _take_idle(self) -> _Process | None:
        """An idle job process that still runs (dead ones are dropped)."""
        while True:
            with self._lock:
                if not self._idle:
                    return None
                worker = self._idle.pop()
            if worker.alive():
                return worker
            worker.end(kill=True)
            self._retire(worker)

    def _new_process(self) -> _Process:
        """A new job process from the fork server (which it may have to start first)."""
        inbox_out, inbox_in = self._ctx.Pipe(duplex=False)
        outbox_out, outbox_in = self._ctx.Pipe(duplex=False)
        try:
            process = self._ctx.Process(
                target=job_process.serve_jobs,
                args=(inbox_out, outbox_in, self._server),
                name="makespan-job",
                daemon=False,  # a job may start processes of its own (the Pyomo backend does)
            )
            process.start()
        except BaseException:
            inbox_in.close()
            outbox_out.close()
            raise
        finally:
            inbox_out.close()  # the child holds its own copies
            outbox_in.close()
        return _Process(process, inbox_in, outbox_out, _pidfd(process))

    def _retire(self, worker: _Process) -> None:
        with self._lock:
            self._ending.append(worker)

    def cancel(self, job_id: str) -> None:
        """Tell the job to stop; kill its process if it is still running after the grace."""
        with self._lock:
            running = self._running.get(job_id)
            if running is None or running.cancel_deadline is not None:
                return
            running.cancel_deadline = time.monotonic() + self.kill_grace_s
        running.worker.send((job_process.CANCEL, job_id))

    def forget(self, job_id: str) -> None:
        """Remove the job's folder once its final state is stored."""
        shutil.rmtree(self.state_dir / job_id, ignore_errors=True)

    def shutdown(self) -> None:
        """Kill every job process and stop the monitor; their jobs are recovered later."""
        self._stopping.set()
        if self._monitor is not None:
            self._monitor.join(timeout=5)
        with self._lock:
            workers = [job.worker for job in self._running.values()] + self._idle + self._ending
            self._running.clear()
            self._idle.clear()
            self._ending.clear()
        for worker in workers:
            worker.end(kill=True)
            with contextlib.suppress(OSError, ValueError):
                worker.process.join(timeout=5)
            worker.reap()
        for end in (self._wake_read, self._wake_write):
            with contextlib.suppress(OSError):
                os.close(end)

    def running_jobs(self) -> list[str]:
        """The ids of the jobs whose processes run now."""
        with self._lock:
            return list(self._running)

    # -- the monitor ---------------------------------------------------------------------

    def _monitor_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._monitor_once()
                self.health.clear("executor")
            except Exception as error:  # the monitor must outlive any one job's trouble
                log.exception("executor monitor")
                self.health.problem("executor", f"monitor error, carrying on: {error}")
                self._stopping.wait(0.5)

    def _keep_warm(self) -> None:
        """Start a job process while there is no idle one and nothing runs (at the start, and
        after a process was killed or retired): the next job then needs neither the fork
        server's start nor a fork. A failure is tried again :data:`_RETRY_WARM_S` later."""
        with self._lock:
            wanted = not self._idle and not self._running
        if not wanted or time.monotonic() < self._warm_retry_at:
            return
        try:
            worker = self._new_process()
        except Exception as error:  # a job's own start reports the trouble, if it lasts
            log.warning("could not start a job process ahead of time: %s", error)
            self._warm_retry_at = time.monotonic() + _RETRY_WARM_S
            return
        with self._lock:
            self._idle.append(worker)

    def _monitor_once(self) -> None:
        self._reap_ended()
        self._keep_warm()
        with self._lock:
            jobs = list(self._running.values())
        handles: dict[Any, _Running] = {}
        for job in jobs:
            handles[job.worker.exit_handle] = job
            if job.worker.outbox_open:
                handles[job.worker.outbox] = job
        for ready in wait([self._wake_read, *handles], timeout=_TICK_S):
            if ready == self._wake_read:
                self._clear_wake()
                continue
            job = handles[ready]
            if ready is job.worker.outbox:
                self._drain(job)
        now = time.monotonic()
        for job in jobs:
            if job.ended:
                self._finish(job)
            elif not job.worker.alive():
                self._drain(job)  # what it sent before it died
                self._finish(job)
            else:
                self._enforce_deadlines(job, now)

    def _wake_monitor(self) -> None:
        """Make the monitor look at the jobs now (a job just started)."""
        with contextlib.suppress(OSError):  # full: the monitor is woken already
            os.write(self._wake_write, b"\0")

    def _clear_wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_read, 512):
                pass

    def _reap_ended(self) -> None:
        with self._lock:
            ending = list(self._ending)
        gone = [worker for worker in ending if worker.reap()]
        with self._lock:
            self._ending = [worker for worker in self._ending if worker not in gone]

    def _drain(self, job: _Running) -> None:
        """Read what the job's process sent; a broken channel is closed, the job goes on (its
        process's exit ends it)."""
        assert self._events is not None
        worker = job.worker
        try:
            while worker.outbox_open and not job.ended and worker.outbox.poll():
                kind, job_id, payload = worker.outbox.recv()
                if job_id != job.task.job_id:
                    continue  # a late message of the process's previous job
                if kind == "incumbent":
                    self._events.on_incumbent(job_id, payload)
                elif kind == "checkpoint":
                    checkpoint = read_json_file(job.folder / CHECKPOINT_FILE)
                    if checkpoint is not None:
                        self._events.on_checkpoint(job_id, checkpoint)
                elif kind == "final":
                    job.final_message = payload
                elif kind == job_process.ENDED:
                    job.ended = True
        except (EOFError, OSError, ValueError, TypeError) as error:
            # EOF: the process exited; anything else is a process killed mid-message.
            if not isinstance(error, EOFError):
                log.warning("job %s: channel broken (%s)", job.task.job_id, error)
            worker.outbox_open = False

    def _enforce_deadlines(self, job: _Running, now: float) -> None:
        # Killed, not closed: what it sent before is still read when its exit is seen.
        if now > job.deadline and job.killed_for is None:
            job.killed_for = "time_limit"
            job.worker.kill()
        elif job.cancel_deadline is not None and now > job.cancel_deadline:
            job.killed_for = job.killed_for or "cancelled"
            job.worker.kill()

    def _finish(self, job: _Running) -> None:
        """The job ended (it said so, or its process exited): report its end, once, and keep
        its process warm when it may run another job."""
        assert self._events is not None
        with self._lock:
            if self._running.pop(job.task.job_id, None) is None:
                return
        self._release(job)
        final = read_json_file(job.folder / RESULT_FILE) or job.final_message
        if final is not None and final.get("kind") == "result":
            self._events.on_result(job.task.job_id, final["payload"])
            return
        if final is not None and final.get("kind") == "error":
            self._events.on_error(job.task.job_id, final["payload"])
            return
        self._report_stopped(job)

    def _release(self, job: _Running) -> None:
        """Back to the idle processes, or ended: after a kill, a death, a cancel (whatever the
        stopped solve left running goes with it), its last job, or when enough are idle."""
        worker = job.worker
        reusable = (
            job.ended
            and job.killed_for is None
            and job.cancel_deadline is None
            and worker.jobs < JOBS_PER_PROCESS
            and _resident_bytes(worker.process.pid) < MAX_IDLE_RESIDENT_BYTES
        )
        with self._lock:
            if reusable and len(self._idle) < self.warm:
                self._idle.append(worker)
                return
        worker.end(kill=not job.ended)
        self._retire(worker)

    def _report_stopped(self, job: _Running) -> None:
        """A job that ended without a final answer: its checkpoint, or an error."""
        assert self._events is not None
        termination, reason = self._why_stopped(job)
        checkpoint = read_json_file(job.folder / CHECKPOINT_FILE)
        result = final_from_checkpoint(checkpoint, termination, reason)
        if result is not None:
            self._events.on_result(job.task.job_id, result)
        else:
            kind = "killed" if job.killed_for else "crashed"
            self._events.on_error(job.task.job_id, {"type": kind, "message": reason})

    def _why_stopped(self, job: _Running) -> tuple[str, str]:
        limit = job.task.options.time_limit_s
        if job.killed_for == "time_limit":
            return "time_limit", (
                f"killed: still running {self.kill_grace_s:g} s after its {limit:g} s time limit"
            )
        if job.killed_for == "cancelled":
            return "cancelled", (
                f"killed: still running {self.kill_grace_s:g} s after it was cancelled"
            )
        job.worker.process.join(timeout=1)
        code = job.worker.process.exitcode
        how = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else code
        return "error", f"the solver process exited ({how}) without a result"


def _resident_bytes(pid: int) -> int:
    """The memory process ``pid`` holds (its resident set); 0 when unknown."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def _pidfd(process: Any) -> int | None:
    """A pidfd of the started ``process`` (Linux); None when it is gone already or the system
    has none."""
    try:
        return os.pidfd_open(process.pid)
    except (OSError, AttributeError):
        return None


def kill_stale_job_process(folder: Path) -> None:
    """Make sure the job process that last used ``folder`` (a previous server's) is gone."""
    text = (folder / PID_FILE).read_text().strip() if (folder / PID_FILE).exists() else ""
    if not text.isdigit():
        return
    pid = int(text)
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return
    if b"multiprocessing" in command or b"makespan" in command:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
