"""Resource-constrained project scheduling (``rcpsp``): minimise the makespan
:math:`C_{max} = \\max_i (S_i + p_i)` of activities with precedences, renewable resources
(with downtime), release/deadline windows, disjunctive pairs and minimum/maximum time lags
(RCPSP/max)."""

from __future__ import annotations

from makespan.models.bounds import KnownBounds
from makespan.models.rcpsp import bounds, check, compile, formats, heuristics
from makespan.models.rcpsp import instance as rcpsp_instance
from makespan.models.rcpsp.instance import (
    DEFAULT_SIZE_LIMIT as SIZE_LIMIT,
)
from makespan.models.rcpsp.instance import (
    Activity,
    Lag,
    RcpspFixed,
    RcpspInstance,
    RcpspSolution,
    Resource,
    ScheduledActivity,
)
from makespan.models.spec import KindAbout, KindParts, ProblemModel

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


class Rcpsp(ProblemModel[RcpspInstance, RcpspSolution]):
    """RCPSP, with a repair of a reference schedule."""

    repair = staticmethod(heuristics.repair)
    explained = staticmethod(compile.explained)
    fixed_before = staticmethod(rcpsp_instance.fixed_before)


MODEL = Rcpsp(
    KindAbout(
        "rcpsp",
        "resource-constrained project scheduling (with RCPSP/max lags): minimise the makespan",
        "activities",
        SIZE_LIMIT,
    ),
    KindParts(
        RcpspInstance, RcpspSolution, bounds, formats, compile, check, heuristics, RcpspFixed
    ),
)
