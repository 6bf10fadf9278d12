"""Job-shop instance -> IR: an interval per operation, or one optional interval per machine a
flexible operation may run on.

Variables: start :math:`s_{j,k}` of operation k of job j; for a flexible operation a presence
literal :math:`x_{j,k,m}` per machine it may run on (exactly one true), its duration
:math:`p_{j,k} = \\sum_m p_{j,k,m} x_{j,k,m}`; the objective's own variables.

.. math::
    s_{j,0} \\ge r_j,\\qquad s_{j,k+1} \\ge s_{j,k} + p_{j,k},\\qquad
    \\text{per machine: no-overlap of its (present) intervals and its downtime periods}

with sequence-dependent setups as the IR's ``no_overlap_setup`` (on the machines that have any
positive setup between the jobs they may run) and downtime as fixed intervals in the machine's
no-overlap. Operations of duration 0 occupy no machine. With :math:`C_j = s_{j,last} +
p_{j,last}`, each objective term with a positive coefficient adds

- makespan: :math:`C_{max} \\ge C_j`;
- total weighted tardiness: :math:`T_j \\ge C_j - d_j`, :math:`T_j \\ge 0`, cost
  :math:`w_j T_j`;
- total weighted completion: cost :math:`w_j C_j`;
- maximum lateness: :math:`L \\ge C_j - d_j`;
- weighted tardy jobs: :math:`\\lnot u_j \\Rightarrow C_j \\le d_j`, cost :math:`w_j u_j`;

all minimised as their weighted sum, whose epigraph variables meet their terms at an optimum.
Domains are tightened by heads and tails (release plus the shortest work before, the shortest
work after each operation); for the plain makespan (times a coefficient) the upper bound a warm
start supplies caps every domain, for other objectives it caps the objective. A classic job shop
compiles exactly as it always did: one fixed interval per operation, a no-overlap per machine,
the makespan.

Fixed starts and machines (``options.fixed``) are labelled groups :math:`s_{j,k} = s`,
:math:`x_{j,k,m} = 1` (a machine the operation cannot run on is a group that cannot hold); the
horizon then reaches past the last fixed start. Downtime periods are labelled too, so that a
conflict names the period a fixing runs into. With a reference schedule the deviation
:math:`\\sum |s_{j,k} - s^r_{j,k}| + \\sum_{m \\ne m^r_{j,k}} p_{j,k,m} x_{j,k,m}` (an
operation's duration where it leaves its reference machine) is added.

:func:`warm_start` is the kind's warm-start hook in :mod:`.heuristics`; :func:`decode` turns the
backend's values into a solution, :func:`hint` a solution into the backend's hints (values
outside their domain, as an initial solution far beyond the horizon has, are left out).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from makespan.models.jssp.instance import JobShopFixed, JobShopInstance, JobShopSolution
from makespan.models.spec import Compiled, Steering
from makespan.solvers import cpsat
from makespan.solvers.ir import DeviationTerm, Label, LinearExpr, Measure, ModelBuilder, Var


@dataclass(frozen=True)
class JobShopIndex:
    """IR variables of the compiled model: ``starts[j][k]``; ``choices[j][k]`` the (machine,
    presence) pairs of a flexible operation (empty for one with no choice); the objective's
    variables (None or empty when its term is not used)."""

    starts: tuple[tuple[Var, ...], ...]
    makespan: Var | None
    choices: tuple[tuple[tuple[tuple[int, Var], ...], ...], ...] = ()
    tardiness: tuple[tuple[int, Var], ...] = ()
    """(job, T_j) for the jobs that count in the total weighted tardiness."""
    lateness: Var | None = None
    tardy: tuple[tuple[int, Var], ...] = ()
    """(job, u_j) for the jobs that count in the weighted tardy jobs."""


@dataclass
class _Machines:
    """Per machine, its intervals of positive duration and whose job each is."""

    intervals: dict[int, list[int]]
    jobs: dict[int, list[int]]

    def add(self, machine: int, interval: int, job: int) -> None:
        self.intervals.setdefault(machine, []).append(interval)
        self.jobs.setdefault(machine, []).append(job)


def _horizon(
    instance: JobShopInstance, upper_bound: float | None, fixed: JobShopFixed | None
) -> int:
    """The latest end: the instance's horizon (past the last fixed start), capped by a known
    objective value when the objective is the makespan alone."""
    latest = max((f.start or 0 for f in fixed.operations), default=0) if fixed else 0
    horizon = instance.horizon + latest
    objective = instance.shop_objective
    only_makespan = objective.makespan and sum(objective.terms.values()) == objective.makespan
    if upper_bound is not None and only_makespan:
        horizon = min(horizon, int(upper_bound) // objective.makespan)
    return max(horizon, instance.trivial_lower_bound)


def compile_instance(
    instance: JobShopInstance,
    upper_bound: float | None = None,
    steering: Steering[JobShopSolution] | None = None,
) -> Compiled[JobShopIndex]:
    """The IR of ``instance``; ``upper_bound`` (a known objective value) caps every domain for
    the makespan, the objective otherwise; ``steering`` fixes operations and adds the
    deviation from its reference."""
    fixed = steering.fixed if steering and isinstance(steering.fixed, JobShopFixed) else None
    horizon = _horizon(instance, upper_bound, fixed)
    b = ModelBuilder(name=instance.name or "jssp")
    machines = _Machines({}, {})
    starts: list[tuple[Var, ...]] = []
    choices: list[tuple[tuple[tuple[int, Var], ...], ...]] = []
    completions: list[LinearExpr] = []
    for j, job in enumerate(instance.jobs):
        head = instance.releases[j]
        tail = sum(op.min_duration for op in job)
        row: list[Var] = []
        picks: list[tuple[tuple[int, Var], ...]] = []
        end: LinearExpr | None = None
        for k, op in enumerate(job):
            start = b.int_var(head, horizon - tail, f"s_{j}_{k}")
            if end is not None:
                b.add_linear(start - end, lb=0)
            pick, duration = _operation(b, machines, start, op.choices, j, k)
            end = start + duration
            row.append(start)
            picks.append(pick)
            head += op.min_duration
            tail -= op.min_duration
        starts.append(tuple(row))
        choices.append(tuple(picks))
        assert end is not None  # every job has an operation
        completions.append(end)
    _machine_constraints(b, instance, machines, horizon)
    index = _objective(b, instance, completions, horizon, upper_bound)
    index = JobShopIndex(
        tuple(starts),
        index.makespan,
        tuple(choices),
        index.tardiness,
        index.lateness,
        index.tardy,
    )
    if fixed is not None:
        _fix(b, instance, index, fixed)
    model = b.build()
    if steering is not None and steering.reference is not None:
        model = model.with_deviation(
            _deviation(instance, index, steering.reference), steering.weight
        )
    return Compiled(model, index)


def _fix(
    b: ModelBuilder, instance: JobShopInstance, index: JobShopIndex, fixed: JobShopFixed
) -> None:
    """One labelled group per fixed operation: its start, its machine's presence literal."""
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
            if f.machine is not None:
                _fix_machine(b, instance, index, f.job, f.index, f.machine)
            if f.start is not None:
                b.add_linear(index.starts[f.job][f.index], lb=f.start, ub=f.start)


def _fix_machine(
    b: ModelBuilder, instance: JobShopInstance, index: JobShopIndex, j: int, k: int, machine: int
) -> None:
    """Operation (j, k) on ``machine``: its presence literal there, or a row that cannot hold
    when it cannot run there."""
    pick = dict(index.choices[j][k])
    if machine in pick:
        b.add_linear(pick[machine], lb=1)
    elif pick or instance.jobs[j][k].choices[0][0] != machine:
        b.add_linear(LinearExpr.of(0), lb=1)


def _deviation(
    instance: JobShopInstance, index: JobShopIndex, reference: JobShopSolution
) -> list[DeviationTerm]:
    """Start shifts, and each operation's duration where it leaves its reference machine."""
    placed = {(op.job, op.index): op for op in reference.operations}
    terms = []
    for j, job in enumerate(instance.jobs):
        for k, op in enumerate(job):
            before = placed[(j, k)]
            start = index.starts[j][k].expr()
            terms.append(DeviationTerm(start, before.start, 1, Measure.ABSOLUTE))
            moved = _moved(index.choices[j][k], op.choices, before.machine)
            if moved is not None:
                terms.append(DeviationTerm(moved, 0, 1, Measure.ABSOLUTE))
    return terms


def _operation(
    b: ModelBuilder,
    machines: _Machines,
    start: Var,
    options: Sequence[tuple[int, int]],
    j: int,
    k: int,
) -> tuple[tuple[tuple[int, Var], ...], LinearExpr]:
    """An operation's intervals: fixed when it has one machine, else one optional interval per
    machine, exactly one present. Its (machine, presence) pairs and its duration."""
    if len(options) == 1:
        machine, duration = options[0]
        interval = b.interval(start, duration, f"op_{j}_{k}")
        if duration > 0:
            machines.add(machine, interval, j)
        return (), LinearExpr.of(duration)
    pick = []
    for machine, duration in options:
        present = b.bool_var(f"x_{j}_{k}_{machine}")
        interval = b.interval(start, duration, f"op_{j}_{k}_{machine}", presence=present.lit())
        if duration > 0:
            machines.add(machine, interval, j)
        pick.append((machine, present))
    b.add_linear(LinearExpr.sum(x for _, x in pick), lb=1, ub=1)
    duration_expr = LinearExpr.weighted([x for _, x in pick], [d for _, d in options])
    return tuple(pick), duration_expr


def _machine_constraints(
    b: ModelBuilder, instance: JobShopInstance, machines: _Machines, horizon: int
) -> None:
    """Per machine: its intervals with its downtime periods (those before the horizon) in a
    no-overlap, and a no-overlap with setups when some setup between its jobs is positive."""
    for machine in sorted(machines.intervals):
        intervals = machines.intervals[machine]
        breaks = [
            _downtime(b, machine, start, end)
            for start, end in instance.downtime[machine]
            if start < horizon
        ]
        jobs = machines.jobs[machine]
        local = sorted(set(jobs))
        setup = [[instance.setup(machine, g, h) for h in local] for g in local]
        if any(any(row) for row in setup):
            group = {job: g for g, job in enumerate(local)}
            b.add_no_overlap_setup(intervals, [group[job] for job in jobs], setup)
            if breaks:
                b.add_no_overlap(intervals + breaks)
        else:
            b.add_no_overlap(intervals + breaks)


def _moved(
    pick: Sequence[tuple[int, Var]], choices: Sequence[tuple[int, int]], reference_machine: int
) -> LinearExpr | None:
    """The operation's duration when it runs elsewhere than ``reference_machine``: a constant
    for an operation with one machine, :math:`\\sum_{m \\ne m^r} p_m x_m` for a flexible one;
    None when it cannot leave it."""
    if not pick:
        machine, duration = choices[0]
        return None if machine == reference_machine else LinearExpr.of(duration)
    away = [(x, d) for (m, x), (_, d) in zip(pick, choices, strict=True) if m != reference_machine]
    return LinearExpr.weighted([x for x, _ in away], [d for _, d in away]) if away else None


def _downtime(b: ModelBuilder, machine: int, start: int, end: int) -> int:
    """A downtime period's fixed interval, labelled so that a conflict can name it."""
    label: Label = {
        "constraint": "downtime",
        "message": f"machine {machine} is down over [{start}, {end})",
        "machine": machine,
        "start": start,
        "end": end,
    }
    with b.labeled(label):
        return b.interval(start, end - start, f"down_{machine}_{start}")


def _objective(
    b: ModelBuilder,
    instance: JobShopInstance,
    completions: list[LinearExpr],
    horizon: int,
    upper_bound: float | None,
) -> JobShopIndex:
    """The objective's variables and constraints, and the objective; the index of those
    variables (its starts left empty)."""
    objective = instance.shop_objective
    weights, dues = instance.weights, instance.dues
    earliest = instance.earliest_completions
    cost: list[LinearExpr] = []
    makespan = None
    if objective.makespan:
        makespan = b.int_var(instance.trivial_lower_bound, horizon, "makespan")
        for end in completions:
            b.add_linear(makespan - end, lb=0)
        cost.append(makespan * objective.makespan)
    tardiness = []
    if objective.total_weighted_tardiness:
        for j, end in enumerate(completions):
            if weights[j] and horizon > dues[j]:
                late = b.int_var(max(0, earliest[j] - dues[j]), horizon - dues[j], f"T_{j}")
                b.add_linear(late - end, lb=-dues[j])
                tardiness.append((j, late))
                cost.append(late * (objective.total_weighted_tardiness * weights[j]))
    if objective.total_weighted_completion:
        cost += [
            end * (objective.total_weighted_completion * w)
            for w, end in zip(weights, completions, strict=True)
        ]
    lateness = None
    if objective.max_lateness:
        low = max(e - d for e, d in zip(earliest, dues, strict=True))
        lateness = b.int_var(low, max(low, horizon - min(dues)), "L")
        for end, due in zip(completions, dues, strict=True):
            b.add_linear(lateness - end, lb=-due)
        cost.append(lateness * objective.max_lateness)
    tardy = []
    if objective.weighted_tardy_jobs:
        for j, end in enumerate(completions):
            if weights[j] and horizon > dues[j]:
                late = b.bool_var(f"u_{j}")
                if earliest[j] > dues[j]:
                    b.add_linear(late, lb=1)
                b.add_linear(end, ub=dues[j], enforce=[~late.lit()])
                tardy.append((j, late))
                cost.append(late * (objective.weighted_tardy_jobs * weights[j]))
    total = LinearExpr.sum(cost)
    b.minimize(total)
    if upper_bound is not None and not (makespan is not None and len(cost) == 1):
        b.add_linear(total, ub=int(upper_bound))
    return JobShopIndex((), makespan, (), tuple(tardiness), lateness, tuple(tardy))


def decode(
    instance: JobShopInstance, compiled: Compiled[JobShopIndex], values: Sequence[int]
) -> JobShopSolution:
    """The schedule held in the backend's variable values."""
    index = compiled.index
    starts = [[values[v.index] for v in row] for row in index.starts]
    machines = [
        [
            next(m for m, x in pick if values[x.index]) if pick else op.choices[0][0]
            for op, pick in zip(job, picks, strict=True)
        ]
        for job, picks in zip(instance.jobs, index.choices, strict=True)
    ]
    return JobShopSolution.from_starts(instance, starts, machines)


UNHINTED_MAX_OPERATIONS = 225
"""Classic shops of at most this many operations (15 x 15) go to the final solve unhinted: there
CP-SAT proves the optimum itself within the minute, and a hint, even the optimal schedule, holds
its bound back (60 s, 2 workers, the same incumbent: ta01 proven in 33 s unhinted, bound 1169
of 1231 hinted; ft10 proven in 27 s against 54 s; la38, la40, ta06 end with the same bounds
either way). The MIP backends keep theirs: without it HiGHS finds no incumbent on ft10 that a
gap limit could stop on."""


def hint(
    instance: JobShopInstance,
    compiled: Compiled[JobShopIndex],
    solution: JobShopSolution,
    backend: str,
) -> Mapping[int, int]:
    """The final solve's hint for ``backend``: :func:`hint_values`, except for CP-SAT on
    classic shops of at most :data:`UNHINTED_MAX_OPERATIONS` operations (none: the objective
    cap from the incumbent stays; the MIP backends keep their start, which their gap limits
    need)."""
    small = instance.is_classic and instance.num_operations <= UNHINTED_MAX_OPERATIONS
    if small and backend == cpsat.NAME:
        return {}
    return hint_values(instance, compiled, solution)


def hint_values(
    instance: JobShopInstance, compiled: Compiled[JobShopIndex], solution: JobShopSolution
) -> Mapping[int, int]:
    """Hint values for every variable from a solution (those inside their domains)."""
    index = compiled.index
    values: dict[int, int] = {}
    for op in solution.operations:
        values[index.starts[op.job][op.index].index] = op.start
        for machine, x in index.choices[op.job][op.index]:
            values[x.index] = int(machine == op.machine)
    completions = solution.completions(instance)
    dues = instance.dues
    if index.makespan is not None:
        values[index.makespan.index] = solution.makespan
    for j, late in index.tardiness:
        values[late.index] = max(0, completions[j] - dues[j])
    if index.lateness is not None:
        values[index.lateness.index] = max(c - d for c, d in zip(completions, dues, strict=True))
    for j, u in index.tardy:
        values[u.index] = int(completions[j] > dues[j])
    variables = compiled.ir.variables
    return {v: x for v, x in values.items() if variables[v].lb <= x <= variables[v].ub}
