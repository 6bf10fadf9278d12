"""The genetic algorithm over activity lists (the loop compiled in :mod:`.kernels`), built from an
instance and driven in slices.

:func:`problem_of` turns an instance into the kernels' arrays: durations, the temporal network's
windows and arcs, the list order, the demands (disjunctive pairs as unit resources) and a
time-indexed capacity profile with the downtime cut out. The profile has one cell per resource
and time unit up to the horizon, so an instance whose horizon or profile is too large
(:data:`MAX_HORIZON`, :data:`MAX_PROFILE_CELLS`) is left to the Python heuristics and the exact
solver: :func:`problem_of` answers None.

:class:`Evolution` holds one search: a population, its random stream and counters. It runs in
slices of generations sized to about :data:`SLICE_S` seconds; between slices the clock and the
stop request are looked at, and each improvement of the best schedule is handed to a listener.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from makespan.models.jit import KernelLoader
from makespan.models.rcpsp import energetic, kernels
from makespan.models.rcpsp.heuristics import RULES, build_project, priorities
from makespan.models.rcpsp.instance import RcpspInstance
from makespan.models.rcpsp.network import (
    UNBOUNDED,
    PositiveCycleError,
    build_network,
    earliest_starts,
    latest_starts,
)

Ints = kernels.Ints

MAX_HORIZON = 2_000_000
"""The longest horizon (time units) the time-indexed profile covers."""

MAX_PROFILE_CELLS = 20_000_000
"""The most resource x time cells of the profile (160 MB of int64 at most)."""

SLICE_S = 0.02
"""Seconds of search between two looks at the clock and the stop request."""

POPULATION = 300
"""Lists kept from one generation to the next (as many children are made per generation)."""

MIN_POPULATION = 20
POPULATION_ACTIVITIES = 90_000
"""Above ``POPULATION_ACTIVITIES / POPULATION`` activities the population shrinks, down to
:data:`MIN_POPULATION`, so that a generation stays short."""

MUTATION = 0.5
"""Probability that a child gets a shift mutation."""

PEAK_SHARE = 0.8
"""Share of children made by peak crossover (the others by two-point crossover)."""

JUSTIFY_ROUNDS = 3
"""Backward-forward passes per decoding at most."""

RESTART_AFTER = 300
"""Generations without improvement before the population is rebuilt around the best list."""


@dataclass(frozen=True)
class Arrays:
    """An instance's kernel problem and the list-building data."""

    problem: kernels.Problem
    weight: np.ndarray
    """Regret weights for random lists (latest finish: earlier is heavier)."""
    rule_lists: Ints
    """One activity list per priority rule (rows)."""


def problem_of(instance: RcpspInstance) -> Arrays | None:
    """The kernels' view of ``instance``; None when its profile would be too large or the
    temporal network admits no schedule."""
    network = build_network(instance)
    project = build_project(instance, network)
    horizon = network.default_horizon + 1
    cells = horizon * max(1, len(project.capacities))
    if horizon > MAX_HORIZON or cells > MAX_PROFILE_CELLS:
        return None
    try:
        es = earliest_starts(network)
        ls = latest_starts(network, horizon)
        lft = priorities(project, "lft")
        rule_lists = np.array(
            [_list_of(project.order, project.before, priorities(project, r)) for r in RULES],
            dtype=np.int64,
        )
    except PositiveCycleError:
        return None
    if any(e > s for e, s in zip(es, ls, strict=True)):
        return None
    p = network.durations
    free0 = np.zeros((len(project.capacities), horizon), dtype=np.int64)
    for k, (capacity, downtime) in enumerate(
        zip(project.capacities, project.downtime, strict=True)
    ):
        free0[k, :] = capacity
        for a, b in downtime:
            free0[k, min(a, horizon) : min(b, horizon)] = 0
    arcs = np.array(network.arcs or [(0, 0, 0)][:0], dtype=np.int64).reshape(-1, 3)
    order = np.array(
        [(i, j) for i, after in enumerate(project.order) for j in after], dtype=np.int64
    ).reshape(-1, 2)
    demands = np.array(
        [(i, k, q) for i, row in enumerate(project.demands) if p[i] > 0 for k, q in row if q > 0],
        dtype=np.int64,
    ).reshape(-1, 3)
    follows = [set(after) for after in project.order]
    simple = all(d >= UNBOUNDED for d in network.deadlines) and all(
        j in follows[i] for i, j, _ in network.arcs
    )
    problem = kernels.new_problem(
        np.array(p, dtype=np.int64),
        np.array(es, dtype=np.int64),
        np.array(ls, dtype=np.int64),
        arcs,
        order,
        demands,
        free0,
        simple,
    )
    weight = np.array([max(lft) - v + 1.0 for v in lft], dtype=np.float64)
    return Arrays(problem, weight, rule_lists)


def _list_of(
    order: Sequence[Sequence[int]], before: Sequence[int], priority: Sequence[float]
) -> list[int]:
    """The list that takes, among the activities whose list predecessors are all in, the one
    of least ``priority`` (ties: lowest position)."""
    waiting = list(before)
    ready = [(priority[i], i) for i in range(len(waiting)) if waiting[i] == 0]
    heapq.heapify(ready)
    out = []
    while ready:
        _, i = heapq.heappop(ready)
        out.append(i)
        for j in order[i]:
            waiting[j] -= 1
            if waiting[j] == 0:
                heapq.heappush(ready, (priority[j], j))
    return out


def population_size(n: int) -> int:
    """Lists kept per generation for ``n`` activities: :data:`POPULATION`, fewer for large
    instances so that a generation stays short."""
    return max(MIN_POPULATION, min(POPULATION, POPULATION_ACTIVITIES // max(1, n)))


class Evolution:
    """One genetic search on an instance's arrays: seeded in slices, then evolved in slices."""

    def __init__(
        self,
        arrays: Arrays,
        *,
        seed: int,
        target: int,
        population: int | None = None,
        children: int | None = None,
        mutation: float = MUTATION,
        peak_share: float = PEAK_SHARE,
        justify_rounds: int = JUSTIFY_ROUNDS,
        restart_after: int = RESTART_AFTER,
        extra: Sequence[Sequence[int]] = (),
    ) -> None:
        problem = arrays.problem
        n = problem.dur.shape[0]
        size = population or population_size(n)
        self.arrays = arrays
        self.work = kernels.new_work(problem)
        self.pop = kernels.new_population(size, children or size, n)
        self.rng = kernels.new_stream(seed)
        self.counters = kernels.new_counters()
        self.parameters = kernels.new_parameters(
            target=target,
            mutation=mutation,
            peak_share=peak_share,
            restart_after=restart_after,
            justify_rounds=justify_rounds,
        )
        rows = [list(r) for r in extra] + [list(r) for r in arrays.rule_lists]
        self.first_lists = np.array(rows[:size], dtype=np.int64).reshape(-1, n)
        self.seeded = 0
        """Population slots filled so far."""
        self.decoded = 0
        self.status = kernels.RUNNING
        self.migrated_at = 0.0
        """When the island last took another's best (see ``search``)."""

    @property
    def best_makespan(self) -> int | None:
        """The best makespan so far, None before any list decoded."""
        value = int(self.counters[kernels.BEST])
        return None if value >= kernels.WORSE else value

    @property
    def best_starts(self) -> list[int]:
        """The starts of the best schedule so far, by activity position."""
        return [int(s) for s in self.pop.best_start]

    @property
    def best_list(self) -> Ints:
        """The activity list of the best schedule."""
        return self.pop.best_list.copy()

    @property
    def schedules(self) -> int:
        """Schedule-generation passes so far (forward and backward)."""
        return int(self.counters[kernels.SCHEDULES])

    @property
    def generations(self) -> int:
        """Generations so far."""
        return int(self.counters[kernels.GENERATION])

    @property
    def target(self) -> int:
        """The makespan at which the search stops (a proven lower bound)."""
        return int(self.parameters[kernels.TARGET])

    @target.setter
    def target(self, value: int) -> None:
        self.parameters[kernels.TARGET] = value
        if self.status == kernels.RUNNING and self.counters[kernels.BEST] <= value:
            self.status = kernels.AT_TARGET

    def inject(self, activity_list: Sequence[int] | Ints) -> int | None:
        """Decode a list from elsewhere (another search's best) into the population as a child
        of the current generation; its makespan, None when it does not decode."""
        if self.seeded < self.pop.size[0]:
            return None
        row = np.array(activity_list, dtype=np.int64)
        value = kernels.inject(
            self.arrays.problem, self.work, self.pop, row, self.counters, self.parameters
        )
        if value != kernels.FAILED and self.counters[kernels.BEST] <= self.target:
            self.status = kernels.AT_TARGET
        return None if value == kernels.FAILED else int(value)

    def step(self, amount: int) -> None:
        """Decode ``amount`` lists: the initial population first, then children."""
        size = int(self.pop.size[0])
        if self.seeded < size:
            last = min(size, self.seeded + amount)
            self.decoded += int(
                kernels.seed_population(
                    self.arrays.problem,
                    self.work,
                    self.pop,
                    self.first_lists,
                    self.arrays.weight,
                    self.rng,
                    self.counters,
                    self.parameters,
                    self.seeded,
                    last,
                )
            )
            self.seeded = last
            if last == size:
                if self.decoded == 0:
                    self.status = kernels.NO_SCHEDULE
                    return
                kernels.select(self.pop, size)
            if self.counters[kernels.BEST] <= self.target:
                self.status = kernels.AT_TARGET
            return
        self.status = int(
            kernels.evolve(
                self.arrays.problem,
                self.work,
                self.pop,
                self.rng,
                self.counters,
                self.parameters,
                amount,
            )
        )

    def run_until(
        self,
        deadline: float,
        should_stop: Callable[[], bool],
        between: Callable[[Evolution], bool] | None = None,
    ) -> None:
        """Slices of about :data:`SLICE_S` until the deadline, ``should_stop()``, the target, a
        population that does not decode, or ``between(self)`` (called after every slice)
        answers False."""
        amount = 1
        while self.status == kernels.RUNNING:
            now = time.monotonic()
            if now >= deadline or should_stop():
                return
            self.step(amount)
            elapsed = time.monotonic() - now
            if between is not None and not between(self):
                return
            budget = min(SLICE_S, max(0.0, deadline - time.monotonic()))
            rate = amount / max(elapsed, 1e-6)
            amount = max(1, min(2 * amount, int(rate * budget)))


PREPARE_WAIT_S = 120.0
"""How long :func:`prepare` waits for the kernels to load (or compile, on a cold cache)."""


def prepare() -> None:
    """Load the compiled kernels now (the fork server does, so that every job process starts
    with them)."""
    kernels_ready(time.monotonic() + PREPARE_WAIT_S, lambda: False)


def kernels_ready(deadline: float, should_stop: Callable[[], bool]) -> bool:
    """Whether the compiled kernels are loaded, waiting until ``deadline`` or ``should_stop()``.

    The first call in a process loads them in a background thread: from numba's disk cache in
    a fraction of a second, or by compiling them when the cache is cold (several seconds of one
    core). Waiting here keeps a search within its budget and its stop requests either way.

    Raises:
        RuntimeError: compiling the kernels failed (the cause is chained).
    """
    return _loader.ready(deadline, should_stop, SLICE_S)


def _warm_up() -> None:
    """Run every kernel once on tiny instances (simple and general), so that numba loads or
    compiles them all."""
    for document in _TINY:
        arrays = problem_of(RcpspInstance.model_validate(document))
        assert arrays is not None
        search = Evolution(arrays, seed=0, target=0, population=2, children=2)
        search.run_until(time.monotonic() + 60, lambda: False, lambda s: s.generations < 3)
        search.inject(search.best_list)
        energetic.destructive_bound(arrays.problem, 0, 10, time.monotonic() + 60)


_TINY = (
    {
        "resources": [{"name": "R", "capacity": 2}],
        "activities": [
            {"id": 1, "duration": 2, "demands": {"R": 1}, "successors": [3]},
            {"id": 2, "duration": 1, "demands": {"R": 2}, "successors": [3]},
            {"id": 3, "duration": 1, "demands": {"R": 1}},
        ],
    },
    {
        "resources": [{"name": "R", "capacity": 2, "downtime": [[1, 2]]}],
        "activities": [
            {"id": 1, "duration": 2, "demands": {"R": 1}, "deadline": 9},
            {"id": 2, "duration": 1, "demands": {"R": 2}},
        ],
        "lags": [{"from": 1, "to": 2, "min": 0, "max": 5}],
    },
)
"""One simple instance and one with a deadline, downtime and a maximum lag: both kinds of
propagation get compiled."""

_loader = KernelLoader("rcpsp-kernels", _warm_up, "the RCPSP search's kernels")
