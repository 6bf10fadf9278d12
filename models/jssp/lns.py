"""The kind's own search (``backend="auto"``, between the warm start and the final CP-SAT
solve): :mod:`.elite` for the classic job shop, and here a large-neighbourhood search for the
shops the tabu searches leave to the exact solver: due-date and flow objectives, releases,
downtime, setups.

Each step frees a part of the incumbent schedule and lets CP-SAT re-solve it, on the kind's own
IR (:func:`~.compile.compile_instance` without an objective cap, hinted with the incumbent):
every operation outside the part keeps its machine, and the operations kept on a machine keep
their order there (``S_b >= S_a + p_a`` for each two consecutive ones), so they may still move
in time. Three neighbourhoods, drawn in proportion to the improvements each gave:

- **window**: the operations whose starts are consecutive in the incumbent's start order;
- **jobs**: whole jobs, drawn with weights ``1 + c_j``, ``c_j`` the job's share of the objective
  (its weighted tardiness or completion), so that the costly jobs are re-planned most;
- **machines**: every operation on some machines (their machine choice freed as well).

The freed share adapts: it grows by :data:`GROWTH` when a part was solved to optimality (the
neighbourhood was too small to improve) and shrinks by :data:`SHRINK` when the step ran out of
time without improving. One step runs on each worker thread (CP-SAT on one thread per step), all
on one shared incumbent; a step's schedule replaces it when it is no worse (moves on a
plateau), and each strict improvement is handed to the solve, which checks it. Under objectives
of maxima only the search ends early once it stalls (:data:`STALL_SHARE`).

The objective minimised is the instance's: with :math:`C_j` job ends, weights :math:`w_j` and
due dates :math:`d_j`, :math:`\\alpha C_{\\max} + \\beta \\sum_j w_j \\max(0, C_j - d_j) +
\\gamma \\sum_j w_j C_j + \\delta \\max_j (C_j - d_j) + \\varepsilon \\sum_j w_j [C_j > d_j]`.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from makespan.models.jssp.bounds import energetic_bound
from makespan.models.jssp.compile import JobShopIndex, compile_instance, decode, hint_values
from makespan.models.jssp.dispatch import best_dispatch
from makespan.models.jssp.elite import STALL_MAX_OPERATIONS, bound_deadline, elite_search
from makespan.models.jssp.instance import (
    JobShopInstance,
    JobShopSolution,
    ScheduledOperation,
    lower_bound,
)
from makespan.models.jssp.shop import best_shop_dispatch
from makespan.models.jssp.tabu import kernels_ready
from makespan.models.jssp.workers import Budget, OnSolution, on_workers
from makespan.models.spec import Compiled, SearchAnswer, SearchContext, ShouldStop
from makespan.solvers.cpsat import CompiledCpModel, compile_model

METHOD = "lns"

SEARCH_SHARE = 0.8
"""The search's share of the time the warm start leaves; the final CP-SAT solve on the whole
model, hinted with the best schedule, gets the rest (and proves the bound)."""

START_SHARE = 0.3
MIN_FREE_OPERATIONS = 4
GROWTH = 1.1
SHRINK = 0.95
"""The freed share of the operations at the start; the fewest freed; how the share adapts."""

STALL_SHARE = 0.5
MIN_STALL_S = 1.0
"""Under an objective of maxima only (makespan, maximum lateness) the search hands its remaining
time to the final solve once nothing improved for ``STALL_SHARE`` of the time it has searched,
and at least ``MIN_STALL_S``: there CP-SAT's own search on the whole model does as well (three
seeds on ext15x6s0 under makespan + max lateness, 20 s: 510/499/504 with the stop against
510/501/510 without), while under sums (tardiness, completion, tardy jobs) late steps still
improve (ext15x6s2, weighted tardiness: 1493 on three seeds without the stop, 1544-1719 with
it)."""

STEP_LIMIT_S = 1.0
"""Seconds one step may take at most (a stop request waits for the step at most this long)."""

REPORT_S = 0.2
"""Seconds between two improvements handed to the solve."""

MIN_STEP_S = 0.05
"""A step shorter than this is not started: the time left goes to the final solve."""

CLASSIC_LNS_SHARE = 0.0
"""The share of the classic job shop's search time (on shops larger than
:data:`~.elite.STALL_MAX_OPERATIONS`) that this search gets after the elite search, from its
best schedule. None, by measurement (``bench/jssp_parts.py``, the ten hard Taillard shops,
60 s, 2 workers): with 0.25 the LNS took 5 units of makespan off in all, and the mean gap was
0.76% either way; the elite search makes as much of that time."""

NEIGHBOURHOODS = ("window", "jobs", "machines")
"""The neighbourhoods, in the order the first steps try them."""

Operation = tuple[int, int]
"""(job, index) of an operation."""


def applies(instance: JobShopInstance) -> bool:
    """Whether the search runs on ``instance``: every shop but the classic job shop (the tabu
    search's) and the flexible shop with the plain makespan and no time windows or setups (the
    tabu search with machine reassignment's)."""
    plain_flexible = instance.shop_objective.is_makespan and not (
        instance.has_time_windows or instance.has_setups
    )
    return not (instance.is_classic or plain_flexible)


@dataclass
class _Steps:
    """The adaptive state: the freed share and each neighbourhood's weight."""

    share: float = START_SHARE
    weights: dict[str, float] = field(default_factory=lambda: dict.fromkeys(NEIGHBOURHOODS, 1.0))
    steps: int = 0

    def pick(self, rng: random.Random) -> str:
        """The next neighbourhood: each once first, then in proportion to its weight."""
        if self.steps < len(NEIGHBOURHOODS):
            return NEIGHBOURHOODS[self.steps]
        names = list(self.weights)
        return rng.choices(names, [self.weights[n] for n in names])[0]

    def learn(self, name: str, improved: bool, exhausted: bool) -> None:
        """Adapt to one step's outcome: ``exhausted`` when its part was solved to optimality."""
        self.steps += 1
        if improved:
            self.weights[name] += 1.0
        if exhausted:
            self.share = min(1.0, self.share * GROWTH)
        elif not improved:
            self.share = max(0.02, self.share * SHRINK)


def kind_search(
    instance: JobShopInstance,
    budget_s: float,
    should_stop: ShouldStop,
    best: float | None,
    context: SearchContext[JobShopSolution] | None = None,
) -> SearchAnswer[JobShopSolution]:
    """The kind's search (``search`` and ``search_with``): :func:`improve` from the solve's best
    schedule (the dispatch schedule without one) on the context's workers (one without a
    context), streaming improvements to ``context.on_solution``; nothing on the shops the tabu
    searches cover (:func:`applies`). ``best`` is the incumbent's objective, which the answer
    must beat; the classic job shop's search is :func:`classic_search`."""
    budget = Budget(time.monotonic() + budget_s, should_stop)
    if context is not None:
        budget = Budget(
            budget.deadline, should_stop, context.workers, context.seed, context.on_solution
        )
    start = context.incumbent if context else None
    if instance.is_classic:
        if start is None:
            found = best_dispatch(instance)
            start = JobShopSolution.from_starts(instance, found.starts)
        return classic_search(instance, start, budget, gains=Counter())
    if not applies(instance):
        return SearchAnswer(METHOD, bound=shop_bound(instance, start, budget))
    if start is None:
        shop = best_shop_dispatch(instance, budget.deadline, budget.seed, should_stop)
        start = JobShopSolution.from_starts(instance, shop.starts, shop.machines)
    bound = shop_bound(instance, start, budget)
    return dataclasses.replace(improve(instance, start, budget), bound=bound)


def shop_bound(
    instance: JobShopInstance, start: JobShopSolution | None, budget: Budget
) -> float | None:
    """:func:`~.instance.lower_bound` with the makespan term at the energetic bound of
    :mod:`.bounds` (tested up to ``start``'s makespan, started by :func:`~.elite.bound_deadline`)
    when the objective counts the makespan and a schedule is known."""
    if start is None or instance.shop_objective.makespan == 0:
        return lower_bound(instance)
    deadline = bound_deadline(budget.deadline)
    if not kernels_ready(deadline, budget.should_stop):
        return lower_bound(instance)
    return lower_bound(
        instance, energetic_bound(instance, start.makespan, deadline, budget.should_stop)
    )


def classic_search(
    instance: JobShopInstance, start: JobShopSolution, budget: Budget, *, gains: Counter[str]
) -> SearchAnswer[JobShopSolution]:
    """The classic job shop's search: :func:`~.elite.elite_search`, then on shops of more than
    :data:`~.elite.STALL_MAX_OPERATIONS` operations :func:`improve` from its best for the last
    :data:`CLASSIC_LNS_SHARE` of the budget, from ``start``. ``gains`` adds up the makespan each
    part took off (the elite search's by start, this search's as :data:`METHOD`)."""
    lns_share = CLASSIC_LNS_SHARE if instance.num_operations > STALL_MAX_OPERATIONS else 0.0
    now = time.monotonic()
    elite_deadline = now + (1.0 - lns_share) * max(0.0, budget.deadline - now)
    searched = elite_search(
        instance, start, dataclasses.replace(budget, deadline=elite_deadline), gains
    )
    if lns_share <= 0.0 or searched.proven_optimal or budget.should_stop():
        return searched
    best = searched.solution or start
    improved = improve(instance, best, budget)
    if improved.solution is None:
        return searched
    gains[METHOD] += best.makespan - improved.solution.makespan
    return dataclasses.replace(improved, bound=searched.bound)


def goal(instance: JobShopInstance) -> float | None:
    """No objective settles a shop's question short of a proof: None."""
    return None


class KindSearch:
    """What makes the kind ``Searchable`` and a ``CooperativeSearch``: :func:`kind_search`
    for both, with :data:`SEARCH_SHARE` of the time, on every size, with no goal."""

    auto_backend_limit: int | None = None
    search_share = SEARCH_SHARE
    search = staticmethod(kind_search)
    search_with = staticmethod(kind_search)
    goal = staticmethod(goal)


def improve(
    instance: JobShopInstance, incumbent: JobShopSolution, budget: Budget
) -> SearchAnswer[JobShopSolution]:
    """Improve ``incumbent`` within ``budget``, one step at a time on each of its threads
    (CP-SAT on one thread per step; all threads share the incumbent); the calling thread hands
    each strict improvement to ``budget.on_solution`` (at most one every :data:`REPORT_S`, the
    last one always). The answer is the best schedule found when it beats
    the incumbent, and proven optimal when a step that freed every operation ended optimal."""
    compiled = compile_instance(instance)
    run = _Run(instance, compiled, incumbent, budget.deadline, budget.should_stop)
    reported = incumbent

    def hand_over() -> None:
        nonlocal reported
        reported = _report(run, reported, budget.on_solution)

    work = lambda s: run.work(random.Random(s), s)  # noqa: E731
    on_workers(work, budget.workers, budget.seed, hand_over, REPORT_S)
    best = run.best
    if best is incumbent:
        return SearchAnswer(METHOD, proven_optimal=run.proven)
    return SearchAnswer(METHOD, best, best.value(), proven_optimal=run.proven)


def _report(
    run: _Run,
    reported: JobShopSolution,
    on_solution: OnSolution | None,
) -> JobShopSolution:
    """Hand ``run``'s best to ``on_solution`` when it is not the one last handed over."""
    best = run.best
    if best is not reported and on_solution is not None:
        on_solution(METHOD, best, best.value())
    return best


class _Run:
    """One search: the shared incumbent and best, the adaptive state, the stop."""

    def __init__(
        self,
        instance: JobShopInstance,
        compiled: Compiled[JobShopIndex],
        incumbent: JobShopSolution,
        deadline: float,
        should_stop: ShouldStop,
    ) -> None:
        self.instance = instance
        self.compiled = compiled
        self.deadline = deadline
        self.should_stop = should_stop
        self.lock = threading.Lock()
        self.current = self.best = incumbent
        self.steps = _Steps()
        self.proven = False
        self.started = self.improved_at = time.monotonic()
        objective = instance.shop_objective
        self.may_stall = not (
            objective.total_weighted_tardiness
            or objective.total_weighted_completion
            or objective.weighted_tardy_jobs
        )

    def stalled(self, now: float) -> bool:
        """Whether nothing improved for :data:`STALL_SHARE` of the search (and
        :data:`MIN_STALL_S`) under an objective of maxima only."""
        if not self.may_stall:
            return False
        quiet = now - self.improved_at
        return quiet > max(MIN_STALL_S, STALL_SHARE * (now - self.started))

    def work(self, rng: random.Random, seed: int) -> None:
        """Steps until the deadline, a stop request or a proof (one thread's loop)."""
        while not (self.proven or self.should_stop()):
            now = time.monotonic()
            left = self.deadline - now
            if left < MIN_STEP_S or self.stalled(now):
                return
            with self.lock:
                name = self.steps.pick(rng)
                current = self.current
                free = _neighbourhood(name, self.instance, current, self.steps.share, rng)
            found, exhausted = _step(
                self.compiled, self.instance, current, free, min(left, STEP_LIMIT_S), seed
            )
            seed += 1
            with self.lock:
                self._learn(name, found, exhausted, len(free))

    def _learn(self, name: str, found: JobShopSolution | None, exhausted: bool, freed: int) -> None:
        improved = found is not None and found.value() < self.best.value()
        self.steps.learn(name, improved, exhausted)
        if found is not None and found.value() <= self.current.value():
            self.current = found
        if found is not None and improved:
            self.best = found
            self.improved_at = time.monotonic()
        if exhausted and freed == self.instance.num_operations:
            self.proven = True


def _neighbourhood(
    name: str,
    instance: JobShopInstance,
    solution: JobShopSolution,
    share: float,
    rng: random.Random,
) -> frozenset[Operation]:
    """The operations ``name`` frees in ``solution``, about ``share`` of them."""
    ops = solution.operations
    count = min(len(ops), max(MIN_FREE_OPERATIONS, math.ceil(share * len(ops))))
    if name == "window":
        ordered = sorted(ops, key=lambda o: (o.start, o.job, o.index))
        first = rng.randrange(len(ordered) - count + 1)
        return frozenset((o.job, o.index) for o in ordered[first : first + count])
    if name == "jobs":
        costs = _job_costs(instance, solution)
        return _whole(ops, count, _job_of, lambda sizes: _drawn(rng, sizes, costs))
    return _whole(ops, count, _machine_of, lambda sizes: _drawn(rng, sizes, {}))


def _job_of(o: ScheduledOperation) -> int:
    return o.job


def _machine_of(o: ScheduledOperation) -> int:
    return o.machine


def _job_costs(instance: JobShopInstance, solution: JobShopSolution) -> dict[int, float]:
    """Each job's share of what it adds to the objective's per-job terms (weighted tardiness,
    completion and tardy job, and its own lateness for the maximum lateness)."""
    objective = instance.shop_objective
    costs = {}
    for j, end in enumerate(solution.completions(instance)):
        weight, due = instance.weights[j], instance.dues[j]
        late = max(0, end - due)
        costs[j] = (
            weight
            * (
                objective.total_weighted_tardiness * late
                + objective.total_weighted_completion * end
                + objective.weighted_tardy_jobs * (late > 0)
            )
            + objective.max_lateness * late
        )
    total = sum(costs.values()) or 1.0
    return {j: c / total for j, c in costs.items()}


def _drawn(rng: random.Random, sizes: Counter[int], costs: dict[int, float]) -> list[int]:
    """Every group of ``sizes`` once, in a random order that puts the costly ones first more
    often: keys :math:`u^{1 / (1 + n c_g)}` (``u`` uniform, ``n`` the number of groups, ``c_g``
    the group's share of the cost) sorted descending, weighted sampling without replacement."""
    n = len(sizes)
    keyed = [(rng.random() ** (1.0 / (1.0 + costs.get(g, 0.0) * n)), g) for g in sizes]
    return [g for _, g in sorted(keyed, reverse=True)]


def _whole(
    ops: tuple[ScheduledOperation, ...],
    count: int,
    group_of: Callable[[ScheduledOperation], int],
    order: Callable[[Counter[int]], list[int]],
) -> frozenset[Operation]:
    """Whole groups of operations (``group_of``: its job, or its machine), taken in ``order``
    until they hold ``count`` operations."""
    sizes = Counter(group_of(o) for o in ops)
    chosen: set[int] = set()
    total = 0
    for group in order(sizes):
        if total >= count:
            break
        chosen.add(group)
        total += sizes[group]
    return frozenset((o.job, o.index) for o in ops if group_of(o) in chosen)


def _step(
    compiled: Compiled[JobShopIndex],
    instance: JobShopInstance,
    current: JobShopSolution,
    free: frozenset[Operation],
    limit_s: float,
    seed: int,
) -> tuple[JobShopSolution | None, bool]:
    """CP-SAT on ``compiled`` with everything but ``free`` kept as in ``current``: the schedule
    it found, and whether it proved the part optimal."""
    cp = compile_model(compiled.ir.with_hints(hint_values(instance, compiled, current)))
    _keep_the_rest(cp, compiled.index, current, free)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = limit_s
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed % (2**31)
    code = solver.solve(cp.model)
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, False
    values = [solver.value(v) for v in cp.variables]
    return decode(instance, compiled, values), code == cp_model.OPTIMAL


def _keep_the_rest(
    cp: CompiledCpModel,
    index: JobShopIndex,
    current: JobShopSolution,
    free: frozenset[Operation],
) -> None:
    """Every kept operation stays on its machine; the kept operations of each machine stay in
    their order there."""
    kept: dict[int, list[ScheduledOperation]] = {}
    for o in current.operations:
        if (o.job, o.index) in free:
            continue
        kept.setdefault(o.machine, []).append(o)
        for machine, x in index.choices[o.job][o.index]:
            if machine == o.machine:
                cp.model.add(cp.variables[x.index] == 1)
    for ops in kept.values():
        ops.sort(key=lambda o: (o.start, o.end))
        for a, b in itertools.pairwise(ops):
            start_a = cp.variables[index.starts[a.job][a.index].index]
            start_b = cp.variables[index.starts[b.job][b.index].index]
            cp.model.add(start_b >= start_a + (a.end - a.start))
