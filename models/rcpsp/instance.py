"""The validated RCPSP instance (with RCPSP/max lags, windows, downtime) and its solution."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from itertools import pairwise
from typing import Annotated

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, model_validator
from pydantic.config import JsonDict

from makespan.models.bounds import KnownBounds
from makespan.models.limits import MAX_HORIZON
from makespan.solvers.frozen import Frozen

MAX_VALUE = 10**9
"""Largest duration, time, demand, capacity or lag magnitude: a product of two (an energy
duration x demand) stays below 10^18, and the sum of all of them is bounded by
:data:`MAX_HORIZON` (see :func:`horizon_of`)."""

DEFAULT_SIZE_LIMIT = 100_000
"""Activities a service accepts by default."""

Time = Annotated[int, Field(ge=0, le=MAX_VALUE)]
"""A duration or a point in time."""

Amount = Annotated[int, Field(ge=0, le=MAX_VALUE)]
"""A capacity or a demand."""

LagValue = Annotated[int, Field(ge=-MAX_VALUE, le=MAX_VALUE)]
"""A bound on a difference of starts; negative values are allowed (RCPSP/max)."""

_EXAMPLE: JsonDict = {
    "name": "tiny",
    "resources": [{"name": "R1", "capacity": 4, "downtime": [[10, 14]]}],
    "activities": [
        {"id": 1, "duration": 3, "demands": {"R1": 2}, "successors": [2, 3], "release": 0},
        {"id": 2, "duration": 2, "demands": {"R1": 3}, "successors": [4]},
        {"id": 3, "duration": 4, "demands": {"R1": 1}, "successors": [4], "deadline": 20},
        {"id": 4, "duration": 1, "demands": {}, "successors": []},
    ],
    "disjunctive": [[2, 3]],
    "lags": [{"from": 1, "to": 4, "min": 2, "max": 30}],
}


class Resource(Frozen):
    """A renewable resource: ``capacity`` units at every time outside its ``downtime`` periods.

    A downtime period ``[a, b)`` is half-open; during it the capacity is 0.
    """

    name: Annotated[str, Field(min_length=1)]
    capacity: Amount
    downtime: tuple[tuple[Time, Time], ...] = ()


class Activity(Frozen):
    """One activity: it runs ``duration`` units without interruption, using ``demands[name]``
    units of each named resource, and starts after every predecessor ended.

    ``successors`` are ids that may start only once this activity ended; it starts at or after
    ``release`` and ends at or before ``deadline`` (none when null).
    """

    id: NonNegativeInt
    duration: Time
    demands: dict[str, Amount] = Field(default_factory=dict)
    successors: tuple[NonNegativeInt, ...] = ()
    release: Time = 0
    deadline: Time | None = None


class Lag(BaseModel):
    """A generalised precedence (RCPSP/max): ``min <= start(to) - start(from) <= max``; a null
    side is unbounded."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_by_name=True, serialize_by_alias=True
    )

    source: NonNegativeInt = Field(alias="from")
    to: NonNegativeInt
    min: LagValue | None = None
    max: LagValue | None = None


class RcpspInstance(BaseModel):
    """A resource-constrained project: activities, renewable resources and time constraints.

    Objective (minimised): the makespan :math:`C_{max} = \\max_i (S_i + p_i)` over start times
    :math:`S_i \\ge 0` subject to

    - precedences :math:`S_j \\ge S_i + p_i` for every successor ``j`` of ``i``;
    - windows :math:`S_i \\ge r_i` and :math:`S_i + p_i \\le d_i`;
    - lags :math:`l^{min}_{ij} \\le S_j - S_i \\le l^{max}_{ij}`;
    - disjunctive pairs: :math:`[S_i, S_i + p_i)` and :math:`[S_j, S_j + p_j)` do not overlap;
    - resources: :math:`\\sum_{i : S_i \\le t < S_i + p_i} q_{ik} \\le c_k(t)` at every time
      :math:`t`, with :math:`c_k(t) = 0` inside a downtime period of resource :math:`k`.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", json_schema_extra={"examples": [_EXAMPLE]}
    )

    name: str | None = None
    resources: tuple[Resource, ...] = ()
    activities: Annotated[tuple[Activity, ...], Field(min_length=1)]
    disjunctive: tuple[tuple[NonNegativeInt, NonNegativeInt], ...] = ()
    lags: tuple[Lag, ...] = ()
    bounds: KnownBounds | None = None

    @model_validator(mode="after")
    def _references_hold(self) -> RcpspInstance:
        _check_resources(self.resources)
        _check_activities(self.activities, {r.name for r in self.resources})
        ids = {a.id for a in self.activities}
        for k, (a, b) in enumerate(self.disjunctive):
            for side, value in ((0, a), (1, b)):
                _known(ids, value, f"disjunctive.{k}.{side}")
            if a == b:
                raise ValueError(f"disjunctive.{k}: an activity cannot be disjunctive with itself")
        for k, lag in enumerate(self.lags):
            _known(ids, lag.source, f"lags.{k}.from")
            _known(ids, lag.to, f"lags.{k}.to")
            if lag.min is not None and lag.max is not None and lag.min > lag.max:
                raise ValueError(f"lags.{k}: min {lag.min} is above max {lag.max}")
        _check_acyclic(self.activities)
        _check_horizon(self)
        return self

    @cached_property
    def position(self) -> dict[int, int]:
        """Position in ``activities`` of every activity id."""
        return {a.id: i for i, a in enumerate(self.activities)}

    @property
    def num_activities(self) -> int:
        """Number of activities (dummy start and end included for PSPLIB files)."""
        return len(self.activities)


def horizon_of(instance: RcpspInstance) -> int:
    """An upper bound on every time the model and the heuristics form: the latest release,
    deadline or downtime end, plus per activity the longer of its duration and its largest
    outgoing lag arc (the network's default horizon, see ``network``, past the downtime)."""
    windows = [a.release for a in instance.activities]
    windows += [a.deadline for a in instance.activities if a.deadline is not None]
    windows += [end for r in instance.resources for _, end in r.downtime]
    longest_lag: dict[int, int] = {}  # the largest arc weight leaving each activity
    for lag in instance.lags:
        if lag.min is not None:
            longest_lag[lag.source] = max(lag.min, longest_lag.get(lag.source, 0))
        if lag.max is not None:  # the reverse arc to -> from weighs -max
            longest_lag[lag.to] = max(-lag.max, longest_lag.get(lag.to, 0))
    spread = sum(max(a.duration, longest_lag.get(a.id, 0)) for a in instance.activities)
    return max(windows, default=0) + spread


def _check_horizon(instance: RcpspInstance) -> None:
    horizon = horizon_of(instance)
    if horizon > MAX_HORIZON:
        raise ValueError(
            f"activities: the horizon (latest window end plus the durations and lags) is "
            f"{horizon}, above the largest supported {MAX_HORIZON}"
        )


def _check_resources(resources: Sequence[Resource]) -> None:
    seen: set[str] = set()
    for k, resource in enumerate(resources):
        if resource.name in seen:
            raise ValueError(f"resources.{k}.name: duplicate resource {resource.name!r}")
        seen.add(resource.name)
        periods = sorted(resource.downtime)
        for start, end in periods:
            if start >= end:
                raise ValueError(
                    f"resources.{k}.downtime: period [{start}, {end}) is empty; "
                    "expected start < end"
                )
        for (_, end), (start, _) in pairwise(periods):
            if start < end:
                raise ValueError(f"resources.{k}.downtime: periods overlap at {start}")


def _check_activities(activities: Sequence[Activity], resources: set[str]) -> None:
    ids: set[int] = set()
    for i, activity in enumerate(activities):
        if activity.id in ids:
            raise ValueError(f"activities.{i}.id: duplicate activity id {activity.id}")
        ids.add(activity.id)
    for i, activity in enumerate(activities):
        for name in activity.demands:
            if name not in resources:
                raise ValueError(f"activities.{i}.demands: unknown resource {name!r}")
        for value in activity.successors:
            _known(ids, value, f"activities.{i}.successors")
        if activity.deadline is not None and activity.release > activity.deadline:
            raise ValueError(
                f"activities.{i}.deadline: {activity.deadline} is before the release "
                f"{activity.release}"
            )


def _known(ids: set[int], value: int, field: str) -> None:
    if value not in ids:
        raise ValueError(f"{field}: unknown activity id {value}")


def _check_acyclic(activities: Sequence[Activity]) -> None:
    graph = nx.DiGraph()
    graph.add_nodes_from(a.id for a in activities)
    graph.add_edges_from((a.id, s) for a in activities for s in a.successors)
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return
    position = {a.id: i for i, a in enumerate(activities)}
    nodes = [u for u, _ in cycle]
    first = min(range(len(nodes)), key=lambda k: position[nodes[k]])
    nodes = nodes[first:] + nodes[:first]  # start at the first activity, for stable messages
    path = " -> ".join(str(u) for u in [*nodes, nodes[0]])
    raise ValueError(
        f"activities.{position[nodes[0]]}.successors: the precedences form a cycle {path}"
    )


class ScheduledActivity(Frozen):
    """When one activity runs: ``[start, end)``."""

    id: NonNegativeInt
    start: NonNegativeInt
    end: NonNegativeInt


class FixedStart(Frozen):
    """Activity ``id`` starts at ``start``."""

    id: NonNegativeInt
    start: Time


class RcpspFixed(Frozen):
    """The fixed parts of a schedule (``options.fixed``): activities kept at their start."""

    activities: tuple[FixedStart, ...] = ()


class RcpspSolution(Frozen):
    """A schedule: every activity with its start and end; ``makespan`` is the largest end."""

    makespan: NonNegativeInt
    activities: tuple[ScheduledActivity, ...]

    @classmethod
    def from_starts(cls, instance: RcpspInstance, starts: Sequence[int]) -> RcpspSolution:
        """Build from ``starts[i]``, the start of ``instance.activities[i]``."""
        scheduled = tuple(
            ScheduledActivity(id=a.id, start=s, end=s + a.duration)
            for a, s in zip(instance.activities, starts, strict=True)
        )
        return cls(makespan=max((s.end for s in scheduled), default=0), activities=scheduled)

    def starts(self, instance: RcpspInstance) -> list[int]:
        """Start times in the order of ``instance.activities`` (the solution must cover them)."""
        by_id = {s.id: s.start for s in self.activities}
        return [by_id[a.id] for a in instance.activities]


def fixed_before(solution: RcpspSolution, time: int) -> RcpspFixed:
    """Every activity of ``solution`` that starts before ``time``, kept at its start."""
    return RcpspFixed(
        activities=tuple(
            FixedStart(id=a.id, start=a.start) for a in solution.activities if a.start < time
        )
    )
