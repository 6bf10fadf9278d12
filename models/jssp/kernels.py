"""The tabu search's compiled kernels (numba): the disjunctive graph, its longest paths and
relocations, the N7 moves and their choice, and the iteration loop. State lives in numpy arrays
grouped in named tuples; :mod:`.tabu` builds them and drives the loop.

Every kernel is in this one file on purpose: numba's on-disk cache (``cache=True``) is keyed by
the source file of the function it compiles, not by its callees, so a compiled caller in one
file would keep running a stale callee after the callee's file changed.

**Graph.** Operations are numbered job-major (operation ``k`` of job ``j`` after every operation
of the jobs before ``j``); id ``n`` is a sentinel with zero duration, end and tail that stands for
"no predecessor / successor", which removes branches from the hot loops. Job arcs are fixed; the
machine arcs (a processing order per machine) are the schedule. ``end[o]`` is the earliest
completion of ``o`` (its head plus its duration) and ``tail[o]`` the longest path from the start
of ``o`` to the end of the schedule (its duration plus its tail), so ``end[o] - dur[o] +
tail[o]`` is the longest path through ``o``. Both come from one longest-path pass over a
topological order, run forwards or backwards (:class:`_Direction`). After a machine arc changes
(:func:`relocate`) the order is repaired locally (Pearce & Kelly) and only the ends and tails
that change are recomputed.

**Moves.** N7 (Zhang et al., 2007) is a superset of N5 (Nowicki & Smutnicki): in each block of
one critical path, the first or the last operation moves to another position of the block (at
most :data:`MAX_JUMP` places, or to the other end), and each inner operation moves to the front
or the back. Moves that keep both the first operation of the first block and the last operation
of the last block are left out, as they cannot shorten the path, and so are moves that the
Balas-Vazacopoulos conditions do not guarantee acyclic. A move is scored by the longest path
through the operations of the reordered segment, from the current ends and tails, in time linear
in the distance moved. A move is written ``(a, b, forward)`` with ``a < b`` positions on the
path, in one block: forward moves ``ops[a]`` right after ``ops[b]``, backward moves ``ops[b]``
right before ``ops[a]``. The tabu table maps "``u`` before ``v``" (the key ``u * (n + 1) + v``)
to the iteration at which restoring that order stops being tabu.

**Arrays, not tuples, in the innermost calls.** The named tuples group the state for the calls
made once per iteration or per move; the helpers of the innermost loops (a tabu table probe, the
relaxation of one operation, the enumeration and the bookkeeping of one move) take the arrays
themselves: numba reference-counted every member of a tuple argument at each of their calls,
which made a search several times slower.

**Random draws** are CPython's (Mersenne Twister MT19937, :func:`randbelow` draws what
``random.Random.randrange`` draws), so a seed gives the schedules of the earlier pure-Python
search and the two can be compared move for move.
"""

from __future__ import annotations

import random
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from makespan.models.jit import njit

Ints = NDArray[np.int64]

# What a slice of search ended with.
RUNNING, AT_BOUND, STALLED, CAPPED, ONE_BLOCK, NO_MOVE, TABLE_FULL = range(7)

# Entries of the counters array (see new_counters).
ITERATION, BEST, _LAST_IMPROVEMENT, _LAST_RESTART = range(4)
_COUNTERS = _LAST_RESTART + 1

# Entries of the parameters array (see new_parameters).
_LOWER_BOUND, _MAX_STALL, _RESTART_AFTER, _TENURE, _TENURE_SPREAD, _IT_CAP, _ROOM = range(7)
_PARAMETERS = _ROOM + 1


MAX_JUMP = 6
"""Longest shift (in positions) of an N7 move inside a critical block, besides moves to the
front or the back of the block; keeps the neighbourhood linear in the block length."""

_MOVES_PER_BLOCK = 4 * MAX_JUMP + 8
"""Room for the moves of one block (at most ``4 * MAX_JUMP + 1``)."""

_EMPTY = -1
"""A free slot of the tabu table."""

_HASH = 0x2545F4914F6CDD1D
"""Odd multiplier of the tabu table's hash (below 2**63, so numba keeps it an int64)."""

# Entries of Moves.state.
_BEST_EST, _TIED, _BANNED, _FALLBACK_EXPIRY, _FALLBACK = 0, 1, 2, 3, 4
_STATE_SIZE = _FALLBACK + 3  # the fallback is a move: a, b, forward

# Entries of Moves.chosen: the relocation, then the move (a, b, forward).
MOVED, NEW_PRED, NEW_SUCC, _MOVE = 0, 1, 2, 3
_CHOSEN_SIZE = _MOVE + 3


class Graph(NamedTuple):
    """The disjunctive graph and its longest paths; every array has ``n + 1`` entries (the last
    is the sentinel) unless said otherwise."""

    dur: Ints
    """Processing time."""
    mach: Ints
    """Machine."""
    jp: Ints
    """Job predecessor (or the sentinel)."""
    js: Ints
    """Job successor."""
    mp: Ints
    """Machine predecessor."""
    ms: Ints
    """Machine successor."""
    mlast: Ints
    """Per machine (``num_machines`` entries): its last operation, the sentinel when idle."""
    end: Ints
    """Earliest completion: head plus duration."""
    tail: Ints
    """Duration plus the longest path after the operation."""
    order: Ints
    """``n`` entries: the operations in a topological order."""
    pos: Ints
    """Position of each operation in ``order``."""
    mark: Ints
    """Visit marks: equal to ``stamp[0]`` when visited in the current scan."""
    stamp: Ints
    """One entry: the current visit mark."""
    found: Ints
    """Scratch: the operations to place after, in a repair of the order (and Kahn's stack)."""
    found_back: Ints
    """Scratch: the operations to place before, in a repair of the order."""
    stack: Ints
    """Scratch: a depth-first stack, the positions of a repair, or in-degrees."""


class Snapshot(NamedTuple):
    """A schedule saved by :func:`save`: the graph's arrays that change with it."""

    mp: Ints
    ms: Ints
    mlast: Ints
    end: Ints
    tail: Ints
    order: Ints
    pos: Ints


class Path(NamedTuple):
    """One critical path split into blocks (maximal runs on one machine), written by
    :func:`critical_path`: block ``b`` is ``ops[start[b]:start[b + 1]]``."""

    ops: Ints
    """``n`` entries: the path's operations in path order."""
    start: Ints
    """``n + 1`` entries: where each block starts in ``ops``, then the path's length."""
    ends: Ints
    """Scratch, ``num_machines`` entries: the operations that end at the makespan."""
    size: Ints
    """Two entries: the number of blocks and the number of operations."""


class TabuTable(NamedTuple):
    """An open-addressing hash table from pair keys to expiry iterations."""

    keys: Ints
    """A power of two entries: the key in each slot, or :data:`_EMPTY`."""
    expiry: Ints
    """The expiry iteration of each slot's key."""
    used: Ints
    """One entry: the slots in use."""


class Moves(NamedTuple):
    """Room for choosing a move: candidates, ties, banned moves and the choice."""

    block: Ints
    """``(_MOVES_PER_BLOCK, 3)``: the moves of one block."""
    tied: Ints
    """``(4 * (n + 1), 3)``: the best-scored allowed moves so far (a block of ``k >= 2``
    operations has fewer than ``4 k`` moves)."""
    banned: Ints
    """Like ``tied``: moves as (operation, new predecessor, new successor) that closed a cycle
    since the schedule last changed."""
    state: Ints
    """Best score, counts, and the fallback move (see the constants above)."""
    heads: Ints
    """``n + 1`` entries: the starts of a reordered segment."""
    chosen: Ints
    """The chosen move's operation, new predecessor, new successor, then ``(a, b, forward)``."""


def new_graph(dur: Ints, mach: Ints, jp: Ints, js: Ints, num_machines: int) -> Graph:
    """A graph without machine arcs, from its fixed arrays (``n + 1`` entries each)."""
    n = dur.shape[0] - 1
    return Graph(
        dur=dur,
        mach=mach,
        jp=jp,
        js=js,
        mp=np.full(n + 1, n, dtype=np.int64),
        ms=np.full(n + 1, n, dtype=np.int64),
        mlast=np.full(num_machines, n, dtype=np.int64),
        end=np.zeros(n + 1, dtype=np.int64),
        tail=np.zeros(n + 1, dtype=np.int64),
        order=np.arange(n, dtype=np.int64),
        pos=np.zeros(n + 1, dtype=np.int64),
        mark=np.zeros(n + 1, dtype=np.int64),
        stamp=np.zeros(1, dtype=np.int64),
        found=np.zeros(n + 1, dtype=np.int64),
        found_back=np.zeros(n + 1, dtype=np.int64),
        stack=np.zeros(n + 1, dtype=np.int64),
    )


def new_counters(best: int) -> Ints:
    """The search's counters before its first iteration, from the makespan it starts at."""
    counters = np.zeros(_COUNTERS, dtype=np.int64)
    counters[BEST] = best
    return counters


def new_parameters(
    *,
    lower_bound: int,
    max_stall: int,
    restart_after: int,
    tenure: int,
    tenure_spread: int,
    iteration_cap: int,
    room: int,
) -> Ints:
    """The search's parameters: stop at ``lower_bound``, after ``max_stall`` iterations without
    improvement or at iteration ``iteration_cap`` (-1: none); restart after ``restart_after``;
    tabu tenure ``tenure`` plus a random part below ``tenure_spread``; ``room``: more than the
    pair orders one move can destroy."""
    values = [0] * _PARAMETERS
    values[_LOWER_BOUND] = lower_bound
    values[_MAX_STALL] = max_stall
    values[_RESTART_AFTER] = restart_after
    values[_TENURE] = tenure
    values[_TENURE_SPREAD] = tenure_spread
    values[_IT_CAP] = iteration_cap
    values[_ROOM] = room
    return np.array(values, dtype=np.int64)


def new_tabu_table(capacity: int) -> TabuTable:
    """An empty table of ``capacity`` slots, a power of two."""
    return TabuTable(
        keys=np.full(capacity, _EMPTY, dtype=np.int64),
        expiry=np.zeros(capacity, dtype=np.int64),
        used=np.zeros(1, dtype=np.int64),
    )


def new_moves(n: int) -> Moves:
    """Room for choosing moves on a graph of ``n`` operations."""
    most = 4 * (n + 1)  # moves of one critical path (see Moves.tied)
    return Moves(
        block=np.zeros((_MOVES_PER_BLOCK, 3), dtype=np.int64),
        tied=np.zeros((most, 3), dtype=np.int64),
        banned=np.zeros((most, 3), dtype=np.int64),
        state=np.zeros(_STATE_SIZE, dtype=np.int64),
        heads=np.zeros(n + 1, dtype=np.int64),
        chosen=np.zeros(_CHOSEN_SIZE, dtype=np.int64),
    )


def new_snapshot(g: Graph) -> Snapshot:
    """Room for :func:`save`, holding the current schedule."""
    return Snapshot(
        g.mp.copy(),
        g.ms.copy(),
        g.mlast.copy(),
        g.end.copy(),
        g.tail.copy(),
        g.order.copy(),
        g.pos.copy(),
    )


def new_path(g: Graph) -> Path:
    """Room for :func:`critical_path`."""
    n = g.order.shape[0]
    return Path(
        ops=np.zeros(n, dtype=np.int64),
        start=np.zeros(n + 1, dtype=np.int64),
        ends=np.zeros(g.mlast.shape[0], dtype=np.int64),
        size=np.zeros(2, dtype=np.int64),
    )


# ---------------------------------------------------------------------------------- random draws


_N = 624
_M = 397
_MATRIX_A = 0x9908B0DF
_UPPER = 0x80000000
_LOWER = 0x7FFFFFFF
_WORD = 0xFFFFFFFF  # the state is kept in int64 (numba promotes mixed uint/int to float)


def new_stream(seed: int) -> Ints:
    """The state of ``random.Random(seed)``, for :func:`randbelow`."""
    _, words, _ = random.Random(seed).getstate()
    return np.array(words, dtype=np.int64)


@njit
def _twist(mt: Ints) -> None:
    """Regenerate the 624 words (MT19937's recurrence, as in CPython's ``genrand_uint32``)."""
    for k in range(_N):
        y = (mt[k] & _UPPER) | (mt[(k + 1) % _N] & _LOWER)
        mt[k] = mt[(k + _M) % _N] ^ (y >> 1) ^ (_MATRIX_A if y & 1 else 0)
    mt[_N] = 0


@njit
def _next_word(mt: Ints) -> int:
    """The next 32-bit output of the generator."""
    if mt[_N] >= _N:
        _twist(mt)
    y = mt[mt[_N]]
    mt[_N] += 1
    y ^= y >> 11
    y ^= (y << 7) & 0x9D2C5680
    y ^= (y << 15) & 0xEFC60000
    y ^= y >> 18
    return int(y & _WORD)


@njit
def randbelow(mt: Ints, n: int) -> int:
    """A uniform integer in ``[0, n)``, ``n >= 1``: ``random.Random.randrange(n)``'s draw
    (the top ``n.bit_length()`` bits of a word, redrawn while not below ``n``)."""
    bits = 0
    while (n >> bits) > 0:
        bits += 1
    r = _next_word(mt) >> (32 - bits)
    while r >= n:
        r = _next_word(mt) >> (32 - bits)
    return int(r)


# ------------------------------------------------------------------ whole-graph kernels


@njit
def save(g: Graph, snapshot: Snapshot) -> None:
    """Copy the current schedule into ``snapshot``."""
    _copy_schedule(snapshot, g)


@njit
def restore(g: Graph, snapshot: Snapshot) -> None:
    """Return to the schedule saved in ``snapshot``."""
    _copy_schedule(g, snapshot)


@njit
def _copy_schedule(dst: Graph | Snapshot, src: Graph | Snapshot) -> None:
    """The schedule's arrays of ``src`` into ``dst`` (a graph and a snapshot share their names;
    numba compiles one copy per pair of types)."""
    _copy(dst.mp, src.mp)
    _copy(dst.ms, src.ms)
    _copy(dst.mlast, src.mlast)
    _copy(dst.end, src.end)
    _copy(dst.tail, src.tail)
    _copy(dst.order, src.order)
    _copy(dst.pos, src.pos)


@njit
def _copy(dst: Ints, src: Ints) -> None:
    """``dst[:] = src``, as a loop: numba compiles a loop much faster than slice assignment."""
    for k in range(src.shape[0]):
        dst[k] = src[k]


@njit
def makespan(g: Graph) -> int:
    """The largest end time, over the last operation of every machine."""
    longest = 0
    for x in g.mlast:  # end[sentinel] == 0 for an idle machine
        longest = max(longest, g.end[x])
    return int(longest)


def rebuild(g: Graph) -> bool:
    """Topological order, ends and tails from scratch; False (nothing else valid) on a cycle.

    The order is sorted by start time, which is again topological (along an arc the start never
    decreases; ties keep the previous order) and keeps the stretch that a local repair in
    :func:`relocate` looks at short.
    """
    if not _kahn_order(g):
        return False
    full_pass(g, True)
    begin = (g.end - g.dur)[g.order]
    g.order[:] = g.order[np.argsort(begin, kind="stable")]
    g.pos[g.order] = np.arange(g.order.shape[0])
    full_pass(g, False)
    return True


@njit
def _kahn_order(g: Graph) -> bool:
    """Kahn's topological sort into ``g.order``; False when some operation is on a cycle."""
    n = g.order.shape[0]
    indegree = g.stack
    ready = g.found
    top = 0
    for x in range(n):
        indegree[x] = (g.jp[x] != n) + (g.mp[x] != n)
        if indegree[x] == 0:
            ready[top] = x
            top += 1
    placed = 0
    while top > 0:
        top -= 1
        x = ready[top]
        g.order[placed] = x
        placed += 1
        for y in (g.js[x], g.ms[x]):
            if y != n:
                indegree[y] -= 1
                if indegree[y] == 0:
                    ready[top] = y
                    top += 1
    return bool(placed == n)


# -------------------------------------------------------------------- longest paths


class _Direction(NamedTuple):
    """A longest-path pass: heads run forwards along the arcs, tails backwards."""

    value: Ints
    """What the pass computes: ``end`` or ``tail``."""
    before_job: Ints
    """The neighbours the value is computed from: job, then machine."""
    before_machine: Ints
    after_job: Ints
    """The neighbours whose value depends on it."""
    after_machine: Ints
    step: int
    """+1 to scan the topological order forwards, -1 backwards."""


@njit
def _heads(g: Graph) -> _Direction:
    return _Direction(g.end, g.jp, g.mp, g.js, g.ms, 1)


@njit
def _tails(g: Graph) -> _Direction:
    return _Direction(g.tail, g.js, g.ms, g.jp, g.mp, -1)


@njit
def _relax(value: Ints, before_job: Ints, before_machine: Ints, dur: Ints, y: int) -> int:
    """The longest path into ``y`` (along ``before_*``) plus its own duration."""
    a = value[before_job[y]]
    b = value[before_machine[y]]
    return int(max(a, b) + dur[y])


@njit
def full_pass(g: Graph, forward: bool) -> None:
    """Every end (``forward``) or every tail, scanning the whole topological order."""
    d = _heads(g) if forward else _tails(g)
    n = g.order.shape[0]
    value, before_job, before_machine, dur = d.value, d.before_job, d.before_machine, g.dur
    for p in range(n) if forward else range(n - 1, -1, -1):
        y = g.order[p]
        value[y] = _relax(value, before_job, before_machine, dur, y)


@njit
def _new_stamp(g: Graph) -> int:
    """A fresh visit mark; the sentinel counts as visited so it is never queued."""
    g.stamp[0] += 1
    stamp = g.stamp[0]
    g.mark[g.order.shape[0]] = stamp
    return int(stamp)


@njit
def _propagate(g: Graph, d: _Direction, a: int, b: int, c: int) -> None:
    """Recompute the values of ``d`` from seeds ``a``, ``b``, ``c`` (whose neighbours before
    changed) on to whatever changes after them, each at most once, scanning the topological
    order from the first seed until nothing is pending."""
    stamp = _new_stamp(g)
    pending = 0
    p = -1
    for y in (a, b, c):
        if g.mark[y] != stamp:
            g.mark[y] = stamp
            pending += 1
            if p < 0 or (g.pos[y] - p) * d.step < 0:
                p = g.pos[y]
    value, before_job, before_machine, dur, mark = (
        d.value,
        d.before_job,
        d.before_machine,
        g.dur,
        g.mark,
    )
    while pending:
        y = g.order[p]
        p += d.step
        if mark[y] != stamp:
            continue
        pending -= 1
        v = _relax(value, before_job, before_machine, dur, y)
        if v == value[y]:
            continue
        value[y] = v
        for z in (d.after_job[y], d.after_machine[y]):
            if mark[z] != stamp:
                mark[z] = stamp
                pending += 1


# ----------------------------------------------------------------------- relocation


@njit
def _link(g: Graph, x: int, new_pred: int, new_succ: int) -> None:
    """Unlink ``x`` from its machine sequence and relink it between two neighbours."""
    none = g.order.shape[0]
    p = g.mp[x]
    s = g.ms[x]
    g.ms[p] = s  # writes to the sentinel's links are harmless: they are never read
    g.mp[s] = p
    if s == none:
        g.mlast[g.mach[x]] = p
    g.mp[x] = new_pred
    g.ms[x] = new_succ
    g.ms[new_pred] = x
    g.mp[new_succ] = x
    if new_succ == none:
        g.mlast[g.mach[x]] = x


@njit
def relocate(g: Graph, x: int, new_pred: int, new_succ: int) -> bool:
    """Move ``x`` between ``new_pred`` and ``new_succ``, consecutive on its machine (or the
    sentinel at either end); repair the topological order, update ends and tails.

    Returns False, leaving everything unchanged, when the move would create a cycle.
    """
    old_pred = g.mp[x]
    old_succ = g.ms[x]
    _link(g, x, new_pred, new_succ)
    if not _repair_order(g, x, new_pred, new_succ):
        _link(g, x, old_pred, old_succ)
        return False
    _propagate(g, _heads(g), x, old_succ, new_succ)
    _propagate(g, _tails(g), x, old_pred, new_pred)
    return True


@njit
def _repair_order(g: Graph, x: int, new_pred: int, new_succ: int) -> bool:
    """Pearce-Kelly: restore a topological order after ``x`` moved; False on a cycle.

    The only arc that can contradict the order is ``new_pred -> x`` (``x`` moved later) or
    ``x -> new_succ`` (``x`` moved earlier). Between its ends, the operations that reach its
    tail go before those reachable from its head, in the positions they held together.
    """
    none = g.order.shape[0]
    if new_pred != none and g.pos[new_pred] > g.pos[x]:
        src, dst = new_pred, x
    elif new_succ != none and g.pos[x] > g.pos[new_succ]:
        src, dst = x, new_succ
    else:
        return True
    low = g.pos[dst]
    high = g.pos[src]
    ahead = _new_stamp(g)
    if not _reach(g, dst, g.js, g.ms, low, high, src, ahead):
        return False
    behind = _new_stamp(g)
    _reach(g, src, g.jp, g.mp, low, high, none, behind)
    _reorder_window(g, low, high, behind, ahead)
    return True


@njit
def _reach(
    g: Graph,
    start: int,
    next_job: Ints,
    next_machine: Ints,
    low: int,
    high: int,
    target: int,
    stamp: int,
) -> bool:
    """Mark with ``stamp`` what a depth-first search from ``start`` along ``next_*`` reaches
    at positions in ``(low, high]``; False as soon as it meets ``target``."""
    g.mark[start] = stamp
    g.stack[0] = start
    top = 1
    while top > 0:
        top -= 1
        y = g.stack[top]
        for z in (next_job[y], next_machine[y]):
            if g.mark[z] == stamp or not low < g.pos[z] <= high:
                continue
            if z == target:
                return False
            g.mark[z] = stamp
            g.stack[top] = z
            top += 1
    return True


@njit
def _reorder_window(g: Graph, low: int, high: int, behind: int, ahead: int) -> None:
    """Between positions ``low`` and ``high``, give the positions of the operations marked
    ``behind`` or ``ahead`` first to those marked ``behind``, each group in its order."""
    count_behind = 0
    count_ahead = 0
    slots = 0
    for p in range(low, high + 1):
        y = g.order[p]
        if g.mark[y] == behind:
            g.found_back[count_behind] = y
            count_behind += 1
        elif g.mark[y] == ahead:
            g.found[count_ahead] = y
            count_ahead += 1
        else:
            continue
        g.stack[slots] = p
        slots += 1
    for k in range(slots):
        y = g.found_back[k] if k < count_behind else g.found[k - count_behind]
        g.order[g.stack[k]] = y
        g.pos[y] = g.stack[k]


# -------------------------------------------------------------------- critical path


@njit
def critical_path(g: Graph, path: Path, mt: Ints) -> None:
    """Blocks of one critical path into ``path``, in path order.

    The path ends at an operation finishing at the makespan (drawn from ``mt`` when there are
    several) and is traced backwards, preferring the machine predecessor when both predecessors
    are tight.
    """
    none = g.order.shape[0]
    x = _last_critical(g, path, mt)
    length = 0
    blocks = 0  # block breaks so far, recorded as lengths of the backward trace
    while True:
        path.ops[length] = x
        length += 1
        begin = g.end[x] - g.dur[x]
        if g.mp[x] != none and g.end[g.mp[x]] == begin:
            x = g.mp[x]
        elif g.jp[x] != none and g.end[g.jp[x]] == begin:
            path.start[blocks] = length
            blocks += 1
            x = g.jp[x]
        else:
            break
    _reverse(path.ops, length)
    # A break after k operations of the backward trace starts a block at length - k.
    _reverse(path.start, blocks)
    for k in range(blocks, 0, -1):
        path.start[k] = length - path.start[k - 1]
    path.start[0] = 0
    path.start[blocks + 1] = length
    path.size[0] = blocks + 1
    path.size[1] = length


@njit
def _reverse(values: Ints, count: int) -> None:
    """Reverse ``values[:count]`` in place."""
    for k in range(count // 2):
        values[k], values[count - 1 - k] = values[count - 1 - k], values[k]


@njit
def _last_critical(g: Graph, path: Path, mt: Ints) -> int:
    """An operation ending at the makespan, the only one or drawn at random, by machine."""
    none = g.order.shape[0]
    cmax = -1
    count = 0
    for x in g.mlast:
        if x == none or g.end[x] < cmax:
            continue
        if g.end[x] > cmax:
            cmax = g.end[x]
            count = 0
        path.ends[count] = x
        count += 1
    return int(path.ends[0] if count == 1 else path.ends[randbelow(mt, count)])


# ------------------------------------------------------------------------ tabu table


@njit
def _slot(keys: Ints, key: int) -> int:
    """The slot holding ``key``, or the free slot where it would go."""
    mask = keys.shape[0] - 1
    h = key * _HASH
    s = (h ^ (h >> 31)) & mask
    while keys[s] != key and keys[s] != _EMPTY:
        s = (s + 1) & mask
    return int(s)


@njit
def _lookup(keys: Ints, expiry: Ints, key: int) -> int:
    """The expiry of ``key``, 0 when absent."""
    s = _slot(keys, key)
    return int(expiry[s]) if keys[s] == key else 0


@njit
def _store(keys: Ints, expiry: Ints, used: Ints, key: int, until: int) -> None:
    """Set the expiry of ``key`` (the table must have a free slot)."""
    s = _slot(keys, key)
    if keys[s] == _EMPTY:
        keys[s] = key
        used[0] += 1
    expiry[s] = until


@njit
def tabu_get(table: TabuTable, key: int) -> int:
    """The expiry of ``key`` in ``table``, 0 when absent."""
    return _lookup(table.keys, table.expiry, key)


@njit
def tabu_clear(table: TabuTable) -> None:
    """Remove every key."""
    for s in range(table.keys.shape[0]):
        table.keys[s] = _EMPTY
    table.used[0] = 0


@njit
def tabu_purge(table: TabuTable, now: int) -> None:
    """Remove the keys that expired by iteration ``now``: a key only matters while its expiry
    is in the future, so this changes no answer."""
    keys = np.empty(table.used[0], dtype=np.int64)
    expiry = np.empty(table.used[0], dtype=np.int64)
    live = 0
    for s in range(table.keys.shape[0]):
        if table.keys[s] != _EMPTY and table.expiry[s] > now:
            keys[live] = table.keys[s]
            expiry[live] = table.expiry[s]
            live += 1
    tabu_clear(table)
    _put_all(table, keys[:live], expiry[:live])


def tabu_copy(table: TabuTable, capacity: int) -> TabuTable:
    """The same keys in a table of ``capacity`` slots."""
    bigger = new_tabu_table(capacity)
    used = table.keys != _EMPTY
    _put_all(bigger, table.keys[used], table.expiry[used])
    return bigger


@njit
def _put_all(table: TabuTable, keys: Ints, expiry: Ints) -> None:
    """Store every key with its expiry."""
    for k in range(keys.shape[0]):
        _store(table.keys, table.expiry, table.used, keys[k], expiry[k])


# ---------------------------------------------------------------------- enumeration


@njit
def _add(out: Ints, count: int, a: int, b: int, forward: bool) -> int:
    """Append the move ``(a, b, forward)`` to ``out[:count]``; the new count."""
    out[count, 0] = a
    out[count, 1] = b
    out[count, 2] = forward
    return count + 1


@njit
def _block_moves(out: Ints, first: int, size: int, first_block: bool, last_block: bool) -> int:
    """The N7 moves of the block of ``size`` operations from path position ``first`` into
    ``out``; returns how many."""
    if size < 2:
        return 0
    if size == 2:
        return _add(out, 0, first, first + 1, True)
    last = first + size - 1
    near = min(size - 1, MAX_JUMP + 1)  # block offsets below this are "near the front"
    far = max(1, size - 1 - MAX_JUMP)  # and from this on "near the back"
    count = 0
    if not first_block:  # the first operation, not to the end
        for el in range(1, near):
            count = _add(out, count, first, first + el, True)
    count = _add(out, count, first, last, True)  # the first operation to the end
    count = _add(out, count, first, last, False)  # the last operation to the front
    if not last_block:
        for i in range(far, size - 1):  # the last operation, not to the front
            count = _add(out, count, first + i, last, False)
        for i in range(far, size - 2):  # inner operations to the end
            count = _add(out, count, first + i, last, True)
    if not first_block:  # inner operations to the front
        for el in range(2, near):
            count = _add(out, count, first, first + el, False)
    return count


# -------------------------------------------------------------------------- scoring


@njit
def _endpoints(
    mp: Ints, ms: Ints, ops: Ints, a: int, b: int, forward: bool
) -> tuple[int, int, int]:
    """``(moved operation, new machine predecessor, new machine successor)`` of a move."""
    if forward:
        return int(ops[a]), int(ops[b]), int(ms[ops[b]])
    return int(ops[b]), int(mp[ops[a]]), int(ops[a])


@njit
def _may_close_cycle(
    end: Ints, tail: Ints, jp: Ints, js: Ints, ops: Ints, a: int, b: int, forward: bool
) -> bool:
    """Balas-Vazacopoulos: without a path from the moved operation's job successor to its new
    predecessor (forward) or from its new successor to its job predecessor (backward), the
    move keeps the graph acyclic; tails and ends tell when no such path can exist."""
    if forward:
        return bool(tail[ops[b]] < tail[js[ops[a]]])
    return bool(end[ops[a]] < end[jp[ops[b]]])


@njit
def _reordered(ops: Ints, a: int, b: int, forward: bool, t: int) -> int:
    """The ``t``-th operation of the segment ``ops[a..b]`` in its order after the move."""
    if forward:
        return int(ops[a + 1 + t] if t < b - a else ops[a])
    return int(ops[b] if t == 0 else ops[a + t - 1])


@njit
def _segment_path(g: Graph, ops: Ints, heads: Ints, a: int, b: int, forward: bool) -> int:
    """The longest path through the operations of ``ops[a..b]`` in their order after the move,
    from the current ends and tails; ``heads`` is room for their starts.

    Either way the reordered segment runs from ``ops[a]``'s machine predecessor to
    ``ops[b]``'s machine successor.
    """
    end, tail, dur, jp, js = g.end, g.tail, g.dur, g.jp, g.js
    length = b - a + 1
    e = end[g.mp[ops[a]]]
    for t in range(length):
        x = _reordered(ops, a, b, forward, t)
        h = max(end[jp[x]], e)
        heads[t] = h
        e = h + dur[x]
    after = tail[g.ms[ops[b]]]
    longest = 0
    for t in range(length - 1, -1, -1):
        x = _reordered(ops, a, b, forward, t)
        after = max(tail[js[x]], after) + dur[x]
        longest = max(longest, heads[t] + after)
    return int(longest)


@njit
def _passed(ops: Ints, a: int, b: int, forward: bool) -> tuple[int, int, int]:
    """``(x, lo, hi)``: the moved operation ``x`` passes ``ops[lo:hi]``."""
    if forward:
        return int(ops[a]), a + 1, b + 1
    return int(ops[b]), a, b


@njit
def _pair_key(stride: int, x: int, other: int, x_first: bool) -> int:
    """The tabu key of "``x`` before ``other``" (or after it, ``x_first=False``)."""
    return x * stride + other if x_first else other * stride + x


@njit
def _expiry(keys: Ints, expiry: Ints, stride: int, ops: Ints, a: int, b: int, forward: bool) -> int:
    """When the move stops being tabu: the latest expiry of the pair orders it creates (the
    moved operation after those it passes forward, before them backward)."""
    x, lo, hi = _passed(ops, a, b, forward)
    latest = 0
    for t in range(lo, hi):
        latest = max(latest, _lookup(keys, expiry, _pair_key(stride, x, ops[t], not forward)))
    return latest


# --------------------------------------------------------------------------- choice


@njit
def _is_banned(banned: Ints, count: int, x: int, pred: int, succ: int) -> bool:
    """Whether ``banned[:count]`` holds the relocation ``(x, pred, succ)``."""
    for k in range(count):
        if banned[k, 0] == x and banned[k, 1] == pred and banned[k, 2] == succ:
            return True
    return False


@njit
def ban(moves: Moves) -> None:
    """Skip the chosen move until the schedule changes (it would close a cycle)."""
    k = moves.state[_BANNED]
    _copy(moves.banned[k], moves.chosen[:3])
    moves.state[_BANNED] = k + 1


@njit
def unban_all(moves: Moves) -> None:
    """The schedule changed: every move may be tried again."""
    moves.state[_BANNED] = 0


@njit
def _keep(state: Ints, tied: Ints, move: Ints, est: int, expiry: int, it: int, best: int) -> None:
    """Keep a scored move among the best allowed ones, or as the fallback when it is tabu
    (the one expiring first); a tabu move is allowed when it would beat ``best``."""
    if expiry > it and est >= best:
        if state[_FALLBACK_EXPIRY] == 0 or expiry < state[_FALLBACK_EXPIRY]:
            state[_FALLBACK_EXPIRY] = expiry
            _copy(state[_FALLBACK : _FALLBACK + 3], move)
        return
    if est < state[_BEST_EST] or state[_BEST_EST] < 0:
        state[_BEST_EST] = est
        state[_TIED] = 0
    elif est > state[_BEST_EST]:
        return
    _copy(tied[state[_TIED]], move)
    state[_TIED] += 1


@njit
def choose_move(
    g: Graph, path: Path, moves: Moves, table: TabuTable, it: int, best: int, mt: Ints
) -> bool:
    """Best allowed N7 move of ``path`` into ``moves.chosen``; False when there is none.

    A move that creates a pair order whose key has not expired by iteration ``it`` is tabu,
    unless it would beat ``best`` (aspiration). Ties are broken at random; if every move is
    tabu, the one expiring first is chosen.
    """
    ops, block, state = path.ops, moves.block, moves.state
    stride = g.order.shape[0] + 1
    state[_BEST_EST] = -1
    state[_TIED] = 0
    state[_FALLBACK_EXPIRY] = 0
    blocks = path.size[0]
    for k in range(blocks):
        first = path.start[k]
        count = _block_moves(block, first, path.start[k + 1] - first, k == 0, k == blocks - 1)
        for c in range(count):
            a, b, forward = block[c, 0], block[c, 1], block[c, 2] != 0
            if _may_close_cycle(g.end, g.tail, g.jp, g.js, ops, a, b, forward):
                continue
            if state[_BANNED]:
                x, pred, succ = _endpoints(g.mp, g.ms, ops, a, b, forward)
                if _is_banned(moves.banned, state[_BANNED], x, pred, succ):
                    continue
            est = _segment_path(g, ops, moves.heads, a, b, forward)
            expiry = _expiry(table.keys, table.expiry, stride, ops, a, b, forward)
            _keep(state, moves.tied, block[c], est, expiry, it, best)
    return _pick(g, path, moves, mt)


@njit
def _pick(g: Graph, path: Path, moves: Moves, mt: Ints) -> bool:
    """The kept move into ``moves.chosen``: a random one of the best, else the fallback."""
    state = moves.state
    if state[_TIED] > 0:
        move = moves.tied[0 if state[_TIED] == 1 else randbelow(mt, state[_TIED])]
    elif state[_FALLBACK_EXPIRY] > 0:
        move = state[_FALLBACK : _FALLBACK + 3]
    else:
        return False
    x, pred, succ = _endpoints(g.mp, g.ms, path.ops, move[0], move[1], move[2] != 0)
    moves.chosen[MOVED] = x
    moves.chosen[NEW_PRED] = pred
    moves.chosen[NEW_SUCC] = succ
    _copy(moves.chosen[_MOVE : _MOVE + 3], move)
    return True


@njit
def forbid_undo(g: Graph, path: Path, moves: Moves, table: TabuTable, expiry: int) -> None:
    """Make restoring the pair orders the chosen move destroyed tabu until ``expiry``."""
    stride = g.order.shape[0] + 1
    keys, until, used = table.keys, table.expiry, table.used
    forward = moves.chosen[_MOVE + 2] != 0
    x, lo, hi = _passed(path.ops, moves.chosen[_MOVE], moves.chosen[_MOVE + 1], forward)
    for t in range(lo, hi):
        _store(keys, until, used, _pair_key(stride, x, path.ops[t], forward), expiry)


# ---------------------------------------------------------------------------- the iteration loop


@njit
def run_slice(
    g: Graph,
    best: Snapshot,
    path: Path,
    moves: Moves,
    table: TabuTable,
    mt: Ints,
    counters: Ints,
    parameters: Ints,
    iterations: int,
) -> int:
    """Up to ``iterations`` iterations of the search; why it stopped, or ``RUNNING``."""
    for _ in range(iterations):
        status = _stop_reason(counters, parameters)
        if status == RUNNING and not _has_room(table, counters, parameters):
            status = TABLE_FULL
        if status == RUNNING:
            status = _iterate(g, best, path, moves, table, mt, counters, parameters)
        if status != RUNNING:
            return status
    return RUNNING


@njit
def _stop_reason(counters: Ints, parameters: Ints) -> int:
    """Why the search ends before the next iteration, or ``RUNNING``."""
    if counters[BEST] <= parameters[_LOWER_BOUND]:
        return AT_BOUND
    if counters[ITERATION] - counters[_LAST_IMPROVEMENT] >= parameters[_MAX_STALL]:
        return STALLED
    if counters[ITERATION] == parameters[_IT_CAP]:
        return CAPPED
    return RUNNING


@njit
def _has_room(table: TabuTable, counters: Ints, parameters: Ints) -> bool:
    """Whether the tabu table keeps under half full after one more move, once the expired
    keys are gone (a fuller table probes too long)."""
    half = table.keys.shape[0] // 2
    if table.used[0] + parameters[_ROOM] <= half:
        return True
    tabu_purge(table, counters[ITERATION])
    return bool(table.used[0] + parameters[_ROOM] <= half)


@njit
def _iterate(
    g: Graph,
    best: Snapshot,
    path: Path,
    moves: Moves,
    table: TabuTable,
    mt: Ints,
    counters: Ints,
    parameters: Ints,
) -> int:
    """One iteration: a restart after a long stall, else the best allowed move."""
    counters[ITERATION] += 1
    it = counters[ITERATION]
    if it - max(counters[_LAST_IMPROVEMENT], counters[_LAST_RESTART]) > parameters[_RESTART_AFTER]:
        _restart(g, best, path, moves, table, mt)
        counters[_LAST_RESTART] = it
        return RUNNING
    critical_path(g, path, mt)
    if path.size[0] == 1:
        return ONE_BLOCK  # one block from time 0 to the makespan: no schedule is shorter
    if not choose_move(g, path, moves, table, it, counters[BEST], mt):
        return NO_MOVE
    if not relocate(g, moves.chosen[MOVED], moves.chosen[NEW_PRED], moves.chosen[NEW_SUCC]):
        ban(moves)  # possible only with zero durations: skip it until the schedule changes
        return RUNNING
    unban_all(moves)
    tenure = parameters[_TENURE] + randbelow(mt, parameters[_TENURE_SPREAD])
    forbid_undo(g, path, moves, table, it + tenure)
    current = makespan(g)
    if current < counters[BEST]:
        counters[BEST] = current
        counters[_LAST_IMPROVEMENT] = it
        save(g, best)
    return RUNNING


@njit
def _restart(
    g: Graph, best: Snapshot, path: Path, moves: Moves, table: TabuTable, mt: Ints
) -> None:
    """Back to the best schedule, perturbed by a few random swaps on its critical path."""
    restore(g, best)
    for _ in range(2 + randbelow(mt, 4)):
        critical_path(g, path, mt)
        count = _swap_count(g, path)
        if count == 0:
            break
        p = _nth_swap(g, path, randbelow(mt, count))
        v = path.ops[p + 1]
        relocate(g, path.ops[p], v, g.ms[v])
    tabu_clear(table)
    unban_all(moves)


@njit
def _swappable(g: Graph, path: Path, p: int, block_end: int) -> bool:
    """Whether ``ops[p]`` and ``ops[p + 1]`` are adjacent in a block and not a job arc."""
    return p + 1 < block_end and g.js[path.ops[p]] != path.ops[p + 1]


@njit
def _swap_count(g: Graph, path: Path) -> int:
    """How many adjacent pairs of the critical blocks can be swapped (N1)."""
    count = 0
    for k in range(path.size[0]):
        for p in range(path.start[k], path.start[k + 1]):
            count += _swappable(g, path, p, path.start[k + 1])
    return count


@njit
def _nth_swap(g: Graph, path: Path, pick: int) -> int:
    """Path position of the first operation of the ``pick``-th swappable pair."""
    for k in range(path.size[0]):
        for p in range(path.start[k], path.start[k + 1]):
            if _swappable(g, path, p, path.start[k + 1]):
                if pick == 0:
                    return p
                pick -= 1
    return -1
