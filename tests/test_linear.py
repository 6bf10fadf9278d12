"""The MILP passes: big-M from bounds, both cumulative forms, complete MIP starts, export."""

from __future__ import annotations

import subprocess
from pathlib import Path

import highspy
import numpy as np
import pytest

from makespan.models.jssp import MODEL
from makespan.models.jssp.benchmarks import load_named
from makespan.solvers.backend import SolveRequest
from makespan.solvers.backends import get_backend
from makespan.solvers.control import SolveRun
from makespan.solvers.ir import Model, ModelBuilder
from makespan.solvers.linear import TIME_INDEXED_MAX_COLUMNS, LinearForm, linearize


def _violations(form: LinearForm, x: np.ndarray) -> list[int]:
    """Rows that the full assignment ``x`` breaks."""
    broken = []
    for i in range(form.num_rows):
        lo, hi = form.row_start[i], form.row_start[i + 1]
        value = float(form.row_value[lo:hi] @ x[form.row_index[lo:hi]])
        if value < form.row_lb[i] - 1e-6 or value > form.row_ub[i] + 1e-6:
            broken.append(i)
    return broken


def _start_vector(form: LinearForm) -> np.ndarray:
    assert form.start is not None
    columns, values = form.start
    assert len(columns) == form.num_cols, "the MIP start should be complete"
    x = np.zeros(form.num_cols)
    x[list(columns)] = values
    return x


def _solved_hints(ir: Model) -> Model:
    """The IR hinted with a CP-SAT optimum (so every aux value can be derived)."""
    outcome = get_backend("cpsat").solve(SolveRequest(ir, 30, 1, 0, None), SolveRun())
    assert outcome.values is not None
    return ir.with_hints(dict(enumerate(outcome.values)))


def test_enforcement_big_m_comes_from_bounds() -> None:
    b = ModelBuilder()
    x, flag = b.int_var(0, 10, "x"), b.bool_var("flag")
    b.add_linear(x, ub=4, enforce=[flag.lit()])
    form = linearize(b.build())
    assert form.num_rows == 1
    # x <= 4 + 6 * (1 - flag): M = max(x) - 4 = 6
    row = dict(zip(form.row_index.tolist(), form.row_value.tolist(), strict=True))
    assert row == {x.index: 1.0, flag.index: 6.0} and form.row_ub[0] == 10


def _cumulative_model(optional: bool, horizon: int) -> Model:
    """Four tasks on a capacity-3 resource; the optimum is 9 (the demand-2 and demand-3 tasks
    exclude each other). Optional tasks are forced present, so the optimum stays 9 while the
    pass must take the start-event form."""
    b = ModelBuilder()
    intervals = []
    for i, size in enumerate([3, 2, 4, 2]):
        presence = None
        if optional:
            present = b.bool_var(f"p{i}")
            b.add_linear(present, lb=1)
            presence = present.lit()
        start = b.int_var(0, horizon, f"s{i}")
        intervals.append(b.interval(start, size, f"t{i}", presence=presence))
    b.add_cumulative(intervals, [2, 1, 2, 3], 3)
    makespan = b.int_var(0, horizon + 4, "makespan")
    for i in intervals:
        b.add_linear(makespan - b.interval_at(i).end, lb=0)
    b.minimize(makespan)
    return b.build()


@pytest.mark.parametrize(("optional", "horizon"), [(False, 20), (True, 20), (False, 30_000)])
def test_cumulative_forms_agree_with_cp_sat(optional: bool, horizon: int) -> None:
    ir = _cumulative_model(optional, horizon)
    form = linearize(ir)
    time_indexed = any(name.startswith("at[") for name in form.col_names)
    assert time_indexed == (not optional and 4 * (horizon + 1) <= TIME_INDEXED_MAX_COLUMNS)
    results = {}
    for name in ("cpsat", "highs"):
        outcome = get_backend(name).solve(SolveRequest(ir, 30, 1, 0, None), SolveRun())
        results[name] = outcome.objective
    assert results["cpsat"] == results["highs"] == 9


@pytest.mark.parametrize("optional", [False, True])
def test_mip_start_is_complete_and_feasible_for_every_pass(optional: bool) -> None:
    b = ModelBuilder()
    xs = [b.interval(b.int_var(0, 4, f"x{i}"), 2, f"x{i}") for i in range(3)]
    ys = [b.interval(b.int_var(0, 9, f"y{i}"), 2 + i, f"y{i}") for i in range(3)]
    b.add_no_overlap_2d(xs, ys)
    b.add_no_overlap([ys[0], ys[1]])
    top = b.int_var(0, 20, "top")
    b.add_max_equality(top, [b.interval_at(y).end for y in ys])
    b.minimize(top)
    ir = _solved_hints(b.build())
    form = linearize(ir)
    assert _violations(form, _start_vector(form)) == []
    jssp = MODEL.compile(load_named("ft06"), None).ir  # type: ignore[arg-type]
    form = linearize(_solved_hints(jssp))
    assert _violations(form, _start_vector(form)) == []
    cumulative = linearize(_solved_hints(_cumulative_model(optional, 20)))
    assert _violations(cumulative, _start_vector(cumulative)) == []


def _export(command: list[str], name: str, out: Path) -> Path:
    """``makespan export NAME --out OUT`` (the format from the suffix); ``out``."""
    subprocess.run(
        [*command, "export", name, "--out", str(out)], check=True, capture_output=True, timeout=120
    )
    return out


def test_mps_export_re_read_by_highs_proves_ft06(
    makespan_command: list[str], tmp_path: Path
) -> None:
    out = _export(makespan_command, "ft06", tmp_path / "ft06.mps")
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.readModel(str(out))
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    assert round(h.getInfo().objective_function_value) == 55
    lp = _export(makespan_command, "la01", tmp_path / "la01.lp")
    assert "makespan" in lp.read_text()


def _setup_ir(setup: list[list[int]], optional: bool) -> Model:
    """Three tasks of groups 0, 1, 2 (the last optional, forced present when ``optional``) in
    a no-overlap with setups; minimise the makespan."""
    b = ModelBuilder()
    intervals = []
    for g, size in enumerate([2, 3, 1]):
        presence = None
        if optional and g == 2:
            present = b.bool_var("p2")
            b.add_linear(present, lb=1)
            presence = present.lit()
        intervals.append(b.interval(b.int_var(0, 40, f"s{g}"), size, f"t{g}", presence=presence))
    b.add_no_overlap_setup(intervals, [0, 1, 2], setup)
    makespan = b.int_var(0, 50, "makespan")
    for i in intervals:
        b.add_linear(makespan - b.interval_at(i).end, lb=0)
    b.minimize(makespan)
    return b.build()


TRIANGLE = [[0, 2, 3], [2, 0, 2], [3, 2, 0]]
SHORTCUT = [[0, 0, 9], [4, 0, 0], [4, 4, 0]]  # 0 -> 2 costs 9, 0 -> 1 -> 2 costs 3


@pytest.mark.parametrize(("setup", "form"), [(TRIANGLE, "order["), (SHORTCUT, "follows[")])
@pytest.mark.parametrize("optional", [False, True])
def test_setup_forms_and_their_mip_starts(
    setup: list[list[int]], form: str, optional: bool
) -> None:
    ir = _setup_ir(setup, optional)
    linear = linearize(ir)
    assert any(name.startswith(form) for name in linear.col_names)
    hinted = linearize(_solved_hints(ir))
    assert _violations(hinted, _start_vector(hinted)) == []
    results = {}
    for name in ("cpsat", "highs"):
        outcome = get_backend(name).solve(SolveRequest(ir, 30, 1, 0, None), SolveRun())
        results[name] = outcome.objective
    assert results["cpsat"] == results["highs"] == (10 if setup is TRIANGLE else 6)
