"""Independent job-shop checker: recomputes feasibility and makespan from instance and schedule."""

from __future__ import annotations

from itertools import pairwise

from makespan.models.check import CheckReport, ViolationLog
from makespan.models.jssp.instance import JobShopInstance, JobShopSolution


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
