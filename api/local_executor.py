"""Jobs as processes on this machine: :class:`LocalProcessExecutor`.

Each job runs in its own process, started from a fork server with the solver preloaded, so a
crash or a kill never takes the server down. Each job has its own channel, so one killed or slow
job cannot wedge or misreport another: incumbents come over the job's own pipe; its checkpoint
and its final answer are files in the job's own folder, read after the process has exited. The
time limit is enforced by the solver and backed by a kill at ``time limit + grace``; a killed
job (or one whose process died) still ends with its last checkpoint, and fails only when it had
none.
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
from dataclasses import dataclass
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


@dataclass
class _Running:
    task: JobTask
    process: Any
    channel: Any
    cancel: Any
    folder: Path
    deadline: float
    pidfd: int | None
    """Readable once the job process has exited: a pidfd of the process itself (None where
    there is none), because the fork server's status pipe reports a live job as exited when
    the fork server dies."""
    cancel_deadline: float | None = None
    killed_for: str | None = None
    channel_open: bool = True
    final_message: dict[str, Any] | None = None

    @property
    def exit_handle(self) -> Any:
        """What to wait on for the process's exit: its pidfd, else its sentinel."""
        return self.process.sentinel if self.pidfd is None else self.pidfd

    def alive(self) -> bool:
        """Whether the job process still runs."""
        if self.pidfd is not None:
            return not select.select([self.pidfd], [], [], 0)[0]
        return bool(self.process.is_alive())

    def close_pidfd(self) -> None:
        """Release the pidfd (the sentinel belongs to the process object), if there is one."""
        if self.pidfd is not None:
            with contextlib.suppress(OSError):
                os.close(self.pidfd)
            self.pidfd = None


class LocalProcessExecutor(Executor):
    """One process per job on this machine, started from a preloaded fork server."""

    def __init__(
        self, state_dir: Path, kill_grace_s: float = KILL_GRACE_S, health: Health | None = None
    ) -> None:
        self.state_dir = state_dir
        self.kill_grace_s = kill_grace_s
        self.health = health or Health()
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(["makespan.api.fork_preload"])
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()
        self._events: ExecutorEvents | None = None
        self._stopping = threading.Event()
        self._monitor: threading.Thread | None = None
        self._server = (os.getpid(), process_start_time(os.getpid()) or "")

    def start(self, events: ExecutorEvents) -> None:
        """Start the monitor thread (channels, exits, deadlines)."""
        self._events = events
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._monitor = threading.Thread(target=self._monitor_loop, daemon=True, name="executor")
        self._monitor.start()

    def submit(self, task: JobTask) -> None:
        """Start the job's process; a failure to start leaves nothing behind. A fork server that
        dies during the start (it is restarted on the next one) gets one more try."""
        folder = self.state_dir / task.job_id
        try:
            self._start_process(task, folder)
        except EOFError:
            kill_stale_job_process(folder)  # forked just before the fork server died, maybe
            self._start_or_fail(task, folder)
        except Exception as error:
            self._fail_start(folder, error)

    def _start_or_fail(self, task: JobTask, folder: Path) -> None:
        try:
            self._start_process(task, folder)
        except Exception as error:
            self._fail_start(folder, error)

    def _fail_start(self, folder: Path, error: Exception) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        reason = str(error) or type(error).__name__
        raise JobStartError(f"could not start the solver process: {reason}") from None

    def _start_process(self, task: JobTask, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in (RESULT_FILE, CHECKPOINT_FILE, PID_FILE):
            (folder / stale).unlink(missing_ok=True)  # from an earlier attempt
        receiver, sender = self._ctx.Pipe(duplex=False)
        try:
            cancel = self._ctx.Event()
            process = self._ctx.Process(
                target=job_process.run_job,
                args=(task, sender, cancel, str(folder), self._server),
                name=f"makespan-job-{task.job_id[:8]}",
                daemon=False,  # a job may start processes of its own (the Pyomo backend does)
            )
            with self._lock:  # registered first: the monitor never sees a half-started job
                process.start()  # may wait for the fork server to start: the clock starts after
                deadline = time.monotonic() + task.options.time_limit_s + self.kill_grace_s
                self._running[task.job_id] = _Running(
                    task, process, receiver, cancel, folder, deadline, _pidfd(process)
                )
        except BaseException:
            receiver.close()
            raise
        finally:
            sender.close()  # the child holds its own copy

    def cancel(self, job_id: str) -> None:
        """Set the job's cancel event; kill it if it is still running after the grace."""
        with self._lock:
            running = self._running.get(job_id)
            if running is None or running.cancel_deadline is not None:
                return
            running.cancel_deadline = time.monotonic() + self.kill_grace_s
        running.cancel.set()

    def forget(self, job_id: str) -> None:
        """Remove the job's folder once its final state is stored."""
        shutil.rmtree(self.state_dir / job_id, ignore_errors=True)

    def shutdown(self) -> None:
        """Kill every job process and stop the monitor; their jobs are recovered later."""
        self._stopping.set()
        if self._monitor is not None:
            self._monitor.join(timeout=5)
        with self._lock:
            running = list(self._running.values())
            self._running.clear()
        for job in running:
            with contextlib.suppress(OSError, ValueError):
                job.process.kill()
                job.process.join(timeout=5)
                job.channel.close()

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

    def _monitor_once(self) -> None:
        with self._lock:
            jobs = list(self._running.values())
        if not jobs:
            self._stopping.wait(_TICK_S)
            return
        handles: dict[Any, _Running] = {}
        for job in jobs:
            handles[job.exit_handle] = job
            if job.channel_open:
                handles[job.channel] = job
        for ready in wait(list(handles), timeout=_TICK_S):
            job = handles[ready]
            if ready is job.channel:
                self._drain(job)
        now = time.monotonic()
        for job in jobs:
            if not job.alive():
                self._finish(job)
            else:
                self._enforce_deadlines(job, now)

    def _drain(self, job: _Running) -> None:
        """Read what the job sent; a broken channel is closed, the job goes on."""
        assert self._events is not None
        try:
            while job.channel_open and job.channel.poll():
                kind, _, payload = job.channel.recv()
                if kind == "incumbent":
                    self._events.on_incumbent(job.task.job_id, payload)
                elif kind == "checkpoint":
                    checkpoint = read_json_file(job.folder / CHECKPOINT_FILE)
                    if checkpoint is not None:
                        self._events.on_checkpoint(job.task.job_id, checkpoint)
                elif kind == "final":
                    job.final_message = payload
        except (EOFError, OSError, ValueError, TypeError) as error:
            # EOF is the normal end; anything else is a process killed mid-message.
            if not isinstance(error, EOFError):
                log.warning("job %s: channel broken (%s)", job.task.job_id, error)
            job.channel_open = False
            with contextlib.suppress(OSError):
                job.channel.close()

    def _enforce_deadlines(self, job: _Running, now: float) -> None:
        if now > job.deadline and job.killed_for is None:
            job.killed_for = "time_limit"
            job.process.kill()
        elif job.cancel_deadline is not None and now > job.cancel_deadline:
            job.killed_for = job.killed_for or "cancelled"
            job.process.kill()

    def _finish(self, job: _Running) -> None:
        """The process has exited: read its answer and report the job's end, once."""
        assert self._events is not None
        with self._lock:
            if self._running.pop(job.task.job_id, None) is None:
                return
        job.close_pidfd()
        job.process.join(timeout=1)
        self._drain(job)
        with contextlib.suppress(OSError):
            job.channel.close()
        final = read_json_file(job.folder / RESULT_FILE) or job.final_message
        if final is not None and final.get("kind") == "result":
            self._events.on_result(job.task.job_id, final["payload"])
            return
        if final is not None and final.get("kind") == "error":
            self._events.on_error(job.task.job_id, final["payload"])
            return
        self._report_stopped(job)

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
        code = job.process.exitcode
        how = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else code
        return "error", f"the solver process exited ({how}) without a result"


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
