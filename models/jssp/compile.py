"""Job-shop instance -> IR: one fixed-size interval per operation.

Variables: start :math:`s_{j,k}` of operation k of job j, and the makespan :math:`C`.

.. math::
    \\min C \\quad\\text{s.t.}\\quad
    s_{j,k+1} \\ge s_{j,k} + p_{j,k},\\qquad
    C \\ge s_{j,last} + p_{j,last},\\qquad
    \\text{no-overlap of } [s_{j,k}, s_{j,k} + p_{j,k}) \\text{ per machine}.

Domains are tightened by heads and tails (work before and after each operation in its job) and
by the upper bound a warm start supplies; the makespan starts at the trivial lower bound.

Fixed starts and machines (``options.fixed``) are labelled groups :math:`s_{j,k} = s`
(a machine the operation cannot run on is a group that cannot hold); the horizon then reaches
past the last fixed start by the total work. With a reference schedule, the deviation
:math:`\\sum |s_{j,k} - s^r_{j,k}|` is added (and each operation's duration where the
reference had it on another machine).

:func:`warm_start` is the kind's warm-start hook: it turns the start matrix of
:mod:`~makespan.models.jssp.heuristics` (which keeps its own schedule type) into a solution, as
:func:`decode` turns the backend's values into one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from makespan.models.jssp.instance import JobShopFixed, JobShopInstance, JobShopSolution
from makespan.models.spec import Compiled, Steering
from makespan.solvers.ir import DeviationTerm, Label, LinearExpr, Measure, ModelBuilder, Var


@dataclass(frozen=True)
class JobShopIndex:
    """IR variables of the compiled model: ``starts[j][k]`` and ``makespan``."""

    starts: tuple[tuple[Var, ...], ...]
    makespan: Var


def compile_instance(
    instance: JobShopInstance,
    upper_bound: float | None = None,
    steering: Steering[JobShopSolution] | None = None,
) -> Compiled[JobShopIndex]:
    """The IR of ``instance``; ``upper_bound`` (a known makespan) caps every domain;
    ``steering`` fixes operations and adds the deviation from its reference."""
    fixed = steering.fixed if steering and isinstance(steering.fixed, JobShopFixed) else None
    latest = max((f.start or 0 for f in fixed.operations), default=0) if fixed else 0
    horizon = instance.horizon + latest
    if upper_bound is not None:
        horizon = min(horizon, int(upper_bound))
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
    if fixed is not None:
        _fix(b, instance, starts, fixed)
    model = b.build()
    if steering is not None and steering.reference is not None:
        terms = _deviation_terms(instance, starts, steering.reference)
        model = model.with_deviation(terms, steering.weight)
    return Compiled(model, JobShopIndex(tuple(starts), makespan))


def _fix(
    b: ModelBuilder, instance: JobShopInstance, starts: Sequence[Sequence[Var]], fixed: JobShopFixed
) -> None:
    """One labelled group per fixed operation."""
    for f in fixed.operations:
        parts = [] if f.start is None else [f"to start at {f.start}"]
        parts += [] if f.machine is None else [f"on machine {f.machine}"]
        label: Label = {
            "constraint": "fixed",
            "message": f"operation ({f.job}, {f.index}) fixed " + " and ".join(parts),
            "job": f.job,
            "operation": f.index,
        }
        with b.labeled(label):
            if f.machine is not None and f.machine != instance.jobs[f.job][f.index].machine:
                b.add_linear(LinearExpr((), 0), lb=1)  # it cannot run there
            if f.start is not None:
                b.add_linear(starts[f.job][f.index], lb=f.start, ub=f.start)


def _deviation_terms(
    instance: JobShopInstance, starts: Sequence[Sequence[Var]], reference: JobShopSolution
) -> list[DeviationTerm]:
    placed = {(op.job, op.index): op for op in reference.operations}
    terms = []
    for j, job in enumerate(instance.jobs):
        for k, op in enumerate(job):
            before = placed[(j, k)]
            terms.append(DeviationTerm(starts[j][k].expr(), before.start, 1, Measure.ABSOLUTE))
            if before.machine != op.machine:
                terms.append(DeviationTerm(LinearExpr((), op.duration), 0, 1, Measure.ABSOLUTE))
    return terms


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
