"""Job-shop instance -> IR: one fixed-size interval per operation.

Variables: start :math:`s_{j,k}` of operation k of job j, and the makespan :math:`C`.

.. math::
    \\min C \\quad\\text{s.t.}\\quad
    s_{j,k+1} \\ge s_{j,k} + p_{j,k},\\qquad
    C \\ge s_{j,last} + p_{j,last},\\qquad
    \\text{no-overlap of } [s_{j,k}, s_{j,k} + p_{j,k}) \\text{ per machine}.

Domains are tightened by heads and tails (work before and after each operation in its job) and
by the upper bound a warm start supplies; the makespan starts at the trivial lower bound.

:func:`warm_start` is the kind's warm-start hook: it turns the start matrix of
:mod:`~makespan.models.jssp.heuristics` (which keeps its own schedule type) into a solution, as
:func:`decode` turns the backend's values into one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from makespan.models.jssp.instance import JobShopInstance, JobShopSolution
from makespan.models.spec import Compiled
from makespan.solvers.ir import ModelBuilder, Var


@dataclass(frozen=True)
class JobShopIndex:
    """IR variables of the compiled model: ``starts[j][k]`` and ``makespan``."""

    starts: tuple[tuple[Var, ...], ...]
    makespan: Var


def compile_instance(
    instance: JobShopInstance, upper_bound: float | None = None
) -> Compiled[JobShopIndex]:
    """The IR of ``instance``; ``upper_bound`` (a known makespan) caps every domain."""
    horizon = instance.horizon if upper_bound is None else min(instance.horizon, int(upper_bound))
    horizon = max(horizon, instance.trivial_lower_bound)
    b = ModelBuilder(name=instance.name or "jssp")
    starts: list[tuple[Var, ...]] = []
    ends = []
    by_machine: dict[int, list[int]] = {}
    for j, job in enumerate(instance.jobs):
        head = 0
        tail = sum(op.duration for op in job)
        row: list[Var] = []
        for k, op in enumerate(job):
            start = b.int_var(head, horizon - tail, f"s_{j}_{k}")
            by_machine.setdefault(op.machine, []).append(
                b.interval(start, op.duration, f"op_{j}_{k}")
            )
            if row:
                b.add_linear(start - row[-1], lb=job[k - 1].duration)
            row.append(start)
            head += op.duration
            tail -= op.duration
        starts.append(tuple(row))
        ends.append(row[-1] + job[-1].duration)
    for machine in sorted(by_machine):
        b.add_no_overlap(by_machine[machine])
    makespan = b.int_var(instance.trivial_lower_bound, horizon, "makespan")
    for end in ends:
        b.add_linear(makespan - end, lb=0)
    b.minimize(makespan)
    return Compiled(b.build(), JobShopIndex(tuple(starts), makespan))


def decode(
    instance: JobShopInstance, compiled: Compiled[JobShopIndex], values: Sequence[int]
) -> JobShopSolution:
    """The schedule held in the backend's variable values."""
    starts = [[values[v.index] for v in row] for row in compiled.index.starts]
    return JobShopSolution.from_starts(instance, starts)


def hint(
    instance: JobShopInstance, compiled: Compiled[JobShopIndex], solution: JobShopSolution
) -> Mapping[int, int]:
    """Hint values for every start and the makespan, from a solution."""
    values = {compiled.index.starts[op.job][op.index].index: op.start for op in solution.operations}
    values[compiled.index.makespan.index] = solution.makespan
    return values
