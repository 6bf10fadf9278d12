"""Job-shop scheduling (``jssp``): jobs are chains of operations, each on one machine (or on one
of several: the flexible job shop), no two operations overlapping on a machine; minimise the
makespan, or a weighted sum of makespan, tardiness, completion, lateness and tardy jobs, with
releases, due dates, machine downtime and sequence-dependent setups when the instance has
them."""

from __future__ import annotations

from makespan.models.bounds import KnownBounds
from makespan.models.jssp import benchmarks, check, compile, formats, heuristics, instance, lns
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


class JobShop(lns.KindSearch, ProblemModel[JobShopInstance, JobShopSolution]):
    """Job-shop scheduling, with the classic and the flexible benchmark sets by name, a repair
    of a reference schedule, and its own search (``Searchable`` and ``CooperativeSearch``, on
    unsteered solves): :mod:`.elite` for the classic job shop, :mod:`.lns` for the shops the
    tabu searches leave out."""

    load_named = staticmethod(benchmarks.load_named)
    prepare = staticmethod(heuristics.prepare)
    repair = staticmethod(heuristics.repair)
    fixed_before = staticmethod(instance.fixed_before)


MODEL = JobShop(
    KindAbout(
        "jssp",
        "job-shop and shop scheduling (flexible machines, releases, due dates, downtime, "
        "setups): minimise the makespan or a weighted sum of due-date and flow objectives",
        "operations",
        SIZE_LIMIT,
    ),
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
