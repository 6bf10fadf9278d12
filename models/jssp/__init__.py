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
from makespan.models.spec import ProblemModel, module_parts

__all__ = [
    "MODEL",
    "JobShopInstance",
    "JobShopSolution",
    "KnownBounds",
    "Operation",
    "ScheduledOperation",
]

MODEL: ProblemModel[JobShopInstance, JobShopSolution] = ProblemModel(
    kind="jssp",
    summary="job-shop scheduling: minimise the makespan",
    instance_type=JobShopInstance,
    solution_type=JobShopSolution,
    **module_parts(formats, compile, check),
    warm_start=compile.warm_start,
    # Only what is proven: published bounds serve gap-to-best-known reports, never the status,
    # since a bound carried in a user's file is a claim, not a proof.
    lower_bound=lambda instance: instance.trivial_lower_bound,
    best_known=published_best,
    size=lambda instance: instance.num_operations,
    size_unit="operations",
    default_size_limit=DEFAULT_SIZE_LIMIT,
    load_named=benchmarks.load_named,
    plot=lazy_draw(f"{__name__}.plot"),
)
