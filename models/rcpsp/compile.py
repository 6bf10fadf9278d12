"""RCPSP instance -> IR: one fixed-size interval per activity.

Variables: start :math:`S_i` of every activity and the makespan :math:`C`.

.. math::
    \\min C \\quad\\text{s.t.}\\quad
    C \\ge S_i + p_i,\\qquad
    S_j \\ge S_i + p_i \\ (j \\in succ(i)),\\qquad
    l^{min}_{ij} \\le S_j - S_i \\le l^{max}_{ij},\\qquad
    r_i \\le S_i \\le d_i - p_i,

    \\text{cumulative}_k\\big(\\{[S_i, S_i + p_i), q_{ik}\\} \\cup
    \\{[a, b), c_k : [a, b) \\in \\text{downtime}_k\\}, c_k\\big),\\qquad
    \\text{no-overlap}([S_i, S_i + p_i), [S_j, S_j + p_j)) \\ (\\{i, j\\} \\text{ disjunctive}).

Start domains are the earliest and latest starts of the temporal network (releases, deadlines,
precedences, lags) under the upper bound a warm start supplies, else under a horizon every
feasible instance reaches. The small horizon keeps the MILP backends' time-indexed cumulative
small. An instance that :func:`~makespan.models.rcpsp.check.infeasibility_reason` rejects
compiles to a one-variable model with no solution, so every backend proves it infeasible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from makespan.models.rcpsp.bounds import lower_bound
from makespan.models.rcpsp.check import infeasibility_reason
from makespan.models.rcpsp.instance import RcpspInstance, RcpspSolution, Resource
from makespan.models.rcpsp.network import build_network, earliest_starts, latest_starts
from makespan.models.spec import Compiled
from makespan.solvers.ir import ModelBuilder, Var


@dataclass(frozen=True)
class RcpspIndex:
    """IR variables of the compiled model: ``starts[i]`` by activity position, ``makespan``."""

    starts: tuple[Var, ...]
    makespan: Var


def compile_instance(
    instance: RcpspInstance, upper_bound: float | None = None
) -> Compiled[RcpspIndex]:
    """The IR of ``instance``; ``upper_bound`` (a known makespan) caps every domain."""
    if infeasibility_reason(instance) is not None:
        return _infeasible(instance)
    network = build_network(instance)
    horizon = network.default_horizon if upper_bound is None else int(upper_bound)
    early = earliest_starts(network)
    late = latest_starts(network, horizon)
    if any(e > la for e, la in zip(early, late, strict=True)):
        return _infeasible(instance)  # nothing ends by the upper bound given
    b = ModelBuilder(name=instance.name or "rcpsp")
    starts = [
        b.int_var(e, la, f"s_{a.id}")
        for a, e, la in zip(instance.activities, early, late, strict=True)
    ]
    intervals = [
        b.interval(s, a.duration, f"a_{a.id}")
        for s, a in zip(starts, instance.activities, strict=True)
    ]
    _time_constraints(b, instance, starts)
    for resource in instance.resources:
        _resource(b, instance, resource, intervals, horizon)
    pos = instance.position
    for x, y in instance.disjunctive:
        if instance.activities[pos[x]].duration and instance.activities[pos[y]].duration:
            b.add_no_overlap([intervals[pos[x]], intervals[pos[y]]])
    makespan = b.int_var(min(lower_bound(instance) or 0, horizon), horizon, "makespan")
    for s, a in zip(starts, instance.activities, strict=True):
        if not a.successors:  # a successor ends no earlier than its predecessors
            b.add_linear(makespan - s, lb=a.duration)
    b.minimize(makespan)
    return Compiled(b.build(), RcpspIndex(tuple(starts), makespan))


def _time_constraints(b: ModelBuilder, instance: RcpspInstance, starts: Sequence[Var]) -> None:
    """Precedences and lags as differences of starts; windows are already in the domains."""
    pos = instance.position
    for i, activity in enumerate(instance.activities):
        for successor in activity.successors:
            b.add_linear(starts[pos[successor]] - starts[i], lb=activity.duration)
    for lag in instance.lags:
        # A lag of an activity to itself holds or is a positive cycle, refused before.
        if lag.source != lag.to and (lag.min is not None or lag.max is not None):
            b.add_linear(starts[pos[lag.to]] - starts[pos[lag.source]], lb=lag.min, ub=lag.max)


def _resource(
    b: ModelBuilder,
    instance: RcpspInstance,
    resource: Resource,
    intervals: Sequence[int],
    horizon: int,
) -> None:
    """One cumulative: the users, plus each downtime period (clipped to the horizon) as a fixed
    interval that takes the whole capacity."""
    users = [
        (intervals[i], a.demands[resource.name])
        for i, a in enumerate(instance.activities)
        if a.duration and a.demands.get(resource.name, 0)
    ]
    if not users:
        return
    blocks = []
    for a, end in sorted(resource.downtime):
        if a < horizon:
            # A fixed variable rather than a constant start keeps the interval time-indexable
            # for the MILP backends.
            start = b.int_var(a, a, f"down_{resource.name}_{a}")
            blocks.append(b.interval(start, min(end, horizon) - a, f"down_{resource.name}_{a}"))
    if not blocks and sum(q for _, q in users) <= resource.capacity:
        return  # never binding
    demands = [q for _, q in users] + [resource.capacity] * len(blocks)
    b.add_cumulative([iv for iv, _ in users] + blocks, demands, resource.capacity)


def _infeasible(instance: RcpspInstance) -> Compiled[RcpspIndex]:
    b = ModelBuilder(name=instance.name or "rcpsp")
    makespan = b.int_var(0, 0, "makespan")
    b.add_linear(makespan, lb=1)
    b.minimize(makespan)
    return Compiled(b.build(), RcpspIndex((), makespan))


def decode(
    instance: RcpspInstance, compiled: Compiled[RcpspIndex], values: Sequence[int]
) -> RcpspSolution:
    """The schedule held in the backend's variable values."""
    return RcpspSolution.from_starts(instance, [values[v.index] for v in compiled.index.starts])


def hint(
    instance: RcpspInstance, compiled: Compiled[RcpspIndex], solution: RcpspSolution
) -> Mapping[int, int]:
    """Hint values for every start and the makespan, from a solution."""
    starts = solution.starts(instance)
    values = {v.index: s for v, s in zip(compiled.index.starts, starts, strict=True)}
    values[compiled.index.makespan.index] = solution.makespan
    return values
