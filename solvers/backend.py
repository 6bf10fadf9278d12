"""What every backend returns, and the registry of backends by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from makespan.solvers.control import SolveControl
from makespan.solvers.ir import ConstraintKind, Model
from makespan.solvers.options import OptionsError
from makespan.solvers.result import Status, Termination


@dataclass(frozen=True)
class BackendOutcome:
    """A backend's raw answer, in IR terms: variable values by index, objective and bound."""

    status: Status
    termination: Termination
    values: tuple[int, ...] | None
    objective: float | None
    bound: float | None
    backend: str
    version: str
    message: str | None = None


def settle(outcome: BackendOutcome) -> BackendOutcome:
    """The outcome with its bound consistent with its status: the objective itself when proven
    optimal, none when proven infeasible."""
    if outcome.status is Status.OPTIMAL and outcome.objective is not None:
        return replace(outcome, bound=outcome.objective)
    if outcome.status is Status.INFEASIBLE:
        return replace(outcome, bound=None)
    return outcome


@dataclass(frozen=True)
class SolveRequest:
    """What a backend is asked: the model and the budget it has left."""

    model: Model
    time_limit_s: float
    workers: int | None
    seed: int
    params: str | None


@dataclass(frozen=True)
class Backend:
    """A solver backend: its version, the constraint kinds it reads, a parameter check, and its
    solve call."""

    name: str
    version: str
    supported_kinds: frozenset[ConstraintKind]
    check_params: Callable[[str], None]
    solve: Callable[[SolveRequest, SolveControl], BackendOutcome]


def available_backends() -> list[str]:
    """Names of the backends this installation can run (``pyomo:SOLVER`` where Pyomo and that
    solver are installed; ``pyomo:highs`` is always there)."""
    return ["cpsat", "highs", "pyomo:highs"]


def get_backend(name: str) -> Backend:
    """The backend called ``name``: ``cpsat``, ``highs`` or ``pyomo:SOLVER``; an
    :class:`OptionsError` naming the option otherwise."""
    # Imported here so that importing the IR never loads a solver library.
    if name == "cpsat":
        from makespan.solvers import cpsat

        return cpsat.BACKEND
    if name == "highs":
        from makespan.solvers import highs

        return highs.BACKEND
    if name == "pyomo" or name.startswith("pyomo:"):
        from makespan.solvers import pyomo_backend

        return pyomo_backend.backend(name.partition(":")[2] or "highs")
    raise OptionsError(
        "backend", f"unknown backend {name!r}; expected cpsat, highs or pyomo:SOLVER"
    )
