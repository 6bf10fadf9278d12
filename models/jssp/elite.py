"""The classic job shop's own search (``backend="auto"``, between the warm start and the final
CP-SAT solve): the compiled tabu search of :mod:`.tabu` on every worker thread, restarted from
an elite pool by path relinking.

Minimise the makespan :math:`C_{\\max} = \\max_j C_j` (:math:`C_j` the end of job ``j``'s last
operation). Each thread runs tabu searches one after the other, each until
:func:`stall_iterations` iterations pass without improving its own best; its best schedule is
offered to a pool of at most :data:`POOL_SIZE` distinct schedules shared by all threads (the
worst leaves when a better one comes in). The first search of each thread starts from the
solve's incumbent (each thread with its own seed, hence its own tie-breaks and tenures); every
later one from a schedule part of the way between two pool members: path relinking (as in the
TS/PR of Peng, Lü & Cheng, 2015) swaps, one at a time and at random, adjacent operations of
the first schedule's machine sequences that the second orders the other way (a swap that would
close a cycle is skipped), for a share drawn in :data:`RELINK_SHARES` of the pairs the two
order differently. Every improvement of the best schedule is handed to the solve (checked,
streamed, checkpointed) from the calling thread. First the search proves a lower bound, the
destructive energetic bound of :mod:`.bounds` (within :data:`BOUND_SHARE` of its time; the
trivial bound, largest job or machine load, when the shop is too large to test): reaching it
proves the schedule optimal and ends the search, and it is the search's bound either way. On
small shops (:data:`STALL_MAX_OPERATIONS`) it also ends with nothing improved for
:data:`STALL_SHARE` of the time searched, handing the rest of its time to CP-SAT.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from makespan.models.jssp.bounds import energetic_bound
from makespan.models.jssp.dispatch import WarmStart
from makespan.models.jssp.instance import JobShopInstance, JobShopSolution
from makespan.models.jssp.kernels import Graph, relocate
from makespan.models.jssp.tabu import TabuRun, build_graph, kernels_ready
from makespan.models.jssp.workers import Budget, on_workers
from makespan.models.spec import SearchAnswer, ShouldStop

Ints = NDArray[np.int64]
Starts = tuple[tuple[int, ...], ...]

METHOD = "tabu-elite"

POOL_SIZE = 8
"""Most schedules the elite pool keeps."""

STALL_MIN_ITERATIONS = 10_000
STALL_ITERATIONS_PER_OPERATION = 50
"""One tabu search of the loop ends after ``max(STALL_MIN_ITERATIONS, per-operation * n)``
iterations without improving its own best."""

RELINK_SHARES = (0.25, 0.5)
"""The share of the differently ordered pairs a relinking step swaps, drawn uniformly in this
range: far enough from the first schedule to leave its valley, close enough to keep most of
its structure."""

STALL_SHARE = 0.5
MIN_STALL_S = 2.0
STALL_MAX_OPERATIONS = 225
"""On shops of at most ``STALL_MAX_OPERATIONS`` operations (15 x 15) the search ends once
nothing improved for ``STALL_SHARE`` of the time it searched, and at least ``MIN_STALL_S``:
there the final solve's CP-SAT proves optima within a minute (ta01) given the time. A cap on
top, ending the search after 30% of its budget at the latest, gave CP-SAT more time but no
more proofs and worse makespans (ft10, ta01-ta10 at 60 s, 2 workers: mean gap 0.34-0.36%
against 0.23% without; bench/README.md). On larger shops improvements come late (ta21: 1650
at 7 s, 1647 at 9 s; ta48: 1978 at 19 s, 1969 at 31 s; bench/README.md), and CP-SAT proves
little there, so the search keeps its time."""

STALL_CAP_SHARE = 1.0
"""On those shops the search ends after this share of its budget at the latest: 1, no cap (the
cap measured, 0.3, in ``bench/jssp_split.py``)."""

INCUMBENT, BEST, RELINKED = "incumbent", "best", "relinked"
"""Where a tabu search of the loop starts: the solve's incumbent (each thread's first), the
search's best (while the pool holds one schedule), a relinked pair of pool members."""

EXACT_MAX_OPERATIONS = 50
"""Shops of at most this many operations (ft06, la01-la05) are left to CP-SAT at once: it
proves them in milliseconds (ft06 in a 1 s solve: 0.18 s with the search's shortest stall,
less without), where the search would only wait for its stall rule."""

REPORT_S = 0.2
"""Seconds between two improvements handed to the solve."""

BOUND_SHARE = 0.05
"""Share of the budget in which the energetic bound (:mod:`.bounds`) may start its tests
(it needs a tenth of a second on 20 x 20 shops)."""


def bound_deadline(deadline: float) -> float:
    """When the energetic bound's tests must have started, for a search ending at ``deadline``:
    :data:`BOUND_SHARE` of the time left."""
    now = time.monotonic()
    return now + BOUND_SHARE * max(0.0, deadline - now)


def stall_iterations(instance: JobShopInstance) -> int:
    """Iterations without improvement that end one tabu search of the loop."""
    return max(STALL_MIN_ITERATIONS, STALL_ITERATIONS_PER_OPERATION * instance.num_operations)


@dataclass(frozen=True)
class Elite:
    """A schedule of the pool: its makespan, starts and each operation's position on its
    machine (operations numbered job-major)."""

    makespan: int
    starts: Starts
    rank: Ints


def machine_ranks(instance: JobShopInstance, starts: Starts) -> Ints:
    """Each operation's position in its machine's sequence (ties broken as in
    :func:`~.tabu.build_graph`: by end, then id)."""
    machines = np.array([op.fixed[0] for job in instance.jobs for op in job], dtype=np.int64)
    durations = np.array([op.fixed[1] for job in instance.jobs for op in job], dtype=np.int64)
    begin = np.array([s for row in starts for s in row], dtype=np.int64)
    ids = np.arange(machines.shape[0], dtype=np.int64)
    order = np.lexsort((ids, begin + durations, begin, machines))
    first = np.searchsorted(machines[order], machines[order], side="left")
    rank = np.empty_like(ids)
    rank[order] = np.arange(order.shape[0]) - first
    return rank


def distance(instance: JobShopInstance, a: Elite, b: Elite) -> int:
    """The number of pairs of operations on one machine that ``a`` and ``b`` order differently."""
    machines = np.array([op.fixed[0] for job in instance.jobs for op in job], dtype=np.int64)
    total = 0
    for m in range(instance.num_machines):
        ops = np.flatnonzero(machines == m)
        in_a = b.rank[ops[np.argsort(a.rank[ops])]]
        total += int(np.triu(in_a[:, None] > in_a[None, :], 1).sum())
    return total


class ElitePool:
    """At most :data:`POOL_SIZE` distinct schedules, the best kept (thread-safe)."""

    def __init__(self, instance: JobShopInstance) -> None:
        self.instance = instance
        self.members: list[Elite] = []
        self.lock = threading.Lock()

    def offer(self, makespan_: int, starts: Starts) -> None:
        """Keep the schedule when it differs from every member and the pool has room or a
        worse member to drop."""
        candidate = Elite(makespan_, starts, machine_ranks(self.instance, starts))
        with self.lock:
            members = list(self.members)
        if any(np.array_equal(candidate.rank, m.rank) for m in members):
            return
        with self.lock:
            self.members.append(candidate)
            self.members.sort(key=lambda m: m.makespan)
            del self.members[POOL_SIZE:]

    def pair(self, rng: random.Random) -> tuple[Elite, Elite] | None:
        """Two different members drawn at random, or None with fewer than two."""
        with self.lock:
            if len(self.members) < 2:
                return None
            first, second = rng.sample(self.members, 2)
        return first, second


def relink(
    instance: JobShopInstance, source: Elite, guide: Elite, share: float, rng: random.Random
) -> Graph:
    """The graph of ``source`` with ``share`` of its differently ordered pairs (as to
    ``guide``) swapped, each swap of two adjacent operations of a machine that ``guide``
    orders the other way, drawn at random; swaps that would close a cycle are skipped."""
    graph = build_graph(instance, source.starts)
    n = instance.num_operations
    steps = int(share * distance(instance, source, guide))
    ops = np.arange(n, dtype=np.int64)
    rank = np.append(guide.rank, -1)  # the sentinel never counts as inverted
    for _ in range(steps):
        before = graph.mp[:n]
        inverted = ops[rank[before] > rank[ops]]
        swapped = False
        while inverted.shape[0] and not swapped:
            k = rng.randrange(inverted.shape[0])
            v = int(inverted[k])
            swapped = bool(relocate(graph, int(graph.mp[v]), v, int(graph.ms[v])))
            inverted = np.delete(inverted, k)
        if not swapped:
            break
    return graph


class _Run:
    """The shared state of one search: the best schedule, the pool, the stop."""

    def __init__(
        self,
        instance: JobShopInstance,
        start: WarmStart,
        deadline: float,
        stop: ShouldStop,
        lower_bound: int,
    ) -> None:
        self.instance, self.incumbent, self.best = instance, start, start
        self.deadline, self.should_stop = deadline, stop
        self.lock = threading.Lock()
        self.pool = ElitePool(instance)
        self.pool.offer(start.makespan, start.starts)
        self.lower_bound = lower_bound
        self.started = self.improved_at = time.monotonic()
        self.finished = threading.Event()
        self.gains: Counter[str] = Counter()
        self.may_stall = instance.num_operations <= STALL_MAX_OPERATIONS

    def done(self) -> bool:
        """Whether every thread should end: deadline, stop request, proof or stall."""
        if self.finished.is_set():
            return True
        now = time.monotonic()
        if (
            now >= self.deadline
            or self.should_stop()
            or self.best.makespan <= self.lower_bound
            or (self.may_stall and self._stalled(now))
        ):
            self.finished.set()
        return self.finished.is_set()

    def _stalled(self, now: float) -> bool:
        searched, quiet = now - self.started, now - self.improved_at
        capped = searched >= STALL_CAP_SHARE * (self.deadline - self.started)
        return capped or quiet > max(MIN_STALL_S, STALL_SHARE * searched)

    def publish(self, run: TabuRun, origin: str) -> None:
        """Take ``run``'s best schedule as the search's best when it is better, crediting the
        gain to ``origin`` (how the run's start was made)."""
        if run.best_makespan >= self.best.makespan:
            return
        starts = run.best_starts(self.instance)
        with self.lock:
            if run.best_makespan < self.best.makespan:
                self.gains[origin] += self.best.makespan - run.best_makespan
                self.best = WarmStart(METHOD, starts, run.best_makespan)
                self.improved_at = time.monotonic()

    def work(self, seed: int) -> None:
        """Tabu searches until :meth:`done`, the first from the incumbent, then from relinked
        pool members (one thread's loop)."""
        rng = random.Random(seed)
        graph = build_graph(self.instance, self.incumbent.starts)
        origin = INCUMBENT
        while not self.done():
            run = TabuRun(
                self.instance,
                graph,
                seed=seed,
                lower_bound=self.lower_bound,
                max_stall=stall_iterations(self.instance),
                iteration_cap=-1,
            )
            run.run_until(self.deadline, lambda: self._polled(run, origin))  # noqa: B023
            self.publish(run, origin)
            self.pool.offer(run.best_makespan, run.best_starts(self.instance))
            seed += 1
            graph, origin = self._next_start(rng)

    def _polled(self, run: TabuRun, origin: str) -> bool:
        self.publish(run, origin)
        return self.done()

    def _next_start(self, rng: random.Random) -> tuple[Graph, str]:
        pair = self.pool.pair(rng)
        if pair is None:
            return build_graph(self.instance, self.best.starts), BEST
        return relink(self.instance, *pair, rng.uniform(*RELINK_SHARES), rng), RELINKED


def elite_search(
    instance: JobShopInstance,
    incumbent: JobShopSolution,
    budget: Budget,
    gains: Counter[str] | None = None,
) -> SearchAnswer[JobShopSolution]:
    """Improve ``incumbent`` (a classic job shop's schedule) within ``budget`` or until a stall
    or a proof, on its workers (one tabu search each, on a shared pool); the calling thread
    hands each improvement to ``budget.on_solution`` (at most one every :data:`REPORT_S`, the
    last one always). The answer is the best schedule when it beats the incumbent, proven
    optimal when it reached the energetic lower bound (:mod:`.bounds`), which is the answer's
    bound; shops of at most :data:`EXACT_MAX_OPERATIONS` operations get only the bound.
    ``gains``, when given, adds up the makespan each start (:data:`INCUMBENT`, :data:`BEST`,
    :data:`RELINKED`) took off."""
    deadline, should_stop, on_solution = budget.deadline, budget.should_stop, budget.on_solution
    if not kernels_ready(deadline, should_stop):
        return SearchAnswer(METHOD, bound=instance.trivial_lower_bound)
    lower_bound = energetic_bound(
        instance, incumbent.makespan, bound_deadline(deadline), should_stop
    )
    proven = incumbent.makespan <= lower_bound
    if proven or instance.num_operations <= EXACT_MAX_OPERATIONS:
        return SearchAnswer(METHOD, proven_optimal=proven, bound=lower_bound)
    start = WarmStart("incumbent", incumbent.start_matrix(instance), incumbent.makespan)
    run = _Run(instance, start, deadline, should_stop, lower_bound)
    reported = start

    def hand_over() -> None:
        nonlocal reported
        best = run.best
        if best is not reported and on_solution is not None:
            on_solution(METHOD, JobShopSolution.from_starts(instance, best.starts), best.makespan)
        reported = best

    on_workers(run.work, budget.workers, budget.seed, hand_over, REPORT_S)
    if gains is not None:
        gains.update(run.gains)
    best = run.best
    proven = best.makespan <= lower_bound
    if best is start:
        return SearchAnswer(METHOD, proven_optimal=proven, bound=lower_bound)
    solution = JobShopSolution.from_starts(instance, best.starts)
    return SearchAnswer(METHOD, solution, best.makespan, proven_optimal=proven, bound=lower_bound)
