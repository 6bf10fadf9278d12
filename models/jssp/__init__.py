"""Job-shop scheduling (``jssp``): minimise the makespan of jobs that are chains of operations,
each on one machine, with no two operations overlapping on a machine."""

from __future__ import annotations

from makespan.models.bounds import KnownBounds
from makespan.models.jssp import benchmarks, check, compile, formats, heuristics, instance
from makespan.models.jssp.instance import (
    DEFAULT_SIZE_LIMIT as SIZE_LIMIT,
)
from makespan.models.jssp.instance import (
    JobShopFixed,
    JobShopInstance,
    JobShopSolution,
    Operation,
    ScheduledOperation,
)
from makespan.models.spec import KindAbout, KindParts, ProblemModel

__all__ = [
    "MODEL",
    "JobShopInstance",
    "JobShopSolution",
    "KnownBounds",
    "Operation",
    "ScheduledOperation",
]


class JobShop(ProblemModel[JobShopInstance, JobShopSolution]):
    """Job-shop scheduling, with the classic benchmark sets by name."""

    load_named = staticmethod(benchmarks.load_named)
    prepare = staticmethod(heuristics.prepare)
    fixed_before = staticmethod(instance.fixed_before)


MODEL = JobShop(
    KindAbout("jssp", "job-shop scheduling: minimise the makespan", "operations", SIZE_LIMIT),
    KindParts(
        JobShopInstance,
        JobShopSolution,
        instance,
        formats,
        compile,
        check,
        heuristics,
        JobShopFixed,
    ),
)
