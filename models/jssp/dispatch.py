"""Giffler-Thompson dispatching: active job-shop schedules under priority rules, for the classic
job shop (one machine per operation; :mod:`.shop` dispatches every other instance).

A schedule is built one operation at a time. At each step the unscheduled operation with the
earliest possible completion ``C`` fixes a machine; among the operations ready on that machine
that could start before ``C`` (the conflict set) a priority rule picks the one to schedule, as
early as possible. Every schedule built this way is *active*: no operation can start earlier
without delaying another.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass

from makespan.models.jssp.instance import JobShopInstance

__all__ = ["DISPATCH_RULES", "WarmStart", "best_dispatch", "giffler_thompson"]

DISPATCH_RULES: tuple[str, ...] = ("spt", "lpt", "mwkr", "mopnr", "mwkr_spt")
"""Priority rules for :func:`giffler_thompson`.

``spt`` shortest processing time; ``lpt`` longest processing time; ``mwkr`` most work remaining in
the job (this operation included); ``mopnr`` most operations remaining in the job; ``mwkr_spt``
largest ratio of remaining job work to processing time.
"""

_RuleKey = Callable[[int, int, int], float]
"""``key(duration, remaining_work, remaining_ops)``: the rule schedules the smallest key."""


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


def _rule_key(rule: str) -> _RuleKey:
    """The key minimised by ``rule``."""
    if rule == "spt":
        return lambda d, w, o: d
    if rule == "lpt":
        return lambda d, w, o: -d
    if rule == "mwkr":
        return lambda d, w, o: -w
    if rule == "mopnr":
        return lambda d, w, o: -o
    if rule == "mwkr_spt":
        return lambda d, w, o: -w / d if d > 0 else float("-inf")
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
    dispatcher = _Dispatcher(instance, _rule_key(rule), rng)
    while (conflict := dispatcher.next_conflict()) is not None:
        completion, job = conflict
        dispatcher.schedule(dispatcher.choose(completion, job), completion, job)
    return WarmStart(
        method=rule,
        starts=tuple(tuple(row) for row in dispatcher.starts),
        makespan=dispatcher.makespan,
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


def _suffix_sums(row: list[int]) -> list[int]:
    """``out[k] = sum(row[k:])``: the work left in a job from its operation ``k`` on."""
    out = [0] * len(row)
    acc = 0
    for k in range(len(row) - 1, -1, -1):
        acc += row[k]
        out[k] = acc
    return out


class _Dispatcher:
    """The partial schedule of :func:`giffler_thompson`: per job its next operation and when it
    can start, per machine when it is free and which jobs wait for it."""

    def __init__(self, instance: JobShopInstance, key: _RuleKey, rng: random.Random | None):
        self.key = key
        self.rng = rng
        fixed = [[op.fixed for op in job] for job in instance.jobs]
        self.machines = [[machine for machine, _ in row] for row in fixed]
        self.durations = [[duration for _, duration in row] for row in fixed]
        self.remaining_work = [_suffix_sums(row) for row in self.durations]
        self.next_op = [0] * instance.num_jobs
        self.job_ready = [0] * instance.num_jobs
        self.machine_ready = [0] * instance.num_machines
        self.waiting: list[list[int]] = [[] for _ in range(instance.num_machines)]
        self.starts = [[0] * len(row) for row in self.durations]
        self.makespan = 0
        # Lazy heap of (completion-time lower bound, job, op index): ready times only grow, so
        # a popped entry whose recomputed value is unchanged is the true minimum.
        self.heap: list[tuple[int, int, int]] = []
        for j, row in enumerate(self.machines):
            self.waiting[row[0]].append(j)
            self.heap.append((self.durations[j][0], j, 0))
        heapq.heapify(self.heap)

    def next_conflict(self) -> tuple[int, int] | None:
        """``(C, job)``: the earliest completion among unscheduled operations and whose it is;
        None once every operation is scheduled."""
        heap, next_op, job_ready, machine_ready = (
            self.heap,
            self.next_op,
            self.job_ready,
            self.machine_ready,
        )
        while heap:  # the hot loop: locals and inline max() save most of its time
            completion, j, k = heapq.heappop(heap)
            if next_op[j] != k:
                continue  # stale: that operation is already scheduled
            begin = job_ready[j]
            free = machine_ready[self.machines[j][k]]
            real = (begin if begin > free else free) + self.durations[j][k]
            if real == completion:
                return completion, j
            heapq.heappush(heap, (real, j, k))
        return None

    def choose(self, completion: int, job: int) -> int:
        """The job whose operation the rule ranks first in the conflict set on ``job``'s
        machine: the waiting operations that could start before ``completion``."""
        m = self.machines[job][self.next_op[job]]
        free = self.machine_ready[m]
        job_ready, next_op, durations, key = self.job_ready, self.next_op, self.durations, self.key
        best_key = 0.0
        chosen: list[int] = []
        for i in self.waiting[m]:  # the hot loop: locals and no calls but the rule's key
            if i == job or (free < completion and job_ready[i] < completion):
                k = next_op[i]
                row = durations[i]
                value = key(row[k], self.remaining_work[i][k], len(row) - k)
                if not chosen or value < best_key:
                    best_key = value
                    chosen = [i]
                elif value == best_key:
                    chosen.append(i)
        if self.rng is None or len(chosen) == 1:
            return min(chosen)
        return chosen[self.rng.randrange(len(chosen))]

    def schedule(self, i: int, completion: int, job: int) -> None:
        """Start job ``i``'s next operation as early as possible; ``(completion, job)`` is the
        conflict it was chosen in, whose bound stays valid when ``i`` is another job."""
        k = self.next_op[i]
        machines, durations = self.machines[i], self.durations[i]
        m = machines[k]
        begin = max(self.job_ready[i], self.machine_ready[m])
        end = begin + durations[k]
        self.starts[i][k] = begin
        self.job_ready[i] = self.machine_ready[m] = end
        if end > self.makespan:
            self.makespan = end
        self.waiting[m].remove(i)
        self.next_op[i] = k + 1
        if k + 1 < len(durations):
            self.waiting[machines[k + 1]].append(i)
            heapq.heappush(self.heap, (end + durations[k + 1], i, k + 1))
        if i != job:
            heapq.heappush(self.heap, (completion, job, self.next_op[job]))
