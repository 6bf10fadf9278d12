"""Gap limits and honest status: a stop on a gap limit is never reported as optimal.

Whether the stop comes from ``options.gap_limit`` or from a backend's own gap parameter
(CP-SAT ``relative_gap_limit``, HiGHS ``mip_rel_gap``), the answer is ``feasible`` with
``termination: gap_limit`` and the backend's proven bound, unless that bound meets the
objective. ft10 (optimum 930) is far from proven in a few seconds, so every stop below is one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import BACKENDS, run_makespan
from test_jssp_solve import assert_checked

from makespan.models.jssp import MODEL
from makespan.models.jssp.benchmarks import load_named
from makespan.models.jssp.compile import compile_instance
from makespan.models.jssp.instance import JobShopInstance
from makespan.solvers import Result, solve
from makespan.solvers.backend import SolveRequest
from makespan.solvers.backends import get_backend
from makespan.solvers.control import SolveRun
from makespan.solvers.options import OptionsError
from makespan.solvers.result import Status, Termination

GAP_PARAMETER = {
    "cpsat": ("relative_gap_limit: 0.5", 0.5),
    "highs": ("mip_rel_gap=0.9", 0.9),
    "pyomo:highs": ("mip_rel_gap=0.9", 0.9),
}
"""Each backend's own gap parameter, and the gap it allows."""


def _instance(name: str) -> JobShopInstance:
    instance = load_named(name)
    assert instance is not None
    return instance


def _solve_on(
    backend: str, instance: JobShopInstance, time_limit_s: float, **options: Any
) -> Result:
    """Solve with ``backend`` on one worker: the runs below differ in their gap settings only."""
    return solve("jssp", instance, time_limit_s=time_limit_s, backend=backend, workers=1, **options)


def assert_stopped_by_gap(instance: JobShopInstance, result: Result, limit: float) -> None:
    """A checked answer, stopped by the gap limit, with a bound short of the objective."""
    assert_checked(instance, result)
    assert result.objective is not None and result.bound is not None and result.gap is not None
    assert result.termination == "gap_limit"
    assert result.status == "feasible" and result.bound < result.objective
    assert result.gap <= limit
    lower = MODEL.lower_bound(instance)
    assert lower is not None and lower <= result.bound


@pytest.mark.parametrize("backend", BACKENDS)
def test_gap_limit_stops_the_backend_with_its_own_bound(backend: str) -> None:
    instance = _instance("ft10")
    outcome = get_backend(backend).solve(
        SolveRequest(compile_instance(instance).ir, 8.0, 1, 0, None, gap_limit=0.5), SolveRun()
    )
    assert outcome.status is Status.FEASIBLE and outcome.termination is Termination.GAP_LIMIT
    assert outcome.objective is not None and outcome.bound is not None
    assert outcome.bound < outcome.objective
    assert (outcome.objective - outcome.bound) / outcome.objective <= 0.5


@pytest.mark.parametrize("backend", BACKENDS)
def test_gap_limit_option_ends_the_solve_honestly(backend: str) -> None:
    instance = _instance("ft10")
    # Without the warm start the backend itself has to reach the gap.
    result = _solve_on(backend, instance, 8, gap_limit=0.5, warm_start=False)
    assert_stopped_by_gap(instance, result, 0.5)
    assert result.wall_time_s < 8


@pytest.mark.parametrize(
    ("backend", "warm_start"),
    [(b, w) for b in BACKENDS for w in (True, False) if not (w and b.startswith("pyomo"))],
)
def test_a_backend_gap_parameter_is_no_proof(backend: str, warm_start: bool) -> None:
    instance = _instance("ft10")
    params, limit = GAP_PARAMETER[backend]
    result = _solve_on(backend, instance, 8, backend_params=params, warm_start=warm_start)
    assert_stopped_by_gap(instance, result, limit)
    assert result.wall_time_s < 8


def test_a_warm_start_within_the_gap_limit_needs_no_backend() -> None:
    instance = _instance("ft10")
    result = solve("jssp", instance, time_limit_s=8, workers=1, gap_limit=0.5)
    assert_stopped_by_gap(instance, result, 0.5)
    assert result.warm_start is not None and result.warm_start.objective == result.objective
    assert result.bound == MODEL.lower_bound(instance)
    assert len(result.incumbents) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_gap_limit_zero_still_proves_optimality(backend: str) -> None:
    instance = _instance("ft06")
    result = _solve_on(backend, instance, 9, gap_limit=0.0, warm_start=False)
    assert result.status == "optimal" and result.termination == "solved"
    assert result.objective == result.bound == 55 and result.gap == 0
    assert_checked(instance, result)


def test_a_generous_gap_limit_keeps_a_proof_optimal() -> None:
    # ft06's warm start is optimal and its lower bound proves it: the gap is 0, not "a stop".
    instance = _instance("ft06")
    result = solve("jssp", instance, time_limit_s=9, workers=1, gap_limit=0.9)
    assert result.objective == 55
    if result.bound == result.objective:
        assert result.status == "optimal" and result.termination == "solved"
    else:
        assert result.status == "feasible" and result.termination == "gap_limit"
    assert_checked(instance, result)


@pytest.mark.parametrize("bad", [-0.1, float("inf"), float("nan")])
def test_gap_limit_must_be_finite_and_not_negative(bad: float) -> None:
    with pytest.raises(OptionsError) as raised:
        solve("jssp", _instance("ft06"), gap_limit=bad)
    assert raised.value.field == "gap_limit"


def test_the_control_halts_once_the_gap_limit_is_met() -> None:
    control = SolveRun(gap_limit=0.1)
    control.report(100, 80)
    assert not control.stop_requested and not control.gap_limit_reached
    control.report(95, 90)
    assert control.stop_requested and control.gap_limit_reached and not control.cancelled


def test_cli_gap_limit(makespan_command: list[str], tmp_path: Path) -> None:
    options = ["--json", "--gap-limit", "0.5", "--workers", "1"]
    done = run_makespan(makespan_command, "solve", "ft10", *options, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["termination"] == "gap_limit" and document["status"] == "feasible"
    assert document["bound"] < document["objective"] and document["gap"] <= 0.5


def test_batch_gap_limit(makespan_command: list[str], tmp_path: Path) -> None:
    instance = tmp_path / "ft10.json"
    instance.write_text(_instance("ft10").model_dump_json())
    rows = tmp_path / "rows.jsonl"
    options = ["--problem", "jssp", "--gap-limit", "0.5", "--out", str(rows)]
    done = run_makespan(
        makespan_command, "batch", str(instance), *options, cwd=tmp_path, timeout=120
    )
    assert done.returncode == 0, done.stderr
    (row,) = [json.loads(line) for line in rows.read_text().splitlines()]
    assert row["termination"] == "gap_limit" and row["status"] == "feasible"
    assert row["bound"] < row["objective"] and row["gap"] <= 0.5
