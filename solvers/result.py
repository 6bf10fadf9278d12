"""The typed solve result of the public contract, and its parts.

Termination (why the solve ended) and status (what is known about the answer) are kept apart:
a time limit is a normal termination that still carries the best incumbent. Every number is
finite or ``None`` (``null`` in JSON), never infinity or NaN.
"""

from __future__ import annotations

import json
import math
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from makespan.solvers.frozen import Frozen


class Status(StrEnum):
    """What is known about the returned answer."""

    OPTIMAL = "optimal"
    """A solution whose objective equals a proven bound."""
    FEASIBLE = "feasible"
    """A checked solution, optimality not proven."""
    INFEASIBLE = "infeasible"
    """Proven to have no solution."""
    UNKNOWN = "unknown"
    """No solution found and infeasibility not proven."""


class Termination(StrEnum):
    """Why the solve ended."""

    SOLVED = "solved"
    TIME_LIMIT = "time_limit"
    CANCELLED = "cancelled"
    ERROR = "error"
    GAP_LIMIT = "gap_limit"
    """Stopped once the relative gap met a gap limit (``options.gap_limit`` or the backend's own
    gap parameter); the status stays ``feasible`` unless the bound equals the objective."""


def finite_or_none(value: float | int | None) -> float | int | None:
    """``value`` unless it is infinite or NaN, then ``None``."""
    if value is None or isinstance(value, int):
        return value
    return value if math.isfinite(value) else None


def as_number(value: float | None) -> float | int | None:
    """A finite value, integral floats turned into ints (so makespans print as 930, not 930.0)."""
    value = finite_or_none(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    """(objective - bound) / objective for minimisation; 0 when both are 0; None when unknown."""
    if objective is None or bound is None:
        return None
    if objective == bound:
        return 0.0
    if objective == 0:
        return None
    return max(0.0, (objective - bound) / abs(objective))


class _Finite(Frozen):
    @field_validator("*", mode="before")
    @classmethod
    def _no_infinity(cls, value: Any) -> Any:
        if isinstance(value, float):
            return as_number(value)
        return value


class Incumbent(_Finite):
    """One improving solution (or bound) as it was found, ``time_s`` from the solve's start."""

    time_s: float
    objective: float | int | None
    bound: float | int | None


class WarmStartInfo(_Finite):
    """The heuristic warm start that seeded the exact solver; ``time_s`` is how long it took."""

    method: str
    objective: float | int | None
    time_s: float | None = None


class ConflictItem(BaseModel):
    """One of the instance's own constraints (or a fixing) in a conflict: ``constraint`` its
    class (``deadline``, ``fixed``, ...), ``message`` a sentence, and the items it concerns
    (``activity``, ``job``, ...)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    message: str
    constraint: str


class Result(_Finite):
    """The outcome of one solve, as the CLI ``--json``, the REST API and the SDK return it.

    ``gap`` = (objective - bound) / objective, ``None`` when either is unknown.
    """

    problem: str
    status: Status
    termination: Termination
    objective: float | int | None = None
    bound: float | int | None = None
    gap: float | None = None
    wall_time_s: float
    backend: str
    backend_version: str | None = None
    warm_start: WarmStartInfo | None = None
    incumbents: tuple[Incumbent, ...] = ()
    solution: dict[str, Any] | None = None
    message: str | None = None
    conflict: list[ConflictItem] | None = None
    """When ``status`` is ``infeasible``: instance constraints (and fixings) that cannot all
    hold, as small as the time allowed (minimal when the message says so)."""

    @property
    def has_solution(self) -> bool:
        """True when a checked solution is attached."""
        return self.solution is not None

    def to_json(self, *, indent: int | None = None) -> str:
        """The contract's JSON form (``allow_nan=False`` guards the no-infinity rule)."""
        return json.dumps(self.model_dump(mode="json"), indent=indent, allow_nan=False)


class Violation(BaseModel):
    """One broken constraint, named by what it concerns (an operation, an activity, a buffer,
    a layer's expert, a bucket's slice)."""

    model_config = ConfigDict(frozen=True)

    message: str


class CheckResult(BaseModel):
    """A solution checked against an instance by the kind's independent checker: whether every
    constraint holds, the objective recomputed (when it does), and every violation."""

    model_config = ConfigDict(frozen=True)

    feasible: bool
    objective: float | int | None
    violations: list[Violation]
