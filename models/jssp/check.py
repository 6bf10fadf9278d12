"""Independent job-shop checker: recomputes feasibility and makespan from instance and schedule."""

from __future__ import annotations

from itertools import pairwise

from makespan.models.check import CheckReport, ViolationLog
from makespan.models.errors import InstanceError
from makespan.models.jssp.instance import JobShopFixed, JobShopInstance, JobShopSolution
from makespan.models.limits import MAX_HORIZON


def check(instance: JobShopInstance, solution: JobShopSolution) -> CheckReport:
    """Every operation scheduled once on its machine for its duration, job order kept, no two
    operations of positive duration overlapping on a machine; objective = the largest end."""
    log = ViolationLog()
    placed: dict[tuple[int, int], tuple[int, int]] = {}
    for op in solution.operations:
        key = (op.job, op.index)
        if op.job >= instance.num_jobs or op.index >= len(instance.jobs[op.job]):
            log.add(f"operation {key} does not exist")
            continue
        if key in placed:
            log.add(f"operation {key} is scheduled twice")
            continue
        expected = instance.jobs[op.job][op.index]
        if op.machine != expected.machine:
            log.add(f"operation {key} runs on machine {op.machine}, not {expected.machine}")
        if op.end - op.start != expected.duration:
            log.add(f"operation {key} lasts {op.end - op.start}, not {expected.duration}")
        placed[key] = (op.start, op.start + expected.duration)
    for j, job in enumerate(instance.jobs):
        for k in range(len(job)):
            if (j, k) not in placed:
                log.add(f"operation ({j}, {k}) is not scheduled")
            elif k and (j, k - 1) in placed and placed[(j, k)][0] < placed[(j, k - 1)][1]:
                log.add(f"operation ({j}, {k}) starts before operation ({j}, {k - 1}) ends")
    _check_machines(instance, placed, log)
    makespan = max((end for _, end in placed.values()), default=0)
    if solution.makespan != makespan:
        log.add(f"claimed makespan {solution.makespan} differs from the schedule's {makespan}")
    return log.report(makespan)


def _check_machines(
    instance: JobShopInstance, placed: dict[tuple[int, int], tuple[int, int]], log: ViolationLog
) -> None:
    by_machine: dict[int, list[tuple[int, int, tuple[int, int]]]] = {}
    for (j, k), (start, end) in placed.items():
        if end > start:  # zero-length operations occupy no machine time
            by_machine.setdefault(instance.jobs[j][k].machine, []).append((start, end, (j, k)))
    for machine, spans in by_machine.items():
        spans.sort()
        for (_, end, a), (start, _, b) in pairwise(spans):
            if start < end:
                log.add(f"operations {a} and {b} overlap on machine {machine}")


def infeasibility_reason(instance: JobShopInstance) -> str | None:
    """None: every job shop has a schedule (run the jobs one after another)."""
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


def _placed(solution: JobShopSolution) -> dict[tuple[int, int], tuple[int, int]]:
    """(job, index) -> (machine, start) of every scheduled operation."""
    return {(op.job, op.index): (op.machine, op.start) for op in solution.operations}


def kept(instance: JobShopInstance, solution: JobShopSolution, fixed: JobShopFixed) -> list[str]:
    """Every fixed start or machine that ``solution`` changed."""
    del instance
    placed = _placed(solution)
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
    :math:`p_o` the operation's duration on its new machine (an operation the solution lacks
    counts its reference start).

    Raises:
        InstanceError: the reference leaves an operation out.
    """
    before, after = _placed(reference), _placed(solution)
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
                total += op.duration
    return total
