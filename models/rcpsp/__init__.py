"""Resource-constrained project scheduling (``rcpsp``): minimise the makespan
:math:`C_{max} = \\max_i (S_i + p_i)` of activities with precedences, renewable resources
(with downtime), release/deadline windows, disjunctive pairs and minimum/maximum time lags
(RCPSP/max)."""

from __future__ import annotations

from makespan.models.bounds import KnownBounds, published_best
from makespan.models.plotting import lazy_draw
from makespan.models.rcpsp import bounds, check, compile, formats, heuristics
from makespan.models.rcpsp.check import infeasibility_reason
from makespan.models.rcpsp.instance import (
    DEFAULT_SIZE_LIMIT,
    Activity,
    Lag,
    RcpspInstance,
    RcpspSolution,
    Resource,
    ScheduledActivity,
)
from makespan.models.spec import ProblemModel, module_parts

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

MODEL: ProblemModel[RcpspInstance, RcpspSolution] = ProblemModel(
    kind="rcpsp",
    summary="resource-constrained project scheduling (with RCPSP/max lags): minimise the makespan",
    instance_type=RcpspInstance,
    solution_type=RcpspSolution,
    **module_parts(formats, compile, check),
    warm_start=heuristics.warm_start,
    # Only what is proven here (critical path, resource energy); published bounds carried in a
    # file are claims for gap reports, never for the status.
    lower_bound=bounds.lower_bound,
    best_known=published_best,
    size=lambda instance: instance.num_activities,
    size_unit="activities",
    default_size_limit=DEFAULT_SIZE_LIMIT,
    infeasibility_reason=infeasibility_reason,
    plot=lazy_draw(f"{__name__}.plot"),
)
