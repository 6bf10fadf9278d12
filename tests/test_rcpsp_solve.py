"""RCPSP end to end: PSPLIB optima proven, every answer checked, infeasibility proven, the CLI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import BACKENDS

from makespan.models.rcpsp import MODEL, RcpspInstance
from makespan.solvers import Result, solve

FEATURES = "rcpsp_features.json"
SMALL = "rcpsp_small.sm"

J30_OPTIMA = [
    "j30_1_1",
    "j30_2_1",
    "j30_5_1",
    "j30_6_1",
    "j30_9_1",
    "j30_10_1",
    "j30_11_1",
    "j30_14_1",
    "j30_17_1",
    "j30_18_1",
    "j30_19_1",
    "j30_21_1",
    "j30_22_1",
    "j30_25_1",
    "j30_29_1",
    "j30_30_1",
    "j30_33_1",
    "j30_34_1",
    "j30_37_1",
    "j30_38_1",
    "j30_41_1",
    "j30_43_1",
    "j30_45_1",
    "j30_46_1",
    "j30_3_1",
    "j30_4_1",
    "j30_7_1",
    "j30_12_1",
    "j30_20_1",
    "j30_26_1",
]
"""Instance 1 of 30 j30 parameter groups: 24 need the exact solver (about a second at most on 2
workers), 6 are closed by the warm start meeting the lower bound. Groups 13, 29 and 45 with
low resource strength are the hard ones; 13 is left out (not proven within 10 s)."""


def assert_checked(instance: RcpspInstance, result: Result) -> None:
    """The returned schedule has the contract's form and passes the independent checker with
    the reported objective."""
    assert result.solution is not None
    assert set(result.solution) == {"makespan", "activities"}
    entries = result.solution["activities"]
    assert all(set(entry) == {"id", "start", "end"} for entry in entries)
    assert [entry["id"] for entry in entries] == [a.id for a in instance.activities]
    report = MODEL.check(instance, MODEL.parse_solution(result.solution))
    assert report.feasible, report.violations
    assert report.objective == result.objective == result.solution["makespan"]


def _optima(shared: Path) -> dict[str, int]:
    document = json.loads((shared / "rcpsp" / "bounds" / "psplib_bounds.json").read_text())
    return {
        Path(entry["file"]).stem: entry["optimum"]
        for entry in document["instances"].values()
        if entry["optimum"] is not None
    }


def test_j30_optima_are_proven(shared_benchmarks: Path) -> None:
    optima = _optima(shared_benchmarks)
    for name in J30_OPTIMA:
        instance = MODEL.read_file(shared_benchmarks / "rcpsp" / "j30" / f"{name}.rcp")
        result = solve("rcpsp", instance, time_limit_s=10, workers=2)
        assert (result.status, result.objective) == ("optimal", optima[name]), name
        assert result.termination == "solved" and result.bound == optima[name]
        assert_checked(instance, result)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("target", [FEATURES, SMALL])
def test_every_constraint_kind_solves_on_every_backend(
    data: Path, backend: str, target: str
) -> None:
    instance = MODEL.read_file(data / target)
    for warm_start in (True, False):
        result = solve(
            "rcpsp", instance, time_limit_s=30, backend=backend, workers=1, warm_start=warm_start
        )
        assert (result.status, result.objective, result.bound) == ("optimal", 10, 10)
        assert_checked(instance, result)


def test_dict_instances_are_accepted(data: Path) -> None:
    document = json.loads((data / FEATURES).read_text())
    result = solve("rcpsp", document, time_limit_s=10, workers=1)
    assert result.status == "optimal" and result.objective == 10
    assert json.loads(result.to_json())["solution"]["activities"][0] == {
        "id": 1,
        "start": 0,
        "end": 0,
    }


TRAPPED = json.loads((Path(__file__).parent / "data" / "rcpsp_trapped.json").read_text())
"""Feasible (1 at 5, 2 at 7), but every scheme starts 1 at 0 and then 2 cannot follow it."""


def test_the_exact_solver_goes_on_where_the_heuristics_give_up() -> None:
    instance = MODEL.parse_instance(TRAPPED)
    result = solve("rcpsp", instance, time_limit_s=10, workers=1)
    assert result.warm_start is None
    assert (result.status, result.objective) == ("optimal", 9)
    assert_checked(instance, result)


def _infeasible_variants(data: Path) -> list[dict[str, Any]]:
    late = json.loads((data / FEATURES).read_text())
    late["activities"][4]["deadline"] = 6
    greedy = json.loads((data / FEATURES).read_text())
    greedy["activities"][4]["demands"] = {"R1": 4}
    looping = json.loads((data / FEATURES).read_text())
    looping["lags"].append({"from": 6, "to": 2, "min": -3})
    together = json.loads(json.dumps(TRAPPED))
    together["lags"] = [{"from": 1, "to": 2, "min": 0, "max": 1}]
    return [late, greedy, looping, together]


@pytest.mark.parametrize("backend", ["cpsat", "highs"])
def test_infeasible_instances_are_reported_infeasible(data: Path, backend: str) -> None:
    for document in _infeasible_variants(data):
        result = solve("rcpsp", document, time_limit_s=10, backend=backend, workers=1)
        assert (result.status, result.termination) == ("infeasible", "solved"), document
        assert result.objective is None and result.solution is None


def test_cheap_proofs_of_infeasibility_give_their_reason(data: Path) -> None:
    reasons = ["has deadline 6 but", "needs 4 of resource R1", "cycle of positive length"]
    for document, reason in zip(_infeasible_variants(data), reasons, strict=False):
        result = solve("rcpsp", document, time_limit_s=10, workers=1)
        assert result.status == "infeasible" and reason in (result.message or ""), result


def _cli(command: list[str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, cwd=cwd, timeout=300, check=False
    )


def test_cli_solves_a_psplib_file(makespan_command: list[str], data: Path, tmp_path: Path) -> None:
    done = _cli(
        makespan_command, "solve", str(data / SMALL), "--json", "--workers", "1", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert (document["problem"], document["status"], document["objective"]) == (
        "rcpsp",
        "optimal",
        10,
    )
    assert [a["id"] for a in document["solution"]["activities"]] == [1, 2, 3, 4, 5, 6]


def test_cli_infeasible_exits_1(makespan_command: list[str], data: Path, tmp_path: Path) -> None:
    path = tmp_path / "late.json"
    path.write_text(json.dumps(_infeasible_variants(data)[0]))
    done = _cli(makespan_command, "solve", str(path), "--json", "--workers", "1", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["status"] == "infeasible"


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("bad.rcp", "3 1\n4\n0 0 1 2\n3 2.5 1 3\n0 0 0\n", ":4: expected an integer"),
        ("cut.rcp", "3 1\n4\n0 0 1 2\n3 2 1", ":4: file ends early"),
        ("cut.sm", "PRECEDENCE RELATIONS:\njobnr.\n   1   1   0\n", ":3: file ends early"),
        ("bad.json", '{"activities": [{"id": 1, "duration": -3}]}', ":activities.0.duration: "),
    ],
)
def test_cli_bad_file_exits_2_with_file_and_line(
    makespan_command: list[str], tmp_path: Path, name: str, text: str, expected: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    done = _cli(makespan_command, "solve", str(path), "--problem", "rcpsp", cwd=tmp_path)
    assert done.returncode == 2
    assert f"{path}{expected}" in done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
