"""The compiled (numba) core of the RCPSP search: schedule-generation on a time-indexed resource
profile, forward-backward improvement and a genetic algorithm over activity lists. State lives
in numpy arrays grouped in named tuples; :mod:`.evolve` builds them and drives the loop in
short slices, so that the clock and stop requests are honoured.

Every kernel is in this one file on purpose: numba's on-disk cache (``cache=True``) is keyed by
the source file of the function it compiles, not by its callees (see ``models/jssp/kernels``).

**Problem.** Activities are numbered by their position in the instance. ``free0[k, t]`` is the
capacity of resource ``k`` at time ``t`` (0 inside a downtime period); disjunctive pairs are
extra unit resources. The temporal network is kept as difference arcs ``S_j >= S_i + w`` in
both directions (``out_*`` leaving ``i``, ``in_*`` entering ``j``); ``succ_*``/``pred_*`` is
the *list order*: the precedences and positive minimum lags, acyclic, which every activity list
respects. An instance is *simple* when every arc follows the list order and no activity has a
deadline: then the windows need only be pushed one arc from each placed activity (PSPLIB); in
general they are propagated along every arc after each placement (label-correcting), and a
window that empties makes the decoding fail (maximum lags, deadlines).

**Schedule generation** (:func:`sgs`): the serial scheme, forwards (each activity at its
earliest start that resources and window allow: an *active* schedule) or backwards (each at its
latest start that ends by a horizon). The next activity is the eligible one (every list
predecessor placed; backwards: every list successor) of least key, from a binary heap, so any
key vector gives a feasible order; an activity list gives keys ``0, 1, 2, ...``. A candidate
start is checked against the profile from its far end, and a conflict at ``tau`` moves the next
candidate past it.

**Forward-backward improvement** (:func:`decode`, Valls, Ballestín & Quintanilla 2005):
backwards in order of decreasing finish, then forwards in order of increasing start of the
backward schedule; repeated while the makespan shrinks. A forward pass never ends later than
the backward schedule it follows (each activity fits at its backward start, by induction), so
the result is never worse than the first decoding. The activity list is replaced by the order
in which the last forward pass placed its activities (the "Lamarckian" list), which decodes to
the same schedule.

**Genetic algorithm** (:func:`evolve`, after Hartmann 1998 and Valls et al. 2008): a population
of decoded, justified activity lists; each child comes from two parents chosen by binary
tournament, by two-point crossover (the mother's head, then the father's order for a middle
part, then the mother's order) or by peak crossover (the activities of the mother's most loaded
time window keep their mother order, the rest the father's), then by shift mutation (an
activity moved to a random place between its last list predecessor and its first list
successor). The next generation is the best distinct schedules of parents and children. After
a long stall the population is rebuilt around the best list by mutation.

**Random draws** come from a xorshift generator whose state is one int64 (:func:`new_stream`),
so a seed gives the same search in any thread.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from makespan.models.jit import njit

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]

FAILED = -1
"""What :func:`sgs` and :func:`decode` return when a window runs out of room."""

WORSE = 1 << 60
"""The fitness of a list that does not decode."""

# Entries of Problem.flags.
SIMPLE, HORIZON = 0, 1
_FLAGS = HORIZON + 1

# Entries of the counters array (see new_counters).
BEST, GENERATION, SCHEDULES, LAST_IMPROVEMENT, IMPROVED, RESTARTS, MADE = range(7)
_COUNTERS = MADE + 1

# Entries of the parameters array (see new_parameters).
TARGET, MUTATION, PEAK_SHARE, RESTART_AFTER, JUSTIFY_ROUNDS = range(5)
_PARAMETERS = JUSTIFY_ROUNDS + 1

# What a slice of generations ended with.
RUNNING, AT_TARGET, NO_SCHEDULE = range(3)

_MASK57 = (1 << 57) - 1
_MASK53 = (1 << 53) - 1


class Problem(NamedTuple):
    """An instance as the kernels read it (``n`` activities, ``K`` resources, ``H`` times)."""

    dur: Ints
    """Durations."""
    es: Ints
    """Earliest starts of the temporal network."""
    ls: Ints
    """Latest starts under the deadlines, each ending by the horizon."""
    out_ptr: Ints
    """``n + 1``: arcs leaving ``i`` are ``out_to/out_w[out_ptr[i]:out_ptr[i + 1]]``."""
    out_to: Ints
    out_w: Ints
    in_ptr: Ints
    """``n + 1``: arcs entering ``j`` are ``in_from/in_w[in_ptr[j]:in_ptr[j + 1]]``."""
    in_from: Ints
    in_w: Ints
    succ_ptr: Ints
    """``n + 1``: list-order successors ``succ_to[succ_ptr[i]:succ_ptr[i + 1]]``."""
    succ_to: Ints
    pred_ptr: Ints
    """``n + 1``: list-order predecessors ``pred_from[pred_ptr[j]:pred_ptr[j + 1]]``."""
    pred_from: Ints
    res_ptr: Ints
    """``n + 1``: demands ``res_k/res_q[res_ptr[i]:res_ptr[i + 1]]`` (positive, of activities
    with a duration)."""
    res_k: Ints
    res_q: Ints
    free0: Ints
    """``(K, H)``: capacity of each resource at each time."""
    flags: Ints
    """:data:`SIMPLE` (1 or 0), :data:`HORIZON` (``H``)."""


class Work(NamedTuple):
    """Scratch of one decoding."""

    free: Ints
    """``(K, H)``: the capacity left."""
    early: Ints
    late: Ints
    start: Ints
    waiting: Ints
    heap: Ints
    key: Ints
    queue: Ints
    queued: Ints
    placed: Ints
    """The activities in the order the last pass placed them."""
    back: Ints
    """The backward schedule's starts, during :func:`decode`."""
    keep: Ints
    """The best starts of :func:`decode`."""
    keep_list: Ints
    """Their placement order."""


class Population(NamedTuple):
    """The genetic algorithm's state (``P`` lists of ``n`` activities, ``C`` children)."""

    lists: Ints
    """``(P + C, n)``: the population's lists, then room for the children."""
    fitness: Ints
    """``P + C`` makespans (:data:`WORSE` when a list does not decode)."""
    hashes: Ints
    """``P + C`` fingerprints of the schedules, to keep the population distinct."""
    starts: Ints
    """``(P + C, n)``: the schedules."""
    rank: Ints
    """Scratch for the selection."""
    best_list: Ints
    best_start: Ints
    child: Ints
    """Scratch, ``n``: the child being built."""
    used: Ints
    """Scratch, ``n``: activities already in the child."""
    size: Ints
    """One entry: ``P``."""


def new_problem(
    dur: Ints,
    es: Ints,
    ls: Ints,
    arcs: Ints,
    order: Ints,
    demands: Ints,
    free0: Ints,
    simple: bool,
) -> Problem:
    """A problem from ``arcs`` (rows ``i, j, w``), the list ``order`` (rows ``i, j``) and the
    ``demands`` (rows ``i, k, q``)."""
    n = dur.shape[0]
    out_ptr, (out_to, out_w) = _csr(n, arcs[:, 0], (arcs[:, 1], arcs[:, 2]))
    in_ptr, (in_from, in_w) = _csr(n, arcs[:, 1], (arcs[:, 0], arcs[:, 2]))
    succ_ptr, (succ_to,) = _csr(n, order[:, 0], (order[:, 1],))
    pred_ptr, (pred_from,) = _csr(n, order[:, 1], (order[:, 0],))
    res_ptr, (res_k, res_q) = _csr(n, demands[:, 0], (demands[:, 1], demands[:, 2]))
    flags = np.zeros(_FLAGS, dtype=np.int64)
    flags[SIMPLE] = int(simple)
    flags[HORIZON] = free0.shape[1]
    return Problem(
        dur.astype(np.int64),
        es.astype(np.int64),
        ls.astype(np.int64),
        out_ptr,
        out_to,
        out_w,
        in_ptr,
        in_from,
        in_w,
        succ_ptr,
        succ_to,
        pred_ptr,
        pred_from,
        res_ptr,
        res_k,
        res_q,
        np.ascontiguousarray(free0, dtype=np.int64),
        flags,
    )


def _csr(n: int, rows: Ints, columns: tuple[Ints, ...]) -> tuple[Ints, tuple[Ints, ...]]:
    """Compressed rows: ``ptr`` (``n + 1``) and each column sorted by row (stable)."""
    rows = np.asarray(rows, dtype=np.int64)
    by_row = np.argsort(rows, kind="stable")
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=ptr[1:])
    return ptr, tuple(np.asarray(c, dtype=np.int64)[by_row] for c in columns)


def new_work(problem: Problem) -> Work:
    """Scratch for decoding lists of ``problem``."""
    n = problem.dur.shape[0]

    def ints() -> Ints:
        return np.zeros(n, dtype=np.int64)

    return Work(
        free=problem.free0.copy(),
        early=ints(),
        late=ints(),
        start=ints(),
        waiting=ints(),
        heap=ints(),
        key=ints(),
        queue=np.zeros(n + 1, dtype=np.int64),
        queued=ints(),
        placed=ints(),
        back=ints(),
        keep=ints(),
        keep_list=ints(),
    )


def new_population(size: int, children: int, n: int) -> Population:
    """Room for ``size`` lists and ``children`` more."""
    total = size + children
    return Population(
        lists=np.zeros((total, n), dtype=np.int64),
        fitness=np.full(total, WORSE, dtype=np.int64),
        hashes=np.zeros(total, dtype=np.int64),
        starts=np.zeros((total, n), dtype=np.int64),
        rank=np.zeros(total, dtype=np.int64),
        best_list=np.zeros(n, dtype=np.int64),
        best_start=np.zeros(n, dtype=np.int64),
        child=np.zeros(n, dtype=np.int64),
        used=np.zeros(n, dtype=np.int64),
        size=np.array([size], dtype=np.int64),
    )


def new_counters() -> Ints:
    """The search's counters before its first generation."""
    counters = np.zeros(_COUNTERS, dtype=np.int64)
    counters[BEST] = WORSE
    return counters


def new_parameters(
    *, target: int, mutation: float, peak_share: float, restart_after: int, justify_rounds: int
) -> Floats:
    """Stop at makespan ``target``; per-child probability of a shift ``mutation``; share of
    children made by peak crossover; rebuild after ``restart_after`` generations without
    improvement; at most ``justify_rounds`` backward-forward passes per decoding."""
    values = np.zeros(_PARAMETERS, dtype=np.float64)
    values[TARGET] = target
    values[MUTATION] = mutation
    values[PEAK_SHARE] = peak_share
    values[RESTART_AFTER] = restart_after
    values[JUSTIFY_ROUNDS] = justify_rounds
    return values


def new_stream(seed: int) -> Ints:
    """A xorshift state for ``seed`` (never zero)."""
    state = (seed * 0x9E3779B97F4A7C15 + 0x2545F4914F6CDD1D) & ((1 << 63) - 1)
    return np.array([state or 1], dtype=np.int64)


# --------------------------------------------------------------------------- random draws


@njit
def _next(rng: Ints) -> int:
    """53 random bits (xorshift64 on an int64, with logical right shifts)."""
    x = rng[0]
    x ^= x << 13
    x ^= (x >> 7) & _MASK57
    x ^= x << 17
    rng[0] = x
    return int((x >> 11) & _MASK53)


@njit
def below(rng: Ints, k: int) -> int:
    """A random integer in ``[0, k)``, ``k >= 1``."""
    return int(_next(rng) % k)


@njit
def uniform(rng: Ints) -> float:
    """A random float in ``[0, 1)``."""
    return _next(rng) / 9007199254740992.0


# --------------------------------------------------------------------------- the heap


@njit
def _push(heap: Ints, key: Ints, size: int, item: int) -> int:
    """Add ``item`` to the min-heap on ``key`` of ``size`` items; the new size."""
    k = size
    while k > 0:
        parent = (k - 1) >> 1
        if key[heap[parent]] <= key[item]:
            break
        heap[k] = heap[parent]
        k = parent
    heap[k] = item
    return size + 1


@njit
def _pop(heap: Ints, key: Ints, size: int) -> int:
    """Remove and return the least item of a heap of ``size >= 1`` items."""
    top = heap[0]
    size -= 1
    item = heap[size]
    k = 0
    while True:
        child = 2 * k + 1
        if child >= size:
            break
        if child + 1 < size and key[heap[child + 1]] < key[heap[child]]:
            child += 1
        if key[item] <= key[heap[child]]:
            break
        heap[k] = heap[child]
        k = child
    if size > 0:
        heap[k] = item
    return int(top)


# --------------------------------------------------------------------------- placement


@njit
def _earliest_fit(
    free: Ints, res_k: Ints, res_q: Ints, lo: int, hi: int, p: int, t: int, last: int
) -> int:
    """The earliest start in ``[t, last]`` of an activity of duration ``p > 0`` with demands
    ``lo:hi`` that the capacity ``free`` leaves room for; :data:`FAILED` when none."""
    while t <= last:
        conflict = -1
        for r in range(lo, hi):
            k = res_k[r]
            q = res_q[r]
            tau = t + p - 1
            while tau >= t and tau > conflict:
                if free[k, tau] < q:
                    conflict = tau
                    break
                tau -= 1
        if conflict < 0:
            return t
        t = conflict + 1
    return FAILED


@njit
def _latest_fit(
    free: Ints, res_k: Ints, res_q: Ints, lo: int, hi: int, p: int, t: int, first: int
) -> int:
    """The latest start in ``[first, t]`` that ``free`` leaves room for; :data:`FAILED`."""
    horizon = free.shape[1]
    while t >= first:
        conflict = horizon
        for r in range(lo, hi):
            k = res_k[r]
            q = res_q[r]
            tau = t
            while tau < t + p and tau < conflict:
                if free[k, tau] < q:
                    conflict = tau
                    break
                tau += 1
        if conflict == horizon:
            return t
        t = conflict - p
    return FAILED


@njit
def _propagate(
    problem: Problem, origin: int, early: Ints, late: Ints, queue: Ints, queued: Ints
) -> bool:
    """Restore ``early[j] >= early[i] + w`` and ``late[i] <= late[j] - w`` over every arc from
    ``origin``'s change on; False when a window empties (or a positive cycle keeps labels
    rising)."""
    out_ptr, out_to, out_w = problem.out_ptr, problem.out_to, problem.out_w
    in_ptr, in_from, in_w = problem.in_ptr, problem.in_from, problem.in_w
    n = early.shape[0]
    size = queue.shape[0]
    for direction in range(2):
        head = 0
        tail = 1
        queue[0] = origin
        queued[origin] = 1
        pops = 0
        while head != tail:
            i = queue[head]
            head = (head + 1) % size
            queued[i] = 0
            pops += 1
            if pops > n * n + n:
                return False
            if direction == 0:
                tail = _relax(i, out_ptr, out_to, out_w, 1, early, late, queue, queued, head, tail)
            else:
                tail = _relax(i, in_ptr, in_from, in_w, -1, late, early, queue, queued, head, tail)
            if tail < 0:
                return False
    return True


@njit
def _relax(
    i: int,
    ptr: Ints,
    neighbour: Ints,
    weight: Ints,
    sign: int,
    label: Ints,
    limit: Ints,
    queue: Ints,
    queued: Ints,
    head: int,
    tail: int,
) -> int:
    """Push ``i``'s label along its arcs, one direction for both passes: ``sign`` 1 raises
    earliest starts (``label`` early, ``limit`` late), -1 lowers latest starts (``label`` late,
    ``limit`` early). Queues what changed; the new queue tail, or -1 (the queue cleared) when
    a window empties."""
    size = queue.shape[0]
    for a in range(ptr[i], ptr[i + 1]):
        j = neighbour[a]
        value = label[i] + sign * weight[a]
        if sign * (value - label[j]) > 0:
            label[j] = value
            if sign * (value - limit[j]) > 0:
                _clear(queue, queued, head, tail)
                return -1
            if queued[j] == 0:
                queued[j] = 1
                queue[tail] = j
                tail = (tail + 1) % size
    return tail


@njit
def _clear(queue: Ints, queued: Ints, head: int, tail: int) -> None:
    size = queue.shape[0]
    while head != tail:
        queued[queue[head]] = 0
        head = (head + 1) % size


@njit
def propagate_all(problem: Problem, early: Ints, late: Ints, queue: Ints, queued: Ints) -> bool:
    """Windows ``[early, late]`` consistent along every arc (:func:`_propagate` from every
    activity); False when one empties. ``queue`` holds n + 1 entries, ``queued`` n zeros."""
    for i in range(early.shape[0]):
        if early[i] > late[i]:
            return False
        if not _propagate(problem, i, early, late, queue, queued):
            return False
    return True


@njit
def sgs(problem: Problem, work: Work, key: Ints, backward: bool, horizon: int) -> int:
    """Serial schedule generation in ``key`` order (least first among the eligible), into
    ``work.start`` (and ``work.placed``); forwards, or backwards ending by ``horizon``.

    Returns the makespan (forwards) or ``horizon`` (backwards), :data:`FAILED` when a window
    runs out of room.
    """
    dur = problem.dur
    n = dur.shape[0]
    simple = problem.flags[SIMPLE] == 1
    free = work.free
    early = work.early
    late = work.late
    start = work.start
    waiting = work.waiting
    heap = work.heap
    free[:, :] = problem.free0
    for i in range(n):
        early[i] = problem.es[i]
        late[i] = problem.ls[i]
        if backward and late[i] > horizon - dur[i]:
            late[i] = horizon - dur[i]
    if backward and not simple and not propagate_all(problem, early, late, work.queue, work.queued):
        return FAILED
    size = 0
    for i in range(n):
        if backward:
            waiting[i] = problem.succ_ptr[i + 1] - problem.succ_ptr[i]
        else:
            waiting[i] = problem.pred_ptr[i + 1] - problem.pred_ptr[i]
        if waiting[i] == 0:
            size = _push(heap, key, size, i)
    count = 0
    while size > 0:
        i = _pop(heap, key, size)
        size -= 1
        p = dur[i]
        lo = problem.res_ptr[i]
        hi = problem.res_ptr[i + 1]
        if early[i] > late[i]:
            return FAILED
        if backward:
            t = (
                late[i]
                if p == 0 or lo == hi
                else _latest_fit(free, problem.res_k, problem.res_q, lo, hi, p, late[i], early[i])
            )
        else:
            t = (
                early[i]
                if p == 0 or lo == hi
                else _earliest_fit(free, problem.res_k, problem.res_q, lo, hi, p, early[i], late[i])
            )
        if t == FAILED:
            return FAILED
        start[i] = t
        for r in range(lo, hi):
            k = problem.res_k[r]
            q = problem.res_q[r]
            for tau in range(t, t + p):
                free[k, tau] -= q
        early[i] = t
        late[i] = t
        if simple:
            if backward:
                for a in range(problem.in_ptr[i], problem.in_ptr[i + 1]):
                    j = problem.in_from[a]
                    if t - problem.in_w[a] < late[j]:
                        late[j] = t - problem.in_w[a]
            else:
                for a in range(problem.out_ptr[i], problem.out_ptr[i + 1]):
                    j = problem.out_to[a]
                    if t + problem.out_w[a] > early[j]:
                        early[j] = t + problem.out_w[a]
        elif not _propagate(problem, i, early, late, work.queue, work.queued):
            return FAILED
        work.placed[count] = i
        count += 1
        if backward:
            for a in range(problem.pred_ptr[i], problem.pred_ptr[i + 1]):
                j = problem.pred_from[a]
                waiting[j] -= 1
                if waiting[j] == 0:
                    size = _push(heap, key, size, j)
        else:
            for a in range(problem.succ_ptr[i], problem.succ_ptr[i + 1]):
                j = problem.succ_to[a]
                waiting[j] -= 1
                if waiting[j] == 0:
                    size = _push(heap, key, size, j)
    if count < n:
        return FAILED
    if backward:
        return horizon
    makespan = 0
    for i in range(n):
        if start[i] + dur[i] > makespan:
            makespan = start[i] + dur[i]
    return makespan


@njit
def decode(problem: Problem, work: Work, activity_list: Ints, rounds: int, counters: Ints) -> int:
    """Decode ``activity_list`` forwards, then justify (up to ``rounds`` backward-forward
    passes while the makespan shrinks). The best schedule is left in ``work.keep`` and the
    order that decodes to it in ``work.keep_list``; returns its makespan or :data:`FAILED`.
    ``counters[SCHEDULES]`` counts the passes."""
    n = activity_list.shape[0]
    key = work.key
    dur = problem.dur
    for k in range(n):
        key[activity_list[k]] = k
    best = sgs(problem, work, key, False, 0)
    counters[SCHEDULES] += 1
    if best == FAILED:
        return FAILED
    work.keep[:] = work.start
    work.keep_list[:] = work.placed
    for _ in range(rounds):
        # Backwards: latest finish first (ties: placed later first).
        for k in range(n):
            i = work.keep_list[k]
            key[i] = -((work.keep[i] + dur[i]) * (n + 1) + k)
        done = sgs(problem, work, key, True, best)
        counters[SCHEDULES] += 1
        if done == FAILED:
            break
        work.back[:] = work.start
        # Forwards: earliest backward start first (ties: placed later backwards first).
        for k in range(n):
            i = work.placed[k]
            key[i] = work.back[i] * (n + 1) + (n - k)
        found = sgs(problem, work, key, False, 0)
        counters[SCHEDULES] += 1
        if found == FAILED or found > best:
            break
        improved = found < best
        best = found
        work.keep[:] = work.start
        work.keep_list[:] = work.placed
        if not improved:
            break
    return best


# --------------------------------------------------------------------------- lists


@njit
def random_list(problem: Problem, weight: Floats, rng: Ints, out: Ints, waiting: Ints) -> None:
    """A random list that respects the list order, drawing each next activity among the
    eligible ones with probability proportional to ``weight`` (regret-based biased sampling
    when ``weight`` is a regret plus one)."""
    n = out.shape[0]
    eligible = np.empty(n, dtype=np.int64)
    count = 0
    for i in range(n):
        waiting[i] = problem.pred_ptr[i + 1] - problem.pred_ptr[i]
        if waiting[i] == 0:
            eligible[count] = i
            count += 1
    for k in range(n):
        total = 0.0
        for e in range(count):
            total += weight[eligible[e]]
        pick = uniform(rng) * total
        chosen = count - 1
        for e in range(count):
            pick -= weight[eligible[e]]
            if pick < 0.0:
                chosen = e
                break
        i = eligible[chosen]
        eligible[chosen] = eligible[count - 1]
        count -= 1
        out[k] = i
        for a in range(problem.succ_ptr[i], problem.succ_ptr[i + 1]):
            j = problem.succ_to[a]
            waiting[j] -= 1
            if waiting[j] == 0:
                eligible[count] = j
                count += 1


@njit
def two_point(mother: Ints, father: Ints, child: Ints, used: Ints, rng: Ints) -> None:
    """Hartmann's two-point crossover: the mother's head up to ``q1``, the father's order up
    to ``q2``, then the mother's order."""
    n = mother.shape[0]
    q1 = below(rng, n + 1)
    q2 = below(rng, n + 1)
    if q1 > q2:
        q1, q2 = q2, q1
    used[:] = 0
    k = _fill(mother, child, used, 0, q1)
    k = _fill(father, child, used, k, q2)
    _fill(mother, child, used, k, n)


@njit
def _fill(source: Ints, child: Ints, used: Ints, k: int, until: int) -> int:
    """Append ``source``'s activities not yet in ``child``, in ``source``'s order, from
    position ``k`` until ``child`` holds ``until``; the next free position."""
    s = 0
    while k < until:
        while used[source[s]] == 1:
            s += 1
        child[k] = source[s]
        used[source[s]] = 1
        k += 1
    return k


@njit
def peak(
    problem: Problem,
    mother: Ints,
    mother_start: Ints,
    father: Ints,
    child: Ints,
    used: Ints,
    rng: Ints,
) -> None:
    """Peak crossover: the activities that start inside a random window of the mother's
    schedule keep the mother's order and come first among their peers where the mother placed
    them; every other activity follows the father's order. Built as a merge that respects the
    list order: at each step the next activity is the first eligible one of the mother's
    window, else of the father's list."""
    n = mother.shape[0]
    dur = problem.dur
    makespan = 0
    for i in range(n):
        if mother_start[i] + dur[i] > makespan:
            makespan = mother_start[i] + dur[i]
    width = 1 + below(rng, max(1, makespan // 4))
    lo = below(rng, max(1, makespan - width + 1))
    hi = lo + width
    # used: 0 free, 1 placed; the window's activities are taken in mother order when eligible.
    used[:] = 0
    waiting = np.empty(n, dtype=np.int64)
    for i in range(n):
        waiting[i] = problem.pred_ptr[i + 1] - problem.pred_ptr[i]
    m = 0
    f = 0
    k = 0
    while k < n:
        chosen = -1
        # The next window activity of the mother, when every list predecessor is in.
        mm = m
        while mm < n:
            i = mother[mm]
            if used[i] == 0 and lo <= mother_start[i] < hi:
                if waiting[i] == 0:
                    chosen = i
                break
            mm += 1
        if chosen < 0:
            while used[father[f]] == 1:
                f += 1
            ff = f
            while ff < n:
                i = father[ff]
                if used[i] == 0 and waiting[i] == 0:
                    chosen = i
                    break
                ff += 1
        while m < n and used[mother[m]] == 1:
            m += 1
        used[chosen] = 1
        child[k] = chosen
        k += 1
        for a in range(problem.succ_ptr[chosen], problem.succ_ptr[chosen + 1]):
            waiting[problem.succ_to[a]] -= 1


@njit
def shift(problem: Problem, activity_list: Ints, position: Ints, rng: Ints) -> None:
    """Move one random activity to a random place between its last list predecessor and its
    first list successor (``position`` is scratch)."""
    n = activity_list.shape[0]
    if n < 2:
        return
    for k in range(n):
        position[activity_list[k]] = k
    at = below(rng, n)
    i = activity_list[at]
    first = 0
    for a in range(problem.pred_ptr[i], problem.pred_ptr[i + 1]):
        p = position[problem.pred_from[a]] + 1
        if p > first:
            first = p
    last = n - 1
    for a in range(problem.succ_ptr[i], problem.succ_ptr[i + 1]):
        s = position[problem.succ_to[a]] - 1
        if s < last:
            last = s
    if last <= first:
        return
    to = first + below(rng, last - first + 1)
    if to > at:
        for k in range(at, to):
            activity_list[k] = activity_list[k + 1]
    else:
        for k in range(at, to, -1):
            activity_list[k] = activity_list[k - 1]
    activity_list[to] = i


@njit
def _fingerprint(start: Ints) -> int:
    h = 1469598103934665603
    for s in start:
        h = (h ^ s) * 1099511628211
    return h


# --------------------------------------------------------------------------- the population


@njit
def seed_population(
    problem: Problem,
    work: Work,
    pop: Population,
    lists: Ints,
    weight: Floats,
    rng: Ints,
    counters: Ints,
    parameters: Floats,
    first: int,
    last: int,
) -> int:
    """Fill population slots ``first`` to ``last - 1`` with the decoded ``lists`` (rows, by
    slot), then with regret-biased random lists; how many decoded. :func:`select` orders the
    population once every slot is filled."""
    rounds = int(parameters[JUSTIFY_ROUNDS])
    n = problem.dur.shape[0]
    scratch = np.empty(n, dtype=np.int64)
    decoded = 0
    for s in range(first, last):
        row = pop.lists[s]
        if s < lists.shape[0]:
            row[:] = lists[s]
        else:
            random_list(problem, weight, rng, row, scratch)
        decoded += _evaluate(problem, work, pop, s, row, rounds, counters)
    return decoded


@njit
def _evaluate(
    problem: Problem, work: Work, pop: Population, slot: int, row: Ints, rounds: int, counters: Ints
) -> int:
    """Decode ``row`` into ``slot``; keep the best; 1 when it decoded."""
    value = decode(problem, work, row, rounds, counters)
    if value == FAILED:
        pop.fitness[slot] = WORSE
        pop.hashes[slot] = 0
        return 0
    pop.lists[slot, :] = work.keep_list
    pop.starts[slot, :] = work.keep
    pop.fitness[slot] = value
    pop.hashes[slot] = _fingerprint(work.keep)
    if value < counters[BEST]:
        counters[BEST] = value
        counters[LAST_IMPROVEMENT] = counters[GENERATION]
        counters[IMPROVED] = 1
        pop.best_list[:] = work.keep_list
        pop.best_start[:] = work.keep
    return 1


@njit
def select(pop: Population, total: int) -> None:
    """Keep the best distinct schedules among the first ``total`` slots in the first ``P``."""
    size = pop.size[0]
    order = np.argsort(pop.fitness[:total], kind="mergesort")
    kept = 0
    # Distinct first, then duplicates to fill up.
    taken = np.zeros(total, dtype=np.int64)
    for pick in range(2):
        for o in range(total):
            s = order[o]
            if kept >= size:
                break
            if taken[s] == 1:
                continue
            if pick == 0:
                duplicate = False
                for r in range(kept):
                    q = pop.rank[r]
                    if pop.hashes[q] == pop.hashes[s] and pop.fitness[q] == pop.fitness[s]:
                        duplicate = True
                        break
                if duplicate:
                    continue
            taken[s] = 1
            pop.rank[kept] = s
            kept += 1
    # Move the kept rows into slots 0..size-1 (through the child rows' room, in two steps).
    n = pop.lists.shape[1]
    lists = np.empty((size, n), dtype=np.int64)
    starts = np.empty((size, n), dtype=np.int64)
    fitness = np.empty(size, dtype=np.int64)
    hashes = np.empty(size, dtype=np.int64)
    for r in range(size):
        s = pop.rank[r]
        lists[r] = pop.lists[s]
        starts[r] = pop.starts[s]
        fitness[r] = pop.fitness[s]
        hashes[r] = pop.hashes[s]
    pop.lists[:size] = lists
    pop.starts[:size] = starts
    pop.fitness[:size] = fitness
    pop.hashes[:size] = hashes


@njit
def _tournament(pop: Population, rng: Ints) -> int:
    size = pop.size[0]
    a = below(rng, size)
    b = below(rng, size)
    return a if pop.fitness[a] <= pop.fitness[b] else b


@njit
def evolve(
    problem: Problem,
    work: Work,
    pop: Population,
    rng: Ints,
    counters: Ints,
    parameters: Floats,
    budget: int,
) -> int:
    """Make ``budget`` children (a generation ends after the population's ``C`` children, with
    the selection; a slice may end inside one), or stop at the target; the slice's status."""
    size = pop.size[0]
    children = pop.lists.shape[0] - size
    n = problem.dur.shape[0]
    rounds = int(parameters[JUSTIFY_ROUNDS])
    target = int(parameters[TARGET])
    position = np.empty(n, dtype=np.int64)
    for _ in range(budget):
        if counters[BEST] <= target:
            return AT_TARGET
        if counters[MADE] == 0:
            counters[GENERATION] += 1
            if counters[GENERATION] - counters[LAST_IMPROVEMENT] > parameters[RESTART_AFTER]:
                _rebuild(problem, work, pop, rng, counters, rounds, position)
                continue
        slot = size + counters[MADE]
        mother = _tournament(pop, rng)
        father = _tournament(pop, rng)
        if uniform(rng) < parameters[PEAK_SHARE]:
            peak(
                problem,
                pop.lists[mother],
                pop.starts[mother],
                pop.lists[father],
                pop.child,
                pop.used,
                rng,
            )
        else:
            two_point(pop.lists[mother], pop.lists[father], pop.child, pop.used, rng)
        if uniform(rng) < parameters[MUTATION]:
            shift(problem, pop.child, position, rng)
        _evaluate(problem, work, pop, slot, pop.child, rounds, counters)
        counters[MADE] += 1
        if counters[MADE] == children:
            select(pop, size + children)
            counters[MADE] = 0
    return AT_TARGET if counters[BEST] <= target else RUNNING


@njit
def _rebuild(
    problem: Problem,
    work: Work,
    pop: Population,
    rng: Ints,
    counters: Ints,
    rounds: int,
    position: Ints,
) -> None:
    """After a long stall: keep the best list, mutate copies of it for the rest."""
    size = pop.size[0]
    n = problem.dur.shape[0]
    counters[RESTARTS] += 1
    counters[LAST_IMPROVEMENT] = counters[GENERATION]
    row = np.empty(n, dtype=np.int64)
    pop.lists[0, :] = pop.best_list
    pop.starts[0, :] = pop.best_start
    pop.fitness[0] = counters[BEST]
    pop.hashes[0] = _fingerprint(pop.best_start)
    for s in range(1, size):
        row[:] = pop.best_list
        for _ in range(1 + below(rng, max(1, n // 4))):
            shift(problem, row, position, rng)
        _evaluate(problem, work, pop, s, row, rounds, counters)


@njit
def inject(
    problem: Problem, work: Work, pop: Population, row: Ints, counters: Ints, parameters: Floats
) -> int:
    """Decode ``row`` (a list found elsewhere) as the generation's next child; its makespan or
    :data:`FAILED`."""
    size = pop.size[0]
    slot = size + counters[MADE]  # the next child's slot: the children so far stay
    decoded = _evaluate(problem, work, pop, slot, row, int(parameters[JUSTIFY_ROUNDS]), counters)
    if decoded == 0:
        return FAILED
    value = pop.fitness[slot]
    counters[MADE] += 1
    if counters[MADE] == pop.lists.shape[0] - size:
        select(pop, pop.lists.shape[0])
        counters[MADE] = 0
    return int(value)
