"""Why is a model infeasible? A small set of its labelled constraint groups that cannot hold
together, found with CP-SAT assumption literals and shrunk until no member can be dropped.

Each :class:`~makespan.solvers.ir.Group` of the IR gets a fresh literal ``g``: its linear
constraints are enforced only when ``g`` holds, its intervals are present only when ``g`` holds,
and a labelled cumulative is relaxed to the sum of its demands with a blocking interval of
demand ``sum - capacity`` over the whole horizon present only when ``g`` holds. Unlabelled
constraints stay hard: they are the background a conflict is stated against.

Solving with every ``g`` assumed true gives ``sufficient_assumptions_for_infeasibility`` (a
core); deletion then drops each member in turn and keeps the drop when the rest is still
infeasible. The result is minimal (every member needed) when each test finished in time.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ortools.sat.python import cp_model

from makespan.solvers import cpsat, ir

SINGLE_TEST_SHARE = 0.25
"""The largest share of the remaining time one feasibility test may take."""


@dataclass(frozen=True)
class Conflict:
    """Labels of groups that cannot all hold; ``minimal`` when dropping any one of them was
    shown to make the rest feasible."""

    labels: tuple[ir.Label, ...]
    minimal: bool


@dataclass(frozen=True)
class _Relaxed:
    """The model with one literal per group (``switches[k]`` guards ``groups[k]``)."""

    model: ir.Model
    switches: tuple[int, ...]


def find_conflict(
    model: ir.Model, time_limit_s: float, should_stop: Callable[[], bool] = lambda: False
) -> Conflict | None:
    """A conflict among ``model``'s groups, or None when there is none to name (no groups,
    the groups can all hold, the unlabelled constraints alone are infeasible, or no test
    finished in time)."""
    if not model.groups:
        return None
    deadline = time.monotonic() + time_limit_s
    relaxed = relax_groups(model)
    members = _first_core(relaxed, len(model.groups), deadline)
    if members is None:
        return None
    minimal = True
    position = 0
    while position < len(members):
        if should_stop() or time.monotonic() >= deadline:
            minimal = False
            break
        rest = members[:position] + members[position + 1 :]
        verdict, _ = _test(relaxed, rest, deadline)
        if verdict is False:
            members = rest  # the members before ``position`` stay needed in any subset
        else:
            minimal = minimal and verdict is True
            position += 1
    if not members:
        return None
    return Conflict(tuple(model.groups[m].label for m in members), minimal)


def _first_core(relaxed: _Relaxed, count: int, deadline: float) -> list[int] | None:
    """The core CP-SAT reports with every group assumed, checked (every group when the core
    does not hold up: cores after presolve are known to be unreliable); None when every group
    can hold or nothing was decided in time."""
    everything = list(range(count))
    verdict, core = _test(relaxed, everything, deadline)
    if verdict is not False:
        return None
    if core and len(core) < count and _test(relaxed, sorted(core), deadline)[0] is False:
        return sorted(core)
    return everything


def holds(model: ir.Model, members: Sequence[int], time_limit_s: float) -> bool | None:
    """Whether the unlabelled constraints and the groups ``members`` (indices into
    ``model.groups``) can all hold: True, False, or None when undecided in time."""
    verdict, _ = _test(relax_groups(model), members, time.monotonic() + time_limit_s)
    return verdict


def relax_groups(model: ir.Model) -> _Relaxed:
    """The model without objective or hints, each group switched by a new boolean."""
    variables = list(model.variables)
    intervals = list(model.intervals)
    constraints = list(model.constraints)
    switches: list[int] = []
    for group in model.groups:
        switch = len(variables)
        variables.append(ir.Variable(f"holds[{group.label['message']}]", 0, 1, is_bool=True))
        switches.append(switch)
        literal = ir.Literal(switch)
        for c in group.constraints:
            constraints[c] = _switched(constraints[c], literal, model, intervals)
        for i in group.intervals:
            intervals[i] = _optional(intervals[i], literal)
    relaxed = dataclasses.replace(
        model,
        variables=tuple(variables),
        intervals=tuple(intervals),
        constraints=tuple(constraints),
        objective=None,
        hints=(),
        groups=(),
        deviations=(),
    )
    return _Relaxed(relaxed, tuple(switches))


def _optional(interval: ir.Interval, literal: ir.Literal) -> ir.Interval:
    if interval.presence is not None:
        raise ir.IRError(f"interval {interval.name}: already optional, cannot be switched")
    return dataclasses.replace(interval, presence=literal)


def _switched(
    constraint: ir.Constraint, literal: ir.Literal, model: ir.Model, intervals: list[ir.Interval]
) -> ir.Constraint:
    if isinstance(constraint, ir.Linear):
        return dataclasses.replace(constraint, enforce=(*constraint.enforce, literal))
    if isinstance(constraint, ir.Cumulative):
        return _switched_capacity(constraint, literal, model, intervals)
    raise ir.IRError(f"a {constraint.kind} constraint cannot be switched off")


def _switched_capacity(
    c: ir.Cumulative, literal: ir.Literal, model: ir.Model, intervals: list[ir.Interval]
) -> ir.Cumulative:
    """The cumulative at the capacity its demands can never pass, plus a block taking the
    difference over the whole horizon when ``literal`` holds."""
    total = sum(c.demands)
    if total <= c.capacity or not c.intervals:
        return c
    starts = [model.expr_bounds(intervals[i].start)[0] for i in c.intervals]
    ends = [model.expr_bounds(intervals[i].end)[1] for i in c.intervals]
    first, last = min(starts), max(ends)
    block = ir.Interval(
        "capacity_block",
        ir.LinearExpr((), first),
        ir.LinearExpr((), last - first),
        ir.LinearExpr((), last),
        presence=literal,
    )
    intervals.append(block)
    return ir.Cumulative(
        (*c.intervals, len(intervals) - 1), (*c.demands, total - c.capacity), total
    )


def _test(
    relaxed: _Relaxed, members: Sequence[int] | range, deadline: float
) -> tuple[bool | None, frozenset[int]]:
    """Solve with the switches of ``members`` assumed: (feasible?, the core among members)."""
    left = deadline - time.monotonic()
    if left <= 0:
        return None, frozenset()
    compiled = cpsat.compile_model(relaxed.model)
    switch_of = {relaxed.switches[m]: m for m in members}
    compiled.model.add_assumptions([compiled.variables[s] for s in switch_of])
    solver = cp_model.CpSolver()
    # One worker: the core is reported reliably only by the sequential search.
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = max(0.05, left * SINGLE_TEST_SHARE, min(left, 1.0))
    code = solver.solve(compiled.model)
    if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return True, frozenset()
    if code != cp_model.INFEASIBLE:
        return None, frozenset()
    core = frozenset(
        switch_of[v] for v in solver.sufficient_assumptions_for_infeasibility() if v in switch_of
    )
    return False, core
