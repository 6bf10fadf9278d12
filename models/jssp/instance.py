"""The validated job-shop instance and solution: the classic job shop and its shop-scheduling
extensions (flexible machines, release and due dates, weights, machine downtime, sequence-
dependent setups, weighted objectives), every extension optional."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Annotated, Any, NamedTuple

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict

from makespan.models.bounds import KnownBounds
from makespan.models.limits import FLOAT_EXACT, MAX_HORIZON
from makespan.solvers.frozen import Frozen

MAX_DURATION = 10**9
"""Largest processing time (and setup time): a job's length, a machine's load and every start
the heuristics compute are sums of at most :data:`MAX_HORIZON` / ``MAX_DURATION`` such terms."""

MAX_MACHINES = 100_000
"""Most machines: the checker, the heuristics and the lower bound keep arrays per machine."""

MAX_WEIGHT = 10**6
"""Largest job weight and objective coefficient (integers: the objective stays exact)."""

MAX_SETUP_ENTRIES = 10_000_000
"""Most entries of ``setup_times`` (machines x jobs x jobs)."""

DEFAULT_SIZE_LIMIT = 250_000
"""Operations a service accepts by default."""

Duration = Annotated[int, Field(ge=0, le=MAX_DURATION)]
"""A processing or setup time."""

Time = Annotated[int, Field(ge=0, le=MAX_HORIZON)]
"""A point in time (a release, a due date, a downtime bound)."""

Weight = Annotated[int, Field(ge=0, le=MAX_WEIGHT)]
"""A job weight or an objective coefficient: a non-negative integer."""


class Choice(NamedTuple):
    """A machine an operation may run on, and how long it takes there."""

    machine: int
    duration: int


class Alternative(Frozen):
    """One machine a flexible operation may run on, for this machine's ``duration``."""

    machine: NonNegativeInt
    duration: Duration


def _distinct_machines(alternatives: tuple[Alternative, ...]) -> tuple[Alternative, ...]:
    seen: set[int] = set()
    for alternative in alternatives:
        if alternative.machine in seen:
            raise ValueError(f"machine {alternative.machine} is listed twice")
        seen.add(alternative.machine)
    return alternatives


class Operation(Frozen):
    """One step of a job: ``duration`` time units on ``machine`` (0-based), or, for a flexible
    operation, on exactly one of its ``alternatives``, for that machine's duration."""

    machine: NonNegativeInt | None = None
    duration: Duration | None = None
    alternatives: (
        Annotated[tuple[Alternative, ...], Field(min_length=1), AfterValidator(_distinct_machines)]
        | None
    ) = None

    @model_validator(mode="after")
    def _one_form(self) -> Operation:
        fixed = self.machine is not None or self.duration is not None
        if self.alternatives is not None and fixed:
            raise ValueError("give either machine and duration, or alternatives, not both")
        if self.alternatives is None and (self.machine is None or self.duration is None):
            raise ValueError("an operation needs machine and duration, or alternatives")
        return self

    @cached_property
    def choices(self) -> tuple[Choice, ...]:
        """The machines the operation may run on, with their durations."""
        if self.alternatives is not None:
            return tuple(Choice(a.machine, a.duration) for a in self.alternatives)
        assert self.machine is not None and self.duration is not None  # _one_form
        return (Choice(self.machine, self.duration),)

    @property
    def fixed(self) -> Choice:
        """The one machine and duration of an operation that has no choice (ValueError for a
        flexible one)."""
        if self.machine is not None and self.duration is not None:
            return Choice(self.machine, self.duration)
        if len(self.choices) == 1:
            return self.choices[0]
        raise ValueError("a flexible operation has no fixed machine")

    @property
    def min_duration(self) -> int:
        """The shortest of its durations."""
        return self.duration if self.duration is not None else min(c[1] for c in self.choices)

    @property
    def max_duration(self) -> int:
        """The longest of its durations."""
        return self.duration if self.duration is not None else max(c[1] for c in self.choices)

    def duration_on(self, machine: int) -> int | None:
        """Its duration on ``machine``, None when it cannot run there."""
        for m, d in self.choices:
            if m == machine:
                return d
        return None


class ShopObjective(Frozen):
    """A weighted sum of objective terms, each coefficient a non-negative integer; ``C_j`` is
    the end of job j's last operation, ``d_j`` its due date, ``w_j`` its weight."""

    makespan: Weight = Field(0, description="coefficient of max_j C_j")
    total_weighted_tardiness: Weight = Field(
        0, description="coefficient of sum_j w_j max(0, C_j - d_j)"
    )
    total_weighted_completion: Weight = Field(0, description="coefficient of sum_j w_j C_j")
    max_lateness: Weight = Field(0, description="coefficient of max_j (C_j - d_j)")
    weighted_tardy_jobs: Weight = Field(0, description="coefficient of sum_j w_j [C_j > d_j]")

    @model_validator(mode="after")
    def _some_term(self) -> ShopObjective:
        if not any(self.terms.values()):
            raise ValueError("at least one coefficient must be positive")
        return self

    @property
    def terms(self) -> dict[str, int]:
        """Every term's coefficient, by name, in the order of the fields."""
        return self.model_dump()

    @property
    def is_makespan(self) -> bool:
        """Whether the objective is the plain makespan (coefficient 1, nothing else)."""
        return self.makespan == 1 and not self.uses_due_dates and not self.total_weighted_completion

    @property
    def uses_due_dates(self) -> bool:
        """Whether a term with a positive coefficient reads the due dates."""
        return bool(self.total_weighted_tardiness or self.max_lateness or self.weighted_tardy_jobs)


MAKESPAN = ShopObjective(makespan=1)
"""The default objective."""


def _period(period: tuple[int, int]) -> tuple[int, int]:
    if period[0] >= period[1]:
        raise ValueError(f"a period [start, end) needs start < end, found {list(period)}")
    return period


Period = Annotated[tuple[Time, Time], AfterValidator(_period)]
"""A half-open period ``[start, end)``."""

_EXAMPLE: JsonDict = {
    "name": "tiny",
    "num_machines": 2,
    "jobs": [
        [{"machine": 0, "duration": 3}, {"machine": 1, "duration": 2}],
        [{"machine": 1, "duration": 2}, {"machine": 0, "duration": 4}],
    ],
}

_SHOP_EXAMPLE: JsonDict = {
    "name": "shop",
    "num_machines": 3,
    "jobs": [
        [
            {"machine": 0, "duration": 3},
            {"alternatives": [{"machine": 1, "duration": 2}, {"machine": 2, "duration": 4}]},
        ],
        [
            {"alternatives": [{"machine": 0, "duration": 2}, {"machine": 1, "duration": 3}]},
            {"machine": 2, "duration": 3},
        ],
    ],
    "release": [0, 1],
    "due": [6, 8],
    "weight": [2, 1],
    "machine_downtime": [[[10, 14]], [], []],
    "setup_times": [[[0, 1], [1, 0]], [[0, 2], [2, 0]], [[0, 0], [0, 0]]],
    "objective": {"makespan": 1, "total_weighted_tardiness": 2},
}


class JobShopInstance(BaseModel):
    """A shop-scheduling instance: every job is a chain of operations, each on one machine or
    on one of several (flexible), no two operations overlapping on a machine.

    Every field besides ``num_machines`` and ``jobs`` is optional; without them this is the
    classic job shop, minimising the makespan
    :math:`C_{max} = \\max_j (s_{j,last} + p_{j,last})` subject to
    :math:`s_{j,k+1} \\ge s_{j,k} + p_{j,k}` within each job and no two operations on the same
    machine overlapping in time.

    - ``release[j]``: job j's first operation starts at or after it;
    - ``due[j]``, ``weight[j]`` (default 1): read by the objective;
    - ``machine_downtime[m]``: half-open periods in which machine m processes nothing (an
      operation does not overlap them; no preemption);
    - ``setup_times[m][j][k]``: on machine m, an operation of job k that directly follows one of
      job j starts at least that long after it ends (none before a machine's first operation);
    - ``objective``: non-negative integer coefficients of a weighted sum of ``makespan``,
      ``total_weighted_tardiness``, ``total_weighted_completion``, ``max_lateness`` and
      ``weighted_tardy_jobs`` (default: the makespan).

    Operations of duration 0 occupy no machine time: they overlap nothing and take no part in
    setups or downtime.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra={"examples": [_EXAMPLE, _SHOP_EXAMPLE]},
    )

    name: str | None = None
    num_machines: Annotated[int, Field(ge=1, le=MAX_MACHINES)]
    jobs: Annotated[tuple[tuple[Operation, ...], ...], Field(min_length=1)]
    bounds: KnownBounds | None = None
    release: tuple[Time, ...] | None = Field(
        None, description="per job: its first operation starts at or after it (default 0)"
    )
    due: tuple[Time, ...] | None = Field(
        None, description="per job: its due date (needed by the due-date objective terms)"
    )
    weight: tuple[Weight, ...] | None = Field(
        None, description="per job: its weight in the objective, an integer (default 1)"
    )
    machine_downtime: tuple[tuple[Period, ...], ...] | None = Field(
        None, description="per machine: half-open periods [start, end) it processes nothing in"
    )
    setup_times: tuple[tuple[tuple[Duration, ...], ...], ...] | None = Field(
        None,
        description="setup_times[m][j][k]: on machine m, the least time between the end of an "
        "operation of job j and the start of one of job k that directly follows it",
    )
    objective: ShopObjective | None = Field(
        None,
        description="non-negative integer coefficients of the objective terms "
        '(default {"makespan": 1})',
    )

    @field_validator("jobs")
    @classmethod
    def _horizon_fits(
        cls, jobs: tuple[tuple[Operation, ...], ...]
    ) -> tuple[tuple[Operation, ...], ...]:
        total = sum(op.max_duration for job in jobs for op in job)
        if total > MAX_HORIZON:
            raise ValueError(
                f"the durations sum to {total}, above the largest horizon {MAX_HORIZON}"
            )
        return jobs

    @field_validator("release", "due", "weight")
    @classmethod
    def _one_per_job(
        cls, values: tuple[int, ...] | None, info: ValidationInfo
    ) -> tuple[int, ...] | None:
        jobs = info.data.get("jobs")
        if values is not None and jobs is not None and len(values) != len(jobs):
            raise ValueError(f"expected one value per job ({len(jobs)}), found {len(values)}")
        return values

    @field_validator("machine_downtime")
    @classmethod
    def _one_list_per_machine(
        cls, downtime: tuple[tuple[tuple[int, int], ...], ...] | None, info: ValidationInfo
    ) -> tuple[tuple[tuple[int, int], ...], ...] | None:
        machines = info.data.get("num_machines")
        if downtime is not None and machines is not None and len(downtime) != machines:
            raise ValueError(
                f"expected one list of periods per machine ({machines}), found {len(downtime)}"
            )
        return downtime

    @field_validator("setup_times")
    @classmethod
    def _square_per_machine(
        cls, setups: tuple[tuple[tuple[int, ...], ...], ...] | None, info: ValidationInfo
    ) -> tuple[tuple[tuple[int, ...], ...], ...] | None:
        machines, jobs = info.data.get("num_machines"), info.data.get("jobs")
        if setups is None or machines is None or jobs is None:
            return setups
        n = len(jobs)
        if len(setups) != machines:
            raise ValueError(f"expected one matrix per machine ({machines}), found {len(setups)}")
        if machines * n * n > MAX_SETUP_ENTRIES:
            raise ValueError(
                f"{machines} x {n} x {n} entries; at most {MAX_SETUP_ENTRIES} are supported"
            )
        for m, matrix in enumerate(setups):
            if len(matrix) != n or any(len(row) != n for row in matrix):
                raise ValueError(f"setup_times.{m}: expected a {n} x {n} matrix (jobs x jobs)")
        return setups

    @model_validator(mode="after")
    def _consistent(self) -> JobShopInstance:
        for j, job in enumerate(self.jobs):
            if not job:
                raise ValueError(f"jobs.{j}: a job needs at least one operation")
            for k, op in enumerate(job):
                for a, (machine, _) in enumerate(op.choices):
                    if machine >= self.num_machines:
                        where = "machine" if op.alternatives is None else f"alternatives.{a}"
                        raise ValueError(
                            f"jobs.{j}.{k}.{where}: machine {machine} is out of range "
                            f"0..{self.num_machines - 1}"
                        )
        if self.horizon > MAX_HORIZON:
            raise ValueError(
                f"release, machine_downtime, setup_times: the horizon (latest release or "
                f"downtime end, plus every operation's longest duration and setup) is "
                f"{self.horizon}, above the largest horizon {MAX_HORIZON}"
            )
        self._objective_fits()
        return self

    def _objective_fits(self) -> None:
        objective = self.shop_objective
        if objective.uses_due_dates and self.due is None:
            terms = ("total_weighted_tardiness", "max_lateness", "weighted_tardy_jobs")
            used = [t for t in terms if objective.terms[t]]
            raise ValueError(f"due: the objective term {used[0]} needs due dates")
        largest = objective_bound(self)
        if largest > FLOAT_EXACT:
            raise ValueError(
                f"objective: the objective may reach {largest}, above {FLOAT_EXACT} (exact as "
                f"a double); lower the coefficients or the weights"
            )

    # -- what the extensions mean, with their defaults -----------------------------------

    @property
    def num_jobs(self) -> int:
        """Number of jobs."""
        return len(self.jobs)

    @cached_property
    def num_operations(self) -> int:
        """Total number of operations over all jobs."""
        return sum(len(job) for job in self.jobs)

    @cached_property
    def shop_objective(self) -> ShopObjective:
        """The objective, the makespan when none is given."""
        return self.objective or MAKESPAN

    @cached_property
    def releases(self) -> tuple[int, ...]:
        """Every job's release (0 by default)."""
        return self.release or (0,) * self.num_jobs

    @cached_property
    def weights(self) -> tuple[int, ...]:
        """Every job's weight (1 by default)."""
        return self.weight or (1,) * self.num_jobs

    @cached_property
    def dues(self) -> tuple[int, ...]:
        """Every job's due date (its release when none is given: read only by due-date
        objectives, which need them)."""
        return self.due or self.releases

    @cached_property
    def downtime(self) -> tuple[tuple[tuple[int, int], ...], ...]:
        """Per machine, its downtime periods sorted and merged where they overlap or touch."""
        if self.machine_downtime is None:
            return ((),) * self.num_machines
        return tuple(merge_periods(periods) for periods in self.machine_downtime)

    @cached_property
    def has_setups(self) -> bool:
        """Whether some setup time is positive."""
        return self.setup_times is not None and any(
            any(any(row) for row in matrix) for matrix in self.setup_times
        )

    @cached_property
    def is_flexible(self) -> bool:
        """Whether some operation may run on more than one machine."""
        return any(len(op.choices) > 1 for job in self.jobs for op in job)

    @cached_property
    def has_time_windows(self) -> bool:
        """Whether some release is positive or some machine has downtime."""
        return any(self.releases) or any(self.downtime)

    @cached_property
    def is_classic(self) -> bool:
        """The classic job shop: one machine per operation, no release, downtime or setups,
        the plain makespan."""
        return not (
            self.is_flexible
            or self.has_time_windows
            or self.has_setups
            or not self.shop_objective.is_makespan
        )

    def setup(self, machine: int, before: int, after: int) -> int:
        """The setup on ``machine`` between an operation of job ``before`` and one of job
        ``after`` that directly follows it."""
        if self.setup_times is None:
            return 0
        return self.setup_times[machine][before][after]

    @cached_property
    def max_setup_into(self) -> tuple[tuple[int, ...], ...]:
        """``[m][k]``: the longest setup before an operation of job ``k`` on machine ``m``."""
        if self.setup_times is None:
            return ((0,) * self.num_jobs,) * self.num_machines
        return tuple(
            tuple(max(column) for column in zip(*matrix, strict=True))
            for matrix in self.setup_times
        )

    @cached_property
    def horizon(self) -> int:
        """A valid upper bound on every end time: after the latest release and downtime end,
        the operations one after another, each with its longest duration and setup (the sum of
        all durations for a classic instance)."""
        work = sum(op.max_duration for job in self.jobs for op in job)
        if self.setup_times is not None:
            into = self.max_setup_into
            work += sum(
                max(into[m][j] for m, _ in op.choices)
                for j, job in enumerate(self.jobs)
                for op in job
            )
        ends = [end for periods in self.downtime for _, end in periods]
        return max(max(self.releases), max(ends, default=0)) + work

    @cached_property
    def earliest_completions(self) -> tuple[int, ...]:
        """Per job, the earliest its last operation can end: release plus shortest durations."""
        return tuple(
            r + sum(op.min_duration for op in job)
            for r, job in zip(self.releases, self.jobs, strict=True)
        )

    @cached_property
    def trivial_lower_bound(self) -> int:
        """max(longest job, busiest machine): no schedule can be shorter. With flexible
        operations a machine's load counts only the operations that have no other choice, and
        the total shortest work is spread over every machine."""
        longest_job = max(self.earliest_completions)
        load = [0] * self.num_machines
        total = 0
        for job in self.jobs:
            for op in job:
                total += op.min_duration
                if len(op.choices) == 1:
                    load[op.choices[0][0]] += op.min_duration
        spread = -(-total // self.num_machines)
        return max(longest_job, max(load), spread)

    def objective_value(self, completions: Sequence[int]) -> int:
        """The objective of a schedule whose jobs end at ``completions``."""
        values = self.term_values(completions)
        return sum(c * v for c, v in zip(self.shop_objective.terms.values(), values, strict=True))

    def term_values(self, completions: Sequence[int]) -> tuple[int, ...]:
        """Each objective term's value (in :attr:`ShopObjective.terms` order)."""
        w, d = self.weights, self.dues
        lateness = [c - due for c, due in zip(completions, d, strict=True)]
        return (
            max(completions),
            sum(wj * max(0, lj) for wj, lj in zip(w, lateness, strict=True)),
            sum(wj * c for wj, c in zip(w, completions, strict=True)),
            max(lateness),
            sum(wj for wj, lj in zip(w, lateness, strict=True) if lj > 0),
        )

    @classmethod
    def from_matrices(
        cls,
        machines: list[list[int]],
        durations: list[list[int]],
        *,
        name: str | None = None,
        num_machines: int | None = None,
        bounds: KnownBounds | None = None,
    ) -> JobShopInstance:
        """Build from per-job machine and duration rows (machines 0-based)."""
        jobs = tuple(
            tuple(Operation(machine=m, duration=d) for m, d in zip(ms, ds, strict=True))
            for ms, ds in zip(machines, durations, strict=True)
        )
        if num_machines is None:
            num_machines = 1 + max((m for row in machines for m in row), default=0)
        return cls(name=name, num_machines=num_machines, jobs=jobs, bounds=bounds)

    def assigned(self, machines: Sequence[Sequence[int]]) -> JobShopInstance:
        """The classic job shop of this instance's jobs on the machines chosen by
        ``machines[j][k]`` (its other fields left out)."""
        jobs = tuple(
            tuple(
                Operation(machine=m, duration=op.duration_on(m))
                for op, m in zip(job, row, strict=True)
            )
            for job, row in zip(self.jobs, machines, strict=True)
        )
        return JobShopInstance(name=self.name, num_machines=self.num_machines, jobs=jobs)


def merge_periods(periods: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Periods sorted, those that overlap or touch merged into one."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(periods):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


def objective_bound(instance: JobShopInstance) -> int:
    """The largest magnitude the objective (and any of its terms, times its coefficient) can
    reach: every end time is at most the horizon, every lateness at least minus the latest due
    date."""
    objective = instance.shop_objective
    horizon = instance.horizon
    total_weight = sum(instance.weights)
    latest = max(horizon, max(instance.dues))
    return (
        objective.makespan * horizon
        + objective.total_weighted_tardiness * total_weight * horizon
        + objective.total_weighted_completion * total_weight * horizon
        + objective.max_lateness * latest
        + objective.weighted_tardy_jobs * total_weight
    )


class ScheduledOperation(Frozen):
    """Where one operation runs: job, its index within the job, machine, start and end."""

    job: NonNegativeInt
    index: NonNegativeInt
    machine: NonNegativeInt
    start: NonNegativeInt
    end: NonNegativeInt


def _absent(value: Any) -> bool:
    return value is None


class JobShopSolution(Frozen):
    """A schedule: every operation with its machine, start and end; ``makespan`` is the largest
    end, and ``objective`` the instance's objective when it is not the plain makespan."""

    makespan: NonNegativeInt
    operations: tuple[ScheduledOperation, ...]
    objective: int | None = Field(None, exclude_if=_absent)

    @classmethod
    def from_starts(
        cls,
        instance: JobShopInstance,
        starts: Sequence[Sequence[int]],
        machines: Sequence[Sequence[int]] | None = None,
    ) -> JobShopSolution:
        """Build from ``starts[j][k]``, the start of operation k of job j, on machine
        ``machines[j][k]`` (needed for flexible operations)."""
        ops = []
        for j, (job, row) in enumerate(zip(instance.jobs, starts, strict=True)):
            for k, (op, s) in enumerate(zip(job, row, strict=True)):
                if machines is None:
                    machine, duration = op.fixed
                else:
                    machine = machines[j][k]
                    found = op.duration_on(machine)
                    if found is None:
                        raise ValueError(f"operation ({j}, {k}) cannot run on machine {machine}")
                    duration = found
                ops.append(
                    ScheduledOperation(job=j, index=k, machine=machine, start=s, end=s + duration)
                )
        return cls.of(instance, tuple(ops))

    @classmethod
    def of(
        cls, instance: JobShopInstance, operations: tuple[ScheduledOperation, ...]
    ) -> JobShopSolution:
        """The solution of these scheduled operations, with its makespan and objective."""
        makespan = max((o.end for o in operations), default=0)
        objective = None
        if not instance.shop_objective.is_makespan:
            objective = instance.objective_value(job_completions(instance.num_jobs, operations))
        return cls(makespan=makespan, operations=operations, objective=objective)

    def start_matrix(self, instance: JobShopInstance) -> tuple[tuple[int, ...], ...]:
        """``starts[j][k]``, the start of operation k of job j (:meth:`from_starts`' input)."""
        rows = [[0] * len(job) for job in instance.jobs]
        for o in self.operations:
            rows[o.job][o.index] = o.start
        return tuple(tuple(row) for row in rows)

    def completions(self, instance: JobShopInstance) -> list[int]:
        """:math:`C_j`, the end of each job's last operation."""
        return job_completions(instance.num_jobs, self.operations)

    def value(self) -> int:
        """The objective value this solution claims (its makespan for the plain makespan)."""
        return self.makespan if self.objective is None else self.objective


def job_completions(num_jobs: int, operations: Sequence[ScheduledOperation]) -> list[int]:
    """The latest end among each job's ``operations`` (0 for a job with none; operations of
    jobs beyond ``num_jobs`` left out, so that a malformed solution cannot index past them)."""
    completions = [0] * num_jobs
    for o in operations:
        if o.job < num_jobs:
            completions[o.job] = max(completions[o.job], o.end)
    return completions


class OperationFixing(Frozen):
    """Operation ``index`` of job ``job`` keeps its ``start`` and/or its ``machine``."""

    job: NonNegativeInt
    index: NonNegativeInt
    start: Annotated[int, Field(ge=0, le=MAX_HORIZON)] | None = None
    machine: NonNegativeInt | None = None


class JobShopFixed(Frozen):
    """The fixed parts of a schedule (``options.fixed``): operations kept at a start and/or on
    a machine."""

    operations: tuple[OperationFixing, ...] = ()


def fixed_before(solution: JobShopSolution, time: int) -> JobShopFixed:
    """Every operation of ``solution`` that starts before ``time``, kept at its start and on
    its machine."""
    return JobShopFixed(
        operations=tuple(
            OperationFixing(job=op.job, index=op.index, start=op.start, machine=op.machine)
            for op in solution.operations
            if op.start < time
        )
    )


def size(instance: JobShopInstance) -> int:
    """The number of operations."""
    return instance.num_operations


def lower_bound(instance: JobShopInstance, makespan: int | None = None) -> float | None:
    """A proven bound on the objective: each term at its value when every job ends at its
    earliest completion, the makespan term at ``makespan`` (a proven bound on it; the cheap
    one, longest job or busiest machine, by default). Published bounds a file carries are
    claims for gap reports, never for the status."""
    objective = instance.shop_objective
    least_makespan = max(instance.trivial_lower_bound, makespan or 0)
    if objective.is_makespan:
        return least_makespan
    earliest = instance.earliest_completions
    terms = list(instance.term_values(earliest))
    terms[0] = least_makespan
    return sum(c * v for c, v in zip(objective.terms.values(), terms, strict=True))
