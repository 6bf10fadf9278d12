"""Tabu search for the job shop on its disjunctive graph (the loop compiled in
:mod:`.kernels`).

Each iteration scores every N7 move of one critical path and applies the best one that is not
tabu (a tabu move is allowed when it would beat the best makespan); restoring the relative order
of a pair that a move changed is tabu for a randomised tenure. After a move the topological
order is repaired locally and only the ends and tails that change are recomputed. A long stall
sends the search back to the best schedule, perturbed by a few random critical swaps.

The whole state lives in arrays, so the search runs in slices of iterations inside a compiled
kernel and resumes where it stopped; between slices (about :data:`_SLICE_S` each) the clock and
the stop request are looked at. The random draws are those of ``random.Random(seed)``, so a seed
gives the schedules of the earlier pure-Python search.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from makespan.models.jit import KernelLoader
from makespan.models.jssp.bounds import project_of
from makespan.models.jssp.dispatch import WarmStart, giffler_thompson
from makespan.models.jssp.instance import JobShopInstance
from makespan.models.jssp.kernels import (
    BEST,
    ITERATION,
    RUNNING,
    TABLE_FULL,
    Graph,
    Snapshot,
    makespan,
    new_counters,
    new_graph,
    new_moves,
    new_parameters,
    new_path,
    new_snapshot,
    new_stream,
    new_tabu_table,
    rebuild,
    run_slice,
    tabu_copy,
)
from makespan.models.rcpsp.energetic import destructive_bound

Ints = NDArray[np.int64]

__all__ = [
    "DEFAULT_MAX_STALL_ITERATIONS",
    "TabuRun",
    "build_graph",
    "kernels_ready",
    "run_tabu",
    "start_times",
    "tabu_search",
]

DEFAULT_MAX_STALL_ITERATIONS = 1_000_000
"""Default iteration cap without improvement of the best schedule in :func:`tabu_search`."""

_TENURE_BASE = 10
"""Tabu tenure is ``_TENURE_BASE + jobs // machines`` plus a random part of up to half that."""

_RESTART_MIN_ITERATIONS = 10_000
_RESTART_ITERATIONS_PER_OPERATION = 20
"""Jump back to the best schedule after ``max(_RESTART_MIN_ITERATIONS, per-op * n)`` iterations
without improvement."""

_SLICE_S = 0.01
"""Seconds of search between two looks at the clock and the stop request."""
_FIRST_SLICE = 16
"""Iterations of the first slice, which measures the speed (and loads the compiled code)."""
_TABLE_SLOTS = 1 << 12
"""Initial slots of the tabu table; it doubles when it fills up with live keys."""


def kernels_ready(deadline: float, should_stop: Callable[[], bool]) -> bool:
    """Whether the compiled search is ready, waiting until ``deadline`` or ``should_stop()``.

    The first call in a process loads the kernels in a background thread: from numba's disk
    cache in about 0.15 s, or, when the cache is cold (a fresh install, a changed kernels.py),
    by compiling them, about 11 s of one core (bench/README.md). Waiting here rather than in
    the first kernel call keeps a warm start within its budget and its stop requests either
    way; a later call finds the kernels ready.

    Raises:
        RuntimeError: compiling the kernels failed (the cause is chained).
    """
    return _loader.ready(deadline, should_stop, _SLICE_S)


def _warm_up() -> None:
    """Run every kernel once on a tiny instance, so that numba loads or compiles them all."""
    tiny = JobShopInstance.from_matrices([[0, 1], [1, 0]], [[1, 2], [2, 1]])
    graph = build_graph(tiny, giffler_thompson(tiny, "spt").starts)
    search = TabuRun(tiny, graph, seed=0, lower_bound=0, max_stall=1, iteration_cap=1)
    search.run_until(float("inf"), lambda: False)
    tabu_copy(search.table, 2 * search.table.keys.shape[0])
    destructive_bound(project_of(tiny, 6), 0, 6, float("inf"))


_loader = KernelLoader("jssp-kernels", _warm_up, "the job shop's kernels")


def tabu_search(instance: JobShopInstance, initial: WarmStart, **limits: Any) -> WarmStart:
    """Tabu search on critical-block moves (N7 of Zhang et al., a superset of N5) from `initial`.

    Runs until ``time.monotonic() >= deadline``, the lower bound is reached (``lower_bound``,
    default :attr:`JobShopInstance.trivial_lower_bound`), no improvement of the best schedule for
    ``max_stall_iterations`` iterations, the critical path is a single block (then optimal), or
    ``should_stop()`` (polled every :data:`_SLICE_S` or so) answers True.

    Returns the best schedule found, semi-active, with ``method = initial.method + "+tabu"``; its
    makespan is never above ``initial.makespan``. Deterministic for a given ``seed`` unless the
    deadline interrupts it. The first call in a process may wait for the kernels to load or
    compile (see :func:`kernels_ready`, which waits within a deadline).

    ``limits`` are :func:`run_tabu`'s keywords (``deadline`` is required).

    Raises:
        ValueError: the start times of ``initial`` do not give acyclic machine sequences.
    """
    result, _ = run_tabu(instance, initial, **limits)
    return result


def run_tabu(
    instance: JobShopInstance,
    initial: WarmStart,
    *,
    deadline: float,
    seed: int = 0,
    lower_bound: int | None = None,
    max_stall_iterations: int = DEFAULT_MAX_STALL_ITERATIONS,
    max_iterations: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[WarmStart, int]:
    """:func:`tabu_search`, with an optional iteration cap, also returning the iterations done
    (a restart counts as one)."""
    try:
        graph = build_graph(instance, initial.starts)
    except ValueError as exc:
        raise ValueError(f"initial schedule {initial.method!r} is not feasible: {exc}") from exc
    search = TabuRun(
        instance,
        graph,
        seed=seed,
        lower_bound=instance.trivial_lower_bound if lower_bound is None else lower_bound,
        max_stall=max_stall_iterations,
        iteration_cap=-1 if max_iterations is None else max_iterations,
    )
    search.run_until(deadline, should_stop or (lambda: False))
    best = WarmStart(initial.method + "+tabu", search.best_starts(instance), search.best_makespan)
    return best, search.iterations


class TabuRun:
    """The state of one tabu search on ``graph`` (which it changes), in arrays for the compiled
    kernel: it stops at ``lower_bound``, after ``max_stall`` iterations without improvement or
    at ``iteration_cap`` (-1: none)."""

    def __init__(
        self,
        instance: JobShopInstance,
        graph: Graph,
        *,
        seed: int,
        lower_bound: int,
        max_stall: int,
        iteration_cap: int,
    ) -> None:
        n = instance.num_operations
        tenure = _TENURE_BASE + instance.num_jobs // instance.num_machines
        self.graph = graph
        self.best = new_snapshot(graph)
        self.path = new_path(graph)
        self.moves = new_moves(n)
        self.table = new_tabu_table(_TABLE_SLOTS)
        self.mt = new_stream(seed)
        self.counters = new_counters(makespan(graph))
        self.parameters = new_parameters(
            lower_bound=lower_bound,
            max_stall=max_stall,
            restart_after=max(_RESTART_MIN_ITERATIONS, _RESTART_ITERATIONS_PER_OPERATION * n),
            tenure=tenure,
            tenure_spread=max(1, tenure // 2),
            iteration_cap=iteration_cap,
            # A move destroys fewer pair orders than its machine has operations.
            room=int(np.bincount(graph.mach[:n]).max()),
        )

    @property
    def iterations(self) -> int:
        """Iterations done so far."""
        return int(self.counters[ITERATION])

    @property
    def best_makespan(self) -> int:
        """The makespan of the best schedule so far."""
        return int(self.counters[BEST])

    def best_starts(self, instance: JobShopInstance) -> tuple[tuple[int, ...], ...]:
        """The start times of the best schedule so far."""
        return start_times(self.graph, self.best, instance)

    def run_until(self, deadline: float, should_stop: Callable[[], bool]) -> None:
        """Slices of iterations until the search ends, the deadline passes or ``should_stop``
        answers True (asked before every slice)."""
        iterations = _FIRST_SLICE
        while time.monotonic() < deadline and not should_stop():
            began = time.monotonic()
            status = self._run(iterations)
            if status == TABLE_FULL:
                self.table = tabu_copy(self.table, 2 * self.table.keys.shape[0])
            elif status != RUNNING:
                return
            else:
                iterations = _next_slice(iterations, time.monotonic() - began, deadline)

    def _run(self, iterations: int) -> int:
        return int(
            run_slice(
                self.graph,
                self.best,
                self.path,
                self.moves,
                self.table,
                self.mt,
                self.counters,
                self.parameters,
                iterations,
            )
        )


def _next_slice(iterations: int, elapsed: float, deadline: float) -> int:
    """Iterations for about :data:`_SLICE_S` (less near the deadline), at most twice the last
    slice: the first slice's time includes loading the compiled code."""
    budget = min(_SLICE_S, max(0.0, deadline - time.monotonic()))
    rate = iterations / max(elapsed, 1e-6)
    return max(1, min(2 * iterations, int(rate * budget)))


def build_graph(instance: JobShopInstance, starts: tuple[tuple[int, ...], ...]) -> Graph:
    """The graph of ``instance`` with the machine sequences in order of ``starts``, its ends,
    tails and a topological order.

    Ties in start time are broken by end time, then operation id, which keeps the graph acyclic
    even with zero-duration operations (every arc then goes up in that order).

    Raises:
        ValueError: the sequences form a cycle (``starts`` is not a feasible schedule).
    """
    n = instance.num_operations
    ops = [op.fixed for job in instance.jobs for op in job]
    dur = np.array([duration for _, duration in ops] + [0], dtype=np.int64)
    mach = np.array([machine for machine, _ in ops] + [0], dtype=np.int64)
    first = np.cumsum([0] + [len(job) for job in instance.jobs])
    jp = np.arange(-1, n, dtype=np.int64)  # the operation before, within its job
    js = np.arange(1, n + 2, dtype=np.int64)
    jp[first[:-1]] = n
    js[first[1:] - 1] = n
    jp[n] = js[n] = n
    graph = new_graph(dur, mach, jp, js, instance.num_machines)
    begin = np.array([s for row in starts for s in row], dtype=np.int64)
    ids = np.arange(n, dtype=np.int64)
    _link_sequences(graph, np.lexsort((ids, begin + dur[:n], begin, mach[:n])))
    if not rebuild(graph):
        raise ValueError("machine sequences create a cycle")
    return graph


def _link_sequences(g: Graph, by_machine: Ints) -> None:
    """Machine arcs between consecutive operations of ``by_machine`` (sorted by machine)."""
    before, after = by_machine[:-1], by_machine[1:]
    same = g.mach[before] == g.mach[after]
    g.ms[before[same]] = after[same]
    g.mp[after[same]] = before[same]
    last = by_machine[np.append(~same, True)]
    g.mlast[g.mach[last]] = last


def start_times(
    g: Graph, snapshot: Snapshot, instance: JobShopInstance
) -> tuple[tuple[int, ...], ...]:
    """Semi-active start times per job of a saved schedule."""
    begin = (snapshot.end - g.dur)[:-1].tolist()
    out = []
    k = 0
    for job in instance.jobs:
        out.append(tuple(begin[k : k + len(job)]))
        k += len(job)
    return tuple(out)
