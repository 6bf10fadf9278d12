"""Job-shop scheduling (``jssp``): minimise the makespan of jobs that are chains of operations,
each on one machine, with no two operations overlapping on a machine."""

from __future__ import annotations

from makespan.models.bounds import KnownBounds, published_best
from makespan.models.jssp import benchmarks, check, compile, formats
from makespan.models.jssp.instance import (
    DEFAULT_SIZE_LIMIT,
    JobShopInstance,
    JobShopSolution,
    Operation,
    ScheduledOperation,
)
from makespan.models.plotting import lazy_draw
from makespan.models.spec import KindParts, ProblemModel

__all__ = [
    "MODEL",
    "JobShopInstance",
    "JobShopSolution",
    "KnownBounds",
    "Operation",
    "ScheduledOperation",
]


class JobShop(ProblemModel[JobShopInstance, JobShopSolution]):
    """Job-shop scheduling: see :class:`JobShopInstance` for the objective."""

    kind = "jssp"
    summary = "job-shop scheduling: minimise the makespan"
    size_unit = "operations"
    default_size_limit = DEFAULT_SIZE_LIMIT
    instance_type = JobShopInstance
    solution_type = JobShopSolution
    parts = KindParts(formats, compile, check, compile.warm_start)
    load_named = staticmethod(benchmarks.load_named)
    plot = staticmethod(lazy_draw(f"{__name__}.plot"))
    best_known = staticmethod(published_best)

    def size(self, instance: JobShopInstance) -> int:
        """The number of operations."""
        return instance.num_operations

    def lower_bound(self, instance: JobShopInstance) -> float | None:
        """The longest job or the busiest machine (published bounds a file carries are
        claims for gap reports, never for the status)."""
        return instance.trivial_lower_bound


MODEL = JobShop()
