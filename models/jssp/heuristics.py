"""Warm-start heuristics for the job-shop problem (minimise the makespan).

Two layers, both pure Python:

* :func:`giffler_thompson` builds an *active* schedule with a priority dispatching rule;
  :func:`best_dispatch` keeps the best over :data:`DISPATCH_RULES`.
* :func:`tabu_search` improves a schedule with the N5 neighbourhood of Nowicki & Smutnicki
  (swap the first two / last two operations of the blocks of one critical path). Every move is
  evaluated in O(1) from heads and tails (the exact longest paths through the two swapped
  operations, the usual Taillard estimate); after a move, a topological order is repaired
  locally (Pearce & Kelly) and only the heads and tails that change are recomputed, in that
  order. When the search stalls it jumps back to the best schedule and perturbs it with a few
  random critical swaps.

:func:`warm_start` chains the two within a time budget. Its schedule is the solution hint for
CP-SAT and the fallback answer when the solver finds nothing better.
"""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from makespan.models.jssp.instance import JobShopInstance

__all__ = [
    "DISPATCH_RULES",
    "WarmStart",
    "best_dispatch",
    "giffler_thompson",
    "tabu_search",
    "warm_start",
]

DISPATCH_RULES: tuple[str, ...] = ("spt", "lpt", "mwkr", "mopnr", "mwkr_spt")
"""Priority rules for :func:`giffler_thompson`.

``spt`` shortest processing time; ``lpt`` longest processing time; ``mwkr`` most work remaining in
the job (this operation included); ``mopnr`` most operations remaining in the job; ``mwkr_spt``
largest ratio of remaining job work to processing time.
"""

DEFAULT_MAX_STALL_ITERATIONS = 1_000_000
"""Default iteration cap without improvement of the best schedule in :func:`tabu_search`."""


@dataclass(frozen=True)
class WarmStart:
    """A feasible schedule produced by a heuristic.

    Attributes:
        method: how it was built, e.g. ``"mwkr"`` or ``"mwkr+tabu"``.
        starts: ``starts[j][k]`` is the start of operation ``k`` of job ``j``; the schedule is
            feasible and semi-active (no operation can start earlier without changing the
            machine sequences).
        makespan: the largest end time.
    """

    method: str
    starts: tuple[tuple[int, ...], ...]
    makespan: int


# --------------------------------------------------------------------------------------------
# Dispatching rules (Giffler-Thompson)
# --------------------------------------------------------------------------------------------


def _rule_key(rule: str) -> Callable[[int, int, int, int], float]:
    """The key minimised by ``rule``: ``f(duration, remaining_work, remaining_ops, job)``."""
    if rule == "spt":
        return lambda d, w, o, j: d
    if rule == "lpt":
        return lambda d, w, o, j: -d
    if rule == "mwkr":
        return lambda d, w, o, j: -w
    if rule == "mopnr":
        return lambda d, w, o, j: -o
    if rule == "mwkr_spt":
        return lambda d, w, o, j: -w / d if d > 0 else float("-inf")
    raise ValueError(f"unknown dispatching rule {rule!r}; expected one of {DISPATCH_RULES}")


def giffler_thompson(
    instance: JobShopInstance, rule: str, *, rng: random.Random | None = None
) -> WarmStart:
    """Active schedule by the Giffler-Thompson algorithm, choosing in the conflict set by `rule`.

    At each step the unscheduled operation with the earliest possible completion time ``C`` is
    found; among the operations ready on its machine that could start before ``C`` (the conflict
    set), the one ranked first by ``rule`` (see :data:`DISPATCH_RULES`) is scheduled as early as
    possible. Ties are broken by the lowest job index, or uniformly at random when ``rng`` is
    given.

    Raises:
        ValueError: ``rule`` is not in :data:`DISPATCH_RULES`.
    """
    key = _rule_key(rule)
    machines = [[op.machine for op in job] for job in instance.jobs]
    durations = [[op.duration for op in job] for job in instance.jobs]
    remaining_work: list[list[int]] = []
    for row in durations:
        suffix = [0] * len(row)
        acc = 0
        for k in range(len(row) - 1, -1, -1):
            acc += row[k]
            suffix[k] = acc
        remaining_work.append(suffix)

    num_jobs = instance.num_jobs
    next_op = [0] * num_jobs
    job_ready = [0] * num_jobs
    machine_ready = [0] * instance.num_machines
    waiting: list[list[int]] = [[] for _ in range(instance.num_machines)]
    starts: list[list[int]] = [[0] * len(row) for row in durations]
    # Lazy heap of (completion-time lower bound, job, op index); ready times only grow, so a
    # popped entry whose recomputed value is unchanged is the true minimum.
    heap: list[tuple[int, int, int]] = []
    for j in range(num_jobs):
        waiting[machines[j][0]].append(j)
        heap.append((durations[j][0], j, 0))
    heapq.heapify(heap)

    makespan = 0
    while heap:
        c, j, k = heapq.heappop(heap)
        if next_op[j] != k:
            continue  # stale entry
        m = machines[j][k]
        est = job_ready[j] if job_ready[j] > machine_ready[m] else machine_ready[m]
        real = est + durations[j][k]
        if real != c:
            heapq.heappush(heap, (real, j, k))
            continue
        # Conflict set on machine m: ready operations that could start before c.
        mr = machine_ready[m]
        best_key = 0.0
        chosen: list[int] = []
        for i in waiting[m]:
            ki = next_op[i]
            s_i = job_ready[i] if job_ready[i] > mr else mr
            if s_i < c or i == j:
                kv = key(durations[i][ki], remaining_work[i][ki], len(durations[i]) - ki, i)
                if not chosen or kv < best_key:
                    best_key = kv
                    chosen = [i]
                elif kv == best_key:
                    chosen.append(i)
        if rng is None or len(chosen) == 1:
            i = min(chosen)
        else:
            i = chosen[rng.randrange(len(chosen))]
        ki = next_op[i]
        s = job_ready[i] if job_ready[i] > mr else mr
        end = s + durations[i][ki]
        starts[i][ki] = s
        job_ready[i] = end
        machine_ready[m] = end
        if end > makespan:
            makespan = end
        waiting[m].remove(i)
        next_op[i] = ki + 1
        if ki + 1 < len(durations[i]):
            waiting[machines[i][ki + 1]].append(i)
            heapq.heappush(heap, (end + durations[i][ki + 1], i, ki + 1))
        if i != j:
            heapq.heappush(heap, (c, j, k))  # still a valid lower bound for job j

    return WarmStart(
        method=rule, starts=tuple(tuple(row) for row in starts), makespan=makespan
    )


def best_dispatch(instance: JobShopInstance) -> WarmStart:
    """Every rule in :data:`DISPATCH_RULES`, best makespan kept (first rule wins ties)."""
    best: WarmStart | None = None
    for rule in DISPATCH_RULES:
        candidate = giffler_thompson(instance, rule)
        if best is None or candidate.makespan < best.makespan:
            best = candidate
    assert best is not None
    return best


# --------------------------------------------------------------------------------------------
# Tabu search on the disjunctive graph
# --------------------------------------------------------------------------------------------


class _CycleError(ValueError):
    """The machine sequences do not form an acyclic disjunctive graph."""


class _Graph:
    """Disjunctive graph over flat operation ids with heads, tails and a topological order.

    Operation ``o`` of the flat numbering is operation ``k`` of job ``j`` in job-major order. The
    id ``n`` (``self.none``) is a sentinel with zero duration, head and tail, standing for "no
    predecessor / successor", which removes branches from the hot loops.
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
        # acyclic even with zero-duration operations.
        per_machine: list[list[tuple[int, int, int]]] = [[] for _ in range(self.num_machines)]
        for ids, row in zip(self.job_ids, starts, strict=True):
            for x, s in zip(ids, row, strict=True):
                per_machine[self.mach[x]].append((s, s + self.dur[x], x))
        self.mlast = [n] * self.num_machines
        for m, entries in enumerate(per_machine):
            entries.sort()
            self.set_sequence(m, [x for _, _, x in entries])
        self.r = [0] * (n + 1)
        self.q = [0] * (n + 1)
        self.order: list[int] = []  # order[p] = operation at topological position p
        self.pos = [0] * (n + 1)  # pos[o] = topological position of o; pos[none] unused
        self.mark = [0] * (n + 1)
        self.stamp = 0
        self.rebuild()

    def set_sequence(self, m: int, seq: list[int]) -> None:
        """Set the processing order of machine ``m`` (links only; call :meth:`rebuild` after)."""
        none = self.none
        prev = none
        for x in seq:
            self.mp[x] = prev
            if prev != none:
                self.ms[prev] = x
            prev = x
        if prev != none:
            self.ms[prev] = none
        self.mlast[m] = prev

    def rebuild(self) -> None:
        """Topological order (Kahn), heads and tails from scratch; order re-sorted by head.

        Raises:
            _CycleError: the machine sequences make the graph cyclic.
        """
        n, none = self.n, self.none
        jp, js, mp, ms, dur, r, q = self.jp, self.js, self.mp, self.ms, self.dur, self.r, self.q
        indeg = [0] * (n + 1)
        for x in range(n):
            indeg[x] = (jp[x] != none) + (mp[x] != none)
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
            a = r[jp[x]] + dur[jp[x]]
            b = r[mp[x]] + dur[mp[x]]
            r[x] = a if a > b else b
        # Sorting by (head, previous position) is again topological: along an arc the head
        # never decreases, and on ties the previous order decides.
        pos = self.pos
        for p, x in enumerate(order):
            pos[x] = p
        order.sort(key=lambda x: (r[x], pos[x]))
        for p, x in enumerate(order):
            pos[x] = p
        self.order = order
        for x in reversed(order):
            a = q[js[x]] + dur[js[x]]
            b = q[ms[x]] + dur[ms[x]]
            q[x] = a if a > b else b

    def makespan(self) -> int:
        """Largest end time (over the last operation of every machine)."""
        r, dur, none = self.r, self.dur, self.none
        return max((r[x] + dur[x] for x in self.mlast if x != none), default=0)

    def critical_blocks(self, rng: random.Random) -> list[list[int]]:
        """Blocks (maximal runs on one machine) of one critical path, in path order."""
        r, dur, jp, mp, none = self.r, self.dur, self.jp, self.mp, self.none
        cmax = -1
        ends: list[int] = []
        for x in self.mlast:
            if x == none:
                continue
            e = r[x] + dur[x]
            if e > cmax:
                cmax = e
                ends = [x]
            elif e == cmax:
                ends.append(x)
        x = ends[0] if len(ends) == 1 else ends[rng.randrange(len(ends))]
        blocks: list[list[int]] = []
        block = [x]
        while True:
            rx = r[x]
            p = mp[x]
            if p != none and r[p] + dur[p] == rx:
                block.append(p)
                x = p
                continue
            p = jp[x]
            if p != none and r[p] + dur[p] == rx:
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
        """Move ``x`` between ``new_pred`` and ``new_succ`` (consecutive on its machine, or the
        sentinel at either end); repair the topological order and update heads and tails.

        Returns False, leaving everything unchanged, when the move would create a cycle.
        """
        none = self.none
        jp, js, mp, ms = self.jp, self.js, self.mp, self.ms
        pos, order, mark = self.pos, self.order, self.mark
        old_pred = mp[x]
        old_succ = ms[x]
        self._link(x, new_pred, new_succ)
        # The only arc that can contradict the topological order is new_pred -> x (x moved
        # later) or x -> new_succ (x moved earlier); Pearce-Kelly repairs the order locally.
        if new_pred != none and pos[new_pred] > pos[x]:
            src, dst = new_pred, x
        elif new_succ != none and pos[x] > pos[new_succ]:
            src, dst = x, new_succ
        else:
            src = dst = none
        if src != none:
            self.stamp += 1
            stamp = self.stamp
            lb = pos[dst]
            ub = pos[src]
            fwd = [dst]
            mark[dst] = stamp
            stack = [dst]
            while stack:
                y = stack.pop()
                for z in (js[y], ms[y]):
                    if z != none and mark[z] != stamp and pos[z] <= ub:
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
                if z != none and mark[z] != stamp and pos[z] > lb:
                    mark[z] = stamp
                    bwd.append(z)
                    stack.append(z)
                z = mp[y]
                if z != none and mark[z] != stamp and pos[z] > lb:
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

        # Heads: from the nodes whose machine predecessor changed, on to whatever changes
        # downstream, visited in topological order so that each node is recomputed once.
        dur, r, q = self.dur, self.r, self.q
        heappush, heappop = heapq.heappush, heapq.heappop
        self.stamp += 1
        stamp = self.stamp
        heap = [pos[x]]
        mark[x] = stamp
        for y in (old_succ, new_succ):
            if y != none and mark[y] != stamp:
                mark[y] = stamp
                heap.append(pos[y])
        heapq.heapify(heap)
        while heap:
            y = order[heappop(heap)]
            z = jp[y]
            h = r[z] + dur[z]
            z = mp[y]
            h2 = r[z] + dur[z]
            if h2 > h:
                h = h2
            if h != r[y]:
                r[y] = h
                z = js[y]
                if z != none and mark[z] != stamp:
                    mark[z] = stamp
                    heappush(heap, pos[z])
                z = ms[y]
                if z != none and mark[z] != stamp:
                    mark[z] = stamp
                    heappush(heap, pos[z])
        # Tails, symmetrically, in reverse topological order.
        self.stamp += 1
        stamp = self.stamp
        heap = [-pos[x]]
        mark[x] = stamp
        for y in (old_pred, new_pred):
            if y != none and mark[y] != stamp:
                mark[y] = stamp
                heap.append(-pos[y])
        heapq.heapify(heap)
        while heap:
            y = order[-heappop(heap)]
            z = js[y]
            t = q[z] + dur[z]
            z = ms[y]
            t2 = q[z] + dur[z]
            if t2 > t:
                t = t2
            if t != q[y]:
                q[y] = t
                z = jp[y]
                if z != none and mark[z] != stamp:
                    mark[z] = stamp
                    heappush(heap, -pos[z])
                z = mp[y]
                if z != none and mark[z] != stamp:
                    mark[z] = stamp
                    heappush(heap, -pos[z])
        return True

    def snapshot(self) -> tuple[list[int], list[int], list[int], list[int]]:
        """Copies of the machine links and heads, for :meth:`restore` and :meth:`starts`."""
        return self.mp[:], self.ms[:], self.mlast[:], self.r[:]

    def restore(self, snap: tuple[list[int], list[int], list[int], list[int]]) -> None:
        """Return to a :meth:`snapshot` (lists are updated in place)."""
        self.mp[:] = snap[0]
        self.ms[:] = snap[1]
        self.mlast[:] = snap[2]
        self.rebuild()

    def starts(
        self, snap: tuple[list[int], list[int], list[int], list[int]] | None = None
    ) -> tuple[tuple[int, ...], ...]:
        """Semi-active start times (the heads) per job, now or of a snapshot."""
        r = self.r if snap is None else snap[3]
        return tuple(tuple(r[x] for x in ids) for ids in self.job_ids)


def _n5_moves(blocks: list[list[int]], js: list[int]) -> list[tuple[int, int]]:
    """N5 moves: swap the first two / last two operations of every block of the path.

    The first pair of the first block and the last pair of the last block are left out (such
    swaps cannot shorten the path); pairs that are also consecutive in a job are skipped.
    """
    moves: list[tuple[int, int]] = []
    last = len(blocks) - 1
    for i, block in enumerate(blocks):
        size = len(block)
        if size < 2:
            continue
        if i > 0 and js[block[0]] != block[1]:
            moves.append((block[0], block[1]))
        if i < last and (size > 2 or i == 0) and js[block[-2]] != block[-1]:
            moves.append((block[-2], block[-1]))
    return moves


_Move = tuple[int, int, int, list[int]]
"""A relocation: (operation, new machine predecessor, new machine successor, tabu keys of the
ordered pairs it destroys)."""

TABU_ANY = True
N5_ONLY = False


def _choose_n7(
    g: _Graph,
    blocks: list[list[int]],
    tabu: dict[int, int],
    it: int,
    best: int,
    rng: random.Random,
) -> _Move | None:
    """Best non-tabu move of the N7 neighbourhood (Zhang et al. 2007) of one critical path.

    In every block, the first or last operation moves to every other position of the block and
    every inner operation moves to the front or the back, except moves that keep both the first
    operation of the first block and the last operation of the last block (those cannot shorten
    the path). Moves not guaranteed acyclic by the Balas-Vazacopoulos conditions are skipped.
    Each move is scored by the longest path through the operations of the reordered segment,
    from the current heads and tails. A tabu move (one that restores a recently destroyed pair
    order) is allowed only if it beats ``best``; if every move is tabu, the one whose tabu
    status expires first is returned.
    """
    none = g.none
    stride = none + 1
    r, q, dur, jp, js, mp, ms = g.r, g.q, g.dur, g.jp, g.js, g.mp, g.ms
    tabu_get = tabu.get
    nb = len(blocks)
    chosen_est = -1
    chosen: list[_Move] = []
    fallback: _Move | None = None
    fallback_expiry = 0
    for bi, blk in enumerate(blocks):
        k = len(blk)
        if k < 2:
            continue
        first = bi == 0
        last = bi == nb - 1
        cands: list[tuple[int, int, bool]]
        if k == 2:
            cands = [(0, 1, True)]
        elif N5_ONLY:
            cands = []
            if not first:
                cands.append((0, 1, True))
            if not last:
                cands.append((k - 2, k - 1, True))
        else:
            cands = [(0, el, True) for el in range(1, k) if not first or el == k - 1]
            cands.extend((i, k - 1, False) for i in range(k - 1) if not last or i == 0)
            if not last:
                cands.extend((t, k - 1, True) for t in range(1, k - 2))
            if not first:
                cands.extend((0, t, False) for t in range(2, k - 1))
        for i, el, forward in cands:
            if forward:
                # blk[i] moves right after blk[el].
                x = blk[i]
                y = blk[el]
                z = js[x]
                if z != none and q[y] + dur[y] < q[z] + dur[z]:
                    continue
                jumped = blk[i + 1 : el + 1]
                seg = [*jumped, x]
                before = mp[x]
                after = ms[y]
            else:
                # blk[el] moves right before blk[i].
                x = blk[el]
                y = blk[i]
                z = jp[x]
                if z != none and r[y] + dur[y] < r[z] + dur[z]:
                    continue
                jumped = blk[i:el]
                seg = [x, *jumped]
                before = mp[y]
                after = ms[x]
            # Heads along the new segment, then tails backwards; keep the longest path.
            end = r[before] + dur[before]
            heads = []
            for y in seg:
                z = jp[y]
                h = r[z] + dur[z]
                if end > h:
                    h = end
                heads.append(h)
                end = h + dur[y]
            nxt = q[after] + dur[after]
            est = 0
            for idx in range(len(seg) - 1, -1, -1):
                y = seg[idx]
                z = js[y]
                t = q[z] + dur[z]
                if nxt > t:
                    t = nxt
                d = dur[y]
                v = heads[idx] + d + t
                if v > est:
                    est = v
                nxt = t + d
            if forward:
                created = [j * stride + x for j in jumped]
                destroyed = [x * stride + j for j in jumped]
                move: _Move = (x, blk[el], after, destroyed)
            else:
                created = [x * stride + j for j in jumped]
                destroyed = [j * stride + x for j in jumped]
                move = (x, before, blk[i], destroyed)
            if TABU_ANY:
                expiry = max(tabu_get(c, 0) for c in created)
            else:
                expiry = min(tabu_get(c, 0) for c in created)
            if expiry > it and est >= best:
                if fallback is None or expiry < fallback_expiry:
                    fallback = move
                    fallback_expiry = expiry
                continue
            if not chosen or est < chosen_est:
                chosen_est = est
                chosen = [move]
            elif est == chosen_est:
                chosen.append(move)
    if chosen:
        return chosen[0] if len(chosen) == 1 else chosen[rng.randrange(len(chosen))]
    return fallback


def _n1_moves(blocks: list[list[int]], js: list[int]) -> list[tuple[int, int]]:
    """Every adjacent pair inside a critical block (used for perturbation)."""
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
) -> WarmStart:
    """Tabu search on critical-block moves (N5 of Nowicki & Smutnicki) from `initial`.

    Runs until ``time.monotonic() >= deadline``, the lower bound is reached (``lower_bound``,
    default :attr:`JobShopInstance.trivial_lower_bound`), no improvement of the best schedule for
    ``max_stall_iterations`` iterations, or the critical path is a single block (optimal).

    Each iteration evaluates every N5 swap of one critical path exactly on the longest paths
    through the two swapped operations, and applies the best one that is not tabu (a tabu move
    is allowed when it would beat the best makespan). Swapping back a pair is tabu for a
    randomised tenure. After a long stall the search restarts from the best schedule perturbed
    by a few random critical swaps.

    Returns the best schedule found, semi-active, with ``method = initial.method + "+tabu"``; its
    makespan is never above ``initial.makespan``. Deterministic for a given ``seed`` unless the
    deadline interrupts it.

    Raises:
        ValueError: ``initial`` does not describe an acyclic set of machine sequences.
    """
    result, _ = _tabu_search(
        instance,
        initial,
        deadline=deadline,
        seed=seed,
        lower_bound=lower_bound,
        max_stall_iterations=max_stall_iterations,
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
) -> tuple[WarmStart, int]:
    """:func:`tabu_search`, also returning the number of iterations done."""
    method = initial.method + "+tabu"
    try:
        g = _Graph(instance, initial.starts)
    except _CycleError as exc:
        raise ValueError(f"initial schedule {initial.method!r} is not feasible: {exc}") from exc
    rng = random.Random(seed)
    lb = instance.trivial_lower_bound if lower_bound is None else lower_bound
    n = g.n
    stride = n + 1
    dur, r, q, jp, js, mp, ms = g.dur, g.r, g.q, g.jp, g.js, g.mp, g.ms

    cur = g.makespan()
    best = cur
    best_snap = g.snapshot()

    tenure_base = 10 + instance.num_jobs // max(1, instance.num_machines)
    tenure_spread = max(1, tenure_base // 2)
    restart_after = max(1000, 4 * n)
    tabu: dict[int, int] = {}
    it = 0
    last_improvement = 0
    last_restart = 0
    monotonic = time.monotonic

    it_cap = max_iterations if max_iterations is not None else -1
    while best > lb and it - last_improvement < max_stall_iterations and monotonic() < deadline:
        if it == it_cap:
            break
        it += 1
        if it - max(last_improvement, last_restart) > restart_after:
            # Jump back to the best schedule and perturb it.
            g.restore(best_snap)
            for _ in range(2 + rng.randrange(4)):
                pert = _n1_moves(g.critical_blocks(rng), js)
                if not pert:
                    break
                u, v = pert[rng.randrange(len(pert))]
                g.relocate(u, v, ms[v])
            tabu.clear()
            last_restart = it
            cur = g.makespan()
            continue

        blocks = g.critical_blocks(rng)
        if len(blocks) == 1:
            break  # a single critical block: the current schedule is optimal
        move = _choose_n7(g, blocks, tabu, it, best, rng)
        if move is None:
            break
        x, new_pred, new_succ, destroyed = move
        tenure = tenure_base + rng.randrange(tenure_spread)
        if not g.relocate(x, new_pred, new_succ):
            # Would create a cycle (possible only with zero durations): forbid the move itself.
            for key in destroyed:
                c, d = divmod(key, stride)
                tabu[d * stride + c] = it + tenure
            continue
        for key in destroyed:
            tabu[key] = it + tenure  # restoring a destroyed pair order is tabu
        cur = g.makespan()
        if cur < best:
            best = cur
            best_snap = g.snapshot()
            last_improvement = it

    return WarmStart(method=method, starts=g.starts(best_snap), makespan=best), it


def warm_start(instance: JobShopInstance, *, time_budget_s: float, seed: int = 0) -> WarmStart:
    """:func:`best_dispatch`, then :func:`tabu_search` within `time_budget_s` (from the call)."""
    deadline = time.monotonic() + time_budget_s
    start = best_dispatch(instance)
    if time.monotonic() >= deadline:
        return start
    return tabu_search(instance, start, deadline=deadline, seed=seed)
