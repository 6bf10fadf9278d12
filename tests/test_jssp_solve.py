"""Job-shop end to end: known optima proven, every answer checked, honest status, the CLI."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import BACKENDS, run_makespan

from makespan.models.jssp import MODEL
from makespan.models.jssp.benchmarks import load_named
from makespan.models.jssp.instance import JobShopInstance
from makespan.solvers import Incumbent, Result, solve
from makespan.solvers.options import OptionsError


def _instance(name: str) -> JobShopInstance:
    instance = load_named(name)
    assert instance is not None
    return instance


def assert_checked(instance: JobShopInstance, result: Result) -> None:
    """The returned schedule passes the independent checker with the reported objective."""
    assert result.solution is not None
    report = MODEL.check(instance, MODEL.parse_solution(result.solution))
    assert report.feasible, report.violations
    assert report.objective == result.objective == result.solution["makespan"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("name", "optimum"), [("ft06", 55), ("la01", 666)])
@pytest.mark.parametrize("warm_start", [True, False])
def test_known_optima_are_proven(backend: str, name: str, optimum: int, warm_start: bool) -> None:
    instance = _instance(name)
    result = solve(
        "jssp", instance, time_limit_s=60, backend=backend, workers=2, warm_start=warm_start
    )
    assert result.status == "optimal" and result.termination == "solved"
    assert result.objective == optimum and result.bound == optimum and result.gap == 0
    assert_checked(instance, result)
    assert (result.warm_start is not None) == warm_start


def test_dict_instances_are_accepted_and_json_has_no_infinity() -> None:
    result = solve("jssp", _instance("ft06").model_dump(), time_limit_s=30, workers=2)
    document = json.loads(result.to_json())
    assert document["objective"] == 55
    assert set(document) >= set(Result.model_fields)  # every field, null ones too
    assert len(document["solution"]["operations"]) == 36


def test_time_limit_returns_the_best_incumbent_with_bound_and_gap() -> None:
    instance = _instance("ta41")
    seen: list[Incumbent] = []
    result = solve("jssp", instance, time_limit_s=3, workers=2, on_incumbent=seen.append)
    assert result.termination == "time_limit" and result.status == "feasible"
    assert result.bound is not None and result.bound <= result.objective  # type: ignore[operator]
    assert result.gap is not None and 0 < result.gap < 1
    assert_checked(instance, result)
    assert seen and seen[-1].objective == result.objective
    objectives = [i.objective for i in result.incumbents if i.objective is not None]
    assert objectives == sorted(objectives, reverse=True)


def test_cancel_keeps_the_best_incumbent() -> None:
    instance = _instance("ta41")
    stop = threading.Event()
    threading.Timer(3.0, stop.set).start()
    result = solve("jssp", instance, time_limit_s=120, workers=2, stop_event=stop)
    assert result.termination == "cancelled" and result.wall_time_s < 60
    assert_checked(instance, result)


def test_bad_options_name_the_field() -> None:
    with pytest.raises(OptionsError, match="time_limit_s"):
        solve("jssp", _instance("ft06"), time_limit_s=-1)
    with pytest.raises(OptionsError, match="backend_params"):
        solve("jssp", _instance("ft06"), backend_params="num_workrs: 2")
    with pytest.raises(OptionsError, match="backend"):
        solve("jssp", _instance("ft06"), backend="gurobi")


@pytest.mark.parametrize(
    ("target", "optimum"), [("ft06.txt", 55), ("la01.txt", 666), ("ft06.json", 55), ("la01", 666)]
)
def test_cli_proves_known_optima(
    makespan_command: list[str], data: Path, tmp_path: Path, target: str, optimum: int
) -> None:
    path = data / target if (data / target).exists() else Path(target)
    out = tmp_path / "result.json"
    options = ["--json", "--workers", "2", "--time-limit", "60", "--out", str(out)]
    done = run_makespan(makespan_command, "solve", str(path), *options, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    assert document["status"] == "optimal" and document["objective"] == optimum
    assert json.loads(out.read_text()) == document


def test_cli_human_summary(makespan_command: list[str], data: Path, tmp_path: Path) -> None:
    done = run_makespan(
        makespan_command, "solve", str(data / "ft06.txt"), "--workers", "2", cwd=tmp_path
    )
    assert done.returncode == 0
    assert "optimal" in done.stdout and "55" in done.stdout


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 2\n1 x\n3 4\n1 2\n2 1\n", ":2: expected an integer"),
        ("3 2\n0 1 1 4\n1 2 0 3\n", ":3: file ends early"),
    ],
)
def test_cli_bad_file_exits_2_with_file_and_line(
    makespan_command: list[str], tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(text)
    done = run_makespan(makespan_command, "solve", str(path), "--problem", "jssp", cwd=tmp_path)
    assert done.returncode == 2
    assert f"{path}{expected}" in done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "args",
    [
        ["nosuchfile"],
        ["ft06", "--time-limit", "0"],
        ["ft06", "--backend", "cplex"],
        ["ft06", "--problem", "tsp"],
    ],
)
def test_cli_usage_errors_exit_2(
    makespan_command: list[str], tmp_path: Path, args: list[str]
) -> None:
    done = run_makespan(makespan_command, "solve", *args, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_cli_exits_1_without_a_solution(
    makespan_command: list[str], data: Path, tmp_path: Path
) -> None:
    options = ["--time-limit", "0.3", "--no-warm-start", "--workers", "1", "--json"]
    done = run_makespan(makespan_command, "solve", "ta71", *options, cwd=tmp_path)
    assert done.returncode == 1, done.stdout
    assert json.loads(done.stdout)["status"] == "unknown"


@pytest.mark.parametrize("backend", BACKENDS)
def test_cli_proves_ft06_with_every_backend(
    makespan_command: list[str], tmp_path: Path, backend: str
) -> None:
    options = ["--backend", backend, "--json", "--workers", "1", "--time-limit", "120"]
    done = run_makespan(makespan_command, "solve", "ft06", *options, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["status"] == "optimal" and document["objective"] == 55
    assert document["backend"] == backend
