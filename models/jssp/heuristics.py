"""Warm-start heuristics for the job-shop problem (minimise the makespan).

Two layers, both pure Python:

* :func:`giffler_thompson` builds an *active* schedule with a priority dispatching rule;
  :func:`best_dispatch` keeps the best over :data:`DISPATCH_RULES` (:mod:`.dispatch`).
* :func:`tabu_search` improves a schedule on its disjunctive graph with the N7 neighbourhood
  of Zhang et al. (2007), a superset of N5 of Nowicki & Smutnicki: in each block of one
  critical path, the first or last operation moves inside the block and inner operations move
  to its front or back. Moves are scored from heads and tails (the longest path through the
  reordered segment). After a move, the topological order is repaired locally (Pearce & Kelly)
  and only the heads and tails that change are recomputed, by one scan along that order. A
  long stall sends the search back to the best schedule, perturbed by a few critical swaps.

:func:`warm_start` chains the two within a time budget. Its schedule is the solution hint for
CP-SAT and the fallback answer when the solver finds nothing better.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from makespan.models.jssp.dispatch import DISPATCH_RULES, WarmStart, best_dispatch, giffler_thompson
from makespan.models.jssp.instance import JobShopInstance

__all__ = [
    "DISPATCH_RULES",
    "WarmStart",
    "best_dispatch",
    "giffler_thompson",
    "tabu_search",
    "warm_start",
]

_STOP_POLL_ITERATIONS = 64
_STALL_MIN_ITERATIONS = 2_000
_STALL_ITERATIONS_PER_OPERATION = 20

DEFAULT_MAX_STALL_ITERATIONS = 1_000_000
"""Default iteration cap without improvement of the best schedule in :func:`tabu_search`."""


# --------------------------------------------------------------------------------------------
# Tabu search on the disjunctive graph
# --------------------------------------------------------------------------------------------

_TENURE_BASE = 10
"""Tabu tenure is ``_TENURE_BASE + jobs // machines`` plus a random part of up to half that."""

_MAX_JUMP = 6
"""Longest shift (in positions) of an N7 move inside a critical block, besides moves to the
front or the back of the block; keeps the neighbourhood linear in the block length."""

_RESTART_MIN_ITERATIONS = 10_000
_RESTART_ITERATIONS_PER_OPERATION = 20
"""Jump back to the best schedule after ``max(_RESTART_MIN_ITERATIONS, per-op * n)`` iterations
without improvement."""


class _CycleError(ValueError):
    """The machine sequences do not form an acyclic disjunctive graph."""


_Snapshot = tuple[list[int], list[int], list[int], list[int]]
"""Machine predecessor and successor links, last operation per machine, end times."""


class _Graph:
    """Disjunctive graph over flat operation ids, with heads, tails and a topological order.

    Operation ``o`` of the flat numbering is operation ``k`` of job ``j`` in job-major order. The
    id ``n`` (``self.none``) is a sentinel with zero duration, end and tail that stands for "no
    predecessor / successor", which removes branches from the hot loops.

    ``end[o]`` is the earliest completion time of ``o`` (head plus duration) and ``tail[o]`` the
    longest path from the start of ``o`` to the end of the schedule (duration plus tail), so
    ``end[o] - dur[o] + tail[o]`` is the longest path through ``o``.
    """

    def __init__(self, instance: JobShopInstance, starts: tuple[tuple[int, ...], ...]) -> None:
        n = instance.num_operations
        self.n = n
        self.none = n
        self.num_machines = instance.num_machines
        self.dur = [0] * (n + 1)
        self.mach = [0] * (n + 1)
        self.jp = [n] * (n + 1)
        self.js = [n] * (n + 1)
        self.mp = [n] * (n + 1)
        self.ms = [n] * (n + 1)
        self.job_ids: list[list[int]] = []
        o = 0
        for job in instance.jobs:
            ids = []
            for k, op in enumerate(job):
                self.dur[o] = op.duration
                self.mach[o] = op.machine
                if k > 0:
                    self.jp[o] = o - 1
                    self.js[o - 1] = o
                ids.append(o)
                o += 1
            self.job_ids.append(ids)
        # Machine sequences from the start times; ties by (end, job, index) keep the graph
        # acyclic even with zero-duration operations (every arc then goes up in that order).
        per_machine: list[list[tuple[int, int, int]]] = [[] for _ in range(self.num_machines)]
        for ids, row in zip(self.job_ids, starts, strict=True):
            for x, s in zip(ids, row, strict=True):
                per_machine[self.mach[x]].append((s, s + self.dur[x], x))
        self.mlast = [n] * self.num_machines
        for m, entries in enumerate(per_machine):
            entries.sort()
            self._set_sequence(m, [x for _, _, x in entries])
        self.end = [0] * (n + 1)
        self.tail = [0] * (n + 1)
        self.order: list[int] = []  # order[p]: the operation at topological position p
        self.pos = [0] * (n + 1)  # pos[o]: topological position of o
        self.mark = [0] * (n + 1)
        self.stamp = 0
        self.rebuild()

    def _set_sequence(self, m: int, seq: list[int]) -> None:
        """Link the processing order of machine ``m`` (call :meth:`rebuild` afterwards)."""
        none, mp, ms = self.none, self.mp, self.ms
        prev = none
        for x in seq:
            mp[x] = prev
            if prev != none:
                ms[prev] = x
            prev = x
        if prev != none:
            ms[prev] = none
        self.mlast[m] = prev

    def rebuild(self) -> None:
        """Topological order (Kahn), end times and tails from scratch; order sorted by start.

        Raises:
            _CycleError: the machine sequences make the graph cyclic.
        """
        n, none = self.n, self.none
        jp, js, mp, ms, dur = self.jp, self.js, self.mp, self.ms, self.dur
        end, tail, pos = self.end, self.tail, self.pos
        indeg = [(jp[x] != none) + (mp[x] != none) for x in range(n)]
        stack = [x for x in range(n) if indeg[x] == 0]
        order: list[int] = []
        while stack:
            x = stack.pop()
            order.append(x)
            for s in (js[x], ms[x]):
                if s != none:
                    indeg[s] -= 1
                    if indeg[s] == 0:
                        stack.append(s)
        if len(order) != n:
            raise _CycleError("machine sequences create a cycle")
        for x in order:
            a = end[jp[x]]
            b = end[mp[x]]
            end[x] = (a if a > b else b) + dur[x]
        # Sorting by (start, previous position) is again topological: along an arc the start
        # never decreases, and on ties the previous order decides. Ordering by start keeps the
        # stretch that a local repair in relocate() has to look at short.
        for p, x in enumerate(order):
            pos[x] = p
        order.sort(key=lambda x: (end[x] - dur[x], pos[x]))
        for p, x in enumerate(order):
            pos[x] = p
        self.order = order
        for x in reversed(order):
            a = tail[js[x]]
            b = tail[ms[x]]
            tail[x] = (a if a > b else b) + dur[x]

    def snapshot(self) -> _Snapshot:
        """Copies of the machine links and end times, for :meth:`restore` and :meth:`starts`."""
        return self.mp[:], self.ms[:], self.mlast[:], self.end[:]

    def restore(self, snap: _Snapshot) -> None:
        """Return to the machine sequences of a :meth:`snapshot` (lists updated in place)."""
        self.mp[:] = snap[0]
        self.ms[:] = snap[1]
        self.mlast[:] = snap[2]
        self.rebuild()

    def starts(self, snap: _Snapshot) -> tuple[tuple[int, ...], ...]:
        """Semi-active start times per job of a :meth:`snapshot`."""
        end, dur = snap[3], self.dur
        return tuple(tuple(end[x] - dur[x] for x in ids) for ids in self.job_ids)

    def makespan(self) -> int:
        """Largest end time (over the last operation of every machine)."""
        end = self.end
        return max(end[x] for x in self.mlast)  # end[none] == 0 for an idle machine

    def critical_blocks(self, rng: random.Random) -> list[list[int]]:
        """Blocks (maximal runs on one machine) of one critical path, in path order.

        The path ends at a random operation finishing at the makespan and is traced backwards,
        preferring the machine predecessor when both predecessors are tight.
        """
        end, dur, jp, mp, none = self.end, self.dur, self.jp, self.mp, self.none
        cmax = -1
        ends: list[int] = []
        for x in self.mlast:
            e = end[x]
            if x == none or e < cmax:
                continue
            if e > cmax:
                cmax = e
                ends = [x]
            else:
                ends.append(x)
        x = ends[0] if len(ends) == 1 else ends[rng.randrange(len(ends))]
        blocks: list[list[int]] = []
        block = [x]
        while True:
            start = end[x] - dur[x]
            p = mp[x]
            if p != none and end[p] == start:
                block.append(p)
                x = p
                continue
            p = jp[x]
            if p != none and end[p] == start:
                block.reverse()
                blocks.append(block)
                block = [p]
                x = p
                continue
            break
        block.reverse()
        blocks.append(block)
        blocks.reverse()
        return blocks

    def _link(self, x: int, new_pred: int, new_succ: int) -> None:
        """Unlink ``x`` from its machine sequence and relink it between two neighbours."""
        none = self.none
        mp, ms = self.mp, self.ms
        p = mp[x]
        s = ms[x]
        if p != none:
            ms[p] = s
        if s != none:
            mp[s] = p
        else:
            self.mlast[self.mach[x]] = p
        mp[x] = new_pred
        ms[x] = new_succ
        if new_pred != none:
            ms[new_pred] = x
        if new_succ != none:
            mp[new_succ] = x
        else:
            self.mlast[self.mach[x]] = x

    def relocate(self, x: int, new_pred: int, new_succ: int) -> bool:
        """Move ``x`` between ``new_pred`` and ``new_succ``, consecutive on its machine (or the
        sentinel at either end); repair the topological order, update end times and tails.

        Returns False, leaving everything unchanged, when the move would create a cycle.
        """
        none = self.none
        jp, js, mp, ms = self.jp, self.js, self.mp, self.ms
        pos, order, mark = self.pos, self.order, self.mark
        old_pred = mp[x]
        old_succ = ms[x]
        self._link(x, new_pred, new_succ)
        # The only arc that can contradict the topological order is new_pred -> x (x moved
        # later) or x -> new_succ (x moved earlier); Pearce-Kelly repairs the order locally,
        # and finds the cycle if the new arc closes one.
        if new_pred != none and pos[new_pred] > pos[x]:
            src, dst = new_pred, x
        elif new_succ != none and pos[x] > pos[new_succ]:
            src, dst = x, new_succ
        else:
            src = dst = none
        if src != none:
            self.stamp += 1
            stamp = self.stamp
            mark[none] = stamp
            lb = pos[dst]
            ub = pos[src]
            fwd = [dst]
            mark[dst] = stamp
            stack = [dst]
            while stack:
                y = stack.pop()
                z = js[y]
                if mark[z] != stamp and pos[z] <= ub:
                    if z == src:
                        self._link(x, old_pred, old_succ)
                        return False
                    mark[z] = stamp
                    fwd.append(z)
                    stack.append(z)
                z = ms[y]
                if mark[z] != stamp and pos[z] <= ub:
                    if z == src:
                        self._link(x, old_pred, old_succ)
                        return False
                    mark[z] = stamp
                    fwd.append(z)
                    stack.append(z)
            bwd = [src]
            mark[src] = stamp
            stack = [src]
            while stack:
                y = stack.pop()
                z = jp[y]
                if mark[z] != stamp and pos[z] > lb:
                    mark[z] = stamp
                    bwd.append(z)
                    stack.append(z)
                z = mp[y]
                if mark[z] != stamp and pos[z] > lb:
                    mark[z] = stamp
                    bwd.append(z)
                    stack.append(z)
            if len(fwd) == 1 and len(bwd) == 1:
                pos[src] = lb
                pos[dst] = ub
                order[lb] = src
                order[ub] = dst
            else:
                key = pos.__getitem__
                bwd.sort(key=key)
                fwd.sort(key=key)
                slots = sorted([pos[y] for y in bwd] + [pos[y] for y in fwd])
                for y, p in zip(bwd + fwd, slots, strict=True):
                    pos[y] = p
                    order[p] = y

        # End times: from the operations whose machine predecessor changed, on to whatever
        # changes downstream, scanning the topological order so that each is recomputed at most
        # once; the scan stops as soon as nothing is pending.
        dur, end, tail = self.dur, self.end, self.tail
        self.stamp += 1
        stamp = self.stamp
        mark[none] = stamp  # never queue the sentinel
        mark[x] = stamp
        pending = 1
        p = pos[x]
        for y in (old_succ, new_succ):
            if mark[y] != stamp:
                mark[y] = stamp
                pending += 1
                if pos[y] < p:
                    p = pos[y]
        while pending:
            y = order[p]
            p += 1
            if mark[y] != stamp:
                continue
            pending -= 1
            h = end[jp[y]]
            h2 = end[mp[y]]
            if h2 > h:
                h = h2
            h += dur[y]
            if h != end[y]:
                end[y] = h
                z = js[y]
                if mark[z] != stamp:
                    mark[z] = stamp
                    pending += 1
                z = ms[y]
                if mark[z] != stamp:
                    mark[z] = stamp
                    pending += 1
        # Tails, symmetrically, scanning the order backwards.
        self.stamp += 1
        stamp = self.stamp
        mark[none] = stamp
        mark[x] = stamp
        pending = 1
        p = pos[x]
        for y in (old_pred, new_pred):
            if mark[y] != stamp:
                mark[y] = stamp
                pending += 1
                if pos[y] > p:
                    p = pos[y]
        while pending:
            y = order[p]
            p -= 1
            if mark[y] != stamp:
                continue
            pending -= 1
            t = tail[js[y]]
            t2 = tail[ms[y]]
            if t2 > t:
                t = t2
            t += dur[y]
            if t != tail[y]:
                tail[y] = t
                z = jp[y]
                if mark[z] != stamp:
                    mark[z] = stamp
                    pending += 1
                z = mp[y]
                if mark[z] != stamp:
                    mark[z] = stamp
                    pending += 1
        return True


_Move = tuple[int, int, int, list[int]]
"""A relocation: (operation, new machine predecessor, new machine successor, tabu keys of the
pair orders it destroys)."""


def _choose_move(
    g: _Graph,
    blocks: list[list[int]],
    tabu: dict[int, int],
    it: int,
    best: int,
    rng: random.Random,
    banned: set[tuple[int, int, int]],
) -> _Move | None:
    """Best allowed move of the N7 neighbourhood (Zhang et al. 2007) of one critical path.

    In each block the first or the last operation moves to another position of the block
    (at most ``_MAX_JUMP`` places, or to the other end), and each inner operation moves to the
    front or the back. This contains N5 (swapping the first two or the last two). Moves that keep
    both the first operation of the first block and the last operation of the last block are
    left out, as they cannot shorten the path, and so are moves that the Balas-Vazacopoulos
    conditions do not guarantee acyclic. A move is scored by the longest path through the
    operations of the reordered segment, from the current heads and tails.

    The key ``a * (n + 1) + b`` in ``tabu`` stands for "a before b": a move that creates a pair
    order whose key has not expired yet is tabu, unless it would beat ``best`` (aspiration).
    Ties are broken at random; if every move is tabu, the one expiring first is returned.
    Moves in ``banned``, as (operation, new predecessor, new successor), are skipped.
    """
    none = g.none
    stride = none + 1
    end, tail, dur, jp, js, mp, ms = g.end, g.tail, g.dur, g.jp, g.js, g.mp, g.ms
    tabu_get = tabu.get
    cap = _MAX_JUMP
    nb = len(blocks)
    chosen_est = -1
    chosen: list[tuple[list[int], int, int, bool]] = []
    fallback: tuple[list[int], int, int, bool] | None = None
    fallback_expiry = 0
    for bi, blk in enumerate(blocks):
        k = len(blk)
        if k < 2:
            continue
        first = bi == 0
        last = bi == nb - 1
        # (i, el, forward): forward moves blk[i] right after blk[el]; backward moves blk[el]
        # right before blk[i].
        cands: list[tuple[int, int, bool]]
        if k == 2:
            cands = [(0, 1, True)]
        else:
            kl = k - 1
            cands = []
            for el in range(1, min(kl, cap + 1)):  # the first operation, not to the end
                if not first:
                    cands.append((0, el, True))
            cands.append((0, kl, True))  # the first operation to the end
            cands.append((0, kl, False))  # the last operation to the front
            if not last:  # the last operation, not to the front
                for i in range(max(1, kl - cap), kl):
                    cands.append((i, kl, False))
                for i in range(max(1, kl - cap), kl - 1):  # inner operations to the end
                    cands.append((i, kl, True))
            if not first:  # inner operations to the front
                for el in range(2, min(kl, cap + 1)):
                    cands.append((0, el, False))
        for i, el, forward in cands:
            if forward:
                x = blk[i]
                y = blk[el]
                if tail[y] < tail[js[x]]:
                    continue  # a path from x's job successor to y may exist
                after = ms[y]
                if banned and (x, y, after) in banned:
                    continue
                # New order blk[i+1..el], x: starts forwards, then tails backwards, keeping
                # the longest path through the segment.
                e = end[mp[x]]
                starts = []
                for t in range(i + 1, el + 1):
                    h = end[jp[blk[t]]]
                    if e > h:
                        h = e
                    starts.append(h)
                    e = h + dur[blk[t]]
                h = end[jp[x]]
                if e > h:
                    h = e
                tt = tail[js[x]]
                e = tail[after]
                if e > tt:
                    tt = e
                tt += dur[x]
                est = h + tt
                for t in range(el, i, -1):
                    y = blk[t]
                    h = tail[js[y]]
                    if tt > h:
                        h = tt
                    tt = h + dur[y]
                    h = starts[t - i - 1] + tt
                    if h > est:
                        est = h
                expiry = 0
                for t in range(i + 1, el + 1):  # creates "blk[t] before x"
                    h = tabu_get(blk[t] * stride + x, 0)
                    if h > expiry:
                        expiry = h
            else:
                x = blk[el]
                y = blk[i]
                if end[y] < end[jp[x]]:
                    continue  # a path from y to x's job predecessor may exist
                before = mp[y]
                if banned and (x, before, y) in banned:
                    continue
                # New order x, blk[i..el-1].
                sx = end[jp[x]]
                e = end[before]
                if e > sx:
                    sx = e
                e = sx + dur[x]
                starts = []
                for t in range(i, el):
                    h = end[jp[blk[t]]]
                    if e > h:
                        h = e
                    starts.append(h)
                    e = h + dur[blk[t]]
                tt = tail[ms[x]]
                est = 0
                for t in range(el - 1, i - 1, -1):
                    y = blk[t]
                    h = tail[js[y]]
                    if tt > h:
                        h = tt
                    tt = h + dur[y]
                    h = starts[t - i] + tt
                    if h > est:
                        est = h
                h = tail[js[x]]
                if tt > h:
                    h = tt
                h += sx + dur[x]
                if h > est:
                    est = h
                expiry = 0
                xs = x * stride
                for t in range(i, el):  # creates "x before blk[t]"
                    h = tabu_get(xs + blk[t], 0)
                    if h > expiry:
                        expiry = h
            if expiry > it and est >= best:
                if fallback is None or expiry < fallback_expiry:
                    fallback = (blk, i, el, forward)
                    fallback_expiry = expiry
                continue
            if est < chosen_est or chosen_est < 0:
                chosen_est = est
                chosen = [(blk, i, el, forward)]
            elif est == chosen_est:
                chosen.append((blk, i, el, forward))
    pick = fallback
    if chosen:
        pick = chosen[0] if len(chosen) == 1 else chosen[rng.randrange(len(chosen))]
    if pick is None:
        return None
    blk, i, el, forward = pick
    if forward:  # blk[i] lands between blk[el] and its machine successor
        x = blk[i]
        return x, blk[el], ms[blk[el]], [x * stride + blk[t] for t in range(i + 1, el + 1)]
    x = blk[el]
    return x, mp[blk[i]], blk[i], [blk[t] * stride + x for t in range(i, el)]


def _n1_moves(blocks: list[list[int]], js: list[int]) -> list[tuple[int, int]]:
    """Every adjacent pair inside a critical block that is not also a job arc."""
    return [
        (block[i], block[i + 1])
        for block in blocks
        for i in range(len(block) - 1)
        if js[block[i]] != block[i + 1]
    ]


def tabu_search(
    instance: JobShopInstance,
    initial: WarmStart,
    *,
    deadline: float,
    seed: int = 0,
    lower_bound: int | None = None,
    max_stall_iterations: int = DEFAULT_MAX_STALL_ITERATIONS,
    should_stop: Callable[[], bool] | None = None,
) -> WarmStart:
    """Tabu search on critical-block moves (N7 of Zhang et al., a superset of N5) from `initial`.

    Runs until ``time.monotonic() >= deadline``, the lower bound is reached (``lower_bound``,
    default :attr:`JobShopInstance.trivial_lower_bound`), no improvement of the best schedule for
    ``max_stall_iterations`` iterations, the critical path is a single block (then optimal), or
    ``should_stop()`` (polled every few iterations) answers True.

    Each iteration scores every N7 move on one critical path in time linear in the moved
    distance, from heads and tails, and applies the best one that is not tabu (a tabu move is
    allowed when it would beat the best makespan). Restoring the relative order of a pair that a
    move changed is tabu for a randomised tenure. After a long stall the search jumps back to the
    best schedule and perturbs it with a few random swaps on the critical path.

    Returns the best schedule found, semi-active, with ``method = initial.method + "+tabu"``; its
    makespan is never above ``initial.makespan``. Deterministic for a given ``seed`` unless the
    deadline interrupts it.

    Raises:
        ValueError: the start times of ``initial`` do not give acyclic machine sequences.
    """
    result, _ = _tabu_search(
        instance,
        initial,
        deadline=deadline,
        seed=seed,
        lower_bound=lower_bound,
        max_stall_iterations=max_stall_iterations,
        should_stop=should_stop,
    )
    return result


def _tabu_search(
    instance: JobShopInstance,
    initial: WarmStart,
    *,
    deadline: float,
    seed: int,
    lower_bound: int | None,
    max_stall_iterations: int,
    max_iterations: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[WarmStart, int]:
    """:func:`tabu_search`, with an optional iteration cap, also returning the iterations done."""
    method = initial.method + "+tabu"
    try:
        g = _Graph(instance, initial.starts)
    except _CycleError as exc:
        raise ValueError(f"initial schedule {initial.method!r} is not feasible: {exc}") from exc
    rng = random.Random(seed)
    lb = instance.trivial_lower_bound if lower_bound is None else lower_bound
    n = g.n
    js, ms = g.js, g.ms

    best = g.makespan()
    best_snap = g.snapshot()

    tenure_base = _TENURE_BASE + instance.num_jobs // instance.num_machines
    tenure_spread = max(1, tenure_base // 2)
    restart_after = max(_RESTART_MIN_ITERATIONS, _RESTART_ITERATIONS_PER_OPERATION * n)
    tabu: dict[int, int] = {}
    banned: set[tuple[int, int, int]] = set()
    it = 0
    last_improvement = 0
    last_restart = 0
    it_cap = -1 if max_iterations is None else max_iterations
    monotonic = time.monotonic

    while best > lb and it - last_improvement < max_stall_iterations and monotonic() < deadline:
        if it == it_cap:
            break
        if should_stop is not None and it % _STOP_POLL_ITERATIONS == 0 and should_stop():
            break
        it += 1
        if it - max(last_improvement, last_restart) > restart_after:
            # Jump back to the best schedule and perturb it with random critical swaps.
            g.restore(best_snap)
            for _ in range(2 + rng.randrange(4)):
                pairs = _n1_moves(g.critical_blocks(rng), js)
                if not pairs:
                    break
                u, v = pairs[rng.randrange(len(pairs))]
                g.relocate(u, v, ms[v])
            tabu.clear()
            banned.clear()
            last_restart = it
            continue

        blocks = g.critical_blocks(rng)
        if len(blocks) == 1:
            break  # one block from time 0 to the makespan: no schedule is shorter
        move = _choose_move(g, blocks, tabu, it, best, rng, banned)
        if move is None:
            break
        x, new_pred, new_succ, destroyed = move
        if not g.relocate(x, new_pred, new_succ):
            # The move would close a cycle (possible only with zero durations): skip it until
            # the schedule changes.
            banned.add((x, new_pred, new_succ))
            continue
        banned.clear()
        expiry = it + tenure_base + rng.randrange(tenure_spread)
        for key in destroyed:
            tabu[key] = expiry  # restoring a destroyed pair order is tabu
        cur = g.makespan()
        if cur < best:
            best = cur
            best_snap = g.snapshot()
            last_improvement = it

    return WarmStart(method=method, starts=g.starts(best_snap), makespan=best), it


def stall_limit(instance: JobShopInstance) -> int:
    """Iterations without improvement after which :func:`warm_start` hands over to the exact
    solver: small instances stop early (CP-SAT does better there), large ones use the budget."""
    return max(_STALL_MIN_ITERATIONS, _STALL_ITERATIONS_PER_OPERATION * instance.num_operations)


def warm_start(
    instance: JobShopInstance,
    *,
    time_budget_s: float,
    seed: int = 0,
    should_stop: Callable[[], bool] | None = None,
) -> WarmStart:
    """:func:`best_dispatch`, then :func:`tabu_search` within `time_budget_s` (from the call),
    stopping after :func:`stall_limit` iterations without improvement or when ``should_stop()``.
    """
    deadline = time.monotonic() + time_budget_s
    start = best_dispatch(instance)
    if time.monotonic() >= deadline or (should_stop is not None and should_stop()):
        return start
    return tabu_search(
        instance,
        start,
        deadline=deadline,
        seed=seed,
        max_stall_iterations=stall_limit(instance),
        should_stop=should_stop,
    )
