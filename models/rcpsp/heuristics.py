"""Warm-start heuristics for the RCPSP (minimise the makespan :math:`\\max_i (S_i + p_i)`).

* :func:`serial_sgs` builds an *active* schedule: activities in priority order, each at its
  earliest start that every resource allows; :func:`parallel_sgs` a *non-delay* one: at each
  decision time, every eligible activity that fits starts, in priority order.
* Priority rules (:data:`RULES`): LFT, LST, MTS, GRPW, EST, SPT.
* :func:`justify` is forward-backward improvement: every activity as late as possible in
  order of decreasing finish, then as early as possible in order of increasing start, repeated
  while the makespan shrinks (Valls, Ballestín & Quintanilla 2005).
* :func:`warm_start` decodes priority-rule and regret-biased random activity lists with the
  compiled serial scheme and justification (:func:`sampled_lists`, :mod:`.kernels`); where the
  kernels do not take the instance (a huge horizon) or are not loaded in time,
  :func:`scheme_warm_start` runs every scheme and rule here, justifies each schedule, then
  samples randomly biased LFT lists within the time budget.

Beyond the textbook RCPSP the schemes keep downtime (a resource's load is its full capacity
there), disjunctive pairs (a unit resource per pair), releases, deadlines and lags: every
activity carries a time window that the temporal network propagates after each placement. With
maximum lags or deadlines a scheme can paint itself into a corner (a window with no room left);
it then gives up and returns None, and the exact solver carries on.
"""

from __future__ import annotations

import dataclasses
import heapq
import random
import time
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from makespan.models.rcpsp.bounds import lower_bound
from makespan.models.rcpsp.check import infeasibility_reason
from makespan.models.rcpsp.instance import RcpspFixed, RcpspInstance, RcpspSolution
from makespan.models.rcpsp.network import (
    UNBOUNDED,
    Network,
    PositiveCycleError,
    build_network,
    earliest_starts,
    latest_starts,
)
from makespan.models.spec import Steering, WarmStart

RULES: tuple[str, ...] = ("lft", "lst", "mts", "grpw", "est", "spt")
"""Priority rules: ``lft`` latest finish, ``lst`` latest start, ``mts`` most total successors,
``grpw`` greatest rank positional weight (own plus immediate successors' durations), ``est``
earliest start, ``spt`` shortest duration."""

SCHEMES: tuple[str, ...] = ("serial", "parallel")
"""Schedule-generation schemes, by name (see :data:`SCHEME_FUNCTIONS`)."""

_MIN_STALL_SAMPLES = 50
_MAX_JUSTIFY_ROUNDS = 20
_SAMPLING_NOISE = 0.5


@dataclass(frozen=True)
class Schedule:
    """A feasible schedule found by a heuristic.

    Attributes:
        method: how it was built, e.g. ``"serial-lft+fbi"``.
        starts: start times by activity position.
        makespan: the largest end.
    """

    method: str
    starts: tuple[int, ...]
    makespan: int


@dataclass(frozen=True)
class Project:
    """What the schemes read, by activity position.

    Attributes:
        network: durations, windows and difference arcs.
        order: ``order[i]``: activities that may be placed only after ``i`` (precedences and
            positive minimum lags; acyclic).
        demands: ``demands[i]``: ``(resource, amount)`` pairs; disjunctive pairs are extra unit
            resources.
        capacities: by resource.
        downtime: half-open periods by resource.
    """

    network: Network
    order: tuple[tuple[int, ...], ...]
    demands: tuple[tuple[tuple[int, int], ...], ...]
    capacities: tuple[int, ...]
    downtime: tuple[tuple[tuple[int, int], ...], ...]

    @property
    def size(self) -> int:
        """Number of activities."""
        return self.network.size

    @cached_property
    def windows(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Earliest and latest starts before anything is placed (deadlines only, no horizon).

        Raises:
            PositiveCycleError: the lags admit no schedule.
        """
        return tuple(earliest_starts(self.network)), tuple(latest_starts(self.network))

    @cached_property
    def before(self) -> tuple[int, ...]:
        """How many activities must be placed before each one."""
        counts = [0] * self.size
        for successors in self.order:
            for j in successors:
                counts[j] += 1
        return tuple(counts)

    def reversed(self, horizon: int) -> Project:
        """The mirror project on ``[0, horizon]``: :math:`S'_i = T - S_i - p_i`, so a schedule
        of it read backwards is a schedule of this project ending by ``horizon``."""
        net = self.network
        p = net.durations
        arcs = tuple((j, i, w + p[j] - p[i]) for i, j, w in net.arcs)
        releases = tuple(0 if d >= UNBOUNDED else max(0, horizon - d) for d in net.deadlines)
        deadlines = tuple(horizon - r for r in net.releases)
        order: list[list[int]] = [[] for _ in range(self.size)]
        for i, successors in enumerate(self.order):
            for j in successors:
                order[j].append(i)
        downtime = tuple(
            tuple((max(0, horizon - b), horizon - a) for a, b in periods if horizon - a > 0)
            for periods in self.downtime
        )
        mirror = Network(p, releases, deadlines, arcs, net.ids)
        return Project(mirror, tuple(map(tuple, order)), self.demands, self.capacities, downtime)


def build_project(instance: RcpspInstance, network: Network) -> Project:
    """The scheme's view of ``instance``."""
    pos = instance.position
    resources = {r.name: k for k, r in enumerate(instance.resources)}
    demands: list[list[tuple[int, int]]] = [
        [(resources[name], q) for name, q in a.demands.items() if q > 0]
        for a in instance.activities
    ]
    capacities = [r.capacity for r in instance.resources]
    for a, b in instance.disjunctive:
        demands[pos[a]].append((len(capacities), 1))
        demands[pos[b]].append((len(capacities), 1))
        capacities.append(1)
    order: list[set[int]] = [{pos[s] for s in a.successors} for a in instance.activities]
    for lag in instance.lags:
        if lag.min is not None and lag.min > 0 and lag.source != lag.to:
            order[pos[lag.source]].add(pos[lag.to])
    if _has_cycle(order):  # positive lags against the precedences: keep the precedences only
        order = [{pos[s] for s in a.successors} for a in instance.activities]
    downtime = [tuple(sorted(r.downtime)) for r in instance.resources]
    downtime += [()] * len(instance.disjunctive)
    return Project(
        network,
        tuple(tuple(sorted(s)) for s in order),
        tuple(tuple(d) for d in demands),
        tuple(capacities),
        tuple(downtime),
    )


def _has_cycle(order: Sequence[set[int]]) -> bool:
    indegree = [0] * len(order)
    for successors in order:
        for j in successors:
            indegree[j] += 1
    ready = [i for i, d in enumerate(indegree) if d == 0]
    seen = 0
    while ready:
        i = ready.pop()
        seen += 1
        for j in order[i]:
            indegree[j] -= 1
            if indegree[j] == 0:
                ready.append(j)
    return seen < len(order)


# --------------------------------------------------------------------------------------------
# Resource profiles and time windows
# --------------------------------------------------------------------------------------------


class _Profile:
    """The load of one resource over time: ``loads[k]`` holds on ``[times[k], times[k+1])``,
    the last one forever."""

    def __init__(self, capacity: int, downtime: Sequence[tuple[int, int]]) -> None:
        self.times = [0]
        self.loads = [0]
        for a, b in downtime:
            self.add(a, b, capacity)

    def _split(self, t: int) -> int:
        k = bisect_right(self.times, t) - 1
        if self.times[k] != t:
            self.times.insert(k + 1, t)
            self.loads.insert(k + 1, self.loads[k])
            k += 1
        return k

    def add(self, start: int, end: int, amount: int) -> None:
        """Load ``amount`` more on ``[start, end)``."""
        first, last = self._split(start), self._split(end)
        for k in range(first, last):
            self.loads[k] += amount

    def blocked_until(self, start: int, end: int, limit: int) -> int | None:
        """The end of the last stretch in ``[start, end)`` loaded above ``limit``, or None.

        No start before that time can fit: every such interval overlaps that stretch.
        """
        k = bisect_right(self.times, start) - 1
        blocked = None
        while k < len(self.times) and self.times[k] < end:
            if self.loads[k] > limit:
                # The last stretch carries no load above a limit >= 0, so k + 1 exists.
                blocked = self.times[k + 1]
            k += 1
        return blocked

    def next_change(self, t: int) -> int | None:
        """The first time after ``t`` where the load changes."""
        k = bisect_right(self.times, t)
        return self.times[k] if k < len(self.times) else None


@dataclass
class _State:
    """A partial schedule: resource profiles, windows and placed starts."""

    project: Project
    profiles: list[_Profile]
    early: list[int]
    late: list[int]
    starts: list[int | None] = field(default_factory=list)

    @classmethod
    def initial(cls, project: Project) -> _State:
        """Nothing placed: free profiles but for downtime, the project's initial windows."""
        profiles = [
            _Profile(c, d) for c, d in zip(project.capacities, project.downtime, strict=True)
        ]
        early, late = project.windows
        return cls(project, profiles, list(early), list(late), [None] * project.size)

    def fits(self, i: int, t: int) -> int | None:
        """None when ``i`` can run on ``[t, t + p_i)``, else a later time to try."""
        p = self.project.network.durations[i]
        if p == 0:
            return None
        retry = None
        for k, q in self.project.demands[i]:
            blocked = self.profiles[k].blocked_until(t, t + p, self.project.capacities[k] - q)
            if blocked is not None and (retry is None or blocked > retry):
                retry = blocked
        return retry

    def earliest_fit(self, i: int) -> int | None:
        """The earliest start of ``i`` inside its window that the resources allow."""
        if any(q > self.project.capacities[k] for k, q in self.project.demands[i]):
            return None
        t = self.early[i]
        while t <= self.late[i]:
            retry = self.fits(i, t)
            if retry is None:
                return t
            t = retry
        return None

    def place(self, i: int, t: int) -> bool:
        """Start ``i`` at ``t``, reserve its resources and narrow every window; False when a
        window empties."""
        self.starts[i] = t
        p = self.project.network.durations[i]
        if p:
            for k, q in self.project.demands[i]:
                self.profiles[k].add(t, t + p, q)
        self.early[i] = self.late[i] = t
        return self._narrow(i)

    def _narrow(self, i: int) -> bool:
        net = self.project.network
        try:
            touched = _propagate(self.early, net.outgoing, i, 1)
            touched |= _propagate(self.late, net.incoming, i, -1)
        except PositiveCycleError:
            return False
        return all(self.early[j] <= self.late[j] for j in touched)


def _propagate(
    label: list[int], adjacency: Sequence[Sequence[tuple[int, int]]], origin: int, sign: int
) -> set[int]:
    """Restore ``sign * label[j] >= sign * label[i] + w`` along ``adjacency`` from ``origin``
    (``sign = 1``: earliest starts forward; ``-1``: latest starts backward); returns the
    activities whose label changed."""
    queue = deque([origin])
    queued = {origin}
    touched: set[int] = set()
    pops = 0
    limit = len(label) * len(label) + 1
    while queue:
        i = queue.popleft()
        queued.discard(i)
        pops += 1
        if pops > limit:  # only a positive cycle keeps a bounded label rising this long
            raise PositiveCycleError("positive cycle")
        for j, w in adjacency[i]:
            candidate = label[i] + sign * w
            if sign * candidate > sign * label[j]:
                label[j] = candidate
                touched.add(j)
                if j not in queued:
                    queue.append(j)
                    queued.add(j)
    return touched


# --------------------------------------------------------------------------------------------
# Schedule-generation schemes
# --------------------------------------------------------------------------------------------


def serial_sgs(project: Project, priority: Sequence[float]) -> list[int] | None:
    """Active schedule: repeatedly the eligible activity of least ``priority`` (ties: lowest
    position) at its earliest feasible start; None when a window runs out of room."""
    state = _State.initial(project)
    waiting = list(project.before)
    ready = [(priority[i], i) for i in range(project.size) if waiting[i] == 0]
    heapq.heapify(ready)
    while ready:
        _, i = heapq.heappop(ready)
        t = state.earliest_fit(i)
        if t is None or not state.place(i, t):
            return None
        for j in project.order[i]:
            waiting[j] -= 1
            if waiting[j] == 0:
                heapq.heappush(ready, (priority[j], j))
    return _complete(state)


def parallel_sgs(project: Project, priority: Sequence[float]) -> list[int] | None:
    """Non-delay schedule: at each decision time, the eligible activities whose window has
    opened start in ``priority`` order when the resources allow; time then moves to the next
    release of resources or window opening. None when a window closes unserved."""
    state = _State.initial(project)
    waiting = list(project.before)
    eligible = {i for i in range(project.size) if waiting[i] == 0}
    t = 0
    while eligible:
        started = _start_all_fitting(state, eligible, priority, t)
        if started is None:
            return None
        for i in started:
            for j in project.order[i]:
                waiting[j] -= 1
                if waiting[j] == 0:
                    eligible.add(j)
        if started:
            continue  # successors may be due at this same time
        following = _next_decision(state, eligible, t)
        if following is None or any(state.late[i] < following for i in eligible):
            return None
        t = following
    return _complete(state)


def _start_all_fitting(
    state: _State, eligible: set[int], priority: Sequence[float], t: int
) -> list[int] | None:
    started = []
    for i in sorted((i for i in eligible if state.early[i] <= t), key=lambda i: (priority[i], i)):
        if state.early[i] <= t <= state.late[i] and state.fits(i, t) is None:
            if not state.place(i, t):
                return None
            eligible.discard(i)
            started.append(i)
    return started


def _next_decision(state: _State, eligible: set[int], t: int) -> int | None:
    times = [state.early[i] for i in eligible if state.early[i] > t]
    times += [c for p in state.profiles if (c := p.next_change(t)) is not None]
    return min(times, default=None)


def _complete(state: _State) -> list[int] | None:
    starts = state.starts
    if any(s is None for s in starts):
        return None  # only with an order that skipped activities, which acyclicity excludes
    return [s for s in starts if s is not None]


SCHEME_FUNCTIONS: dict[str, Callable[[Project, Sequence[float]], list[int] | None]] = {
    "serial": serial_sgs,
    "parallel": parallel_sgs,
}
"""Each scheme: ``(project, priority values) -> starts or None``."""


# --------------------------------------------------------------------------------------------
# Priority rules and forward-backward improvement
# --------------------------------------------------------------------------------------------


def priorities(project: Project, rule: str) -> list[float]:
    """Values of ``rule`` (see :data:`RULES`), smaller first.

    Raises:
        ValueError: unknown rule.
        PositiveCycleError: the lags admit no schedule.
    """
    net = project.network
    p = net.durations
    if rule in ("lft", "lst", "est"):
        early = earliest_starts(net)
        if rule == "est":
            return [float(e) for e in early]
        horizon = max(e + d for e, d in zip(early, p, strict=True))
        late = latest_starts(net, horizon)
        return [float(late[i] + (p[i] if rule == "lft" else 0)) for i in range(net.size)]
    if rule == "mts":
        return [-float(count) for count in _descendant_counts(project)]
    if rule == "grpw":
        return [-float(p[i] + sum(p[j] for j in project.order[i])) for i in range(net.size)]
    if rule == "spt":
        return [float(d) for d in p]
    raise ValueError(f"unknown priority rule {rule!r}; expected one of {RULES}")


def _descendant_counts(project: Project) -> list[int]:
    """How many activities follow each one in ``order``, transitively; one bitset per activity,
    merged in reverse topological order."""
    waiting = list(project.before)
    ready = [i for i in range(project.size) if waiting[i] == 0]
    topological = []
    while ready:
        i = ready.pop()
        topological.append(i)
        for j in project.order[i]:
            waiting[j] -= 1
            if waiting[j] == 0:
                ready.append(j)
    below = [0] * project.size
    for i in reversed(topological):
        for j in project.order[i]:
            below[i] |= below[j] | (1 << j)
    return [bits.bit_count() for bits in below]


def makespan(project: Project, starts: Sequence[int]) -> int:
    """The largest end of ``starts``."""
    return max((s + p for s, p in zip(starts, project.network.durations, strict=True)), default=0)


def justify(project: Project, starts: Sequence[int]) -> list[int]:
    """Forward-backward improvement: right- then left-justify while the makespan shrinks; never
    worse than ``starts``."""
    best = list(starts)
    best_makespan = makespan(project, best)
    p = project.network.durations
    for _ in range(_MAX_JUSTIFY_ROUNDS):
        horizon = best_makespan
        # Backward pass on the mirror: latest finish first, as late as possible.
        mirrored = serial_sgs(
            project.reversed(horizon),
            [float(horizon - s - d) for s, d in zip(best, p, strict=True)],
        )
        if mirrored is None:
            break
        backward = [horizon - s - d for s, d in zip(mirrored, p, strict=True)]
        forward = serial_sgs(project, [float(s) for s in backward]) or backward
        found = makespan(project, forward)
        if found >= best_makespan:
            break
        best, best_makespan = forward, found
    return best


# --------------------------------------------------------------------------------------------
# Warm start
# --------------------------------------------------------------------------------------------


@dataclass
class _Search:
    """The best schedule so far and when to stop looking."""

    project: Project
    deadline: float
    target: int
    should_stop: Callable[[], bool]
    best: Schedule | None = None

    def offer(self, method: str, starts: list[int] | None) -> bool:
        """Justify and keep ``starts`` when better; True when it improved the best."""
        if starts is None:
            return False
        improved = justify(self.project, starts)
        value = makespan(self.project, improved)
        if self.best is not None and value >= self.best.makespan:
            return False
        self.best = Schedule(f"{method}+fbi", tuple(improved), value)
        return True

    @property
    def done(self) -> bool:
        """Out of time, told to stop, or at the lower bound."""
        if self.best is not None and self.best.makespan <= self.target:
            return True
        return time.monotonic() >= self.deadline or self.should_stop()


def warm_start(
    instance: RcpspInstance,
    time_budget_s: float,
    seed: int = 0,
    should_stop: Callable[[], bool] | None = None,
) -> WarmStart[RcpspSolution] | None:
    """The kind's warm start: the compiled :func:`sampled_lists` where the kernels take the
    instance, else the Python :func:`scheme_warm_start`; within ``time_budget_s``. None when the
    instance is infeasible or no schedule was found (tight maximum lags or deadlines)."""
    if infeasibility_reason(instance) is not None:
        return None
    stop = should_stop or (lambda: False)
    deadline = time.monotonic() + time_budget_s
    found = sampled_lists(instance, deadline, seed, stop)
    if found is not None:
        return found
    return scheme_warm_start(instance, deadline, seed, stop)


def sampled_lists(
    instance: RcpspInstance, deadline: float, seed: int, should_stop: Callable[[], bool]
) -> WarmStart[RcpspSolution] | None:
    """The best of a genetic search's initial population (:mod:`.evolve`): an activity list per
    priority rule and regret-biased random lists, each decoded by the compiled serial scheme and
    justified. None when the kernels do not take the instance, are not loaded by ``deadline``,
    or no list decodes."""
    from makespan.models.rcpsp.evolve import Evolution, kernels_ready, problem_of

    arrays = problem_of(instance)
    if arrays is None or not kernels_ready(deadline, should_stop):
        return None
    search = Evolution(arrays, seed=seed, target=lower_bound(instance) or 0)
    search.run_until(deadline, should_stop, lambda e: e.seeded < e.pop.size[0])
    if search.best_makespan is None:
        return None
    solution = RcpspSolution.from_starts(instance, search.best_starts)
    return WarmStart("sampled-lists+fbi", solution, solution.makespan)


def scheme_warm_start(
    instance: RcpspInstance, deadline: float, seed: int, should_stop: Callable[[], bool]
) -> WarmStart[RcpspSolution] | None:
    """The best schedule of every scheme x rule, justified, then of random LFT-biased samples
    until ``deadline``, ``should_stop()``, the lower bound, or a stall. None when no scheme
    placed every activity (tight maximum lags or deadlines); the caller has ruled out an
    infeasible instance."""
    project = build_project(instance, build_network(instance))
    search = _Search(project, deadline, lower_bound(instance) or 0, should_stop)
    _run_schemes(search)
    if not search.done:
        _sample(search, random.Random(seed), priorities(project, "lft"))
    if search.best is None:
        return None
    solution = RcpspSolution.from_starts(instance, search.best.starts)
    return WarmStart(search.best.method, solution, solution.makespan)


def _run_schemes(search: _Search) -> None:
    """Every scheme under every rule, until the search is done."""
    for rule in RULES:
        values = priorities(search.project, rule)
        for scheme in SCHEMES:
            if search.done:
                return
            search.offer(f"{scheme}-{rule}", SCHEME_FUNCTIONS[scheme](search.project, values))


def _sample(search: _Search, rng: random.Random, lft: Sequence[float]) -> None:
    """Serial SGS on LFT values perturbed by noise proportional to their spread."""
    spread = (max(lft) - min(lft)) or 1.0
    stall = 0
    limit = max(_MIN_STALL_SAMPLES, search.project.size)
    while stall < limit and not search.done:
        noisy = [v + rng.random() * _SAMPLING_NOISE * spread for v in lft]
        stall = 0 if search.offer("sampled-lft", serial_sgs(search.project, noisy)) else stall + 1


def repair(instance: RcpspInstance, steering: Steering[RcpspSolution]) -> RcpspSolution | None:
    """The serial scheme with the reference's starts as priorities (without a reference, the
    latest-finish rule) and every fixed activity's window pinned to its start: each activity
    as early as it fits, in the reference's order, so that little moves. None when a pinned
    window or a lag runs out of room."""
    if infeasibility_reason(instance) is not None:
        return None
    network = build_network(instance)
    fixed = steering.fixed if isinstance(steering.fixed, RcpspFixed) else RcpspFixed()
    releases, deadlines = list(network.releases), list(network.deadlines)
    for f in fixed.activities:
        i = instance.position[f.id]
        if not releases[i] <= f.start <= deadlines[i] - network.durations[i]:
            return None
        releases[i], deadlines[i] = f.start, f.start + network.durations[i]
    pinned = dataclasses.replace(network, releases=tuple(releases), deadlines=tuple(deadlines))
    try:
        project = build_project(instance, pinned)
        if steering.reference is not None:
            order: Sequence[float] = steering.reference.starts(instance)
        else:
            order = priorities(project, "lft")
        starts = serial_sgs(project, order)
    except PositiveCycleError:
        return None
    return None if starts is None else RcpspSolution.from_starts(instance, starts)
