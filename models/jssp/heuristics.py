"""Warm-start heuristics for the job shop and its shop-scheduling extensions.

For the classic job shop (minimise the makespan), two layers:

* :func:`giffler_thompson` builds an *active* schedule with a priority dispatching rule;
  :func:`best_dispatch` keeps the best over :data:`DISPATCH_RULES` (:mod:`.dispatch`, Python).
* :func:`tabu_search` improves a schedule on its disjunctive graph with the N7 neighbourhood
  of Zhang et al. (2007), a superset of N5 of Nowicki & Smutnicki (:mod:`.tabu` drives it in
  time slices; its loop is compiled with numba in :mod:`.kernels`).

:func:`improved_schedule` chains the two within a time budget (:func:`warm_start` gives it as
the kind's solution). Under ``backend="auto"`` the kind's own search (:mod:`.elite`: tabu
searches on every worker, restarted from an elite pool by path relinking) goes on from it; the
best schedule is the solution hint for CP-SAT and the fallback answer when the solver finds
nothing better.

Every other instance takes the shop warm start of :func:`warm_start`: dispatching with machine
choice, releases, downtime and setups (:mod:`.shop`; apparent-tardiness-cost and due-date rules for
due-date objectives), then, for a flexible job shop with the plain makespan and nothing else,
the same tabu search on the chosen machines alternating with machine reassignment
(:mod:`.flexible`). Instances with releases, downtime, setups or another objective go on with
the dispatch schedule to the kind's large-neighbourhood search (:mod:`.lns`, CP-SAT re-solving
parts of the schedule) and then the exact solver: the tabu search's graph has no place for
them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from makespan.models import spec
from makespan.models.jssp.dispatch import DISPATCH_RULES, WarmStart, best_dispatch, giffler_thompson
from makespan.models.jssp.flexible import flexible_search
from makespan.models.jssp.instance import JobShopInstance, JobShopSolution
from makespan.models.jssp.repair import repair
from makespan.models.jssp.shop import best_shop_dispatch
from makespan.models.jssp.tabu import DEFAULT_MAX_STALL_ITERATIONS, kernels_ready, tabu_search

__all__ = [
    "DEFAULT_MAX_STALL_ITERATIONS",
    "DISPATCH_RULES",
    "WarmStart",
    "best_dispatch",
    "giffler_thompson",
    "improved_schedule",
    "prepare",
    "repair",
    "stall_limit",
    "tabu_search",
    "warm_start",
]

_STALL_MIN_ITERATIONS = 2_000
_STALL_ITERATIONS_PER_OPERATION = 20


def stall_limit(instance: JobShopInstance) -> int:
    """Iterations without improvement after which :func:`warm_start` hands over to the exact
    solver: small instances stop early (CP-SAT does better there), large ones use the budget."""
    return max(_STALL_MIN_ITERATIONS, _STALL_ITERATIONS_PER_OPERATION * instance.num_operations)


PREPARE_WAIT_S = 60.0
"""How long :func:`prepare` waits for the kernels (compiling them on a cold cache takes ~11 s)."""


def prepare() -> None:
    """Load the tabu search's compiled kernels now (the fork server does, so that every job
    process starts with them)."""
    kernels_ready(time.monotonic() + PREPARE_WAIT_S, lambda: False)


def warm_start(
    instance: JobShopInstance, budget_s: float, seed: int, should_stop: Callable[[], bool]
) -> spec.WarmStart[JobShopSolution]:
    """The kind's warm start: :func:`improved_schedule` for a classic job shop, else
    :func:`~.shop.best_shop_dispatch` (machine choice by earliest completion; for due-date
    objectives the apparent-tardiness-cost and due-date rules). A flexible instance with the
    plain makespan and no release, downtime or setup is then improved by the tabu search on the
    machines the dispatch chose, with machine reassignment moves (:mod:`.flexible`), after
    :data:`SHOP_DISPATCH_SHARE` of the budget. Instances with releases, downtime, setups or
    another objective go on with the dispatch schedule to :mod:`.lns` (under
    ``backend="auto"``): the tabu search's graph knows neither breaks, setups nor due dates."""
    if instance.is_classic:
        found = improved_schedule(
            instance, time_budget_s=budget_s, seed=seed, should_stop=should_stop
        )
        solution = JobShopSolution.from_starts(instance, found.starts)
        return spec.WarmStart(found.method, solution, solution.makespan)
    deadline = time.monotonic() + budget_s
    improvable = instance.shop_objective.is_makespan and not (
        instance.has_time_windows or instance.has_setups
    )
    share = SHOP_DISPATCH_SHARE if improvable else 1.0
    shop = best_shop_dispatch(instance, time.monotonic() + share * budget_s, seed, should_stop)
    if improvable and time.monotonic() < deadline and kernels_ready(deadline, should_stop):
        shop = flexible_search(
            instance, shop, deadline=deadline, seed=seed, should_stop=should_stop
        )
    solution = JobShopSolution.from_starts(instance, shop.starts, shop.machines)
    return spec.WarmStart(shop.method, solution, solution.value())


SHOP_DISPATCH_SHARE = 0.1
"""Share of the warm start's budget that randomised dispatching gets when the tabu search with
machine reassignment follows."""


def improved_schedule(
    instance: JobShopInstance,
    *,
    time_budget_s: float,
    seed: int = 0,
    should_stop: Callable[[], bool] | None = None,
) -> WarmStart:
    """:func:`best_dispatch`, then :func:`tabu_search` within `time_budget_s` (from the call),
    stopping after :func:`stall_limit` iterations without improvement or when ``should_stop()``.

    The dispatch schedule alone when the budget runs out first, or the tabu search's compiled
    code is not loaded by then (a cold numba cache: it keeps compiling for the next call).
    """
    deadline = time.monotonic() + time_budget_s
    stop = should_stop or (lambda: False)
    start = best_dispatch(instance)
    if time.monotonic() >= deadline or stop() or not kernels_ready(deadline, stop):
        return start
    return tabu_search(
        instance,
        start,
        deadline=deadline,
        seed=seed,
        max_stall_iterations=stall_limit(instance),
        should_stop=should_stop,
    )
