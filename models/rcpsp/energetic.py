"""A destructive lower bound on the makespan by energetic reasoning (compiled with numba).

A makespan ``T`` is *refuted* when these deductions, on the windows that ``T`` leaves, reach a
contradiction (Klein & Scholl 1999; Baptiste, Le Pape & Nuijten 1999):

- every activity ``i`` starts in ``[ES_i, LS_i]``: earliest starts of the temporal network,
  latest starts under ``T`` and the deadlines, kept consistent along every arc (precedences,
  lags) after each change;
- on each resource ``k`` and interval ``[a, b)`` (``a`` an earliest or latest start, ``b`` an
  earliest or latest finish), an activity needs at least
  :math:`q_{ik} \\max(0, \\min(b - a, p_i, EF_i - a, b - LS_i))` units of energy inside it,
  and the interval offers :math:`c_k` times its time outside downtime; more demand than offer
  is a contradiction;
- with ``slack`` the offer less the others' needs, an activity that would put more than
  ``slack`` inside ``[a, b)`` when started as early as it may starts at
  :math:`b - \\lfloor slack / q_{ik} \\rfloor` or later; one that would put more than
  ``slack`` inside when started as late as it may ends at
  :math:`a + \\lfloor slack / q_{ik} \\rfloor` or earlier.

Each deduction holds for every schedule ending by ``T``, so a contradiction proves that none
exists, and the least ``T`` not refuted is a lower bound (the search over ``T`` needs no
monotonicity: only refuted values are skipped). Disjunctive pairs are unit resources.

The work per test is cubic in the users of a resource, so :func:`destructive_bound` runs under
a deadline and answers the best bound proven when it ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from makespan.models.jit import njit
from makespan.models.rcpsp import kernels

Ints = kernels.Ints

_ROUNDS = 8
"""Rounds of deductions per test at most (each round: every resource, then the network)."""


@njit
def _need(a: int, b: int, p: int, ef: int, ls: int) -> int:
    """Time an activity must run inside ``[a, b)``."""
    value = b - a
    if p < value:
        value = p
    if ef - a < value:
        value = ef - a
    if b - ls < value:
        value = b - ls
    return value if value > 0 else 0


@njit
def refutes(problem: kernels.Problem, supply: Ints, horizon: int) -> bool:
    """Whether energetic reasoning proves that no schedule ends by ``horizon``.

    ``supply[k, t]``: the capacity of resource ``k`` summed over ``[0, t)`` (downtime counts
    none), for ``t`` up to the profile's horizon.
    """
    dur = problem.dur
    n = dur.shape[0]
    if horizon >= supply.shape[1]:
        return False
    es = problem.es.copy()
    ls = np.empty(n, dtype=np.int64)
    for i in range(n):
        ls[i] = min(problem.ls[i], horizon - dur[i])
        if es[i] > ls[i]:
            return True
    queue = np.empty(n + 1, dtype=np.int64)
    queued = np.zeros(n, dtype=np.int64)
    if not kernels.propagate_all(problem, es, ls, queue, queued):
        return True
    resources = supply.shape[0]
    # Users of each resource, with their demand.
    counts = np.zeros(resources, dtype=np.int64)
    for r in range(problem.res_k.shape[0]):
        counts[problem.res_k[r]] += 1
    users = np.zeros((resources, max(1, counts.max())), dtype=np.int64)
    demand = np.zeros((resources, max(1, counts.max())), dtype=np.int64)
    filled = np.zeros(resources, dtype=np.int64)
    for i in range(n):
        for r in range(problem.res_ptr[i], problem.res_ptr[i + 1]):
            k = problem.res_k[r]
            users[k, filled[k]] = i
            demand[k, filled[k]] = problem.res_q[r]
            filled[k] += 1
    starts = np.empty(2 * n, dtype=np.int64)
    ends = np.empty(2 * n, dtype=np.int64)
    for _ in range(_ROUNDS):
        changed = False
        for k in range(resources):
            m = counts[k]
            if m == 0:
                continue
            for u in range(m):
                i = users[k, u]
                starts[2 * u] = es[i]
                starts[2 * u + 1] = ls[i]
                ends[2 * u] = es[i] + dur[i]
                ends[2 * u + 1] = ls[i] + dur[i]
            s_sorted = np.unique(starts[: 2 * m])
            e_sorted = np.unique(ends[: 2 * m])
            for a in s_sorted:
                for b in e_sorted:
                    if b <= a:
                        continue
                    offer = supply[k, b] - supply[k, a]
                    needed = 0
                    for u in range(m):
                        i = users[k, u]
                        needed += demand[k, u] * _need(a, b, dur[i], es[i] + dur[i], ls[i])
                    if needed > offer:
                        return True
                    for u in range(m):
                        i = users[k, u]
                        q = demand[k, u]
                        p = dur[i]
                        own = q * _need(a, b, p, es[i] + p, ls[i])
                        slack = offer - (needed - own)
                        left = min(b - a, p, max(0, es[i] + p - a))
                        if q * left > slack:
                            # Started early it would overrun the slack: it starts later.
                            bound = b - slack // q
                            if bound > ls[i]:
                                return True
                            if bound > es[i]:
                                es[i] = bound
                                changed = True
                        right = min(b - a, p, max(0, b - ls[i]))
                        if q * right > slack:
                            # Started late it would overrun the slack: it ends earlier.
                            bound = a + slack // q - p
                            if bound < es[i]:
                                return True
                            if bound < ls[i]:
                                ls[i] = bound
                                changed = True
        if not changed:
            return False
        if not kernels.propagate_all(problem, es, ls, queue, queued):
            return True
    return False


def supply_of(problem: kernels.Problem) -> Ints:
    """``supply[k, t]``: the capacity of resource ``k`` summed over ``[0, t)``."""
    free = problem.free0
    supply = np.zeros((free.shape[0], free.shape[1] + 1), dtype=np.int64)
    np.cumsum(free, axis=1, out=supply[:, 1:])
    return supply


def destructive_bound(
    problem: kernels.Problem,
    low: int,
    high: int,
    deadline: float,
    should_stop: Callable[[], bool] | None = None,
) -> int:
    """The least makespan in ``[low, high]`` that energetic reasoning does not refute, found by
    bisection; ``low`` (a proven bound) when the deadline or a stop request comes first, or
    ``high`` when everything below it is refuted (then ``high`` is optimal if a schedule
    reaches it)."""
    supply = supply_of(problem)
    stop = should_stop or (lambda: False)
    proven = low
    top = high
    while proven < top:
        if time.monotonic() >= deadline or stop():
            break
        middle = (proven + top) // 2
        if refutes(problem, supply, middle):
            proven = middle + 1
        else:
            top = middle
    return proven
