"""What every backend is: the request it reads, the outcome it returns, and honest status.

The backends import this module; the registry that imports them is
:mod:`makespan.solvers.backends`."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from makespan.solvers.control import BackendControl
from makespan.solvers.ir import ConstraintKind, Model
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


OPTIMALITY_TOLERANCE = 1e-6
"""How far a proven bound may sit below the objective and still prove it optimal (solvers'
floating-point bounds carry noise of this order)."""


def proven_bound(bound: float | None, *, integral: bool) -> float | None:
    """The strongest bound a backend's ``bound`` proves: with an integral objective no solution
    lies strictly between two integers, so the bound rounds up to the next integer."""
    if bound is None or not integral or not math.isfinite(bound):
        return bound
    return float(math.ceil(bound - OPTIMALITY_TOLERANCE))


def honest(outcome: BackendOutcome, *, integral: bool) -> BackendOutcome:
    """The outcome with nothing claimed that its bound does not prove.

    A backend's "optimal" also covers a stop on a gap limit (its own gap parameter or
    ``gap_limit``): it stays ``OPTIMAL`` only when the proven bound meets the objective, and is
    otherwise a ``FEASIBLE`` answer ended by ``GAP_LIMIT``. The bound is never set to the
    objective; proven infeasibility leaves no bound.
    """
    if outcome.status is Status.INFEASIBLE:
        return replace(outcome, bound=None)
    bound = proven_bound(outcome.bound, integral=integral)
    if outcome.status is not Status.OPTIMAL or _meets(bound, outcome.objective):
        return replace(outcome, bound=bound)
    return replace(outcome, status=Status.FEASIBLE, termination=Termination.GAP_LIMIT, bound=bound)


def _meets(bound: float | None, objective: float | None) -> bool:
    """True when ``bound`` proves ``objective`` optimal (no objective: nothing to prove)."""
    if objective is None:
        return True
    return bound is not None and bound >= objective - OPTIMALITY_TOLERANCE


@dataclass(frozen=True)
class SolveRequest:
    """What a backend is asked: the model, the budget it has left, and when it may stop early."""

    model: Model
    time_limit_s: float
    workers: int | None
    seed: int
    params: str | None
    gap_limit: float | None = None
    """Relative gap at which the backend may stop (``None``: its usual optimality settings)."""


@dataclass(frozen=True)
class Backend:
    """A solver backend: its version, the constraint kinds it reads, a parameter check, and its
    solve call."""

    name: str
    version: str
    check_params: Callable[[str], None]
    solve: Callable[[SolveRequest, BackendControl], BackendOutcome]
    supported_kinds: frozenset[ConstraintKind] = frozenset(ConstraintKind)
    """The IR constraint kinds it reads (every backend today reads them all)."""
