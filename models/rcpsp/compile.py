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

Fixed starts (``options.fixed``) are labelled groups :math:`S_i = s_i`; the horizon then
reaches past the last fixed end as it reaches past the windows. With a reference schedule
:math:`S^r`, the deviation :math:`\\sum_i |S_i - S^r_i|` is added.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from makespan.models.rcpsp.bounds import lower_bound
from makespan.models.rcpsp.check import infeasibility_reason
from makespan.models.rcpsp.instance import (
    RcpspFixed,
    RcpspInstance,
    RcpspSolution,
    Resource,
    horizon_of,
)
from makespan.models.rcpsp.network import build_network, earliest_starts, latest_starts
from makespan.models.spec import Compiled, Steering
from makespan.solvers.ir import DeviationTerm, Label, Measure, Model, ModelBuilder, Var


@dataclass(frozen=True)
class RcpspIndex:
    """IR variables of the compiled model: ``starts[i]`` by activity position, ``makespan``."""

    starts: tuple[Var, ...]
    makespan: Var


def compile_instance(
    instance: RcpspInstance,
    upper_bound: float | None = None,
    steering: Steering[RcpspSolution] | None = None,
) -> Compiled[RcpspIndex]:
    """The module's model of ``instance``: a known makespan ``upper_bound`` lowers every
    latest start to ``upper_bound - p_i``; with ``steering``, its fixed starts hold as labelled
    groups and :math:`\\sum_i |S_i - S^r_i|` joins the objective."""
    if infeasibility_reason(instance) is not None:
        return _infeasible(instance)
    network = build_network(instance)
    fixed = steering.fixed if steering and isinstance(steering.fixed, RcpspFixed) else None
    horizon = network.default_horizon + _last_fixed_end(instance, fixed)
    if upper_bound is not None:
        horizon = int(upper_bound)
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
        _resource(b, resource, _users(instance, resource, intervals), horizon)
    pos = instance.position
    for x, y in instance.disjunctive:
        if instance.activities[pos[x]].duration and instance.activities[pos[y]].duration:
            b.add_no_overlap([intervals[pos[x]], intervals[pos[y]]])
    makespan = b.int_var(min(lower_bound(instance) or 0, horizon), horizon, "makespan")
    for s, a in zip(starts, instance.activities, strict=True):
        if not a.successors:  # a successor ends no earlier than its predecessors
            b.add_linear(makespan - s, lb=a.duration)
    b.minimize(makespan)
    _fix_starts(b, instance, starts, fixed)
    model = b.build()
    if steering is not None and steering.reference is not None:
        before = steering.reference.starts(instance)
        terms = [
            DeviationTerm(s.expr(), start, 1, Measure.ABSOLUTE)
            for s, start in zip(starts, before, strict=True)
        ]
        model = model.with_deviation(terms, steering.weight)
    return Compiled(model, RcpspIndex(tuple(starts), makespan))


def _fix_starts(
    b: ModelBuilder, instance: RcpspInstance, starts: Sequence[Var], fixed: RcpspFixed | None
) -> None:
    """Each fixed start as a labelled group."""
    for f in fixed.activities if fixed else ():
        label: Label = {
            "constraint": "fixed",
            "message": f"activity {f.id} fixed to start at {f.start}",
            "activity": f.id,
        }
        b.fix(starts[instance.position[f.id]], f.start, label)


def _last_fixed_end(instance: RcpspInstance, fixed: RcpspFixed | None) -> int:
    """The latest end of a fixed activity: the horizon reaches past it as past the windows."""
    if fixed is None:
        return 0
    pos = instance.position
    return max(
        (f.start + instance.activities[pos[f.id]].duration for f in fixed.activities), default=0
    )


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
    b: ModelBuilder, resource: Resource, users: Sequence[tuple[int, int]], horizon: int
) -> None:
    """One cumulative: the users, plus each downtime period (clipped to the horizon) as a fixed
    interval that takes the whole capacity; ``users`` are (interval, demand) pairs."""
    if not users:
        return
    blocks = [
        _downtime_block(b, resource.name, a, end, horizon)
        for a, end in sorted(resource.downtime)
        if a < horizon
    ]
    if not blocks and sum(q for _, q in users) <= resource.capacity:
        return  # never binding
    demands = [q for _, q in users] + [resource.capacity] * len(blocks)
    b.add_cumulative([iv for iv, _ in users] + blocks, demands, resource.capacity)


def _users(
    instance: RcpspInstance, resource: Resource, intervals: Sequence[int]
) -> list[tuple[int, int]]:
    """(interval, demand) of every activity that takes some of ``resource`` for some time."""
    return [
        (intervals[i], a.demands[resource.name])
        for i, a in enumerate(instance.activities)
        if a.duration and a.demands.get(resource.name, 0)
    ]


def _downtime_block(b: ModelBuilder, name: str, start: int, end: int, horizon: int) -> int:
    """The fixed interval of a downtime period, clipped to the horizon. A fixed variable rather
    than a constant start keeps it time-indexable for the MILP backends."""
    at = b.int_var(start, start, f"down_{name}_{start}")
    return b.interval(at, min(end, horizon) - start, f"down_{name}_{start}")


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
    instance: RcpspInstance, compiled: Compiled[RcpspIndex], solution: RcpspSolution, backend: str
) -> Mapping[int, int]:
    """Hint values for every start and the makespan, from a solution (every backend alike)."""
    starts = solution.starts(instance)
    values = {v.index: s for v, s in zip(compiled.index.starts, starts, strict=True)}
    values[compiled.index.makespan.index] = solution.makespan
    return values


def explained(instance: RcpspInstance, steering: Steering[RcpspSolution] | None = None) -> Model:
    """The instance as IR for naming a conflict: precedences hard; every release, deadline,
    lag, disjunctive pair, resource capacity, downtime period and fixed start a labelled group;
    start domains only from a horizon that every part of the instance reaches (so no group is
    assumed through a domain); no objective."""
    fixed = steering.fixed if steering and isinstance(steering.fixed, RcpspFixed) else None
    horizon = max(horizon_of(instance), build_network(instance).default_horizon)
    horizon += _last_fixed_end(instance, fixed)
    b = ModelBuilder(name=instance.name or "rcpsp")
    acts = instance.activities
    starts = [b.int_var(0, horizon - a.duration, f"s_{a.id}") for a in acts]
    intervals = [b.interval(s, a.duration, f"a_{a.id}") for s, a in zip(starts, acts, strict=True)]
    pos = instance.position
    for i, a in enumerate(acts):
        for successor in a.successors:
            b.add_linear(starts[pos[successor]] - starts[i], lb=a.duration)
    _labelled_windows(b, instance, starts)
    _labelled_lags(b, instance, starts)
    _labelled_pairs(b, instance, starts)
    for resource in instance.resources:
        _labelled_resource(b, resource, _users(instance, resource, intervals), horizon)
    _fix_starts(b, instance, starts, fixed)
    return b.build()


def _labelled_windows(b: ModelBuilder, instance: RcpspInstance, starts: Sequence[Var]) -> None:
    for a, s in zip(instance.activities, starts, strict=True):
        if a.release:
            label: Label = {
                "constraint": "release",
                "message": f"activity {a.id} starts at or after its release {a.release}",
                "activity": a.id,
            }
            with b.labeled(label):
                b.add_linear(s, lb=a.release)
        if a.deadline is not None:
            label = {
                "constraint": "deadline",
                "message": f"activity {a.id} ends by its deadline {a.deadline}",
                "activity": a.id,
            }
            with b.labeled(label):
                b.add_linear(s, ub=a.deadline - a.duration)


def _labelled_lags(b: ModelBuilder, instance: RcpspInstance, starts: Sequence[Var]) -> None:
    pos = instance.position
    for lag in instance.lags:
        gap = starts[pos[lag.to]] - starts[pos[lag.source]]
        for side, bound in (("least", lag.min), ("most", lag.max)):
            if bound is None:
                continue
            label: Label = {
                "constraint": "lag",
                "message": f"the lag {lag.source} -> {lag.to} of at {side} {bound}",
                "from": lag.source,
                "to": lag.to,
            }
            with b.labeled(label):
                if side == "least":
                    b.add_linear(gap, lb=bound)
                else:
                    b.add_linear(gap, ub=bound)


def _labelled_pairs(b: ModelBuilder, instance: RcpspInstance, starts: Sequence[Var]) -> None:
    """Each disjunctive pair as an ordering choice ``o``: x before y, or y before x."""
    pos = instance.position
    for x, y in instance.disjunctive:
        i, j = pos[x], pos[y]
        p, q = instance.activities[i].duration, instance.activities[j].duration
        if not p or not q:
            continue
        label: Label = {
            "constraint": "disjunctive",
            "message": f"activities {x} and {y} do not overlap",
            "activities": f"{x}, {y}",
        }
        with b.labeled(label):
            first = b.bool_var(f"first_{x}_{y}")
            b.add_linear(starts[j] - starts[i], lb=p, enforce=[first.lit()])
            b.add_linear(starts[i] - starts[j], lb=q, enforce=[~first.lit()])


def _labelled_resource(
    b: ModelBuilder, resource: Resource, users: Sequence[tuple[int, int]], horizon: int
) -> None:
    """The resource's capacity as one group (a cumulative of its users), each downtime period
    another (a block no user may overlap, kept apart from the capacity: a resource is down
    whatever its capacity); ``users`` are (interval, demand) pairs."""
    if not users:
        return
    label: Label = {
        "constraint": "capacity",
        "message": f"resource {resource.name} has capacity {resource.capacity}",
        "resource": resource.name,
    }
    with b.labeled(label):
        b.add_cumulative([iv for iv, _ in users], [q for _, q in users], resource.capacity)
    blocks = []
    for a, end in sorted(resource.downtime):
        if a >= horizon:
            continue
        label = {
            "constraint": "downtime",
            "message": f"resource {resource.name} is down during [{a}, {end})",
            "resource": resource.name,
        }
        with b.labeled(label):
            blocks.append(_downtime_block(b, resource.name, a, end, horizon))
    if blocks:  # each user takes 1 of n, a block all n: no user runs during a block
        n = len(users)
        b.add_cumulative([iv for iv, _ in users] + blocks, [1] * n + [n] * len(blocks), n)
