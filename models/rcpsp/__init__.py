"""Resource-constrained project scheduling (``rcpsp``): minimise the makespan
:math:`C_{max} = \\max_i (S_i + p_i)` of activities with precedences, renewable resources
(with downtime), release/deadline windows, disjunctive pairs and minimum/maximum time lags
(RCPSP/max)."""

from __future__ import annotations

from collections.abc import Callable

from makespan.models.bounds import KnownBounds, published_best
from makespan.models.plotting import lazy_draw
from makespan.models.rcpsp import bounds, check, compile, formats
from makespan.models.rcpsp.bounds import infeasibility_reason
from makespan.models.rcpsp.instance import (
    DEFAULT_SIZE_LIMIT,
    Activity,
    Lag,
    RcpspInstance,
    RcpspSolution,
    Resource,
    ScheduledActivity,
)
from makespan.models.spec import ProblemModel, WarmStart

__all__ = [
    "MODEL",
    "Activity",
    "KnownBounds",
    "Lag",
    "RcpspInstance",
    "RcpspSolution",
    "Resource",
    "ScheduledActivity",
    "infeasibility_reason",
]


def warm_start(
    instance: RcpspInstance, budget_s: float, seed: int, should_stop: Callable[[], bool]
) -> WarmStart[RcpspSolution] | None:
    """Best serial/parallel schedule-generation scheme over the priority rules, improved by
    forward-backward justification and biased sampling within ``budget_s``; None when no
    scheme placed every activity (tight maximum lags or deadlines) or the instance is
    infeasible."""
    from makespan.models.rcpsp import heuristics

    found = heuristics.warm_start(
        instance, time_budget_s=budget_s, seed=seed, should_stop=should_stop
    )
    if found is None:
        return None
    solution = RcpspSolution.from_starts(instance, found.starts)
    return WarmStart(found.method, solution, solution.makespan)


def _lower_bound(instance: RcpspInstance) -> float | None:
    # Only what is proven here (critical path, resource energy); published bounds carried in
    # a file are claims for gap reports, never for the status.
    return bounds.lower_bound(instance)


MODEL: ProblemModel[RcpspInstance, RcpspSolution] = ProblemModel(
    kind="rcpsp",
    summary="resource-constrained project scheduling (with RCPSP/max lags): minimise the makespan",
    instance_type=RcpspInstance,
    solution_type=RcpspSolution,
    formats=formats.FORMATS,
    read_text=formats.read_text,
    warm_start=warm_start,
    compile=compile.compile_instance,
    decode=compile.decode,
    hint=compile.hint,
    check=check.check,
    lower_bound=_lower_bound,
    best_known=published_best,
    size=lambda instance: instance.num_activities,
    size_unit="activities",
    default_size_limit=DEFAULT_SIZE_LIMIT,
    document_size=formats.document_size,
    text_size=formats.text_size,
    file_extensions=(".sm", ".rcp"),
    sniff=formats.looks_like_rcpsp,
    infeasibility_reason=infeasibility_reason,
    plot=lazy_draw("makespan.models.rcpsp.plot"),
)
