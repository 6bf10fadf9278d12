"""Independent RCPSP checker: recomputes feasibility and makespan from instance and schedule;
and the cheap proofs that an instance has no schedule at all.

The checker shares no code with compile or the heuristics, so a bug there cannot hide here.
"""

from __future__ import annotations

from makespan.models.check import CheckReport, ViolationLog
from makespan.models.errors import InstanceError
from makespan.models.limits import MAX_HORIZON
from makespan.models.rcpsp.instance import RcpspFixed, RcpspInstance, RcpspSolution, Resource
from makespan.models.rcpsp.network import build_network, window_conflict

Placed = dict[int, tuple[int, int]]
"""Activity id -> ``(start, end)``."""


def infeasibility_reason(instance: RcpspInstance) -> str | None:
    """Why no schedule exists, when a cheap test proves it, else None: an activity needing more
    of a resource than its capacity, a positive cycle of lags, or a deadline before the earliest
    finish that releases, precedences and lags allow."""
    capacity = {r.name: r.capacity for r in instance.resources}
    for activity in instance.activities:
        if activity.duration == 0:
            continue  # an activity of no length occupies nothing
        for name, demand in activity.demands.items():
            if demand > capacity[name]:
                return (
                    f"activity {activity.id} needs {demand} of resource {name}, "
                    f"whose capacity is {capacity[name]}"
                )
    return window_conflict(build_network(instance))


def check(instance: RcpspInstance, solution: RcpspSolution) -> CheckReport:
    """Every activity scheduled once for its duration inside its window; precedences, lags and
    disjunctive pairs kept; at every time each resource's load within its capacity (zero in
    downtime). Objective :math:`C_{max} = \\max_i (S_i + p_i)`, recomputed."""
    log = ViolationLog()
    placed = _placements(instance, solution, log)
    _check_windows(instance, placed, log)
    _check_precedences(instance, placed, log)
    _check_lags(instance, placed, log)
    _check_disjunctive(instance, placed, log)
    for resource in instance.resources:
        _check_resource(instance, resource, placed, log)
    makespan = max((end for _, end in placed.values()), default=0)
    if solution.makespan != makespan:
        log.add(f"claimed makespan {solution.makespan} differs from the schedule's {makespan}")
    return log.report(makespan)


def _placements(instance: RcpspInstance, solution: RcpspSolution, log: ViolationLog) -> Placed:
    durations = {a.id: a.duration for a in instance.activities}
    placed: Placed = {}
    for entry in solution.activities:
        if entry.id not in durations:
            log.add(f"activity {entry.id} does not exist")
        elif entry.id in placed:
            log.add(f"activity {entry.id} is scheduled twice")
        else:
            if entry.end - entry.start != durations[entry.id]:
                log.add(
                    f"activity {entry.id} lasts {entry.end - entry.start}, "
                    f"not {durations[entry.id]}"
                )
            placed[entry.id] = (entry.start, entry.start + durations[entry.id])
    for activity in instance.activities:
        if activity.id not in placed:
            log.add(f"activity {activity.id} is not scheduled")
    return placed


def _check_windows(instance: RcpspInstance, placed: Placed, log: ViolationLog) -> None:
    for a in instance.activities:
        if a.id not in placed:
            continue
        start, end = placed[a.id]
        if start < a.release:
            log.add(f"activity {a.id} starts at {start}, before its release {a.release}")
        if a.deadline is not None and end > a.deadline:
            log.add(f"activity {a.id} ends at {end}, after its deadline {a.deadline}")


def _check_precedences(instance: RcpspInstance, placed: Placed, log: ViolationLog) -> None:
    for a in instance.activities:
        if a.id not in placed:
            continue
        for successor in a.successors:
            if successor in placed and placed[successor][0] < placed[a.id][1]:
                log.add(f"activity {successor} starts before its predecessor {a.id} ends")


def _check_lags(instance: RcpspInstance, placed: Placed, log: ViolationLog) -> None:
    for lag in instance.lags:
        if lag.source not in placed or lag.to not in placed:
            continue
        gap = placed[lag.to][0] - placed[lag.source][0]
        if (lag.min is not None and gap < lag.min) or (lag.max is not None and gap > lag.max):
            log.add(
                f"start({lag.to}) - start({lag.source}) = {gap} is outside [{lag.min}, {lag.max}]"
            )


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Half-open intervals share time; an empty one shares none."""
    return max(a[0], b[0]) < min(a[1], b[1])


def _check_disjunctive(instance: RcpspInstance, placed: Placed, log: ViolationLog) -> None:
    for a, b in instance.disjunctive:
        if a in placed and b in placed and _overlap(placed[a], placed[b]):
            log.add(f"disjunctive activities {a} and {b} overlap")


def _check_resource(
    instance: RcpspInstance, resource: Resource, placed: Placed, log: ViolationLog
) -> None:
    users = [
        (placed[a.id], a.demands[resource.name], a.id)
        for a in instance.activities
        if a.demands.get(resource.name, 0) > 0 and a.id in placed
    ]
    for span, _, activity in users:
        for period in resource.downtime:
            if _overlap(span, period):
                log.add(
                    f"activity {activity} uses {resource.name} during its downtime "
                    f"[{period[0]}, {period[1]})"
                )
    _check_load(resource, [(span, demand) for span, demand, _ in users], log)


def _check_load(
    resource: Resource, users: list[tuple[tuple[int, int], int]], log: ViolationLog
) -> None:
    """Sweep start and end events; the load is constant between consecutive event times."""
    events: dict[int, int] = {}
    for (start, end), demand in users:
        if end > start:
            events[start] = events.get(start, 0) + demand
            events[end] = events.get(end, 0) - demand
    load = 0
    for time in sorted(events):
        load += events[time]
        if load > resource.capacity:
            log.add(
                f"resource {resource.name} is loaded {load} > capacity {resource.capacity} "
                f"at time {time}"
            )
            return


def validate_fixed(instance: RcpspInstance, fixed: RcpspFixed) -> None:
    """Every fixed activity exists, fixed once."""
    seen: set[int] = set()
    for k, f in enumerate(fixed.activities):
        if f.id not in instance.position:
            raise InstanceError(f"unknown activity {f.id}", field=f"activities.{k}.id")
        if f.id in seen:
            raise InstanceError(f"activity {f.id} fixed twice", field=f"activities.{k}.id")
        seen.add(f.id)


def kept(instance: RcpspInstance, solution: RcpspSolution, fixed: RcpspFixed) -> list[str]:
    """Every fixed activity that ``solution`` starts at another time."""
    del instance
    starts = {a.id: a.start for a in solution.activities}
    return [
        f"activity {f.id} is fixed to start at {f.start}, found {starts.get(f.id, 'none')}"
        for f in fixed.activities
        if starts.get(f.id) != f.start
    ]


def deviation(instance: RcpspInstance, solution: RcpspSolution, reference: RcpspSolution) -> int:
    """:math:`\\sum_i |S_i - S^{ref}_i|` (an activity the solution lacks counts its reference
    start).

    Raises:
        InstanceError: the reference leaves an activity out.
    """
    before = {a.id: a.start for a in reference.activities}
    after = {a.id: a.start for a in solution.activities}
    total = 0
    for activity in instance.activities:
        if activity.id not in before:
            raise InstanceError(f"activity {activity.id} is missing", field="activities")
        if before[activity.id] > MAX_HORIZON:
            start = before[activity.id]
            raise InstanceError(f"start {start} is past {MAX_HORIZON}", field="activities")
        total += abs(after.get(activity.id, 0) - before[activity.id])
    return total
