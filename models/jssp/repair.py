"""Repair of a reference schedule for re-planning: keep the fixings, stay near the reference.

Operations fixed to a start are reserved first on their machines. Every other operation is then
placed one at a time, the next operation of each job in the order of the reference's starts: on
its fixed machine, else its reference machine while it may still run there, else the machine
where it completes earliest; at the earliest time at or after its job's ready time and its
reference start (a right shift, which keeps the reference's order and most of its starts) that
fits between what the machine already holds, downtime and setups included. When a right shift
would run into a later operation of its job that is fixed, the operation is placed as early as
it fits instead. The result is checked by the caller like any other solution.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from dataclasses import dataclass, field

from makespan.models.jssp.instance import (
    JobShopFixed,
    JobShopInstance,
    JobShopSolution,
    OperationFixing,
)
from makespan.models.spec import Steering

__all__ = ["repair"]


@dataclass(frozen=True, order=True)
class _Busy:
    """A span a machine is taken: an operation of ``job``, or downtime (job -1)."""

    start: int
    end: int
    job: int


@dataclass
class _Timeline:
    """One machine's taken spans, sorted and disjoint."""

    machine: int
    spans: list[_Busy] = field(default_factory=list)

    def reserve(self, span: _Busy) -> bool:
        """Take ``span``; False when it overlaps a span already taken."""
        at = bisect_right(self.spans, span)
        before = self.spans[at - 1] if at else None
        after = self.spans[at] if at < len(self.spans) else None
        if (before and before.end > span.start) or (after and span.end > after.start):
            return False
        self.spans.insert(at, span)
        return True

    def earliest(self, instance: JobShopInstance, job: int, duration: int, ready: int) -> int:
        """The earliest start at or after ``ready`` where an operation of ``job`` fits, with
        the setups from the span before it and into the span after it."""
        at = max(0, bisect_right([s.end for s in self.spans], ready) - 1)
        while True:
            before = self.spans[at - 1] if at else None
            after = self.spans[at] if at < len(self.spans) else None
            start = (
                ready
                if before is None
                else max(ready, before.end + self._setup(instance, before.job, job))
            )
            if (
                after is None
                or start + duration + self._setup(instance, job, after.job) <= after.start
            ):
                return start
            at += 1

    def _setup(self, instance: JobShopInstance, before: int, after: int) -> int:
        return 0 if before < 0 or after < 0 else instance.setup(self.machine, before, after)


def repair(
    instance: JobShopInstance, steering: Steering[JobShopSolution]
) -> JobShopSolution | None:
    """A schedule that keeps ``steering.fixed`` and follows ``steering.reference`` (module
    docstring); None when the fixings leave no room for it."""
    fixed = steering.fixed if isinstance(steering.fixed, JobShopFixed) else JobShopFixed()
    pins = {(f.job, f.index): f for f in fixed.operations}
    reference = {
        (op.job, op.index): (op.machine, op.start)
        for op in (steering.reference.operations if steering.reference else ())
    }
    timelines = [
        _Timeline(m, [_Busy(s, e, -1) for s, e in instance.downtime[m]])
        for m in range(instance.num_machines)
    ]
    starts = [[-1] * len(job) for job in instance.jobs]
    machines = [[-1] * len(job) for job in instance.jobs]
    for (j, k), pin in pins.items():
        if pin.start is None:
            continue
        machine = _machine(instance, j, k, pin.machine, reference, timelines, pin.start)
        if machine is None or not _take(instance, timelines[machine], j, k, pin.start):
            return None
        starts[j][k], machines[j][k] = pin.start, machine
    if not _place_the_rest(instance, pins, reference, timelines, starts, machines):
        return None
    return JobShopSolution.from_starts(instance, starts, machines)


def _take(instance: JobShopInstance, timeline: _Timeline, j: int, k: int, start: int) -> bool:
    duration = instance.jobs[j][k].duration_on(timeline.machine) or 0
    return duration == 0 or timeline.reserve(_Busy(start, start + duration, j))


def _machine(
    instance: JobShopInstance,
    j: int,
    k: int,
    pinned: int | None,
    reference: dict[tuple[int, int], tuple[int, int]],
    timelines: list[_Timeline],
    ready: int,
) -> int | None:
    """The operation's machine: its fixed one, its reference one while it may run there, else
    where it completes earliest from ``ready``."""
    op = instance.jobs[j][k]
    if pinned is not None:
        return pinned if op.duration_on(pinned) is not None else None
    before = reference.get((j, k))
    if before is not None and op.duration_on(before[0]) is not None:
        return before[0]
    return min((timelines[m].earliest(instance, j, d, ready) + d, d, m) for m, d in op.choices)[2]


def _place_the_rest(
    instance: JobShopInstance,
    pins: dict[tuple[int, int], OperationFixing],
    reference: dict[tuple[int, int], tuple[int, int]],
    timelines: list[_Timeline],
    starts: list[list[int]],
    machines: list[list[int]],
) -> bool:
    """Place every operation not yet placed, each job's next in reference order; False when a
    job cannot reach one of its fixed operations in time."""
    ready = list(instance.releases)
    queue = [(reference.get((j, 0), (0, 0))[1], j, 0) for j in range(instance.num_jobs)]
    heapq.heapify(queue)
    while queue:
        _, j, k = heapq.heappop(queue)
        if starts[j][k] < 0:
            pin = pins.get((j, k))
            pinned = None if pin is None else pin.machine
            machine = _machine(instance, j, k, pinned, reference, timelines, ready[j])
            if machine is None:
                return False
            start = _start(instance, timelines[machine], j, k, ready[j], reference, starts)
            if not _take(instance, timelines[machine], j, k, start):
                return False
            starts[j][k], machines[j][k] = start, machine
        elif starts[j][k] < ready[j]:
            return False
        duration = instance.jobs[j][k].duration_on(machines[j][k]) or 0
        ready[j] = starts[j][k] + duration
        if k + 1 < len(instance.jobs[j]):
            heapq.heappush(queue, (reference.get((j, k + 1), (0, ready[j]))[1], j, k + 1))
    return True


def _start(
    instance: JobShopInstance,
    timeline: _Timeline,
    j: int,
    k: int,
    ready: int,
    reference: dict[tuple[int, int], tuple[int, int]],
    starts: list[list[int]],
) -> int:
    """A right shift from the reference start, or the earliest fit when that would pass the
    job's next fixed operation."""
    duration = instance.jobs[j][k].duration_on(timeline.machine) or 0
    wanted = max(ready, reference.get((j, k), (0, ready))[1])
    start = timeline.earliest(instance, j, duration, wanted) if duration else wanted
    deadline = next((s for s in starts[j][k + 1 :] if s >= 0), None)
    if deadline is not None and start + duration > deadline and wanted > ready:
        start = timeline.earliest(instance, j, duration, ready) if duration else ready
    return start
