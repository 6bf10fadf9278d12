"""Job-shop scheduling (``jssp``): minimise the makespan of jobs that are chains of operations,
each on one machine, with no two operations overlapping on a machine."""

from __future__ import annotations

from collections.abc import Callable

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
from makespan.models.spec import ProblemModel, WarmStart

__all__ = [
    "MODEL",
    "JobShopInstance",
    "JobShopSolution",
    "KnownBounds",
    "Operation",
    "ScheduledOperation",
]


def warm_start(
    instance: JobShopInstance, budget_s: float, seed: int, should_stop: Callable[[], bool]
) -> WarmStart[JobShopSolution] | None:
    """Best Giffler-Thompson dispatch, improved by tabu search within ``budget_s``."""
    from makespan.models.jssp import heuristics

    found = heuristics.warm_start(
        instance, time_budget_s=budget_s, seed=seed, should_stop=should_stop
    )
    solution = JobShopSolution.from_starts(instance, [list(row) for row in found.starts])
    return WarmStart(found.method, solution, solution.makespan)


def _lower_bound(instance: JobShopInstance) -> float | None:
    # Only what we can prove here: published bounds serve gap-to-best-known reports, never
    # the status, since a bound carried in a user's file is a claim, not a proof.
    return instance.trivial_lower_bound


MODEL: ProblemModel[JobShopInstance, JobShopSolution] = ProblemModel(
    kind="jssp",
    summary="job-shop scheduling: minimise the makespan",
    instance_type=JobShopInstance,
    solution_type=JobShopSolution,
    formats=formats.FORMATS,
    read_text=formats.read_text,
    warm_start=warm_start,
    compile=compile.compile_instance,
    decode=compile.decode,
    hint=compile.hint,
    check=check.check,
    lower_bound=_lower_bound,
    best_known=published_best,
    size=lambda instance: instance.num_operations,
    size_unit="operations",
    default_size_limit=DEFAULT_SIZE_LIMIT,
    document_size=formats.document_size,
    text_size=formats.text_size,
    load_named=benchmarks.load_named,
    file_extensions=(".jss", ".jsp"),
    sniff=formats.looks_like_jssp,
    plot=lazy_draw("makespan.models.jssp.plot"),
)
