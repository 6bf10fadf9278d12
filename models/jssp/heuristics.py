"""Warm-start heuristics for the job-shop problem (minimise the makespan).

Two layers:

* :func:`giffler_thompson` builds an *active* schedule with a priority dispatching rule;
  :func:`best_dispatch` keeps the best over :data:`DISPATCH_RULES` (:mod:`.dispatch`, Python).
* :func:`tabu_search` improves a schedule on its disjunctive graph with the N7 neighbourhood
  of Zhang et al. (2007), a superset of N5 of Nowicki & Smutnicki (:mod:`.tabu` drives it in
  time slices; its loop is compiled with numba in :mod:`.kernels`).

:func:`improved_schedule` chains the two within a time budget (:func:`warm_start` gives it as
the kind's solution). Its schedule is the solution hint for
CP-SAT and the fallback answer when the solver finds nothing better.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from makespan.models import spec
from makespan.models.jssp.dispatch import DISPATCH_RULES, WarmStart, best_dispatch, giffler_thompson
from makespan.models.jssp.instance import JobShopInstance, JobShopSolution
from makespan.models.jssp.tabu import DEFAULT_MAX_STALL_ITERATIONS, kernels_ready, tabu_search

__all__ = [
    "DEFAULT_MAX_STALL_ITERATIONS",
    "DISPATCH_RULES",
    "WarmStart",
    "best_dispatch",
    "giffler_thompson",
    "improved_schedule",
    "prepare",
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
    """The kind's warm start: :func:`improved_schedule` as a solution."""
    found = improved_schedule(instance, time_budget_s=budget_s, seed=seed, should_stop=should_stop)
    solution = JobShopSolution.from_starts(instance, found.starts)
    return spec.WarmStart(found.method, solution, solution.makespan)


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
