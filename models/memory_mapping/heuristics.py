"""Warm starts and the capacity search, as the memory-mapping model's hooks call them.

* one level: :func:`greedy.place` (best fit under several orders, then perturbations of the
  best order) gives a placement; with a capacity it is a warm start only when it fits, and it
  gets at most :data:`CAPACITY_GREEDY_S` when the canonical search can take over;
* two levels: buffers in decreasing benefit density ``benefit / (size * lifetime)`` go to
  the lowest aligned gap of fast memory that holds them, or stay slow;
* the canonical search (:mod:`search`) answers a capacity exactly, and without a capacity tries
  to reach the max-live bound, which proves the placement optimal.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from makespan.models.memory_mapping.check import SLOW, whereabouts
from makespan.models.memory_mapping.compile import solution_from_offsets
from makespan.models.memory_mapping.instance import (
    Ints,
    MemoryFixed,
    MemoryInstance,
    MemorySolution,
)
from makespan.models.spec import SearchAnswer, ShouldStop, Steering, WarmStart

SEARCH_METHOD = "canonical_search"

CAPACITY_GREEDY_S = 1.0
"""Greedy time at a capacity: on hard capacities it never fits, and the search needs the time."""

LARGE_INSTANCE_BUFFERS = 5000
"""Above this many buffers the heuristics carry the solve: the search's undo stack no longer
fits in memory and CP-SAT's 2-D no-overlap model no longer loads within a time limit."""


def warm_start(
    instance: MemoryInstance, budget_s: float, seed: int, should_stop: Callable[[], bool]
) -> WarmStart[MemorySolution] | None:
    """The best greedy placement (one level) or the density greedy (two levels)."""
    if instance.two_level:
        solution = two_level_greedy(instance)
        return WarmStart("fast_by_benefit_density", solution, solution.slow_benefit or 0)
    from makespan.models.memory_mapping import greedy  # numba: loaded when first needed

    a = instance.arrays
    if instance.capacity is not None and len(instance.buffers) <= LARGE_INSTANCE_BUFFERS:
        budget_s = min(budget_s, CAPACITY_GREEDY_S)
    offsets, method = greedy.place(
        a.lower,
        a.upper,
        a.size,
        a.alignment,
        time_budget_s=budget_s,
        should_stop=should_stop,
        seed=seed,
        target=instance.capacity,
    )
    solution = solution_from_offsets(instance, dict(enumerate(offsets.tolist())))
    if instance.capacity is not None and solution.peak > instance.capacity:
        return None
    return WarmStart(method, solution, solution.peak)


def two_level_greedy(instance: MemoryInstance) -> MemorySolution:
    """Fast memory for the densest buffers first, each at its lowest fitting aligned gap."""
    assert instance.capacity is not None
    a = instance.arrays
    density = a.worth / (a.size * (a.upper - a.lower))
    order = np.lexsort((np.arange(a.size.shape[0]), -a.size, -density))
    offsets: dict[int, int] = {}
    slow: list[int] = []
    placed = np.zeros(0, dtype=np.int64)
    for k in order.tolist():
        alive = placed[(a.lower[placed] < a.upper[k]) & (a.lower[k] < a.upper[placed])]
        below = np.array([offsets[j] for j in alive.tolist()], dtype=np.int64)
        offset = lowest_gap(below, below + a.size[alive], int(a.size[k]), int(a.alignment[k]))
        if offset + int(a.size[k]) <= instance.capacity:
            offsets[k] = offset
            placed = np.append(placed, k)
        else:
            slow.append(k)
    return solution_from_offsets(instance, offsets, sorted(slow))


REPAIR_MAX_BUFFERS = 20_000
"""Largest instance :func:`repair` takes on (it compares each buffer with every placed one)."""


def repair(instance: MemoryInstance, steering: Steering[MemorySolution]) -> MemorySolution | None:
    """The reference placement made to fit: fixed buffers where they are fixed, then every
    other buffer at its reference offset while that clashes with nothing placed, the rest
    (all of them without a reference), largest first, at the lowest aligned gap (two levels:
    slow memory when none fits, and buffers slow in the reference stay slow). None above
    :data:`REPAIR_MAX_BUFFERS`, or when a buffer fits nowhere under the capacity."""
    if len(instance.buffers) > REPAIR_MAX_BUFFERS:
        return None
    fixed = steering.fixed if isinstance(steering.fixed, MemoryFixed) else MemoryFixed()
    position = {x.id: k for k, x in enumerate(instance.buffers)}
    placed = _Placed(instance)
    slow = [position[i] for i in fixed.slow]
    for p in fixed.buffers:
        placed.put(position[p.id], p.offset)
    before = whereabouts(steering.reference) if steering.reference else {}
    taken = set(slow) | set(placed.offsets)
    moved: list[int] = []
    for k, x in enumerate(instance.buffers):
        if k in taken:
            continue
        if x.id not in before:
            moved.append(k)
            continue
        offset = before[x.id]
        if offset is SLOW and instance.two_level:
            slow.append(k)
        elif offset is not SLOW and offset % x.alignment == 0 and placed.fits(k, offset):
            placed.put(k, offset)
        else:
            moved.append(k)
    for k in sorted(moved, key=lambda k: -instance.buffers[k].size):
        offset = placed.lowest(k)
        if placed.fits(k, offset):
            placed.put(k, offset)
        elif instance.two_level:
            slow.append(k)
        else:
            return None
    return solution_from_offsets(instance, placed.offsets, sorted(slow))


class _Placed:
    """Buffers placed so far, for clash tests against one more."""

    def __init__(self, instance: MemoryInstance) -> None:
        self.instance = instance
        self.arrays = instance.arrays
        self.offsets: dict[int, int] = {}
        self._order: list[int] = []

    def _alive_with(self, k: int) -> tuple[Ints, Ints]:
        a = self.arrays
        placed = np.array(self._order, dtype=np.int64)
        alive = placed[(a.lower[placed] < a.upper[k]) & (a.lower[k] < a.upper[placed])]
        starts = np.array([self.offsets[j] for j in alive.tolist()], dtype=np.int64)
        return starts, starts + a.size[alive]

    def fits(self, k: int, offset: int) -> bool:
        """Whether buffer k at ``offset`` clashes with nothing placed and fits the capacity."""
        end = offset + int(self.arrays.size[k])
        if self.instance.capacity is not None and end > self.instance.capacity:
            return False
        starts, ends = self._alive_with(k)
        return not bool(np.any((starts < end) & (offset < ends)))

    def lowest(self, k: int) -> int:
        """The lowest aligned offset where buffer k clashes with nothing placed."""
        starts, ends = self._alive_with(k)
        return lowest_gap(starts, ends, int(self.arrays.size[k]), int(self.arrays.alignment[k]))

    def put(self, k: int, offset: int) -> None:
        """Place buffer k at ``offset``."""
        self.offsets[k] = offset
        self._order.append(k)


def lowest_gap(starts: Ints, ends: Ints, size: int, alignment: int) -> int:
    """The lowest aligned offset where ``size`` bytes fit between occupied ``[start, end)``."""
    candidate = 0
    for start, end in sorted(zip(starts.tolist(), ends.tolist(), strict=True)):
        if candidate + size <= start:
            return candidate
        if end > candidate:
            candidate = -(-end // alignment) * alignment
    return candidate


def capacity_search(
    instance: MemoryInstance, budget_s: float, should_stop: ShouldStop, best: float | None
) -> SearchAnswer[MemorySolution]:
    """The canonical search at the capacity, or, without one, at the max-live bound.

    A placement found at the max-live bound is optimal; an exhausted search at the capacity
    proves that nothing fits.
    """
    if instance.two_level:
        return SearchAnswer(SEARCH_METHOD)
    target = instance.capacity if instance.capacity is not None else instance.max_live
    if best is not None and best <= target:
        return SearchAnswer(SEARCH_METHOD)
    from makespan.models.memory_mapping import search  # numba: loaded when first needed

    a = instance.arrays
    outcome = search.fit(
        a.lower,
        a.upper,
        a.size,
        a.alignment,
        target,
        time_limit_s=budget_s,
        should_stop=should_stop,
    )
    if outcome.offsets is None:
        return SearchAnswer(
            SEARCH_METHOD,
            proven_infeasible=outcome.proven_infeasible and instance.capacity is not None,
        )
    solution = solution_from_offsets(instance, dict(enumerate(outcome.offsets.tolist())))
    proven = solution.peak <= instance.max_live
    return SearchAnswer(SEARCH_METHOD, solution, solution.peak, proven_optimal=proven)
