"""Fast placement heuristics for static memory allocation (memory mapping).

Each buffer ``b`` lives on the half-open interval ``[lower[b], upper[b])`` and needs ``size[b]``
contiguous addresses starting at an offset that is a multiple of ``alignment[b]``. Buffers alive at
the same time must not overlap in address. The objective is the peak address
``min max_b (offset[b] + size[b])``; ``max_live`` (the largest total size alive at one time) bounds
it from below.

The workhorse is ``best_fit``: buffers are placed one at a time, in a given order, into the
tightest free gap left by the already placed buffers that overlap them in time (the rule of XLA's
``GlobalDecreasingSizeBestFitHeap`` when the order is by decreasing size). ``place`` runs a
portfolio of orderings and then perturbs the best order while time remains.

All functions take numpy ``int64`` arrays of shape ``(n,)``; the inner loops are compiled with
numba.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from makespan.models.jit import njit
from makespan.models.memory_mapping.instance import max_live

Int64s = NDArray[np.int64]
OrderFn = Callable[[Int64s, Int64s, Int64s], Int64s]

_BLOCK_BITS = 9
_BLOCK = 1 << _BLOCK_BITS  # entries per block of the offset-sorted heap
_HALF = _BLOCK // 2
_WORDS = _BLOCK // 64
_DEBRUIJN = np.uint64(0x03F79D71B4CB0A89)
_DEBRUIJN_BIT = np.zeros(64, dtype=np.int64)
for _bit in range(64):
    _DEBRUIJN_BIT[((0x03F79D71B4CB0A89 << _bit) & (2**64 - 1)) >> 58] = _bit

# Placed buffers that overlap a query in time, found via the time index below.
_Index = tuple[Int64s, Int64s, Int64s, Int64s, Int64s]
# Placed buffers sorted by offset, see _heap_new.
_Heap = tuple[
    Int64s, Int64s, Int64s, Int64s, Int64s, Int64s, Int64s, NDArray[np.uint64], NDArray[np.bool_]
]


# ------------------------------------------------------------------------------------ bounds


def peak(offsets: Int64s, size: Int64s) -> int:
    """The objective: the highest address used, ``max_b (offsets[b] + size[b])`` (0 if empty)."""
    return int((offsets + size).max()) if len(size) else 0


def overlap_violations(
    lower: Int64s, upper: Int64s, size: Int64s, alignment: Int64s, offsets: Int64s
) -> int:
    """Count the ways a placement breaks the rules, independently of the placement code.

    A sweep over buffers sorted by start: each pair alive at a common time is examined once, from
    the buffer that starts no later. Buffers of size 0 or with an empty lifetime conflict with
    nothing.

    Returns:
        Number of pairs that overlap in both time and address, plus the number of buffers whose
        offset is negative or not a multiple of their alignment.
    """
    bad = int(np.count_nonzero((offsets < 0) | (offsets % alignment != 0)))
    real = np.flatnonzero((upper > lower) & (size > 0))
    by_start = real[np.argsort(lower[real], kind="stable")]
    starts = lower[by_start]
    ends = offsets[by_start] + size[by_start]
    for k, b in enumerate(by_start):
        stop = int(np.searchsorted(starts, upper[b], side="left"))
        later = slice(k + 1, stop)
        bad += int(
            np.count_nonzero((offsets[by_start[later]] < ends[k]) & (ends[later] > offsets[b]))
        )
    return bad


# ---------------------------------------------------------------------------------- orderings


# "big" buffers, as a share of max_live: measured on the idealloc traces, not tuned finely
_BIG_SHARE = 0.003
_BIGGER_SHARE = 0.01


def decreasing_size_order(lower: Int64s, upper: Int64s, size: Int64s) -> Int64s:
    """XLA's order: larger buffers first, then longer lifetimes, then lower index."""
    return _order(np.arange(len(size)), -(upper - lower), -size)


def peak_live_order(lower: Int64s, upper: Int64s, size: Int64s) -> Int64s:
    """Greedy by breadth: buffers alive at busier times first, then by decreasing size.

    A buffer's key is the largest live total over its lifetime, so everything alive at the
    ``max_live`` time comes first and stacks without holes there.
    """
    busiest = _busiest_live(lower, upper, size)
    return _order(np.arange(len(size)), -(upper - lower), -size, -busiest)


def size_class_time_order(lower: Int64s, upper: Int64s, size: Int64s) -> Int64s:
    """Size classes (factors of 4 below the largest size) largest first, each by start time.

    Start order within a class makes buffers of similar size hand their addresses over to the
    ones that start as they end, and nests lifetimes like a stack. Ties: later end, larger size.
    """
    return _order(np.arange(len(size)), -size, -upper, lower, _size_class(size))


def big_then_time_order(lower: Int64s, upper: Int64s, size: Int64s) -> Int64s:
    """Buffers of at least 0.3% of ``max_live`` by decreasing size, then the rest by start time.

    Big buffers placed first settle at the bottom; long-lived small ones then stack in start order
    instead of being left for last, when no lane is free across their whole lifetime.
    """
    small = size < _BIG_SHARE * max_live(lower, upper, size)
    return _order(np.arange(len(size)), -size, -upper, lower, np.where(small, 0, -size), small)


def big_then_class_time_order(lower: Int64s, upper: Int64s, size: Int64s) -> Int64s:
    """Buffers of at least 1% of ``max_live`` by decreasing size, then ``size_class_time_order``."""
    small = size < _BIGGER_SHARE * max_live(lower, upper, size)
    return _order(
        np.arange(len(size)),
        -size,
        -upper,
        lower,
        _size_class(size),
        np.where(small, 0, -size),
        small,
    )


ORDERINGS: tuple[tuple[str, OrderFn], ...] = (
    ("decreasing_size", decreasing_size_order),
    ("peak_live", peak_live_order),
    ("big_then_class_time", big_then_class_time_order),
    ("big_then_time", big_then_time_order),
    ("size_class_time", size_class_time_order),
)
"""Named placement orders, strongest first on the idealloc traces."""

_PORTFOLIO: tuple[tuple[str, bool], ...] = (
    ("decreasing_size", False),
    ("peak_live", False),
    ("big_then_class_time", True),
    ("big_then_time", True),
    ("size_class_time", True),
    ("decreasing_size", True),
    ("big_then_class_time", False),
    ("big_then_time", False),
    ("size_class_time", False),
    ("peak_live", True),
)
"""(ordering, first_fit) pairs in the order ``place`` tries them."""


def _order(*keys: NDArray[Any]) -> Int64s:
    """``np.lexsort`` (last key primary) as int64."""
    return np.lexsort(keys).astype(np.int64)


def _size_class(size: Int64s) -> Int64s:
    """Size classes by factors of 4 below the largest size: 0 for it, 1 for [max/4, max), ..."""
    ratio: NDArray[np.float64] = max(int(size.max(initial=1)), 1) / np.maximum(size, 1)
    return np.ceil(np.log2(ratio) / 2).astype(np.int64)


def _busiest_live(lower: Int64s, upper: Int64s, size: Int64s) -> Int64s:
    """For each buffer, the largest live total at a time in its lifetime (0 if empty)."""
    times = np.unique(np.concatenate([lower, upper]))
    first = np.searchsorted(times, lower)
    stop = np.searchsorted(times, upper)
    delta = np.zeros(len(times) + 1, dtype=np.int64)
    alive = stop > first
    np.add.at(delta, first[alive], size[alive])
    np.add.at(delta, stop[alive], -size[alive])
    return _range_max(np.cumsum(delta)[:-1], first, stop)


def _range_max(values: Int64s, first: Int64s, stop: Int64s) -> Int64s:
    """``max(values[first[i]:stop[i]])`` for every i (0 where empty), by a sparse table."""
    levels = [values]  # levels[k][i] = max(values[i : i + 2**k])
    while 1 << len(levels) <= len(values):
        half = 1 << (len(levels) - 1)
        levels.append(np.maximum(levels[-1][:-half], levels[-1][half:]))
    length = np.maximum(stop - first, 1)
    level = np.floor(np.log2(length)).astype(np.int64)
    out = np.zeros(len(first), dtype=np.int64)
    for k in np.unique(level[stop > first]):
        pick = (level == k) & (stop > first)
        table = levels[k]
        out[pick] = np.maximum(table[first[pick]], table[stop[pick] - (1 << k)])
    return out


# ---------------------------------------------------------------------------------- best fit


def best_fit(
    lower: Int64s,
    upper: Int64s,
    size: Int64s,
    alignment: Int64s,
    order: Int64s,
    *,
    first_fit: bool = False,
) -> Int64s:
    """Place the buffers one by one, in ``order``, each into the best free gap.

    The gaps of a buffer are the free address ranges between the already placed buffers whose
    lifetimes overlap its own. It goes into the smallest gap that holds it at an aligned offset
    (ties: the lowest); if none does, on top: at the lowest aligned offset at or above the highest
    end among those buffers. With ``first_fit`` the lowest fitting gap wins instead. Buffers with
    an empty lifetime or size 0 get offset 0. With ``order`` by decreasing size this is XLA's
    ``GlobalDecreasingSizeBestFitHeap``.

    Args:
        lower: First time step of each buffer's lifetime.
        upper: End of each lifetime (exclusive).
        size: Size of each buffer.
        alignment: Each offset must be a multiple of it (>= 1).
        order: A permutation of ``range(n)`` (or any subset: the others are left at 0 and ignored).
        first_fit: Prefer the lowest gap to the tightest.

    Returns:
        The offsets, int64 of shape ``(n,)``.
    """
    order = np.asarray(order, dtype=np.int64)
    return _place_in_order(
        lower, upper, size, alignment, order, first_fit, _time_index(lower, upper, size)
    )


def _time_index(lower: Int64s, upper: Int64s, size: Int64s) -> _Index:
    """Buffers grouped by lifetime length (factors of two), each group sorted by start.

    Within a group every lifetime is at most ``longest[g]`` long, so the buffers overlapping
    ``[lo, up)`` start in ``(lo - longest[g], up)``: two binary searches per group find them, with
    at most about half of the scanned ones not overlapping.

    Returns:
        ``(buffer, group_start, longest, start, end)``: buffer ids in group-then-start order, the
        group boundaries in that array, each group's longest lifetime, and the lifetimes in that
        order. Buffers that occupy nothing (empty lifetime or size 0) are left out.
    """
    real = np.flatnonzero((upper > lower) & (size > 0))
    span = (upper - lower)[real]
    group = np.floor(np.log2(span)).astype(np.int64) if len(real) else span
    local = np.lexsort((lower[real], group))
    buffer = real[local].astype(np.int64)
    groups = int(group.max()) + 1 if len(real) else 0
    group_start = np.searchsorted(group[local], np.arange(groups + 1)).astype(np.int64)
    longest = np.zeros(groups, dtype=np.int64)
    np.maximum.at(longest, group, span)
    return (
        buffer,
        group_start,
        longest,
        lower[buffer].astype(np.int64),
        upper[buffer].astype(np.int64),
    )


# The heap of placed buffers, sorted by offset in blocks of at most _BLOCK entries (a two-level
# sorted list, so an insertion moves at most a block). A query marks the placed buffers that
# overlap in time in per-block bitsets, then walks the blocks in offset order: the neighbours come
# out sorted by offset without a sort, which is what makes a placement near-linear in the number of
# overlapping pairs.
#
# (item, start, end, count, order, used, slot, bits, touched):
#   item/start/end[block, k]: the k-th buffer of a block by offset, its offset and its end;
#   count[block]: its entries; order[:used[0]]: the ids of the blocks in use, by offset;
#   slot[buffer] = block * _BLOCK + k, -1 if not placed; bits/touched: the marks of a query.


@njit
def _heap_new(n: int) -> _Heap:
    blocks = 2 * n // _BLOCK + 2
    item = np.zeros((blocks, _BLOCK), dtype=np.int64)
    start = np.zeros((blocks, _BLOCK), dtype=np.int64)
    end = np.zeros((blocks, _BLOCK), dtype=np.int64)
    count = np.zeros(blocks, dtype=np.int64)
    order = np.zeros(blocks, dtype=np.int64)
    used = np.ones(1, dtype=np.int64)  # block 0 exists from the start, empty
    slot = np.full(n, -1, dtype=np.int64)
    bits = np.zeros((blocks, _WORDS), dtype=np.uint64)
    touched = np.zeros(blocks, dtype=np.bool_)
    return item, start, end, count, order, used, slot, bits, touched


@njit
def _move(heap: _Heap, src: int, first: int, stop: int, dst: int, to: int) -> None:
    """Move entries ``first:stop`` of block ``src`` to ``to...`` in block ``dst``."""
    item, start, end, _, _, _, slot, _, _ = heap
    # backwards when moving up within a block, so that no entry is overwritten before it moves
    backwards = src == dst and to > first
    for k in range(stop - 1, first - 1, -1) if backwards else range(first, stop):
        kk = to + k - first
        item[dst, kk] = item[src, k]
        start[dst, kk] = start[src, k]
        end[dst, kk] = end[src, k]
        slot[item[dst, kk]] = dst * _BLOCK + kk


@njit
def _block_for(heap: _Heap, offset: int) -> int:
    """Position in the block order of the last block starting at or below ``offset`` (or 0)."""
    _, start, _, _, order, used, _, _, _ = heap
    lo = 0
    hi = used[0]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if start[order[mid], 0] <= offset:
            lo = mid
        else:
            hi = mid
    return lo


@njit
def _split(heap: _Heap, p: int) -> None:
    """Move the upper half of the full block at position p into a new block after it."""
    _, _, _, count, order, used, _, _, _ = heap
    new = used[0]
    for q in range(used[0], p + 1, -1):
        order[q] = order[q - 1]
    order[p + 1] = new
    used[0] += 1
    _move(heap, order[p], _HALF, _BLOCK, new, 0)
    count[new] = _BLOCK - _HALF
    count[order[p]] = _HALF


@njit
def _heap_add(heap: _Heap, buffer: int, offset: int, stop: int) -> None:
    item, start, end, count, order, _, slot, _, _ = heap
    p = _block_for(heap, offset)
    if count[order[p]] == _BLOCK:
        _split(heap, p)
        if start[order[p + 1], 0] <= offset:
            p += 1
    b = order[p]
    lo = 0
    hi = count[b]
    while lo < hi:
        mid = (lo + hi) // 2
        if start[b, mid] <= offset:
            lo = mid + 1
        else:
            hi = mid
    _move(heap, b, lo, count[b], b, lo + 1)
    item[b, lo] = buffer
    start[b, lo] = offset
    end[b, lo] = stop
    slot[buffer] = b * _BLOCK + lo
    count[b] += 1


@njit
def _mark(heap: _Heap, index: _Index, lo: int, up: int) -> None:
    """Mark the placed buffers alive at some time in ``[lo, up)``."""
    buffer, group_start, longest, s_lo, s_up = index
    _, _, _, _, _, _, slot, bits, touched = heap
    one = np.uint64(1)
    for g in range(longest.shape[0]):
        a = group_start[g]
        b = group_start[g + 1]
        first = a + np.searchsorted(s_lo[a:b], lo - longest[g], side="right")
        stop = a + np.searchsorted(s_lo[a:b], up, side="left")
        for r in range(first, stop):
            if s_up[r] > lo and slot[buffer[r]] >= 0:
                # shifts and masks: this is the hottest loop, and slots are never negative here
                s = slot[buffer[r]]
                bits[s >> _BLOCK_BITS, (s >> 6) & (_WORDS - 1)] |= one << np.uint64(s & 63)
                touched[s >> _BLOCK_BITS] = True


@njit
def _align_up(x: int, alignment: int) -> int:
    return (x + alignment - 1) // alignment * alignment


@njit
def _fit(heap: _Heap, size: int, alignment: int, first_fit: bool) -> int:
    """Walk the marked buffers by offset, clearing the marks; return the chosen offset."""
    _, start, end, _, order, used, _, bits, touched = heap
    one = np.uint64(1)
    best = -1
    best_gap = 0
    top = 0  # the highest end so far: the free gap runs from it to the next start
    for p in range(used[0]):
        b = order[p]
        if not touched[b]:
            continue
        touched[b] = False
        for w in range(_WORDS):
            word = bits[b, w]
            bits[b, w] = 0
            while word != 0:
                low = word & (~word + one)
                word ^= low
                k = w * 64 + _DEBRUIJN_BIT[(low * _DEBRUIJN) >> np.uint64(58)]
                gap = start[b, k] - top
                if gap > 0 and (best < 0 or (gap < best_gap and not first_fit)):
                    candidate = _align_up(top, alignment)
                    if candidate + size <= start[b, k]:
                        best = candidate
                        best_gap = gap
                top = max(top, end[b, k])
    return best if best >= 0 else _align_up(top, alignment)


@njit
def _place_in_order(
    lower: Int64s,
    upper: Int64s,
    size: Int64s,
    alignment: Int64s,
    order: Int64s,
    first_fit: bool,
    index: _Index,
) -> Int64s:
    offsets = np.zeros(lower.shape[0], dtype=np.int64)
    heap = _heap_new(lower.shape[0])
    for b in order:
        if upper[b] > lower[b] and size[b] > 0:
            _mark(heap, index, lower[b], upper[b])
            offsets[b] = _fit(heap, size[b], alignment[b], first_fit)
            _heap_add(heap, b, offsets[b], offsets[b] + size[b])
        else:
            offsets[b] = 0
    return offsets


# ------------------------------------------------------------------------------------- place


def place(
    lower: Int64s,
    upper: Int64s,
    size: Int64s,
    alignment: Int64s,
    *,
    time_budget_s: float,
    should_stop: Callable[[], bool],
    seed: int = 0,
    target: int | None = None,
) -> tuple[Int64s, str]:
    """Best placement found by a portfolio of greedy orders, then by perturbing the best order.

    Runs ``best_fit`` (tightest and lowest gap) under the orderings of ``ORDERINGS``, then, while
    the peak is above the lower bound, adds small random noise to the ranks of the best order and
    keeps the result when its peak is no higher (equal peaks let the search drift). It stops at the
    lower bound ``max(max_live, max size)``, when the budget would be overrun by another run or
    when ``should_stop()`` returns True, which is checked before every run after the first.

    Args:
        lower: First time step of each buffer's lifetime.
        upper: End of each lifetime (exclusive).
        size: Size of each buffer.
        alignment: Each offset must be a multiple of it (>= 1).
        time_budget_s: Wall-clock budget; the first ordering always runs.
        should_stop: Polled between runs; True ends the search with the best so far.
        seed: Seed of the perturbations.
        target: Also stop once the peak is at or below this (a capacity to fit).

    Returns:
        ``(offsets, method)``: the best offsets and the run that found them, e.g.
        ``"big_then_time/first_fit"`` or ``"peak_live/best_fit+perturbed"``.
    """
    if np.any(alignment < 1):
        raise ValueError("alignment must be >= 1")
    deadline = time.monotonic() + time_budget_s
    search = _Search(lower, upper, size, alignment, deadline, should_stop)
    if target is not None:
        search.bound = max(search.bound, target)
    for name, first_fit in _PORTFOLIO:
        if search.done():
            break
        search.run(dict(ORDERINGS)[name](lower, upper, size), first_fit, _method(name, first_fit))
    search.perturb(np.random.default_rng(seed))
    return search.best_offsets, search.best_method


def _method(name: str, first_fit: bool) -> str:
    return f"{name}/{'first_fit' if first_fit else 'best_fit'}"


class _Search:
    """The best placement so far, and the clock."""

    def __init__(
        self,
        lower: Int64s,
        upper: Int64s,
        size: Int64s,
        alignment: Int64s,
        deadline: float,
        should_stop: Callable[[], bool],
    ) -> None:
        self.args = (lower, upper, size, alignment)
        self.index = _time_index(lower, upper, size)
        self.bound = max(max_live(lower, upper, size), int(size.max()) if len(size) else 0)
        self.deadline = deadline
        self.should_stop = should_stop
        self.stopped = False
        self.longest_run = 0.0
        self.best_offsets = np.zeros(len(size), dtype=np.int64)
        self.best_peak = -1
        self.best_order = np.arange(len(size), dtype=np.int64)
        self.best_first_fit = False
        self.best_method = ""

    def done(self) -> bool:
        """At the bound, out of time for one more run, or told to stop."""
        if 0 <= self.best_peak <= self.bound:
            return True
        if self.best_peak >= 0 and time.monotonic() + self.longest_run > self.deadline:
            return True
        self.stopped = self.stopped or (self.best_peak >= 0 and self.should_stop())
        return self.stopped

    def run(self, order: Int64s, first_fit: bool, method: str, *, drift: bool = False) -> None:
        """Place in ``order``; keep the result if its peak is lower (or equal, with ``drift``)."""
        began = time.monotonic()
        offsets = _place_in_order(*self.args, order, first_fit, self.index)
        self.longest_run = max(self.longest_run, time.monotonic() - began)
        value = peak(offsets, self.args[2])
        if self.best_peak < 0 or value < self.best_peak or (drift and value == self.best_peak):
            self.best_offsets, self.best_peak, self.best_method = offsets, value, method
            self.best_order, self.best_first_fit = order, first_fit

    def perturb(self, rng: np.random.Generator) -> None:
        """Iterated greedy: noisy ranks of the best order, kept unless the peak rises."""
        n = len(self.best_order)
        method = self.best_method + "+perturbed"
        while n > 1 and not self.done():
            rank = np.empty(n)
            rank[self.best_order] = np.arange(n)
            # most buffers move by up to a few dozen places: big jumps wreck the good structure
            rank += n * 10.0 ** rng.uniform(-4, -2) * rng.standard_normal(n)
            self.run(np.argsort(rank, kind="stable"), self.best_first_fit, method, drift=True)
