"""The body of a local job process: the solve, its side of the job's channel, and its lifetime.

The fork server that starts job processes runs :func:`prepare` first, so every job process
starts with the solvers and each kind's compiled code loaded. A job sends
incumbents over its own pipe, keeps its latest checkpoint and its final answer in files of its
own folder (written atomically, read by the server after the process exits), and dies with the
server that started it.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
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


def prepare() -> None:
    """Load the backends and every kind's compiled code (the fork server does, once, through
    :mod:`makespan.api.fork_preload`)."""
    preload()
    for model in MODELS.values():
        model.prepare()


def run_job(task: JobTask, channel: Any, cancel: Any, folder: str, server: tuple[int, str]) -> None:
    """The body of a local job process: solve, report through ``channel`` and ``folder``."""
    die_with_server(*server)
    (Path(folder) / PID_FILE).write_text(str(os.getpid()))
    stop = threading.Event()

    def relay_cancel() -> None:
        cancel.wait()
        stop.set()

    threading.Thread(target=relay_cancel, daemon=True).start()
    sink = JobFolderSink(channel, Path(folder))
    final = solve_job(task, sink, stop)
    sink.finish(final)


class JobFolderSink:
    """A job process's side of its channel: incumbents over the pipe from a sender thread (a
    slow reader never holds up the solve), checkpoints and the final answer as files."""

    MAX_PENDING = 1000
    """Incumbents waiting to be sent; older ones are dropped first when the server lags."""

    def __init__(self, channel: Any, folder: Path) -> None:
        self.channel = channel
        self.folder = folder
        self._pending: collections.deque[Any] = collections.deque(maxlen=self.MAX_PENDING)
        self._wake = threading.Condition()
        self._closed = False
        self._sender = threading.Thread(target=self._send_pending, daemon=True)
        self._sender.start()

    def put(self, obj: Any) -> None:
        """Queue an incumbent; write a checkpoint file and tell the server it changed."""
        kind, _, payload = obj
        if kind == "checkpoint":
            if not _write_atomically(self.folder / CHECKPOINT_FILE, payload):
                return  # a full disk keeps the previous checkpoint; the solve goes on
            obj = ("checkpoint", obj[1], None)
        with self._wake:
            self._pending.append(obj)
            self._wake.notify()

    def finish(self, final: dict[str, Any]) -> None:
        """Write the final answer; when the disk refuses it, send it over the pipe instead."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._sender.join(timeout=5)
        if not _write_atomically(self.folder / RESULT_FILE, final):
            with contextlib.suppress(OSError, ValueError):
                self.channel.send(("final", None, final))
        with contextlib.suppress(OSError):
            self.channel.close()

    def _send_pending(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._closed:
                    self._wake.wait()
                if not self._pending:
                    return
                item = self._pending.popleft()
            try:
                self.channel.send(item)
            except (OSError, ValueError):
                return  # the server is gone or closed our pipe: nothing left to tell it


def _write_atomically(path: Path, document: Any) -> bool:
    """Write JSON to ``path`` via a temporary file, fsync and rename; False when the disk
    refuses (full, read-only): readers only ever see a whole file."""
    temporary = path.with_suffix(".tmp")
    try:
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(document, handle, allow_nan=False)
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
