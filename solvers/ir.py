"""The common intermediate representation (IR) every model compiles to and every backend reads.

An IR :class:`Model` is immutable: integer and boolean variables, interval variables, a tuple of
constraints of the kinds listed in :class:`ConstraintKind`, a linear objective (minimised) and
solution hints. Models are built with :class:`ModelBuilder`, which validates as it goes, so a
backend can trust every index it reads. Backends declare the kinds they support; a model's
:attr:`Model.kinds` says which kinds it uses.

Everything is integral: CP-SAT needs integers, and the MILP passes derive their big-M constants
from integer variable bounds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from functools import cached_property

import numpy as np

from makespan.solvers.deadline import BuildClock


class ConstraintKind(StrEnum):
    """Every constraint kind the IR knows; each backend handles them in this order."""

    LINEAR = "linear"
    NO_OVERLAP = "no_overlap"
    NO_OVERLAP_SETUP = "no_overlap_setup"
    CUMULATIVE = "cumulative"
    NO_OVERLAP_2D = "no_overlap_2d"
    MAX_EQUALITY = "max_equality"


class IRError(ValueError):
    """An IR that does not hold together (bad index, empty domain, mismatched lengths)."""


class ObjectiveTooLargeError(IRError):
    """An objective whose values would pass :data:`MAX_OBJECTIVE_MAGNITUDE`."""


@dataclass(frozen=True, slots=True)
class Variable:
    """An integer variable with domain ``[lb, ub]``; booleans have domain ``[0, 1]``."""

    name: str
    lb: int
    ub: int
    is_bool: bool = False


@dataclass(frozen=True, slots=True)
class Literal:
    """A boolean variable or its negation, as used for enforcement and interval presence."""

    var: int
    negated: bool = False

    def __invert__(self) -> Literal:
        return Literal(self.var, not self.negated)


@dataclass(frozen=True, slots=True)
class LinearExpr:
    """``sum(coef * var for var, coef in terms) + constant``, variables by index."""

    terms: tuple[tuple[int, int], ...] = ()
    constant: int = 0

    @staticmethod
    def of(value: ExprLike) -> LinearExpr:
        """Promote a variable, an integer or an expression to an expression."""
        if isinstance(value, LinearExpr):
            return value
        if isinstance(value, Var):
            return LinearExpr(((value.index, 1),))
        return LinearExpr((), int(value))

    @staticmethod
    def sum(values: Iterable[ExprLike]) -> LinearExpr:
        """The sum of many expressions, merged term by term."""
        coefs: dict[int, int] = {}
        constant = 0
        for value in values:
            expr = LinearExpr.of(value)
            constant += expr.constant
            for var, coef in expr.terms:
                coefs[var] = coefs.get(var, 0) + coef
        return LinearExpr(tuple((v, c) for v, c in coefs.items() if c), constant)

    @staticmethod
    def weighted(vars_: Sequence[Var | int], coefs: Sequence[int], constant: int = 0) -> LinearExpr:
        """``sum(c * v) + constant`` without intermediate objects (for large sums)."""
        indices = (v.index if isinstance(v, Var) else v for v in vars_)
        return LinearExpr(tuple((i, c) for i, c in zip(indices, coefs, strict=True) if c), constant)

    @property
    def is_constant(self) -> bool:
        """True when no variable appears."""
        return not self.terms

    def value(self, values: Sequence[int]) -> int:
        """Evaluate with ``values[var]`` for every variable."""
        return self.constant + sum(c * values[v] for v, c in self.terms)

    def __add__(self, other: ExprLike) -> LinearExpr:
        return LinearExpr.sum((self, other))

    __radd__ = __add__

    def __neg__(self) -> LinearExpr:
        return LinearExpr(tuple((v, -c) for v, c in self.terms), -self.constant)

    def __sub__(self, other: ExprLike) -> LinearExpr:
        return LinearExpr.sum((self, -LinearExpr.of(other)))

    def __rsub__(self, other: ExprLike) -> LinearExpr:
        return LinearExpr.sum((other, -self))

    def __mul__(self, factor: int) -> LinearExpr:
        return LinearExpr(
            tuple((v, c * factor) for v, c in self.terms if c * factor), self.constant * factor
        )

    __rmul__ = __mul__


@dataclass(frozen=True, slots=True)
class Var:
    """A handle on a variable of a :class:`ModelBuilder` (its index), usable in arithmetic."""

    index: int

    def expr(self) -> LinearExpr:
        """This variable as an expression."""
        return LinearExpr(((self.index, 1),))

    def lit(self) -> Literal:
        """This (boolean) variable as a positive literal."""
        return Literal(self.index)

    def __add__(self, other: ExprLike) -> LinearExpr:
        return self.expr() + other

    __radd__ = __add__

    def __sub__(self, other: ExprLike) -> LinearExpr:
        return self.expr() - other

    def __rsub__(self, other: ExprLike) -> LinearExpr:
        return LinearExpr.of(other) - self.expr()

    def __mul__(self, factor: int) -> LinearExpr:
        return self.expr() * factor

    __rmul__ = __mul__

    def __neg__(self) -> LinearExpr:
        return -self.expr()


ExprLike = LinearExpr | Var | int


@dataclass(frozen=True, slots=True)
class Interval:
    """An interval ``[start, end)`` with ``end = start + size``, optional when ``presence`` is set.

    ``size`` is constant for fixed-size intervals. An absent optional interval constrains nothing.
    """

    name: str
    start: LinearExpr
    size: LinearExpr
    end: LinearExpr
    presence: Literal | None = None

    @property
    def is_fixed_size(self) -> bool:
        """True when the size is a constant."""
        return self.size.is_constant


@dataclass(frozen=True, slots=True)
class Linear:
    """``lb <= expr <= ub`` (a missing side is unbounded), enforced only when all literals hold."""

    expr: LinearExpr
    lb: int | None
    ub: int | None
    enforce: tuple[Literal, ...] = ()
    kind = ConstraintKind.LINEAR


@dataclass(frozen=True, slots=True)
class NoOverlap:
    """The listed intervals are pairwise disjoint in time (a unary resource)."""

    intervals: tuple[int, ...]
    kind = ConstraintKind.NO_OVERLAP


@dataclass(frozen=True, slots=True)
class NoOverlapSetup:
    """A unary resource with sequence-dependent setups: the listed intervals are pairwise
    disjoint, and a present interval of group ``h`` that directly follows a present interval of
    group ``g`` (no present interval of the list between them) starts at least
    ``setup[g][h]`` after that one ends. Nothing precedes the first interval.

    Every interval has a positive size (one of size zero occupies no time and belongs in no
    sequence). Intervals outside the list (a machine's breaks) may lie between two that follow
    each other: they take no part in the sequence.
    """

    intervals: tuple[int, ...]
    groups: tuple[int, ...]
    """The group of each interval: a row and column of ``setup``."""
    setup: tuple[tuple[int, ...], ...]
    """A square matrix of non-negative setup times, groups x groups."""
    kind = ConstraintKind.NO_OVERLAP_SETUP

    def gap(self, a: int, b: int) -> int:
        """The setup between the ``a``-th and the ``b``-th listed interval."""
        return self.setup[self.groups[a]][self.groups[b]]

    def triangular(self, least_sizes: Sequence[int | float]) -> bool:
        """Whether ``S_gk <= S_gh + least size_h + S_hk`` for all groups (``least_sizes`` by
        listed interval): a setup never exceeds the way through another interval, so a setup
        holds between every two present intervals in their order, not only between
        neighbours, and a pairwise order models the sequence exactly. False above
        :data:`TRIANGLE_MAX_GROUPS` groups (the check is cubic in them)."""
        used = sorted(set(self.groups))
        if len(used) > TRIANGLE_MAX_GROUPS:
            return False
        setup = np.array([[self.setup[g][h] for h in used] for g in used], dtype=np.float64)
        smallest = dict.fromkeys(used, np.inf)
        for g, size in zip(self.groups, least_sizes, strict=True):
            smallest[g] = min(smallest[g], size)
        for h, g in enumerate(used):
            through = setup[:, h : h + 1] + smallest[g] + setup[h : h + 1, :]
            if np.any(setup > through):
                return False
        return True

    def sequence(self, model: Model, values: Sequence[int]) -> list[int]:
        """The positions (in :attr:`intervals`) of the present intervals in start order, from
        a full assignment ``values``: the sequence a backend derives its hints from."""
        present = []
        for position, i in enumerate(self.intervals):
            iv = model.intervals[i]
            if iv.presence is None or values[iv.presence.var] != iv.presence.negated:
                present.append((iv.start.value(values), position))
        return [position for _, position in sorted(present)]


TRIANGLE_MAX_GROUPS = 400
"""Most groups for which :meth:`NoOverlapSetup.triangular` checks the triangle inequality;
above, the backends take the successor (circuit) form."""


@dataclass(frozen=True, slots=True)
class Cumulative:
    """At every time, the demands of the intervals running then sum to at most ``capacity``."""

    intervals: tuple[int, ...]
    demands: tuple[int, ...]
    capacity: int
    kind = ConstraintKind.CUMULATIVE


@dataclass(frozen=True, slots=True)
class NoOverlap2D:
    """Rectangles ``x_intervals[i] x y_intervals[i]`` are pairwise disjoint in the plane."""

    x_intervals: tuple[int, ...]
    y_intervals: tuple[int, ...]
    kind = ConstraintKind.NO_OVERLAP_2D


@dataclass(frozen=True, slots=True)
class MaxEquality:
    """``target == max(exprs)``."""

    target: LinearExpr
    exprs: tuple[LinearExpr, ...]
    kind = ConstraintKind.MAX_EQUALITY


Constraint = Linear | NoOverlap | NoOverlapSetup | Cumulative | NoOverlap2D | MaxEquality

Label = Mapping[str, str | int | float]
"""What a group of constraints means in the instance's terms: ``constraint`` (its class:
``deadline``, ``fixed``, ...), ``message`` (a sentence) and the items it concerns."""


@dataclass(frozen=True)
class Group:
    """Constraints and intervals that together state one constraint of the instance (a
    deadline, a fixing, a resource's capacity), so that a conflict can be told in its terms.

    Backends ignore groups; :mod:`~makespan.solvers.conflict` relaxes them one by one.
    """

    label: Label
    constraints: tuple[int, ...]
    intervals: tuple[int, ...] = ()


MAX_OBJECTIVE_MAGNITUDE = 2**53
"""Largest absolute value an objective with a deviation term may take: every backend then
holds it exactly (a MILP's objective is a double)."""


class Measure(StrEnum):
    """How a :class:`DeviationTerm` measures the distance of an expression from its value."""

    ABSOLUTE = "absolute"
    """:math:`|e - v|`."""
    CHANGED = "changed"
    """:math:`[e \\ne v]`."""
    SHORTFALL = "shortfall"
    """:math:`\\max(0, v - e)`."""


@dataclass(frozen=True, slots=True)
class DeviationTerm:
    """``cost * measure(expr, value)``: one part of a solution's distance from a reference."""

    expr: LinearExpr
    value: int
    cost: int
    measure: Measure

    def of(self, values: Sequence[int]) -> int:
        """The term's value where the variables take ``values``."""
        return self.cost * self.distance(self.expr.value(values) - self.value)

    def distance(self, gap: int) -> int:
        """The measure, before the cost, when ``expr - value == gap``."""
        if self.measure is Measure.ABSOLUTE:
            return abs(gap)
        if self.measure is Measure.CHANGED:
            return int(gap != 0)
        return max(0, -gap)


@dataclass(frozen=True)
class Model:
    """An immutable, validated optimisation model: minimise ``objective`` subject to constraints.

    Build one with :class:`ModelBuilder`; derive a hinted copy with :meth:`with_hints`.
    """

    name: str
    variables: tuple[Variable, ...]
    intervals: tuple[Interval, ...]
    constraints: tuple[Constraint, ...]
    objective: LinearExpr | None
    hints: tuple[tuple[int, int], ...] = ()
    objective_scale: int = 1
    """The objective in the problem's own units is ``objective / objective_scale``: models with
    fractional costs scale them to integers (CP-SAT needs integral objectives)."""
    groups: tuple[Group, ...] = ()
    """Constraints labelled with the instance constraint they state (see :class:`Group`)."""
    deviations: tuple[tuple[int, DeviationTerm], ...] = ()
    """The auxiliary variable of each deviation term (see :meth:`with_deviation`), so hints
    can be completed."""

    @cached_property
    def kinds(self) -> frozenset[ConstraintKind]:
        """The constraint kinds this model uses."""
        return frozenset(c.kind for c in self.constraints)

    def with_hints(self, hints: Mapping[int, int]) -> Model:
        """A copy with these solution hints (variable index -> value), checked against domains.

        Deviation variables the hints leave out are completed from the variables they measure.
        """
        for var, value in hints.items():
            self._check_var(var, "hint")
            v = self.variables[var]
            if not v.lb <= value <= v.ub:
                raise IRError(f"hint {v.name}={value} outside [{v.lb}, {v.ub}]")
        complete = dict(hints) | self._deviation_hints(hints)
        return dataclasses.replace(self, hints=tuple(sorted(complete.items())))

    def _deviation_hints(self, hints: Mapping[int, int]) -> dict[int, int]:
        derived: dict[int, int] = {}
        for aux, term in self.deviations:
            if aux in hints or any(var not in hints for var, _ in term.expr.terms):
                continue
            value = term.expr.constant + sum(c * hints[v] for v, c in term.expr.terms)
            derived[aux] = term.distance(value - term.value)
        return derived

    def with_deviation(self, terms: Sequence[DeviationTerm], weight: Fraction) -> Model:
        """A copy that minimises ``objective + weight * sum(terms)`` (in problem units).

        Each term gets a variable pinned from below to its measure (exact at any optimum):
        ``d >= e - v`` and ``d >= v - e`` (absolute), ``d >= v - e`` (shortfall), or a boolean
        ``c`` with ``e - v <= (max e - v) c`` and ``v - e <= (v - min e) c`` (changed). With
        ``weight = p / q`` the IR objective becomes ``q * objective + p * scale * sum(cost *
        d)`` and the scale ``q * scale``.

        Raises:
            IRError: a negative weight or cost, or an objective that would pass
                :data:`MAX_OBJECTIVE_MAGNITUDE`.
        """
        if weight < 0 or any(t.cost < 0 for t in terms):
            raise IRError("a deviation weight or cost is negative")
        variables = list(self.variables)
        constraints = list(self.constraints)
        measured: list[tuple[int, DeviationTerm]] = []
        constant = 0
        for term in terms:
            aux = _measure_term(self, term, variables, constraints)
            if isinstance(aux, int):
                measured.append((aux, term))
            else:
                constant += aux.value
        deviation = LinearExpr.weighted([a for a, _ in measured], [t.cost for _, t in measured])
        deviation += constant
        base = self.objective or LinearExpr()
        p, q = weight.numerator, weight.denominator
        objective = base * q + deviation * (p * self.objective_scale)
        model = dataclasses.replace(
            self,
            variables=tuple(variables),
            constraints=tuple(constraints),
            objective=objective,
            objective_scale=self.objective_scale * q,
            deviations=self.deviations + tuple(measured),
        )
        low, high = model.expr_bounds(objective)
        if max(abs(low), abs(high)) > MAX_OBJECTIVE_MAGNITUDE:
            raise ObjectiveTooLargeError(
                "the objective with its deviation term is too large to hold exactly: "
                "lower the weight"
            )
        return model

    def expr_bounds(self, expr: LinearExpr) -> tuple[int, int]:
        """The smallest and largest value ``expr`` can take over the variable domains."""
        return _bounds(self.variables, expr)

    def _check_var(self, var: int, where: str) -> None:
        if not 0 <= var < len(self.variables):
            raise IRError(f"{where}: variable index {var} out of range")


@dataclass(frozen=True, slots=True)
class _Constant:
    value: int


def _measure_term(
    model: Model, term: DeviationTerm, variables: list[Variable], constraints: list[Constraint]
) -> int | _Constant:
    """Append the variable (and its rows) measuring ``term``; a constant when its expression
    cannot move far enough to matter."""
    for var, _ in term.expr.terms:
        model._check_var(var, "deviation term")
    low, high = model.expr_bounds(term.expr)
    if low == high or (term.measure is Measure.SHORTFALL and low >= term.value):
        return _Constant(term.of([v.lb for v in model.variables]))
    if term.measure is Measure.CHANGED and not low <= term.value <= high:
        return _Constant(term.cost)
    index = len(variables)
    e, v = term.expr, term.value
    if term.measure is Measure.CHANGED:
        variables.append(Variable(f"changed_{index}", 0, 1, is_bool=True))
        d = LinearExpr(((index, 1),))
        constraints.append(Linear(e - d * (high - v), None, v))
        constraints.append(Linear(e + d * (v - low), v, None))
        return index
    top = max(v - low, 0) if term.measure is Measure.SHORTFALL else max(high - v, v - low)
    variables.append(Variable(f"deviation_{index}", 0, top))
    d = LinearExpr(((index, 1),))
    constraints.append(Linear(d + e, v, None))
    if term.measure is Measure.ABSOLUTE:
        constraints.append(Linear(d - e, -v, None))
    return index


def _bounds(variables: Sequence[Variable], expr: LinearExpr) -> tuple[int, int]:
    """The smallest and largest value ``expr`` can take over the domains of ``variables``."""
    lo = hi = expr.constant
    for var, coef in expr.terms:
        v = variables[var]
        a, b = coef * v.lb, coef * v.ub
        lo += min(a, b)
        hi += max(a, b)
    return lo, hi


@dataclass
class ModelBuilder:
    """Accumulates variables, intervals and constraints, validating each, then :meth:`build`."""

    name: str = "model"
    _variables: list[Variable] = field(default_factory=list)
    _intervals: list[Interval] = field(default_factory=list)
    _constraints: list[Constraint] = field(default_factory=list)
    _objective: LinearExpr | None = None
    _objective_scale: int = 1
    _groups: list[Group] = field(default_factory=list)
    _clock: BuildClock = field(default_factory=BuildClock)

    def int_var(self, lb: int, ub: int, name: str) -> Var:
        """A new integer variable with domain ``[lb, ub]``."""
        self._clock.tick()
        if lb > ub:
            raise IRError(f"variable {name}: empty domain [{lb}, {ub}]")
        self._variables.append(Variable(name, int(lb), int(ub)))
        return Var(len(self._variables) - 1)

    def bool_var(self, name: str) -> Var:
        """A new boolean variable."""
        self._clock.tick()
        self._variables.append(Variable(name, 0, 1, is_bool=True))
        return Var(len(self._variables) - 1)

    def interval(
        self,
        start: ExprLike,
        size: ExprLike,
        name: str,
        *,
        end: ExprLike | None = None,
        presence: Literal | None = None,
    ) -> int:
        """A new interval; ``end`` defaults to ``start + size``. Returns its index."""
        self._clock.tick()
        start_e, size_e = LinearExpr.of(start), LinearExpr.of(size)
        end_e = start_e + size_e if end is None else LinearExpr.of(end)
        for expr in (start_e, size_e, end_e):
            self._check_expr(expr, f"interval {name}")
        if size_e.is_constant and size_e.constant < 0:
            raise IRError(f"interval {name}: negative size {size_e.constant}")
        if presence is not None:
            self._check_literal(presence, f"interval {name}")
        self._intervals.append(Interval(name, start_e, size_e, end_e, presence))
        return len(self._intervals) - 1

    def add_linear(
        self,
        expr: ExprLike,
        lb: int | None = None,
        ub: int | None = None,
        *,
        enforce: Sequence[Literal] = (),
    ) -> None:
        """``lb <= expr <= ub``, only when every literal of ``enforce`` is true."""
        self._clock.tick()
        e = LinearExpr.of(expr)
        self._check_expr(e, "linear constraint")
        for lit in enforce:
            self._check_literal(lit, "linear constraint")
        if lb is None and ub is None:
            raise IRError("linear constraint without bounds")
        self._constraints.append(Linear(e, lb, ub, tuple(enforce)))

    def add_no_overlap(self, intervals: Sequence[int]) -> None:
        """The intervals are pairwise disjoint."""
        self._constraints.append(NoOverlap(self._check_intervals(intervals)))

    def add_no_overlap_setup(
        self,
        intervals: Sequence[int],
        groups: Sequence[int],
        setup: Sequence[Sequence[int]],
    ) -> None:
        """The intervals are pairwise disjoint, with ``setup[g][h]`` between an interval of
        group ``g`` and one of group ``h`` that directly follows it."""
        self._clock.tick()
        checked = self._check_intervals(intervals)
        if len(groups) != len(checked):
            raise IRError("no_overlap_setup: intervals and groups differ in length")
        size = len(setup)
        if any(len(row) != size for row in setup):
            raise IRError("no_overlap_setup: the setup matrix is not square")
        if any(not 0 <= g < size for g in groups):
            raise IRError("no_overlap_setup: a group is not a row of the setup matrix")
        if any(value < 0 for row in setup for value in row):
            raise IRError("no_overlap_setup: negative setup time")
        for i in checked:
            iv = self._intervals[i]
            if _bounds(self._variables, iv.size)[0] < 1:
                raise IRError(f"no_overlap_setup: interval {iv.name} may have size 0")
        matrix = tuple(tuple(int(v) for v in row) for row in setup)
        self._constraints.append(NoOverlapSetup(checked, tuple(groups), matrix))

    def add_cumulative(
        self, intervals: Sequence[int], demands: Sequence[int], capacity: int
    ) -> None:
        """Running demands never exceed ``capacity``."""
        if len(intervals) != len(demands):
            raise IRError("cumulative: intervals and demands differ in length")
        if capacity < 0 or any(d < 0 for d in demands):
            raise IRError("cumulative: negative capacity or demand")
        self._constraints.append(
            Cumulative(self._check_intervals(intervals), tuple(demands), capacity)
        )

    def add_no_overlap_2d(self, x_intervals: Sequence[int], y_intervals: Sequence[int]) -> None:
        """Rectangles x_i * y_i are pairwise disjoint."""
        if len(x_intervals) != len(y_intervals):
            raise IRError("no_overlap_2d: x and y intervals differ in length")
        self._constraints.append(
            NoOverlap2D(self._check_intervals(x_intervals), self._check_intervals(y_intervals))
        )

    def add_max_equality(self, target: ExprLike, exprs: Sequence[ExprLike]) -> None:
        """``target == max(exprs)``."""
        if not exprs:
            raise IRError("max_equality over no expressions")
        t = LinearExpr.of(target)
        es = tuple(LinearExpr.of(e) for e in exprs)
        for e in (t, *es):
            self._check_expr(e, "max_equality")
        self._constraints.append(MaxEquality(t, es))

    def minimize(self, expr: ExprLike, *, scale: int = 1) -> None:
        """Set the objective to minimise; its value in problem units is ``expr / scale``."""
        e = LinearExpr.of(expr)
        self._check_expr(e, "objective")
        if scale < 1:
            raise IRError(f"objective scale must be a positive integer, found {scale}")
        self._objective = e
        self._objective_scale = scale

    @contextmanager
    def labeled(self, label: Label) -> Iterator[None]:
        """Label the constraints and intervals added in this block as one :class:`Group`."""
        if "constraint" not in label or "message" not in label:
            raise IRError("a group label needs 'constraint' and 'message'")
        first_constraint, first_interval = len(self._constraints), len(self._intervals)
        yield
        self._groups.append(
            Group(
                dict(label),
                tuple(range(first_constraint, len(self._constraints))),
                tuple(range(first_interval, len(self._intervals))),
            )
        )

    def fix(self, var: Var, value: int, label: Label) -> None:
        """``var == value``, a fixing of the caller's, labelled (a domain outside ``value``
        makes the model infeasible, which a conflict then names)."""
        with self.labeled(label):
            self.add_linear(var, lb=value, ub=value)

    def interval_at(self, index: int) -> Interval:
        """The interval with this index (for models that derive further constraints from it)."""
        return self._intervals[index]

    def build(self) -> Model:
        """The immutable model."""
        return Model(
            self.name,
            tuple(self._variables),
            tuple(self._intervals),
            tuple(self._constraints),
            self._objective,
            objective_scale=self._objective_scale,
            groups=tuple(self._groups),
        )

    def _check_expr(self, expr: LinearExpr, where: str) -> None:
        n = len(self._variables)
        for var, _ in expr.terms:
            if not 0 <= var < n:
                raise IRError(f"{where}: variable index {var} out of range")

    def _check_literal(self, lit: Literal, where: str) -> None:
        if not 0 <= lit.var < len(self._variables) or not self._variables[lit.var].is_bool:
            raise IRError(f"{where}: literal on {lit.var} is not a boolean variable")

    def _check_intervals(self, intervals: Sequence[int]) -> tuple[int, ...]:
        n = len(self._intervals)
        if any(not 0 <= i < n for i in intervals):
            raise IRError("interval index out of range")
        return tuple(intervals)
