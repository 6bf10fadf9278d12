"""What runs where a job is solved: the solve itself, and the job process's side of its channel.

:func:`solve_job` is shared by every executor (a local process, a Ray task, a batch run): it
solves one task and reports ``incumbent`` and ``checkpoint`` events, then returns the final one.
A checkpoint is the Result the job would give if it were stopped now (its best *checked*
solution), so that a job killed at its deadline, or whose process dies, still ends with it.

:func:`run_job` is the entry point of a local job process: it sends incumbents over the job's
own pipe, keeps the latest checkpoint and the final answer in files of the job's own folder
(written atomically, read by the server after the process exits), and dies with the server that
started it. Kept import-light at the top and preloaded by the fork server, so a new job process
starts with OR-Tools and the models loaded.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import select
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from makespan.models.registry import get_model
from makespan.solvers.backends import preload
from makespan.solvers.control import SolveControl
from makespan.solvers.options import SolveOptions
from makespan.solvers.pipeline import solve_instance
from makespan.solvers.result import Incumbent, Result

RESULT_FILE = "result.json"
"""The final Result of a job process, written once, atomically, before it exits."""

CHECKPOINT_FILE = "checkpoint.json"
"""The latest checkpoint of a job process (its best checked answer so far)."""

PID_FILE = "pid"
"""The job process's pid, so that a restarted server can make sure it is gone."""

preload()  # the fork server imports this module: every job process starts with the solvers


@dataclass(frozen=True)
class JobTask:
    """Everything a worker needs to run one job: validated options, travelling as one value."""

    job_id: str
    problem: str
    instance_json: str
    options: SolveOptions

    @property
    def slots(self) -> int:
        """CPU slots the job holds: its solver threads."""
        return self.options.workers or 1


class EventSink(Protocol):
    """Where :func:`solve_job` reports ``(kind, job_id, payload)`` events."""

    def put(self, obj: Any) -> None:
        """Take one event; must not block the solve for long."""


def solve_job(task: JobTask, events: EventSink, stop: threading.Event) -> dict[str, Any]:
    """Solve ``task``, stopping when ``stop`` is set; returns ``{"kind": "result" | "error",
    "payload": ...}``. Incumbents and checkpoints go to ``events`` as they come."""

    def on_incumbent(incumbent: Incumbent) -> None:
        events.put(("incumbent", task.job_id, incumbent.model_dump(mode="json")))

    def on_checkpoint(result: Result) -> None:
        events.put(("checkpoint", task.job_id, result.model_dump(mode="json")))

    try:
        model = get_model(task.problem)
        instance = model.instance_type.model_validate_json(task.instance_json)
        control = SolveControl(on_incumbent, stop, on_checkpoint=on_checkpoint)
        result = solve_instance(model, instance, task.options, control)
        return {"kind": "result", "payload": result.model_dump(mode="json")}
    except Exception as error:  # reported as the job's error, never lost
        return {"kind": "error", "payload": {"type": type(error).__name__, "message": str(error)}}


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


def read_json_file(path: Path) -> dict[str, Any] | None:
    """A JSON object written by :func:`_write_atomically`, or None when there is none."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def process_start_time(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot), which tells a process apart
    from a later one that reuses its pid; None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


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
