"""Resource-constrained project scheduling (``rcpsp``): minimise the makespan
:math:`C_{max} = \\max_i (S_i + p_i)` of activities with precedences, renewable resources
(with downtime), release/deadline windows, disjunctive pairs and minimum/maximum time lags
(RCPSP/max).

Under ``backend="auto"`` the kind's own search (:mod:`.search`: an energetic lower bound and
island genetic algorithms over activity lists, compiled in :mod:`.kernels`) runs between the
warm start and CP-SAT, which gets its best schedule as hint."""

from __future__ import annotations

from collections.abc import Callable

from makespan.models.bounds import KnownBounds
from makespan.models.rcpsp import bounds, check, compile, evolve, formats, heuristics
from makespan.models.rcpsp import instance as rcpsp_instance
from makespan.models.rcpsp import search as own_search
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
from makespan.models.spec import (
    KindAbout,
    KindParts,
    ProblemModel,
    SearchAnswer,
    SearchContext,
    ShouldStop,
)

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
    """The RCPSP kind, with its own search (``Searchable`` and ``CooperativeSearch``; the
    pipeline runs it only on unsteered solves, see :mod:`makespan.models.steering`) and a repair
    of a reference schedule."""

    auto_backend_limit: int | None = None
    search_share = own_search.SEARCH_SHARE
    prepare = staticmethod(evolve.prepare)
    repair = staticmethod(heuristics.repair)
    explained = staticmethod(compile.explained)
    fixed_before = staticmethod(rcpsp_instance.fixed_before)

    def search(
        self, instance: RcpspInstance, budget_s: float, should_stop: ShouldStop, best: float | None
    ) -> SearchAnswer[RcpspSolution]:
        """:func:`.search.search` on one thread, without streaming."""
        return own_search.search(instance, budget_s, should_stop, best)

    def search_with(
        self,
        instance: RcpspInstance,
        budget_s: float,
        should_stop: Callable[[], bool],
        best: float | None,
        context: SearchContext[RcpspSolution],
    ) -> SearchAnswer[RcpspSolution]:
        """:func:`.search.search` on the solve's workers, streaming improvements."""
        return own_search.search(instance, budget_s, should_stop, best, context)

    def goal(self, instance: RcpspInstance) -> float | None:
        """No objective settles the question short of a proof: None."""
        return None


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
