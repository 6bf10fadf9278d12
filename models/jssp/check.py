"""Independent job-shop checker: recomputes feasibility and the objective from instance and
schedule alone."""

from __future__ import annotations

from bisect import bisect_left
from itertools import pairwise
from typing import NamedTuple

from makespan.models.check import CheckReport, ViolationLog
from makespan.models.errors import InstanceError
from makespan.models.jssp.instance import JobShopFixed, JobShopInstance, JobShopSolution
from makespan.models.limits import MAX_HORIZON

OpKey = tuple[int, int]


_NOWHERE = -1
"""The machine of an operation placed on one it cannot run on (reported, then left out)."""


class _Span(NamedTuple):
    """Where an operation runs, its end recomputed from its duration on that machine."""

    machine: int
    start: int
    end: int


def check(instance: JobShopInstance, solution: JobShopSolution) -> CheckReport:
    """Every operation scheduled once, on a machine it may run on, for that machine's duration;
    job order and releases kept; no two operations of positive duration overlapping on a
    machine, none overlapping its machine's downtime, each starting at least its setup after the
    operation before it on the machine. The objective is recomputed from the job completions:
    the makespan, or the instance's weighted sum (which the solution's ``objective`` must
    match when it gives one)."""
    log = ViolationLog()
    placed = _placed(instance, solution, log)
    for j, job in enumerate(instance.jobs):
        for k in range(len(job)):
            if (j, k) not in placed:
                log.add(f"operation ({j}, {k}) is not scheduled")
            elif k and (j, k - 1) in placed and placed[(j, k)].start < placed[(j, k - 1)].end:
                log.add(f"operation ({j}, {k}) starts before operation ({j}, {k - 1}) ends")
        release = instance.releases[j]
        if (j, 0) in placed and placed[(j, 0)].start < release:
            log.add(f"job {j} starts at {placed[(j, 0)].start}, before its release {release}")
    _check_machines(instance, placed, log)
    makespan = max((op.end for op in placed.values()), default=0)
    if solution.makespan != makespan:
        log.add(f"claimed makespan {solution.makespan} differs from the schedule's {makespan}")
    if instance.shop_objective.is_makespan:
        return log.report(makespan)
    completions = [0] * instance.num_jobs
    for (j, _), op in placed.items():
        completions[j] = max(completions[j], op.end)
    objective = instance.objective_value(completions)
    if solution.objective is not None and solution.objective != objective:
        log.add(f"claimed objective {solution.objective} differs from the schedule's {objective}")
    return log.report(objective)


def _placed(
    instance: JobShopInstance, solution: JobShopSolution, log: ViolationLog
) -> dict[OpKey, _Span]:
    """The solution's operations by (job, index), each on a machine of its own, ended after its
    duration there (as the instance says; the solution's own end when it lies)."""
    placed: dict[OpKey, _Span] = {}
    for op in solution.operations:
        key = (op.job, op.index)
        if op.job >= instance.num_jobs or op.index >= len(instance.jobs[op.job]):
            log.add(f"operation {key} does not exist")
            continue
        if key in placed:
            log.add(f"operation {key} is scheduled twice")
            continue
        expected = instance.jobs[op.job][op.index]
        duration = expected.duration_on(op.machine)
        machine = op.machine
        if duration is None:
            machines = " or ".join(str(m) for m, _ in expected.choices)
            log.add(f"operation {key} runs on machine {op.machine}, not {machines}")
            duration, machine = op.end - op.start, _NOWHERE
        elif op.end - op.start != duration:
            log.add(f"operation {key} lasts {op.end - op.start}, not {duration}")
        placed[key] = _Span(machine, op.start, op.start + duration)
    return placed


def _check_machines(
    instance: JobShopInstance, placed: dict[OpKey, _Span], log: ViolationLog
) -> None:
    by_machine: dict[int, list[tuple[int, int, OpKey]]] = {}
    for key, op in placed.items():
        if op.end > op.start and op.machine != _NOWHERE:  # zero-length: no machine time
            by_machine.setdefault(op.machine, []).append((op.start, op.end, key))
    for machine, spans in by_machine.items():
        spans.sort()
        for (_, end, a), (start, _, b) in pairwise(spans):
            if start < end:
                log.add(f"operations {a} and {b} overlap on machine {machine}")
            elif start < end + (gap := instance.setup(machine, a[0], b[0])):
                log.add(
                    f"operation {b} starts {start - end} after {a} ends on machine {machine}, "
                    f"before its setup of {gap}"
                )
        _check_downtime(instance.downtime[machine], machine, spans, log)


def _check_downtime(
    periods: tuple[tuple[int, int], ...],
    machine: int,
    spans: list[tuple[int, int, OpKey]],
    log: ViolationLog,
) -> None:
    """No operation overlaps a (merged, sorted) downtime period of its machine."""
    if not periods:
        return
    ends = [end for _, end in periods]
    for start, end, key in spans:
        p = bisect_left(ends, start + 1)  # the first period ending after the start
        if p < len(periods) and periods[p][0] < end:
            down = periods[p]
            log.add(
                f"operation {key} runs in [{start}, {end}) on machine {machine}, "
                f"over its downtime [{down[0]}, {down[1]})"
            )


def infeasibility_reason(instance: JobShopInstance) -> str | None:
    """None: every shop has a schedule (run the operations one after another after every
    release and downtime)."""
    del instance
    return None


def validate_fixed(instance: JobShopInstance, fixed: JobShopFixed) -> None:
    """Every fixing names an operation of the instance, once, and keeps a start or a machine.
    (A machine the operation cannot run on is a fixing that cannot hold: the solve answers
    infeasible and names it.)"""
    seen: set[tuple[int, int]] = set()
    for k, f in enumerate(fixed.operations):
        where = f"operations.{k}"
        if f.job >= instance.num_jobs or f.index >= len(instance.jobs[f.job]):
            raise InstanceError(f"operation ({f.job}, {f.index}) does not exist", field=where)
        if (f.job, f.index) in seen:
            raise InstanceError(f"operation ({f.job}, {f.index}) fixed twice", field=where)
        if f.start is None and f.machine is None:
            raise InstanceError("fix a start, a machine or both", field=where)
        seen.add((f.job, f.index))


def _machine_and_start(solution: JobShopSolution) -> dict[tuple[int, int], tuple[int, int]]:
    """(job, index) -> (machine, start) of every scheduled operation."""
    return {(op.job, op.index): (op.machine, op.start) for op in solution.operations}


def kept(instance: JobShopInstance, solution: JobShopSolution, fixed: JobShopFixed) -> list[str]:
    """Every fixed start or machine that ``solution`` changed."""
    del instance
    placed = _machine_and_start(solution)
    broken = []
    for f in fixed.operations:
        machine, start = placed.get((f.job, f.index), (None, None))
        if f.start is not None and start != f.start:
            broken.append(
                f"operation ({f.job}, {f.index}) is fixed to start at {f.start}, found {start}"
            )
        if f.machine is not None and machine != f.machine:
            broken.append(
                f"operation ({f.job}, {f.index}) is fixed on machine {f.machine}, found {machine}"
            )
    return broken


def deviation(
    instance: JobShopInstance, solution: JobShopSolution, reference: JobShopSolution
) -> int:
    """:math:`\\sum_o |S_o - S^{ref}_o| + \\sum_{o: m_o \\ne m^{ref}_o} p_o`, with
    :math:`p_o` the operation's duration on its new machine (its longest on a machine it cannot
    run on; an operation the solution lacks counts its reference start).

    Raises:
        InstanceError: the reference leaves an operation out.
    """
    before, after = _machine_and_start(reference), _machine_and_start(solution)
    total = 0
    for j, job in enumerate(instance.jobs):
        for k, op in enumerate(job):
            if (j, k) not in before:
                raise InstanceError(f"operation ({j}, {k}) is missing", field="operations")
            ref_machine, ref_start = before[(j, k)]
            if ref_start > MAX_HORIZON:
                raise InstanceError(f"start {ref_start} is past {MAX_HORIZON}", field="operations")
            machine, start = after.get((j, k), (ref_machine, 0))
            total += abs(start - ref_start)
            if machine != ref_machine:
                on_new = op.duration_on(machine)
                total += op.max_duration if on_new is None else on_new
    return total
