"""The body of a local job process: a warm process that runs jobs one after another.

The fork server that starts job processes runs :func:`prepare` first, so every job process
starts with the solvers and each kind's compiled code loaded. A job process then waits for jobs
on its inbox and runs them one at a time (:func:`serve_jobs`), so a small solve pays neither a
fork nor a warm-up. A job sends its incumbents over the process's outbox, keeps its latest
checkpoint and its final answer in files of its own folder (written atomically, read by the
server once the job has said it ended, or once the process has died), and the process dies with
the server that started it.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import queue
import select
import signal
import threading
from pathlib import Path
from typing import Any

from makespan.api.worker import (
    CHECKPOINT_FILE,
    PID_FILE,
    RESULT_FILE,
    JobTask,
    process_start_time,
    solve_job,
)
from makespan.models.registry import MODELS
from makespan.solvers.backends import preload

RUN = "run"
"""Inbox message ``(RUN, task, folder)``: run this job now (the process is idle)."""

CANCEL = "cancel"
"""Inbox message ``(CANCEL, job_id)``: stop that job with its best answer, if it runs."""

ENDED = "ended"
"""Outbox message ``(ENDED, job_id, None)``: the job's final answer is in its folder (or was
sent just before as ``final``); the process is idle again."""


def prepare() -> None:
    """Load the backends and every kind's compiled code (the fork server does, once, through
    :mod:`makespan.api.fork_preload`)."""
    preload()
    for model in MODELS.values():
        model.prepare()


def serve_jobs(inbox: Any, outbox: Any, server: tuple[int, str]) -> None:
    """The body of a job process: run the jobs ``inbox`` sends, one at a time, until the server
    closes it; each job reports through ``outbox`` and its folder."""
    die_with_server(*server)
    sender = Outbox(outbox)
    jobs: queue.Queue[tuple[JobTask, Path, threading.Event] | None] = queue.Queue()
    threading.Thread(target=_listen, args=(inbox, jobs), daemon=True, name="inbox").start()
    while (item := jobs.get()) is not None:
        task, folder, stop = item
        run_job(task, sender, stop, folder)


def _listen(inbox: Any, jobs: queue.Queue[tuple[JobTask, Path, threading.Event] | None]) -> None:
    """Pass jobs on to the main thread and cancels to the running job, until the inbox ends."""
    current: tuple[str, threading.Event] | None = None
    try:
        while True:
            message = inbox.recv()
            if message[0] == RUN:
                _, task, folder = message
                current = (task.job_id, threading.Event())
                jobs.put((task, Path(folder), current[1]))
            elif message[0] == CANCEL and current is not None and current[0] == message[1]:
                current[1].set()
    except (EOFError, OSError):
        pass  # the server closed the inbox (this process retires) or is gone
    if current is not None:
        current[1].set()  # a job still running ends with its best answer
    jobs.put(None)


def run_job(task: JobTask, outbox: Outbox, stop: threading.Event, folder: Path) -> None:
    """Solve one job, stopping when ``stop`` is set; report through ``outbox`` and ``folder``."""
    (folder / PID_FILE).write_text(str(os.getpid()))
    sink = JobFolderSink(outbox, folder, task.job_id)
    sink.finish(solve_job(task, sink, stop))


class Outbox:
    """The sending side of a channel, one message at a time (a job process's outbox: the
    sink's sender thread and the main thread both send; the server's side of an inbox)."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self._lock = threading.Lock()

    def send(self, message: tuple[Any, ...]) -> bool:
        """Send one message; False when the server is gone or closed the channel."""
        with self._lock:
            try:
                self.channel.send(message)
            except (OSError, ValueError):
                return False
        return True


class JobFolderSink:
    """A job's side of its process's outbox: incumbents from a sender thread (a slow reader
    never holds up the solve), checkpoints and the final answer as files of its folder."""

    MAX_PENDING = 1000
    """Incumbents waiting to be sent; older ones are dropped first when the server lags."""

    def __init__(self, outbox: Outbox, folder: Path, job_id: str) -> None:
        self.outbox = outbox
        self.folder = folder
        self.job_id = job_id
        self._pending: collections.deque[Any] = collections.deque(maxlen=self.MAX_PENDING)
        self._wake = threading.Condition()
        self._closed = False
        self._sender = threading.Thread(target=self._send_pending, daemon=True)
        self._sender.start()

    def put(self, obj: Any) -> None:
        """Queue an incumbent; write a checkpoint file and tell the server it changed."""
        kind, _, payload = obj
        if kind == "checkpoint":
            if not write_atomically(self.folder / CHECKPOINT_FILE, payload, durable=False):
                return  # a full disk keeps the previous checkpoint; the solve goes on
            obj = ("checkpoint", obj[1], None)
        with self._wake:
            self._pending.append(obj)
            self._wake.notify()

    def finish(self, final: dict[str, Any]) -> None:
        """Send what is pending, write the final answer (over the outbox when the disk refuses
        it), then say the job ended."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._sender.join(timeout=5)
        if not write_atomically(self.folder / RESULT_FILE, final, durable=True):
            self.outbox.send(("final", self.job_id, final))
        self.outbox.send((ENDED, self.job_id, None))

    def _send_pending(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._closed:
                    self._wake.wait()
                if not self._pending:
                    return
                item = self._pending.popleft()
            if not self.outbox.send(item):
                return  # the server is gone or closed our pipe: nothing left to tell it


def write_atomically(path: Path, document: Any, *, durable: bool) -> bool:
    """Write JSON to ``path`` via a temporary file and a rename, so readers only ever see a whole
    file; ``durable`` also fsyncs it first (a final answer: it must outlive the machine's crash
    as the store's commit does; a checkpoint is replaced within the solve and a process kill
    never loses what the rename published). False when the disk refuses (full, read-only)."""
    temporary = path.with_suffix(".tmp")
    try:
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(document, handle, allow_nan=False)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    except (OSError, ValueError):
        with contextlib.suppress(OSError):
            temporary.unlink()
        return False
    return True


def die_with_server(pid: int, started: str) -> None:
    """Kill this process as soon as the server ``pid`` (started at ``started``) exits, so a
    killed server leaves no solver running (its fork server may be restarted meanwhile: the
    server, not the parent, is watched)."""
    try:
        handle = os.pidfd_open(pid)
    except (OSError, AttributeError):
        return  # no pidfd here (not Linux): the executor's own bookkeeping has to do
    if process_start_time(pid) != started:
        os.kill(os.getpid(), signal.SIGKILL)  # the server is already gone

    def watch() -> None:
        select.select([handle], [], [])
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True, name="die-with-server").start()
