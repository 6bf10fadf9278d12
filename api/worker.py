"""What runs inside a solver process: one job, its progress sent back over a queue.

Kept import-light at the top and preloaded by the fork server, so a new job process starts with
OR-Tools and the models already loaded.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from makespan.models.registry import get_model
from makespan.solvers import cpsat as _cpsat  # noqa: F401  (preloaded by the fork server)
from makespan.solvers.control import SolveControl
from makespan.solvers.options import SolveOptions
from makespan.solvers.pipeline import solve_instance
from makespan.solvers.result import Incumbent


class EventQueue(Protocol):
    """The part of a multiprocessing queue a worker uses."""

    def put(self, obj: Any) -> None:
        """Send one event to the server."""


class StopSignal(Protocol):
    """The part of a multiprocessing event a worker uses."""

    def wait(self, timeout: float | None = None) -> bool:
        """Block until set."""


def run_job(
    job_id: str,
    problem: str,
    instance_json: str,
    options: dict[str, Any],
    events: EventQueue,
    cancel: StopSignal,
) -> None:
    """Solve one job; send ``incumbent`` events, then one ``result`` or ``error`` event."""
    stop = threading.Event()

    def relay_cancel() -> None:
        cancel.wait()
        stop.set()

    threading.Thread(target=relay_cancel, daemon=True).start()
    solve_job(job_id, problem, instance_json, options, events, stop)


def solve_job(
    job_id: str,
    problem: str,
    instance_json: str,
    options: dict[str, Any],
    events: EventQueue,
    stop: threading.Event,
) -> dict[str, Any]:
    """The job's solve, stopping when ``stop`` is set; its final event is also returned."""

    def on_incumbent(incumbent: Incumbent) -> None:
        events.put(("incumbent", job_id, incumbent.model_dump(mode="json")))

    final: tuple[str, str, dict[str, Any]]
    try:
        model = get_model(problem)
        instance = model.instance_type.model_validate_json(instance_json)
        result = solve_instance(
            model, instance, SolveOptions.model_validate(options), SolveControl(on_incumbent, stop)
        )
        final = ("result", job_id, result.model_dump(mode="json"))
    except Exception as error:  # reported as the job's error, never lost
        final = ("error", job_id, {"type": type(error).__name__, "message": str(error)})
    events.put(final)
    return {"kind": final[0], "payload": final[2]}
