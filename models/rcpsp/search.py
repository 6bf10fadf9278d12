"""The kind's own search (``backend="auto"``): a proven lower bound, then island genetic
algorithms over activity lists, on the solve's worker threads.

1. The destructive energetic-reasoning bound (:mod:`.energetic`) against the first island's
   initial population: the islands stop once a schedule meets it, and it is reported as the
   solve's bound either way.
2. One island (:class:`~makespan.models.rcpsp.evolve.Evolution`, a population of justified
   activity lists) per worker, up to :data:`MAX_ISLANDS`, each in its own thread (the compiled
   kernels release the GIL), with its own seed. Every :data:`MIGRATION_S` an island that is
   behind takes the best list found so far.
3. The calling thread streams each improvement of the best schedule to the solve (at most one
   every :data:`REPORT_S`, and the last one always) and watches the clock, the stop request
   and the stall: when nothing improved for :data:`STALL_SHARE` of the time searched (and at
   least :data:`MIN_STALL_S`), the search hands the rest of its time to the exact solver,
   which proves small instances optimal far sooner than a population could.

Instances that :func:`~makespan.models.rcpsp.evolve.problem_of` leaves out (huge horizons) and
those whose windows no list decodes into (tight maximum lags, deadlines) get no answer here:
the warm start's heuristics and the exact solver carry on.

CP-SAT is not called here: in trials on a few j120 instances at 10 s during development (not
recorded as a bench table), neither CP-SAT re-solving time windows or activity subsets of the
incumbent (the rest kept in order) nor CP-SAT on the whole model improved the islands'
schedules, while the islands' own time did;
CP-SAT's part is the end of the solve, hinted with the best schedule, where it proves small
instances optimal.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from makespan.models.rcpsp import kernels
from makespan.models.rcpsp.bounds import lower_bound
from makespan.models.rcpsp.energetic import destructive_bound
from makespan.models.rcpsp.evolve import Arrays, Evolution, kernels_ready, problem_of
from makespan.models.rcpsp.instance import RcpspInstance, RcpspSolution
from makespan.models.spec import SearchAnswer, SearchContext

METHOD = "genetic"

MAX_ISLANDS = 2
"""Island threads at most (when the solve has that many workers)."""

MIGRATION_S = 0.5
"""Seconds between two migrations of the best list into an island that is behind."""

REPORT_S = 0.2
"""Seconds between two incumbents handed to the solve (the last one always is)."""

STALL_SHARE = 0.25
MIN_STALL_S = 0.5
"""The search ends once nothing improved for ``STALL_SHARE`` of the time it has searched, and
at least ``MIN_STALL_S``."""

BOUND_SHARE = 0.2
"""Share of the search's budget the lower bound may use at most."""

SEARCH_SHARE = 0.95
"""The search's share of the time the warm start leaves; CP-SAT gets the rest (and any time the
search hands back early)."""

_POLL_S = 0.01


def search(
    instance: RcpspInstance,
    budget_s: float,
    should_stop: Callable[[], bool],
    best: float | None,
    context: SearchContext[RcpspSolution] | None = None,
) -> SearchAnswer[RcpspSolution]:
    """Search within ``budget_s`` for a schedule better than ``best``, on
    ``context.workers`` threads (one without a context), streaming each improvement to
    ``context.on_solution``; the answer carries the proven lower bound."""
    deadline = time.monotonic() + budget_s
    arrays = problem_of(instance)
    if arrays is None or not kernels_ready(deadline, should_stop):
        return SearchAnswer(METHOD)
    workers = (context.workers if context else 1) or os.cpu_count() or 1
    seed = context.seed if context else 0
    on_solution = context.on_solution if context else None
    run = _Run(instance, arrays, deadline, should_stop, best, on_solution)
    run.start(seed, min(MAX_ISLANDS, workers), budget_s)
    found = run.best_makespan
    if found is None or (best is not None and found >= best):
        return SearchAnswer(METHOD, bound=run.lower)
    solution = RcpspSolution.from_starts(instance, run.best_starts)
    return SearchAnswer(
        METHOD,
        solution,
        solution.makespan,
        proven_optimal=run.lower is not None and solution.makespan <= run.lower,
        bound=run.lower,
    )


@dataclass
class _Best:
    """The best schedule of every island, shared under a lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    makespan: int | None = None
    starts: list[int] = field(default_factory=list)
    activity_list: np.ndarray | None = None
    improved_at: float = field(default_factory=time.monotonic)

    def offer(self, island: Evolution) -> None:
        """Take ``island``'s best when it is better."""
        value = island.best_makespan
        if value is None:
            return
        with self.lock:
            if self.makespan is None or value < self.makespan:
                self.makespan = value
                self.starts = island.best_starts
                self.activity_list = island.best_list
                self.improved_at = time.monotonic()


class _Run:
    """One search: its islands, their shared best, the bound and the reporting."""

    def __init__(
        self,
        instance: RcpspInstance,
        arrays: Arrays,
        deadline: float,
        should_stop: Callable[[], bool],
        best: float | None,
        on_solution: Callable[[str, RcpspSolution, float], None] | None,
    ) -> None:
        self.instance = instance
        self.arrays = arrays
        self.deadline = deadline
        self.outside_stop = should_stop
        self.given = best
        self.on_solution = on_solution
        self.best = _Best()
        self.lower: int | None = lower_bound(instance)
        self.halt = threading.Event()
        self.reported: int | None = None
        self.reported_at = 0.0
        self.errors: list[BaseException] = []

    @property
    def best_makespan(self) -> int | None:
        """The best makespan found."""
        return self.best.makespan

    @property
    def best_starts(self) -> list[int]:
        """Its starts, by activity position."""
        return self.best.starts

    def should_stop(self) -> bool:
        """Stop asked from outside, or by the calling thread."""
        return self.halt.is_set() or self.outside_stop()

    def start(self, seed: int, islands: int, budget_s: float) -> None:
        """The bound and the islands; returns when the search is over."""
        began = time.monotonic()
        target = self.lower or 0
        first = Evolution(self.arrays, seed=seed, target=target)
        first.run_until(self.deadline, self.should_stop, lambda e: e.seeded < e.pop.size[0])
        self.best.offer(first)
        if first.status == kernels.NO_SCHEDULE or self.best.makespan is None:
            return
        self._report(final=False)
        self._bound(first, began + BOUND_SHARE * budget_s)
        if self.lower is not None:
            first.target = self.lower
        if self._done(began):
            return
        others = [
            Evolution(self.arrays, seed=seed + k, target=first.target) for k in range(1, islands)
        ]
        threads = [
            threading.Thread(target=self._island, args=(e,), name=f"rcpsp-island-{k}", daemon=True)
            for k, e in enumerate(others, start=1)
        ]
        for thread in threads:
            thread.start()
        try:
            first.run_until(self.deadline, self.should_stop, lambda e: self._between(e, began))
        finally:
            self.halt.set()
            for thread in threads:
                thread.join()
        if self.errors:
            raise self.errors[0]
        self._report(final=True)

    def _bound(self, first: Evolution, until: float) -> None:
        """The destructive bound between the cheap one and the first population's best."""
        low = self.lower or 0
        high = first.best_makespan
        if high is None or high <= low:
            return
        self.lower = destructive_bound(
            self.arrays.problem, low, high, min(until, self.deadline), self.should_stop
        )

    def _island(self, island: Evolution) -> None:
        try:
            island.run_until(self.deadline, self.should_stop, self._migrate)
        except BaseException as error:  # a thread's exception would vanish: keep it
            self.errors.append(error)
            self.halt.set()
        self.best.offer(island)

    def _migrate(self, island: Evolution) -> bool:
        """Share ``island``'s best, and take the best found when behind for a while."""
        self.best.offer(island)
        now = time.monotonic()
        if now - island.migrated_at >= MIGRATION_S and island.seeded >= island.pop.size[0]:
            with self.best.lock:
                behind = self.best.makespan is not None and self.best.makespan < (
                    island.best_makespan or kernels.WORSE
                )
                taken = self.best.activity_list if behind else None
            if taken is not None:
                island.inject(taken)
            island.migrated_at = now
        return not self.halt.is_set()

    def _between(self, first: Evolution, began: float) -> bool:
        """The calling thread's island, between slices: migrate, report, and say whether to
        go on."""
        if not self._migrate(first):
            return False
        self._report(final=False)
        return not self._done(began)

    def _done(self, began: float) -> bool:
        """At the lower bound, or stalled."""
        now = time.monotonic()
        with self.best.lock:
            value = self.best.makespan
            improved_at = self.best.improved_at
        if value is not None and self.lower is not None and value <= self.lower:
            return True
        return now - improved_at > max(MIN_STALL_S, STALL_SHARE * (now - began))

    def _report(self, *, final: bool) -> None:
        """Hand the best schedule to the solve when it improved (not more often than every
        :data:`REPORT_S` unless ``final``)."""
        if self.on_solution is None:
            return
        with self.best.lock:
            value = self.best.makespan
            starts = list(self.best.starts)
        if value is None or (self.reported is not None and value >= self.reported):
            return
        if self.given is not None and value >= self.given:
            return
        now = time.monotonic()
        if not final and now - self.reported_at < REPORT_S:
            return
        self.reported = value
        self.reported_at = now
        self.on_solution(METHOD, RcpspSolution.from_starts(self.instance, starts), float(value))
