"""The IR validates as it is built and stays immutable."""

from __future__ import annotations

import dataclasses

import pytest

from makespan.solvers.ir import ConstraintKind, IRError, LinearExpr, ModelBuilder


def test_expressions_merge_terms() -> None:
    b = ModelBuilder()
    x, y = b.int_var(0, 5, "x"), b.int_var(0, 5, "y")
    expr = 2 * x + y - x + 3
    assert sorted(expr.terms) == [(x.index, 1), (y.index, 1)]
    assert expr.constant == 3
    assert (x - x).terms == ()
    assert LinearExpr.sum([x, y, 4]).value([2, 3]) == 9


def test_builder_rejects_inconsistent_input() -> None:
    b = ModelBuilder()
    x = b.int_var(0, 5, "x")
    with pytest.raises(IRError, match="empty domain"):
        b.int_var(3, 2, "bad")
    with pytest.raises(IRError, match="out of range"):
        b.add_linear(LinearExpr(((7, 1),)), lb=0)
    with pytest.raises(IRError, match="not a boolean"):
        b.interval(x, 2, "i", presence=x.lit())
    with pytest.raises(IRError, match="negative size"):
        b.interval(x, -1, "i")
    with pytest.raises(IRError, match="differ in length"):
        b.add_cumulative([b.interval(x, 1, "i")], [1, 2], 3)
    with pytest.raises(IRError, match="without bounds"):
        b.add_linear(x)


def test_model_records_kinds_and_is_immutable() -> None:
    b = ModelBuilder()
    x, y = b.int_var(0, 9, "x"), b.int_var(0, 9, "y")
    a, c = b.interval(x, 2, "a"), b.interval(y, 3, "c")
    b.add_no_overlap([a, c])
    b.add_max_equality(b.int_var(0, 20, "m"), [x + 2, y + 3])
    model = b.build()
    assert model.kinds == {ConstraintKind.NO_OVERLAP, ConstraintKind.MAX_EQUALITY}
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.name = "other"  # type: ignore[misc]


def test_hints_are_checked_and_copied() -> None:
    b = ModelBuilder()
    x = b.int_var(0, 5, "x")
    model = b.build()
    hinted = model.with_hints({x.index: 4})
    assert hinted.hints == ((0, 4),) and model.hints == ()
    with pytest.raises(IRError, match="outside"):
        model.with_hints({x.index: 6})


def test_expression_bounds_follow_domains() -> None:
    b = ModelBuilder()
    x, y = b.int_var(-2, 5, "x"), b.int_var(0, 3, "y")
    assert b.build().expr_bounds(3 * x - y + 1) == (-8, 16)


def test_objective_scale_is_recorded_and_applied_to_reports() -> None:
    from makespan.solvers.control import SolveRun

    b = ModelBuilder()
    x = b.int_var(0, 9, "x")
    b.minimize(x, scale=4)
    assert b.build().objective_scale == 4
    with pytest.raises(IRError, match="positive integer"):
        b.minimize(x, scale=0)
    control = SolveRun()
    control.in_ir_units(4).report(10, 6)
    assert (control.incumbents[0].objective, control.incumbents[0].bound) == (2.5, 1.5)


def test_no_overlap_setup_is_validated() -> None:
    b = ModelBuilder()
    x, y = b.int_var(0, 9, "x"), b.int_var(0, 9, "y")
    a, c = b.interval(x, 2, "a"), b.interval(y, 3, "c")
    with pytest.raises(IRError, match="differ in length"):
        b.add_no_overlap_setup([a, c], [0], [[0]])
    with pytest.raises(IRError, match="not square"):
        b.add_no_overlap_setup([a, c], [0, 1], [[0, 1], [1]])
    with pytest.raises(IRError, match="not a row"):
        b.add_no_overlap_setup([a, c], [0, 2], [[0, 1], [1, 0]])
    with pytest.raises(IRError, match="negative setup"):
        b.add_no_overlap_setup([a, c], [0, 1], [[0, -1], [1, 0]])
    with pytest.raises(IRError, match="may have size 0"):
        b.add_no_overlap_setup([a, b.interval(y, b.int_var(0, 3, "size"), "z")], [0, 0], [[1]])
    b.add_no_overlap_setup([a, c], [0, 1], [[0, 1], [2, 0]])
    model = b.build()
    assert model.kinds == {ConstraintKind.NO_OVERLAP_SETUP}
    (constraint,) = model.constraints
    assert constraint.gap(0, 1) == 1 and constraint.gap(1, 0) == 2  # type: ignore[union-attr]
    # The present intervals in start order: the sequence backends hint from.
    assert constraint.sequence(model, [5, 0]) == [1, 0]  # type: ignore[union-attr]
