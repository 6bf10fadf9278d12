"""Typed solve options, shared by solve(), the CLI, the REST API and the SDK."""

from __future__ import annotations

from fractions import Fraction
from typing import Annotated, Any

from pydantic import Field, field_validator

from makespan.solvers.frozen import Frozen

DEFAULT_TIME_LIMIT_S = 10.0
"""The time limit of a solve that names none, everywhere (library, CLI, SDK, service)."""

MAX_TIME_LIMIT_S = 24 * 3600.0
"""The longest time limit anyone may ask for; a service may set a lower one of its own."""

KILL_GRACE_S = 10.0
"""How long a solve may run past its time limit (or a cancel) before it is killed; processes a
solve starts itself (the Pyomo backend's) get half of it, so they end first."""

MAX_STABILITY_WEIGHT = 10**6
"""The largest ``stability_weight``."""

WEIGHT_DENOMINATOR = 1000
"""Stability weights are multiples of 1/1000: the IR objective stays integral."""


def exact_weight(weight: float) -> Fraction:
    """``weight`` as the exact fraction the objective uses.

    Raises:
        ValueError: outside [0, :data:`MAX_STABILITY_WEIGHT`] or not a multiple of 1/1000.
    """
    if not 0 <= weight <= MAX_STABILITY_WEIGHT:
        raise ValueError(f"must be in [0, {MAX_STABILITY_WEIGHT}]")
    exact = Fraction(weight).limit_denominator(WEIGHT_DENOMINATOR)
    if abs(float(exact) - weight) > 1e-9 * max(1.0, weight):
        raise ValueError(f"must be a multiple of 1/{WEIGHT_DENOMINATOR}")
    return exact


BACKEND_PATTERN = r"^(auto|cpsat|highs|pyomo(:[A-Za-z0-9_.\-]+)?)$"


class SolveOptions(Frozen):
    """How to solve: time limit, backend, worker threads, seed, gap limit, backend parameters.

    ``backend_params`` is the one escape hatch to the backend: for CP-SAT, ``SatParameters`` in
    protobuf text format (``"linearization_level: 2 symmetry_level: 4"``), parsed before the solve
    so that a misspelt name fails with an error instead of being ignored. Parameters that would
    override what these options and the service own (time, threads, seed, files, output) are
    rejected by name.
    """

    time_limit_s: Annotated[float, Field(gt=0, le=MAX_TIME_LIMIT_S, allow_inf_nan=False)] = (
        DEFAULT_TIME_LIMIT_S
    )
    backend: Annotated[str, Field(pattern=BACKEND_PATTERN)] = "auto"
    workers: Annotated[int | None, Field(ge=1, le=1024)] = None
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0
    gap_limit: Annotated[float | None, Field(ge=0, allow_inf_nan=False)] = None
    """Relative gap (objective - bound) / objective at which the solve may stop: such a stop
    ends with ``termination: gap_limit``, and ``status: feasible`` unless the bound equals the
    objective. ``None``: search until optimality is proven or time runs out."""
    backend_params: str | None = None
    warm_start: bool = True
    initial_solution: dict[str, Any] | None = None
    """A full solution in the kind's JSON form: checked, then the warm start (``warm_start.method
    == "given"``), the solver's hint and the incumbent to beat; an infeasible one is an error
    listing its violations."""
    job_initial: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    """The id of a finished job of the same kind, whose solution is the ``initial_solution``
    (and the ``reference``, when ``stability_weight`` is set; the service resolves it, a
    library solve has no jobs)."""
    fixed: dict[str, Any] | list[Any] | None = None
    """A partial solution in the kind's JSON form: every value given is kept in the answer."""
    reference: dict[str, Any] | None = None
    """A full solution to stay close to: the objective becomes ``objective + stability_weight *
    deviation`` and the answer carries its ``deviation``."""
    fix_before: Annotated[int | None, Field(ge=0, le=2**62)] = None
    """Scheduling kinds (jssp, rcpsp): fix every part of the ``reference`` (else the
    ``initial_solution``) that starts before this time: re-planning after a disruption at it.
    Not together with ``fixed``."""
    stability_weight: Annotated[float | None, Field(ge=0, allow_inf_nan=False)] = None
    """The weight w of the deviation from ``reference`` (a multiple of 1/1000, at most
    10^6); without a reference, the ``initial_solution`` is the reference."""

    @field_validator("stability_weight")
    @classmethod
    def _exact_weight(cls, weight: float | None) -> float | None:
        if weight is not None:
            exact_weight(weight)
        return weight

    @property
    def steering_reference(self) -> dict[str, Any] | None:
        """The solution to stay close to: ``reference``, or the ``initial_solution`` when only
        a ``stability_weight`` is given."""
        if self.reference is not None or self.stability_weight is None:
            return self.reference
        return self.initial_solution


class OptionsError(ValueError):
    """Options that are well-formed but cannot be used (unknown backend, bad backend parameter).

    ``field`` names the option at fault.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")
