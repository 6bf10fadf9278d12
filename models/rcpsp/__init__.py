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
from makespan.models.spec import KindParts, ProblemModel

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


class ProjectScheduling(ProblemModel[RcpspInstance, RcpspSolution]):
    """Resource-constrained project scheduling: see :class:`RcpspInstance`."""

    kind = "rcpsp"
    summary = "resource-constrained project scheduling (with RCPSP/max lags): minimise the makespan"
    size_unit = "activities"
    default_size_limit = DEFAULT_SIZE_LIMIT
    instance_type = RcpspInstance
    solution_type = RcpspSolution
    parts = KindParts(formats, compile, check, heuristics.warm_start)
    plot = staticmethod(lazy_draw(f"{__name__}.plot"))
    best_known = staticmethod(published_best)
    infeasibility_reason = staticmethod(check.infeasibility_reason)

    def size(self, instance: RcpspInstance) -> int:
        """The number of activities (PSPLIB's dummy start and end included)."""
        return instance.num_activities

    def lower_bound(self, instance: RcpspInstance) -> float | None:
        """The critical path and resource energy (published bounds a file carries are claims
        for gap reports, never for the status)."""
        return bounds.lower_bound(instance)


MODEL = ProjectScheduling()
