"""IR -> linear form (a MILP): the constraint kinds a MILP lacks, rewritten in small passes.

Normal form: minimise ``cost @ x + offset`` subject to ``row_lb <= A x <= row_ub`` and
``col_lb <= x <= col_ub``, ``x_j`` integral where ``integral[j]``. The first columns are the IR
variables, in IR order; the passes append auxiliary binaries after them.

Passes, in :class:`~makespan.solvers.ir.ConstraintKind` order, each with its target form:

- **interval links**: ``end - start - size = 0`` where ``end`` is not literally
  ``start + size``; gated by presence for optional intervals.
- **linear**: ``lb <= expr <= ub``; with enforcement literals ``l_1..l_k`` each side becomes
  ``expr <= ub + M * sum(1 - l_i)`` (``M = max(expr) - ub``), likewise for ``lb``.
- **no-overlap**: a binary ``y_ab`` per pair that can meet: ``end_a <= start_b`` if ``y_ab``,
  ``end_b <= start_a`` otherwise; both gated by the presences of optional intervals.
- **no-overlap with setups**: *pairwise* when the setups obey the triangle inequality through
  any interval (``S_gk <= S_gh + min size_h + S_hk``), so that "directly follows" and
  "follows" ask the same: the no-overlap form with the setup in the big-M rows,
  ``end_a + S_ab <= start_b`` if ``y_ab``, ``end_b + S_ba <= start_a`` otherwise. Otherwise
  *successor arcs*: ``x_ab`` (b directly follows a), ``f_b`` (b first), ``l_a`` (a last) with
  ``sum_a x_ab + f_b = present_b``, ``sum_b x_ab + l_a = present_a``, ``sum_b f_b <= 1`` and
  ``end_a + S_ab <= start_b`` where ``x_ab``; positive sizes rule out cycles, so the present
  intervals form one chain.
- **cumulative**: *time-indexed* when every interval is mandatory with a fixed size and a start
  that is one variable, and ``sum(start domain sizes) <= TIME_INDEXED_MAX_COLUMNS``:
  ``x_it`` binaries with ``sum_t x_it = 1``, ``start_i = sum_t t x_it`` and one capacity row per
  time point. Otherwise *start events*: for ordered pairs, ``a_ij >= [s_i <= s_j]``,
  ``b_ij >= [s_j < e_i]``, ``z_ij >= a_ij + b_ij - 1`` and at every start
  ``d_j + sum_i d_i z_ij <= C`` (the load peaks at some start time).
- **2-D no-overlap**: four binaries per pair (left, right, below, above), at least one true.
- **max-equality**: epigraph ``t >= e_k`` plus selectors ``u_k`` (``sum u_k = 1``) with
  ``t <= e_k`` where ``u_k``.

Every big-M is computed from the bounds of the expressions involved, never a blanket constant.
Each pass also says how to derive its auxiliary values from a full assignment of the IR
variables, so a hinted warm start becomes a complete MIP start.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import combinations, pairwise, permutations
from typing import Any

import numpy as np
import numpy.typing as npt

from makespan.solvers.deadline import BuildClock
from makespan.solvers.ir import (
    ConstraintKind,
    Cumulative,
    Interval,
    Linear,
    LinearExpr,
    Literal,
    MaxEquality,
    Model,
    NoOverlap,
    NoOverlap2D,
    NoOverlapSetup,
)

TIME_INDEXED_MAX_COLUMNS = 20_000
"""Largest number of x_it binaries for which a cumulative is posted time-indexed."""

Derivation = Callable[[Sequence[int]], int]
"""Computes an auxiliary column's value from the IR variables' values."""


@dataclass(frozen=True)
class LinearForm:
    """A MILP in row-wise sparse form; see the module docstring for the normal form."""

    name: str
    col_lb: npt.NDArray[np.float64]
    col_ub: npt.NDArray[np.float64]
    integral: npt.NDArray[np.bool_]
    col_names: tuple[str, ...]
    cost: npt.NDArray[np.float64]
    offset: float
    row_lb: npt.NDArray[np.float64]
    row_ub: npt.NDArray[np.float64]
    row_start: npt.NDArray[np.int32]
    row_index: npt.NDArray[np.int32]
    row_value: npt.NDArray[np.float64]
    num_ir_columns: int
    start: tuple[tuple[int, ...], tuple[float, ...]] | None
    """A MIP start (column indices, values) from the IR hints, complete when they were."""

    @property
    def num_cols(self) -> int:
        """Number of columns."""
        return len(self.col_lb)

    @property
    def num_rows(self) -> int:
        """Number of rows."""
        return len(self.row_lb)

    @property
    def objective_is_integral(self) -> bool:
        """True when every objective value of an integral solution is an integer."""
        used = self.cost != 0
        integral_costs = np.all(np.round(self.cost[used]) == self.cost[used])
        return bool(
            integral_costs and np.all(self.integral[used]) and float(self.offset).is_integer()
        )


@dataclass
class _Form:
    """Columns and rows under construction."""

    ir: Model
    col_lb: list[float] = field(default_factory=list)
    col_ub: list[float] = field(default_factory=list)
    integral: list[bool] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    rows: list[tuple[dict[int, float], float, float]] = field(default_factory=list)
    derivations: list[tuple[int, Derivation]] = field(default_factory=list)
    clock: BuildClock = field(default_factory=BuildClock)

    def column(self, lb: float, ub: float, integral: bool, name: str) -> int:
        """A new column; returns its index."""
        self.clock.tick()
        self.col_lb.append(lb)
        self.col_ub.append(ub)
        self.integral.append(integral)
        self.names.append(name)
        return len(self.col_lb) - 1

    def binary(self, name: str, derive: Derivation) -> int:
        """A new auxiliary binary and how to derive its MIP-start value."""
        col = self.column(0, 1, True, name)
        self.derivations.append((col, derive))
        return col

    def bounds(self, expr: LinearExpr) -> tuple[float, float]:
        """The smallest and largest value of ``expr`` over the column bounds."""
        lo = hi = float(expr.constant)
        for var, coef in expr.terms:
            a, b = coef * self.col_lb[var], coef * self.col_ub[var]
            lo += min(a, b)
            hi += max(a, b)
        return lo, hi

    def row(self, expr: LinearExpr, lb: float | None, ub: float | None) -> None:
        """``lb <= expr <= ub`` as one row."""
        self._row(expr, 0.0, None, lb, ub)

    def _row(
        self,
        expr: LinearExpr,
        scale: float,
        violation: LinearExpr | None,
        lb: float | None,
        ub: float | None,
    ) -> None:
        """``lb <= expr + scale * violation <= ub`` as one sparse row."""
        self.clock.tick()
        coefs: dict[int, float] = {}
        shift = float(expr.constant)
        for var, coef in expr.terms:
            coefs[var] = coefs.get(var, 0.0) + coef
        if violation is not None:
            shift += scale * violation.constant
            for var, coef in violation.terms:
                coefs[var] = coefs.get(var, 0.0) + scale * coef
        low = -np.inf if lb is None else lb - shift
        high = np.inf if ub is None else ub - shift
        self.rows.append(({v: c for v, c in coefs.items() if c}, low, high))

    def gated(
        self, expr: LinearExpr, lb: float | None, ub: float | None, gate: Sequence[Literal]
    ) -> None:
        """``lb <= expr <= ub`` whenever every literal of ``gate`` is true (big-M from bounds)."""
        if not gate:
            self.row(expr, lb, ub)
            return
        violation = LinearExpr.sum(_falsity(lit) for lit in gate)  # 0 iff the gate holds
        lo, hi = self.bounds(expr)
        if ub is not None and hi > ub:
            self._row(expr, -(hi - ub), violation, None, ub)
        if lb is not None and lo < lb:
            self._row(expr, lb - lo, violation, lb, None)

    def build(self, objective: LinearExpr | None, hints: dict[int, int]) -> LinearForm:
        """The finished linear form, with the MIP start derived from ``hints``."""
        n = len(self.col_lb)
        cost = np.zeros(n)
        offset = 0.0
        if objective is not None:
            offset = float(objective.constant)
            for var, coef in objective.terms:
                cost[var] += coef
        starts = np.zeros(len(self.rows) + 1, dtype=np.int32)
        starts[1:] = np.cumsum([len(coefs) for coefs, _, _ in self.rows], dtype=np.int64)
        index = np.fromiter((v for coefs, _, _ in self.rows for v in coefs), np.int32)
        value = np.fromiter((c for coefs, _, _ in self.rows for c in coefs.values()), np.float64)
        return LinearForm(
            name=self.ir.name,
            col_lb=np.asarray(self.col_lb, dtype=np.float64),
            col_ub=np.asarray(self.col_ub, dtype=np.float64),
            integral=np.asarray(self.integral, dtype=np.bool_),
            col_names=tuple(self.names),
            cost=cost,
            offset=offset,
            row_lb=np.fromiter((lb for _, lb, _ in self.rows), np.float64, len(self.rows)),
            row_ub=np.fromiter((ub for _, _, ub in self.rows), np.float64, len(self.rows)),
            row_start=starts,
            row_index=index,
            row_value=value,
            num_ir_columns=len(self.ir.variables),
            start=self._start(hints),
        )

    def _start(self, hints: dict[int, int]) -> tuple[tuple[int, ...], tuple[float, ...]] | None:
        if not hints:
            return None
        count = len(self.ir.variables)
        if len(hints) < count:
            return tuple(hints), tuple(float(v) for v in hints.values())
        values = [hints[i] for i in range(count)]
        aux = [(col, derive(values)) for col, derive in self.derivations]
        columns = (*range(count), *(col for col, _ in aux))
        return columns, (*map(float, values), *(float(v) for _, v in aux))


def _falsity(lit: Literal) -> LinearExpr:
    """1 when the literal is false, 0 when true."""
    var = LinearExpr(((lit.var, 1),))
    return var if lit.negated else 1 - var


def _at_most(x: LinearExpr, y: LinearExpr) -> Derivation:
    """Derives ``[x <= y]``."""
    return lambda values: int(x.value(values) <= y.value(values))


def _below(x: LinearExpr, y: LinearExpr) -> Derivation:
    """Derives ``[x < y]``."""
    return lambda values: int(x.value(values) < y.value(values))


def _equals(var: int, value: int) -> Derivation:
    """Derives ``[var == value]``."""
    return lambda values: int(values[var] == value)


def _runs_at_start(a: Interval, b: Interval) -> Derivation:
    """Derives ``[start_a <= start_b < end_a]``."""
    return lambda v: int(a.start.value(v) <= b.start.value(v) < a.end.value(v))


def _is_argmax(exprs: tuple[LinearExpr, ...], k: int) -> Derivation:
    """Derives ``[k is the first index of the largest expression]``."""
    return lambda v: int(k == max(range(len(exprs)), key=lambda i: exprs[i].value(v)))


def _presence(iv: Interval) -> list[Literal]:
    return [] if iv.presence is None else [iv.presence]


def _is_zero_size(iv: Interval) -> bool:
    return iv.size.is_constant and iv.size.constant == 0


# --- passes, in ConstraintKind order -------------------------------------------------------


def _interval_links(form: _Form) -> None:
    for iv in form.ir.intervals:
        if LinearExpr.sum((iv.start, iv.size)) != LinearExpr.sum((iv.end,)):
            form.gated(iv.end - iv.start - iv.size, 0, 0, _presence(iv))


def _linear(form: _Form, c: Linear) -> None:
    form.gated(c.expr, c.lb, c.ub, c.enforce)


def _before(form: _Form, a: Interval, b: Interval, gate: list[Literal], gap: int = 0) -> None:
    """``a`` ends at least ``gap`` before ``b`` starts, under ``gate``."""
    form.gated(a.end - b.start + gap, None, 0, gate)


def _can_meet(form: _Form, a: Interval, b: Interval, gap_ab: int = 0, gap_ba: int = 0) -> bool:
    """Whether neither order of ``a`` and ``b`` (``gap`` apart) always holds by the bounds."""
    a_end_max = form.bounds(a.end)[1]
    b_end_max = form.bounds(b.end)[1]
    return (
        a_end_max + gap_ab > form.bounds(b.start)[0]
        and b_end_max + gap_ba > form.bounds(a.start)[0]
    )


def _no_overlap(form: _Form, c: NoOverlap) -> None:
    intervals = [form.ir.intervals[i] for i in c.intervals]
    pairs = [(a, b, 0, 0) for a, b in combinations(intervals, 2)]
    _ordered_pairs(form, pairs)


def _ordered_pairs(form: _Form, pairs: list[tuple[Interval, Interval, int, int]]) -> None:
    """An order binary per pair ``(a, b, gap_ab, gap_ba)`` that can meet: ``a`` ends
    ``gap_ab`` before ``b`` starts, or ``b`` ends ``gap_ba`` before ``a`` starts."""
    for a, b, gap_ab, gap_ba in pairs:
        if _is_zero_size(a) or _is_zero_size(b) or not _can_meet(form, a, b, gap_ab, gap_ba):
            continue
        y = form.binary(f"order[{a.name},{b.name}]", _at_most(a.end, b.start))
        presences = _presence(a) + _presence(b)
        _before(form, a, b, [Literal(y), *presences], gap_ab)
        _before(form, b, a, [Literal(y, negated=True), *presences], gap_ba)


def _no_overlap_setup(form: _Form, c: NoOverlapSetup) -> None:
    intervals = [form.ir.intervals[i] for i in c.intervals]
    if c.triangular([form.bounds(iv.size)[0] for iv in intervals]):
        pairs = [
            (intervals[a], intervals[b], c.gap(a, b), c.gap(b, a))
            for a, b in combinations(range(len(intervals)), 2)
        ]
        _ordered_pairs(form, pairs)
        return
    order = _Sequence(form.ir, c)
    n = len(intervals)
    first = [form.binary(f"first[{iv.name}]", order.is_first(a)) for a, iv in enumerate(intervals)]
    last = [form.binary(f"last[{iv.name}]", order.is_last(a)) for a, iv in enumerate(intervals)]
    follows: dict[tuple[int, int], int] = {}
    for a, b in permutations(range(n), 2):
        before, after = intervals[a], intervals[b]
        if form.bounds(before.end)[0] + c.gap(a, b) > form.bounds(after.start)[1]:
            continue  # b can never start in time to follow a
        x = form.binary(f"follows[{before.name},{after.name}]", order.follows(a, b))
        follows[(a, b)] = x
        _before(form, before, after, [Literal(x)], c.gap(a, b))
    for a, iv in enumerate(intervals):
        present = 1 - LinearExpr.sum(_falsity(p) for p in _presence(iv))
        into = [x for (_, b), x in follows.items() if b == a]
        out = [x for (b, _), x in follows.items() if b == a]
        form.row(LinearExpr.weighted([*into, first[a]], [1] * (len(into) + 1)) - present, 0, 0)
        form.row(LinearExpr.weighted([*out, last[a]], [1] * (len(out) + 1)) - present, 0, 0)
    form.row(LinearExpr.weighted(first, [1] * n), None, 1)


class _Sequence:
    """The present intervals of one constraint in start order, from the hint values (computed
    once per assignment), for deriving the successor arcs."""

    def __init__(self, ir: Model, constraint: NoOverlapSetup) -> None:
        self.ir = ir
        self.constraint = constraint
        self._values: Sequence[int] | None = None
        self._order: list[int] = []
        self._next: dict[int, int] = {}

    def _of(self, values: Sequence[int]) -> list[int]:
        if values is not self._values:
            self._values = values
            self._order = self.constraint.sequence(self.ir, values)
            self._next = dict(pairwise(self._order))
        return self._order

    def is_first(self, a: int) -> Derivation:
        """Derives ``[a comes first]``."""
        return lambda values: int(self._of(values)[:1] == [a])

    def is_last(self, a: int) -> Derivation:
        """Derives ``[a comes last]``."""
        return lambda values: int(self._of(values)[-1:] == [a])

    def follows(self, a: int, b: int) -> Derivation:
        """Derives ``[b directly follows a]``."""

        def derive(values: Sequence[int]) -> int:
            self._of(values)
            return int(self._next.get(a) == b)

        return derive


def _time_indexable(form: _Form, intervals: list[Interval]) -> bool:
    columns = 0
    for iv in intervals:
        if iv.presence is not None or not iv.is_fixed_size:
            return False
        if len(iv.start.terms) != 1 or iv.start.terms[0][1] != 1 or iv.start.constant:
            return False
        lo, hi = form.bounds(iv.start)
        columns += int(hi - lo) + 1
    return columns <= TIME_INDEXED_MAX_COLUMNS


def _cumulative(form: _Form, c: Cumulative) -> None:
    jobs = [
        (form.ir.intervals[i], d)
        for i, d in zip(c.intervals, c.demands, strict=True)
        if d > 0 and not _is_zero_size(form.ir.intervals[i])
    ]
    if not jobs:
        return
    if _time_indexable(form, [iv for iv, _ in jobs]):
        _cumulative_time_indexed(form, jobs, c.capacity)
    else:
        _cumulative_start_events(form, jobs, c.capacity)


def _cumulative_time_indexed(form: _Form, jobs: list[tuple[Interval, int]], capacity: int) -> None:
    load: dict[int, list[tuple[int, int]]] = {}
    for iv, demand in jobs:
        var = iv.start.terms[0][0]
        lo, hi = (int(b) for b in form.bounds(iv.start))
        size = iv.size.constant
        xs = [form.binary(f"at[{iv.name},{t}]", _equals(var, t)) for t in range(lo, hi + 1)]
        form.row(LinearExpr.weighted(xs, [1] * len(xs)), 1, 1)
        times = list(range(lo, hi + 1))
        form.row(LinearExpr.weighted([*xs, var], [*times, -1]), 0, 0)
        for x, t in zip(xs, times, strict=True):
            for tau in range(t, t + size):
                load.setdefault(tau, []).append((x, demand))
    total = sum(d for _, d in jobs)
    for tau in sorted(load):
        entries = load[tau]
        if total > capacity and sum(d for _, d in entries) > capacity:
            form.row(LinearExpr(tuple(entries)), None, capacity)


def _cumulative_start_events(form: _Form, jobs: list[tuple[Interval, int]], capacity: int) -> None:
    for j, (b, demand_b) in enumerate(jobs):
        overlapping = [(a, d) for i, (a, d) in enumerate(jobs) if i != j and _can_meet(form, a, b)]
        if demand_b + sum(d for _, d in overlapping) <= capacity:
            continue  # the load at b's start can never pass the capacity
        running = [_running_at_start(form, a, b) for a, _ in overlapping]
        load = LinearExpr.weighted(running, [d for _, d in overlapping], demand_b)
        form.gated(load, None, capacity, _presence(b))


def _running_at_start(form: _Form, a: Interval, b: Interval) -> int:
    """A binary forced to 1 when ``a`` runs at ``b``'s start: ``s_a <= s_b < e_a``."""
    started = form.binary(f"started[{a.name},{b.name}]", _at_most(a.start, b.start))
    # s_b - s_a + 1 <= 0 unless started: started covers s_a <= s_b
    form.gated(b.start - a.start + 1, None, 0, [Literal(started, negated=True)])
    unfinished = form.binary(f"unfinished[{a.name},{b.name}]", _below(b.start, a.end))
    form.gated(a.end - b.start, None, 0, [Literal(unfinished, negated=True)])
    running = form.binary(f"running[{a.name},{b.name}]", _runs_at_start(a, b))
    present = LinearExpr.sum(_falsity(p) for p in _presence(a))  # 1 when a is absent
    # running >= started + unfinished - 1 (when a is present)
    link = LinearExpr.weighted([running, started, unfinished], [1, -1, -1]) + present
    form.row(link, -1, None)
    return running


def _no_overlap_2d(form: _Form, c: NoOverlap2D) -> None:
    boxes = [
        (form.ir.intervals[x], form.ir.intervals[y])
        for x, y in zip(c.x_intervals, c.y_intervals, strict=True)
    ]
    for (ax, ay), (bx, by) in combinations(boxes, 2):
        if any(_is_zero_size(iv) for iv in (ax, ay, bx, by)):
            continue
        if not (_can_meet(form, ax, bx) and _can_meet(form, ay, by)):
            continue
        presences = _presence(ax) + _presence(bx)
        sides = []
        for first, second in ((ax, bx), (bx, ax), (ay, by), (by, ay)):
            side = form.binary(
                f"apart[{first.name},{second.name}]", _at_most(first.end, second.start)
            )
            _before(form, first, second, [Literal(side), *presences])
            sides.append(side)
        absent = LinearExpr.sum(_falsity(p) for p in presences)
        form.row(LinearExpr.weighted(sides, [1, 1, 1, 1]) + absent, 1, None)


def _max_equality(form: _Form, c: MaxEquality) -> None:
    selectors = []
    for k, expr in enumerate(c.exprs):
        form.row(c.target - expr, 0, None)
        selector = form.binary(f"argmax[{k}]", _is_argmax(c.exprs, k))
        form.gated(c.target - expr, None, 0, [Literal(selector)])
        selectors.append(selector)
    form.row(LinearExpr.weighted(selectors, [1] * len(selectors)), 1, 1)


_PASSES: dict[ConstraintKind, Callable[[_Form, Any], None]] = {
    ConstraintKind.LINEAR: _linear,
    ConstraintKind.NO_OVERLAP: _no_overlap,
    ConstraintKind.NO_OVERLAP_SETUP: _no_overlap_setup,
    ConstraintKind.CUMULATIVE: _cumulative,
    ConstraintKind.NO_OVERLAP_2D: _no_overlap_2d,
    ConstraintKind.MAX_EQUALITY: _max_equality,
}


def linearize(ir: Model) -> LinearForm:
    """The MILP of ``ir``; pure: the same IR always gives the same linear form."""
    form = _Form(ir)
    for v in ir.variables:
        form.column(v.lb, v.ub, True, v.name)
    _interval_links(form)
    for constraint in ir.constraints:
        _PASSES[constraint.kind](form, constraint)
    return form.build(ir.objective, dict(ir.hints))
