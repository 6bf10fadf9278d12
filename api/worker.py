"""What runs where a job is solved, whatever runs it: the task and the solve.

:func:`solve_job` is shared by every executor (a local process, a Ray task, a batch run): it
solves one task and reports ``incumbent`` and ``checkpoint`` events, then returns the final one.
A checkpoint is the Result the job would give if it were stopped now (its best *checked*
solution), so that a job killed at its deadline, or whose process dies, still ends with it.

The body of a local job process, which uses it, is :mod:`makespan.api.job_process`; the job's
folder files (:data:`RESULT_FILE`, :data:`CHECKPOINT_FILE`, :data:`PID_FILE`) are named here, where
both sides read them.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from makespan.models.registry import get_model
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


def read_json_file(path: Path) -> dict[str, Any] | None:
    """A JSON object written by :func:`~makespan.api.job_process.write_atomically`, or None
    when there is none."""
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
