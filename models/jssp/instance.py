"""The validated job-shop instance and solution."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, field_validator, model_validator

from makespan.models.bounds import KnownBounds
from makespan.models.limits import MAX_HORIZON

MAX_DURATION = 10**9
"""Largest processing time: a job's length, a machine's load and every start the heuristics
compute are sums of at most :data:`MAX_HORIZON` / ``MAX_DURATION`` such terms."""

MAX_MACHINES = 100_000
"""Most machines: the checker, the heuristics and the lower bound keep arrays per machine."""

DEFAULT_SIZE_LIMIT = 250_000
"""Operations a service accepts by default."""


class Operation(BaseModel):
    """One step of a job: ``duration`` time units on ``machine`` (0-based)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    machine: NonNegativeInt
    duration: Annotated[int, Field(ge=0, le=MAX_DURATION)]


class JobShopInstance(BaseModel):
    """A job-shop instance: every job is a chain of operations, each on one machine.

    Objective (minimised): the makespan
    :math:`C_{max} = \\max_j (s_{j,last} + p_{j,last})` subject to
    :math:`s_{j,k+1} \\ge s_{j,k} + p_{j,k}` within each job and no two operations on the same
    machine overlapping in time.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "tiny",
                    "num_machines": 2,
                    "jobs": [
                        [{"machine": 0, "duration": 3}, {"machine": 1, "duration": 2}],
                        [{"machine": 1, "duration": 2}, {"machine": 0, "duration": 4}],
                    ],
                }
            ]
        },
    )

    name: str | None = None
    num_machines: Annotated[int, Field(ge=1, le=MAX_MACHINES)]
    jobs: Annotated[tuple[tuple[Operation, ...], ...], Field(min_length=1)]
    bounds: KnownBounds | None = None

    @field_validator("jobs")
    @classmethod
    def _horizon_fits(
        cls, jobs: tuple[tuple[Operation, ...], ...]
    ) -> tuple[tuple[Operation, ...], ...]:
        total = sum(op.duration for job in jobs for op in job)
        if total > MAX_HORIZON:
            raise ValueError(
                f"the durations sum to {total}, above the largest horizon {MAX_HORIZON}"
            )
        return jobs

    @model_validator(mode="after")
    def _machines_in_range(self) -> JobShopInstance:
        for j, job in enumerate(self.jobs):
            if not job:
                raise ValueError(f"jobs.{j}: a job needs at least one operation")
            for k, op in enumerate(job):
                if op.machine >= self.num_machines:
                    raise ValueError(
                        f"jobs.{j}.{k}.machine: {op.machine} is out of range "
                        f"0..{self.num_machines - 1}"
                    )
        return self

    @property
    def num_jobs(self) -> int:
        """Number of jobs."""
        return len(self.jobs)

    @cached_property
    def num_operations(self) -> int:
        """Total number of operations over all jobs."""
        return sum(len(job) for job in self.jobs)

    @cached_property
    def horizon(self) -> int:
        """A trivially valid upper bound on the makespan: the sum of all durations."""
        return sum(op.duration for job in self.jobs for op in job)

    @cached_property
    def trivial_lower_bound(self) -> int:
        """max(longest job, busiest machine): no schedule can be shorter."""
        longest_job = max(sum(op.duration for op in job) for job in self.jobs)
        load = [0] * self.num_machines
        for job in self.jobs:
            for op in job:
                load[op.machine] += op.duration
        return max(longest_job, max(load))

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


class ScheduledOperation(BaseModel):
    """Where one operation runs: job, its index within the job, machine, start and end."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job: NonNegativeInt
    index: NonNegativeInt
    machine: NonNegativeInt
    start: NonNegativeInt
    end: NonNegativeInt


class JobShopSolution(BaseModel):
    """A schedule: every operation with its start and end; ``makespan`` is the largest end."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    makespan: NonNegativeInt
    operations: tuple[ScheduledOperation, ...]

    @classmethod
    def from_starts(
        cls, instance: JobShopInstance, starts: Sequence[Sequence[int]]
    ) -> JobShopSolution:
        """Build from ``starts[j][k]``, the start of operation k of job j."""
        ops = tuple(
            ScheduledOperation(job=j, index=k, machine=op.machine, start=s, end=s + op.duration)
            for j, (job, row) in enumerate(zip(instance.jobs, starts, strict=True))
            for k, (op, s) in enumerate(zip(job, row, strict=True))
        )
        return cls(makespan=max((o.end for o in ops), default=0), operations=ops)


class OperationFixing(BaseModel):
    """Operation ``index`` of job ``job`` keeps its ``start`` and/or its ``machine``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job: NonNegativeInt
    index: NonNegativeInt
    start: Annotated[int, Field(ge=0, le=MAX_HORIZON)] | None = None
    machine: NonNegativeInt | None = None


class JobShopFixed(BaseModel):
    """The fixed parts of a schedule (``options.fixed``): operations kept at a start and/or on
    a machine."""

    model_config = ConfigDict(frozen=True, extra="forbid")

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


def lower_bound(instance: JobShopInstance) -> float | None:
    """The longest job or the busiest machine (published bounds a file carries are claims for
    gap reports, never for the status)."""
    return instance.trivial_lower_bound
