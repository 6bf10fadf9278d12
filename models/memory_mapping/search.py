"""Exact search for a placement that fits a capacity: canonical solutions, after MiniMalloc.

MiniMalloc (Moffitt, ASPLOS 2024) showed that the static allocation problem

    find offsets o_b  with  0 <= o_b,  o_b + size_b <= C,  alignment_b | o_b,
    and  [o_a, o_a + size_a) ∩ [o_b, o_b + size_b) = ∅  for all a, b alive at once,

needs only *canonical* solutions to be searched: any feasible placement can be pushed down until
every buffer rests on a buffer below it (or on 0), and the buffers can then be listed by
non-decreasing offset. So the search places one buffer at a time, always at its lowest possible
offset (its ``min_off``: the highest top among placed buffers it overlaps), in non-decreasing
(offset, preorder rank) order. On top of that order it prunes with

* **section inference**: time is cut into sections at every lifetime end point; in each section
  the unplaced buffers must still fit above the section's floor, which is at least the current
  offset (offsets only increase), the highest placed top, and the lowest ``min_off`` of the
  section's unplaced buffers;
* **dominance**: a buffer is never placed at or above the lowest top that some other unplaced
  buffer could reach, since that would leave a gap the other buffer fits in;
* **frozen buffers**: an unplaced buffer whose time-neighbours are all placed can no longer move,
  so nothing may be placed past its (offset, rank) key, or it could never follow in order.

The depth-first search is iterative and compiled with numba. Its whole state lives in arrays, so
it runs in slices of nodes and resumes: several preorders share the time round-robin without
restarting, and a stop request is honoured between slices. Time segments that no buffer crosses
are solved separately.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from makespan.models.jit import njit

Ints = NDArray[np.int64]

Undo = tuple[Ints, ...]
"""The arrays a placement changes and its undo restores, in the order :func:`_dfs` and
:func:`_unplace` unpack them (the segment's, then the search state's): one tuple, so that the
compiled kernel hands them on in one argument."""

FOUND, EXHAUSTED, PAUSED, SPLIT = 1, 0, 2, 3
"""What a slice of search ended with: a placement, a proof that none exists, its node budget
spent, or (inside the kernel only) a node whose unplaced buffers fell apart into groups."""

PREORDERS = ("WAT", "TAW", "TWA")
"""Static tie-break orders tried round-robin: W lifetime width, A area, T section total (desc)."""

_SLICE_WORK = 20_000_000
"""Work between two looks at the clock and the stop request, in buffer+section visits (a node
visits each once or twice): some 50 ms of search whatever the segment's size."""
MAX_STACK_ENTRIES = 40_000_000
"""Above this many undo entries a segment is too large for the exact search's memory."""


@dataclass(frozen=True)
class _Problem:
    lower: Ints
    upper: Ints
    size: Ints
    alignment: Ints
    capacity: int


@dataclass(frozen=True)
class Segment:
    """A set of buffers whose lifetimes chain together in time, prepared for the search.

    Sections are the elementary time intervals between consecutive lifetime end points; a
    buffer lives in sections ``[s_lo, s_hi)``. ``ov_*`` and ``sec_*`` are CSR adjacency lists:
    the buffers overlapping each buffer in time, and the buffers alive in each section.
    """

    buffers: Ints
    size: Ints
    alignment: Ints
    s_lo: Ints
    s_hi: Ints
    ov_ptr: Ints
    ov_idx: Ints
    sec_ptr: Ints
    sec_idx: Ints
    section_total: Ints
    width: Ints

    @property
    def n(self) -> int:
        """Number of buffers."""
        return int(self.size.shape[0])

    @property
    def sections(self) -> int:
        """Number of time sections."""
        return int(self.section_total.shape[0])


@dataclass(frozen=True)
class SearchOutcome:
    """The search's answer: offsets for every buffer, or a proof that none fit, or neither."""

    offsets: Ints | None
    proven_infeasible: bool
    nodes: int
    preorder: str | None = None


def fit(
    lower: Ints,
    upper: Ints,
    size: Ints,
    alignment: Ints,
    capacity: int,
    *,
    time_limit_s: float,
    should_stop: Callable[[], bool] = lambda: False,
    preorders: tuple[str, ...] = PREORDERS,
) -> SearchOutcome:
    """Offsets that fit every buffer under ``capacity``, found by the canonical search.

    Each independent time segment is searched on its own; within a segment the preorders share
    the time round-robin, each resuming where it paused, in slices that double in size.
    ``proven_infeasible`` is set when a segment's whole canonical space is exhausted.
    """
    deadline = time.monotonic() + time_limit_s
    problem = _Problem(lower, upper, size, alignment, capacity)
    offsets = np.zeros(size.shape[0], dtype=np.int64)
    nodes = 0
    used: str | None = None
    groups = _time_groups(lower, upper)
    if any(_undo_entries(lower[g], upper[g]) > MAX_STACK_ENTRIES for g in groups):
        return SearchOutcome(None, False, nodes)
    for group in groups:
        segment = _segment(group, problem)
        status, spent, preorder = _fit_segment(
            problem, segment, preorders, offsets, deadline, should_stop
        )
        nodes += spent
        if status != FOUND:
            return SearchOutcome(None, status == EXHAUSTED, nodes, preorder)
        used = used or preorder
    return SearchOutcome(offsets, False, nodes, used)


def stack_entries(segment: Segment) -> int:
    """Undo entries the search over ``segment`` may need: its memory, in pairs of int64."""
    return int((segment.s_hi - segment.s_lo).sum()) + segment.n * segment.sections


def _undo_entries(lo: Ints, hi: Ints) -> int:
    """:func:`stack_entries` of the segment of these lifetimes, before building it."""
    times = np.unique(np.r_[lo, hi])
    spans = np.searchsorted(times, hi) - np.searchsorted(times, lo)
    return int(spans.sum()) + int(lo.shape[0]) * (int(times.shape[0]) - 1)


def _fit_segment(
    problem: _Problem,
    segment: Segment,
    preorders: tuple[str, ...],
    offsets: Ints,
    deadline: float,
    should_stop: Callable[[], bool],
) -> tuple[int, int, str | None]:
    """Restarts round-robin over preorders with doubling node limits (MiniMalloc's schedule).

    Search times are heavy-tailed: one early mistake can hide a solution under a huge subtree,
    so every round starts each preorder afresh with twice the previous node limit. Returns the
    status, the nodes spent and the preorder that answered.
    """
    spent = 0
    limit = 2 * segment.n
    slice_nodes = max(100, _SLICE_WORK // (segment.n + segment.sections))
    while True:
        for name in preorders:
            search = _Search(problem, segment, name, _zeros(segment.n))
            budget = np.array([limit], dtype=np.int64)
            while True:
                if time.monotonic() >= deadline or should_stop():
                    return PAUSED, spent + limit - int(budget[0]), None
                slice_budget = min(int(budget[0]), slice_nodes)
                box = np.array([slice_budget], dtype=np.int64)
                status = search.step(box)
                budget[0] -= slice_budget - int(box[0])
                if status != PAUSED or budget[0] <= 0:
                    break
            spent += limit - int(budget[0])
            if status == FOUND:
                search.placement(offsets)
                return FOUND, spent, name
            if status == EXHAUSTED:
                # Every preorder explores the same canonical space: one exhausted proves it.
                return EXHAUSTED, spent, name
        limit *= 2


def _zeros(k: int) -> Ints:
    return np.zeros(k, dtype=np.int64)


def _segment(buffers: Ints, problem: _Problem) -> Segment:
    lo, hi, sz = problem.lower[buffers], problem.upper[buffers], problem.size[buffers]
    times = np.unique(np.r_[lo, hi])
    s_lo = np.searchsorted(times, lo).astype(np.int64)
    s_hi = np.searchsorted(times, hi).astype(np.int64)
    sec_ptr, sec_idx = _section_lists(s_lo, s_hi, times.shape[0] - 1)
    ov_ptr, ov_idx = _overlap_lists(lo, hi)
    totals = np.zeros(times.shape[0], dtype=np.int64)
    np.add.at(totals, s_lo, sz)
    np.add.at(totals, s_hi, -sz)
    return Segment(
        buffers=buffers,
        size=sz.astype(np.int64),
        alignment=problem.alignment[buffers].astype(np.int64),
        s_lo=s_lo,
        s_hi=s_hi,
        ov_ptr=ov_ptr,
        ov_idx=ov_idx,
        sec_ptr=sec_ptr,
        sec_idx=sec_idx,
        section_total=np.cumsum(totals)[:-1],
        width=(hi - lo).astype(np.int64),
    )


def _section_lists(s_lo: Ints, s_hi: Ints, sections: int) -> tuple[Ints, Ints]:
    spans = s_hi - s_lo
    owner = np.repeat(np.arange(s_lo.shape[0], dtype=np.int64), spans)
    first = np.repeat(s_lo - np.r_[0, np.cumsum(spans)[:-1]], spans)
    section = np.arange(owner.shape[0], dtype=np.int64) + first
    order = np.argsort(section, kind="stable")
    counts = np.bincount(section, minlength=sections)
    return np.r_[0, np.cumsum(counts)].astype(np.int64), owner[order]


def _overlap_lists(lo: Ints, hi: Ints) -> tuple[Ints, Ints]:
    alive_together = (lo[:, None] < hi[None, :]) & (lo[None, :] < hi[:, None])
    np.fill_diagonal(alive_together, False)
    rows, cols = np.nonzero(alive_together)
    counts = np.bincount(rows, minlength=lo.shape[0])
    return np.r_[0, np.cumsum(counts)].astype(np.int64), cols.astype(np.int64)


def preorder_ranks(segment: Segment, preorder: str) -> Ints:
    """Rank of every buffer under a MiniMalloc preorder: keys in order, each descending."""
    span_total = np.array(
        [segment.section_total[a:b].max() for a, b in zip(segment.s_lo, segment.s_hi, strict=True)],
        dtype=np.int64,
    )
    keys = {"W": segment.width, "A": segment.width * segment.size, "T": span_total}
    columns = [np.arange(segment.n)] + [-keys[letter] for letter in reversed(preorder)]
    order = np.lexsort(columns)
    ranks = np.empty(segment.n, dtype=np.int64)
    ranks[order] = np.arange(segment.n)
    return ranks


class _Search:
    """A resumable depth-first search over one segment, with its own sub-searches.

    When a placement leaves the unplaced buffers in two or more groups that no lifetime joins,
    the groups are independent: each gets a child search, and the node fails only if a child's
    space is exhausted. This dynamic decomposition stops a failure in one group from being
    retried under every alternative of another.
    """

    def __init__(self, problem: _Problem, segment: Segment, preorder: str, min_off: Ints) -> None:
        n, sections = segment.n, segment.sections
        self.problem = problem
        self.segment = segment
        self.preorder = preorder
        # Ranked on the segment's own section totals, which for a sub-search are the totals
        # still unplaced when it split off.
        self.rank = preorder_ranks(segment, preorder)
        self.offset = np.full(n, -1, dtype=np.int64)
        self.min_off = min_off
        self.floor = _section_floors(segment, min_off)
        self.total = segment.section_total.copy()
        self.free_neighbours = np.diff(segment.ov_ptr).astype(np.int64)
        self.cuts = _cuts(segment)
        self.boxes = np.zeros(4, dtype=np.int64)
        """depth, force-backtrack flag, min-offset undo height, floor undo height."""
        self.cur_off = np.full(n + 1, -1, dtype=np.int64)
        self.cur_rank = np.full(n + 1, -1, dtype=np.int64)
        self.placed = np.full(n + 1, -1, dtype=np.int64)
        self.mo_mark = np.zeros(n + 1, dtype=np.int64)
        self.fl_mark = np.zeros(n + 1, dtype=np.int64)
        mo_capacity = int(segment.ov_idx.shape[0]) + 1
        self.mo_buf = np.zeros(mo_capacity, dtype=np.int64)
        self.mo_val = np.zeros(mo_capacity, dtype=np.int64)
        fl_capacity = stack_entries(segment) + 1
        self.fl_sec = np.zeros(fl_capacity, dtype=np.int64)
        self.fl_val = np.zeros(fl_capacity, dtype=np.int64)
        self.touched = np.zeros(sections, dtype=np.int64)
        self.children: list[_Search] = []

    def step(self, budget: Ints) -> int:
        """Search until a placement, exhaustion, or the shared node ``budget`` runs out."""
        while True:
            if self.children:
                status = self._step_children(budget)
                if status != EXHAUSTED:
                    return status
                self.children = []
                self.boxes[1] = 1  # the node that split failed: backtrack from it
            if budget[0] <= 0:
                return PAUSED
            status = self._kernel(budget)
            if status != SPLIT:
                return status
            self.children = self._split()

    def placement(self, offsets: Ints) -> None:
        """Write this search's offsets (and its children's) into the global ``offsets``."""
        mine = self.offset >= 0
        offsets[self.segment.buffers[mine]] = self.offset[mine]
        for child in self.children:
            child.placement(offsets)

    def _step_children(self, budget: Ints) -> int:
        for child in self.children:
            status = child.step(budget)
            if status != FOUND:
                return status
        return FOUND

    def _split(self) -> list[_Search]:
        unplaced = np.flatnonzero(self.offset < 0)
        lower, upper = self.problem.lower, self.problem.upper
        buffers = self.segment.buffers[unplaced]
        children = []
        for group in _time_groups(lower[buffers], upper[buffers]):
            segment = _segment(buffers[group], self.problem)
            children.append(
                _Search(self.problem, segment, self.preorder, self.min_off[unplaced[group]])
            )
        return children

    def _kernel(self, budget: Ints) -> int:
        segment = self.segment
        undo = (
            segment.size, segment.s_lo, segment.s_hi, segment.ov_ptr, segment.ov_idx, self.offset,
            self.min_off, self.floor, self.total, self.free_neighbours, self.cuts, self.boxes,
            self.placed, self.mo_mark, self.fl_mark, self.mo_buf, self.mo_val, self.fl_sec,
            self.fl_val,
        )  # fmt: skip
        return int(
            _dfs(
                undo,
                segment.alignment,
                segment.sec_ptr,
                segment.sec_idx,
                np.int64(self.problem.capacity),
                self.rank,
                self.cur_off,
                self.cur_rank,
                self.touched,
                budget,
            )
        )


def _section_floors(segment: Segment, min_off: Ints) -> Ints:
    """Each section's floor: the lowest minimum offset among the buffers alive in it."""
    if segment.sec_idx.shape[0] == 0:
        return _zeros(segment.sections)
    lowest = np.minimum.reduceat(min_off[segment.sec_idx], segment.sec_ptr[:-1])
    empty = np.diff(segment.sec_ptr) == 0
    return np.where(empty, 0, lowest).astype(np.int64)


def _cuts(segment: Segment) -> Ints:
    """For each section boundary s|s+1, how many buffers live on both sides of it."""
    cuts = np.zeros(max(segment.sections, 1), dtype=np.int64)
    np.add.at(cuts, segment.s_lo, 1)
    np.add.at(cuts, segment.s_hi - 1, -1)
    return np.cumsum(cuts)


def _time_groups(lower: Ints, upper: Ints) -> list[Ints]:
    """Index groups of intervals that chain together in time, in time order."""
    order = np.argsort(lower, kind="stable")
    reach = np.maximum.accumulate(upper[order])
    starts = np.flatnonzero(np.r_[True, lower[order][1:] >= reach[:-1]])
    bounds = np.r_[starts, order.shape[0]]
    return [np.sort(order[a:b]) for a, b in itertools.pairwise(bounds)]


@njit
def _dfs(
    undo: Undo,
    align: Ints,
    sec_ptr: Ints,
    sec_idx: Ints,
    capacity: np.int64,
    rank: Ints,
    cur_off: Ints,
    cur_rank: Ints,
    touched: Ints,
    budget: Ints,
) -> int:
    """Run the canonical depth-first search to a leaf, exhaustion, a split or the budget.

    Depth ``d`` is the node with ``d`` buffers placed; ``placed[d]`` is the buffer placed from
    it and ``cur_off/cur_rank[d]`` the key of the last candidate tried there. ``boxes`` holds
    the depth, a flag that makes the current node backtrack at once (its sub-searches failed),
    and the heights of the two undo stacks (minimum offsets, section floors).
    """
    (
        size, s_lo, s_hi, ov_ptr, ov_idx, offset, min_off, floor, total, free_neighbours, cuts,
        boxes, placed, mo_mark, fl_mark, mo_buf, mo_val, fl_sec, fl_val,
    ) = undo  # fmt: skip
    n = size.shape[0]
    sections = total.shape[0]
    big = np.int64(2**62)
    depth = boxes[0]
    while True:
        if depth == n and boxes[1] == 0:
            boxes[0] = depth
            return 1
        # Lowest reachable top, and the key of the lowest frozen buffer (no free neighbours).
        min_height = big
        frozen_off = big
        frozen_rank = big
        for b in range(n):
            if offset[b] < 0:
                h = min_off[b] + size[b]
                if h < min_height:
                    min_height = h
                if free_neighbours[b] == 0 and (
                    min_off[b] < frozen_off or (min_off[b] == frozen_off and rank[b] < frozen_rank)
                ):
                    frozen_off = min_off[b]
                    frozen_rank = rank[b]
        # Next candidate: the unplaced buffer with the smallest key above the last one tried.
        best = -1
        best_off = big
        best_rank = big
        last_off = cur_off[depth]
        last_rank = cur_rank[depth]
        for b in range(n):
            if offset[b] >= 0:
                continue
            o = min_off[b]
            r = rank[b]
            if o < last_off or (o == last_off and r <= last_rank):
                continue
            if o < best_off or (o == best_off and r < best_rank):
                best = b
                best_off = o
                best_rank = r
        viable = (
            boxes[1] == 0
            and best >= 0
            and best_off < min_height
            and (best_off < frozen_off or (best_off == frozen_off and best_rank <= frozen_rank))
        )
        if not viable:
            boxes[1] = 0
            if depth == 0:
                boxes[0] = depth
                return 0
            depth -= 1
            _unplace(placed[depth], depth, undo)
            continue
        if budget[0] <= 0:
            boxes[0] = depth
            return 2
        budget[0] -= 1
        b = best
        cur_off[depth] = best_off
        cur_rank[depth] = best_rank
        mo_mark[depth] = boxes[2]
        fl_mark[depth] = boxes[3]
        placed[depth] = b
        offset[b] = best_off
        top = best_off + size[b]
        # Raise the minimum offset of every unplaced neighbour to this buffer's top.
        for k in range(ov_ptr[b], ov_ptr[b + 1]):
            c = ov_idx[k]
            free_neighbours[c] -= 1
            if offset[c] >= 0:
                continue
            raised = top
            rem = raised % align[c]
            if rem > 0:
                raised += align[c] - rem
            if raised > min_off[c]:
                mo_buf[boxes[2]] = c
                mo_val[boxes[2]] = min_off[c]
                boxes[2] += 1
                min_off[c] = raised
                for s in range(s_lo[c], s_hi[c]):
                    touched[s] = 1
        for s in range(s_lo[b], s_hi[b]):
            fl_sec[boxes[3]] = s
            fl_val[boxes[3]] = floor[s]
            boxes[3] += 1
            floor[s] = top
            total[s] -= size[b]
        new_cut = False
        for s in range(s_lo[b], s_hi[b] - 1):
            cuts[s] -= 1
            if cuts[s] == 0:
                new_cut = True
        # A section's floor is at least the lowest minimum offset among its unplaced buffers.
        for s in range(sections):
            if touched[s] == 0:
                continue
            touched[s] = 0
            lowest = big
            for k in range(sec_ptr[s], sec_ptr[s + 1]):
                c = sec_idx[k]
                if offset[c] < 0 and min_off[c] < lowest:
                    lowest = min_off[c]
            if lowest != big and lowest > floor[s]:
                fl_sec[boxes[3]] = s
                fl_val[boxes[3]] = floor[s]
                boxes[3] += 1
                floor[s] = lowest
        ok = True
        for s in range(sections):
            base = floor[s] if floor[s] > best_off else best_off
            if base + total[s] > capacity:
                ok = False
                break
        if ok:
            depth += 1
            cur_off[depth] = best_off
            cur_rank[depth] = best_rank
            if new_cut and depth < n:
                # Unplaced buffers on both sides of a boundary nobody crosses: split.
                lowest_hi = big
                highest_lo = -1
                for c in range(n):
                    if offset[c] < 0:
                        lowest_hi = min(lowest_hi, s_hi[c])
                        highest_lo = max(highest_lo, s_lo[c])
                for s in range(s_lo[b], s_hi[b] - 1):
                    if cuts[s] == 0 and lowest_hi <= s + 1 <= highest_lo:
                        boxes[0] = depth
                        return 3
            continue
        # Infeasible child: undo at once and try the next candidate at this depth.
        _unplace(b, depth, undo)


@njit
def _unplace(b: int, depth: int, undo: Undo) -> None:
    """Take back the placement of buffer ``b`` made at ``depth``: floors and minimum offsets
    from the undo stacks, section totals, cut counts and free-neighbour counts directly."""
    (
        size, s_lo, s_hi, ov_ptr, ov_idx, offset, min_off, floor, total, free_neighbours, cuts,
        boxes, placed, mo_mark, fl_mark, mo_buf, mo_val, fl_sec, fl_val,
    ) = undo  # fmt: skip
    while boxes[3] > fl_mark[depth]:
        boxes[3] -= 1
        floor[fl_sec[boxes[3]]] = fl_val[boxes[3]]
    while boxes[2] > mo_mark[depth]:
        boxes[2] -= 1
        min_off[mo_buf[boxes[2]]] = mo_val[boxes[2]]
    for s in range(s_lo[b], s_hi[b]):
        total[s] += size[b]
    for s in range(s_lo[b], s_hi[b] - 1):
        cuts[s] += 1
    for k in range(ov_ptr[b], ov_ptr[b + 1]):
        free_neighbours[ov_idx[k]] += 1
    offset[b] = -1
    placed[depth] = -1
