"""What every backend returns, and the registry of backends by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
    """Names of the backends this installation can run."""
    return ["cpsat"]


def get_backend(name: str) -> Backend:
    """The backend called ``name`` (``cpsat``); an :class:`OptionsError` naming it otherwise."""
    # Imported here so that importing the IR never loads a solver library.
    from makespan.solvers import cpsat

    backends = {"cpsat": cpsat.BACKEND}
    if name in backends:
        return backends[name]
    if name == "highs" or name.startswith("pyomo"):
        raise OptionsError(
            "backend", f"backend {name!r} is not available in this version; use 'cpsat'"
        )
    raise OptionsError("backend", f"unknown backend {name!r}; expected one of {sorted(backends)}")
