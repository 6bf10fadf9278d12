"""Checking a solution alone: the same checker every solve's answer passes, through Python, the
CLI, the SDK and ``POST /v1/check``, for every kind; every violation named by what it concerns."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Service, module_service

from makespan.api.client import BadRequestError, Client
from makespan.instances import example_path
from makespan.models.registry import MODELS
from makespan.solvers import OptionsError, check, solve

service = module_service("check", workers="1")

EXAMPLES = {
    "jssp": "jssp/ft06.txt",
    "rcpsp": "rcpsp/features.json",
    "memory_mapping": "memory_mapping/trace60.csv",
    "expert_placement": "expert_placement/moe_4x16.json",
    "gpu_packing": "gpu_packing/fleet.json",
}

Mutation = Callable[[dict[str, Any]], None]


def _shift_first_start(solution: dict[str, Any], key: str) -> None:
    solution[key][0]["start"] += 1


def _drop_first(solution: dict[str, Any], key: str) -> None:
    solution[key] = solution[key][1:]


def _all_at_zero(solution: dict[str, Any], key: str) -> None:
    for placement in solution[key]:
        placement["offset"] = 0


def _crowd_a_gpu(solution: dict[str, Any]) -> None:
    """Put one more expert of layer 0 on the GPU of expert 0 (its GPU then holds too many)."""
    row = solution["placement"][0]
    other = next(k for k, gpu in enumerate(row) if gpu != row[0])
    row[other] = row[0]


VIOLATIONS: dict[str, list[tuple[str, Mutation, str]]] = {
    "jssp": [
        ("a start out of step with its end", lambda s: _shift_first_start(s, "operations"), "0, 0"),
        ("a missing operation", lambda s: _drop_first(s, "operations"), "not scheduled"),
        ("a wrong makespan", lambda s: s.update(makespan=s["makespan"] + 1), "makespan"),
    ],
    "rcpsp": [
        ("a missing activity", lambda s: _drop_first(s, "activities"), "activit"),
        ("a wrong makespan", lambda s: s.update(makespan=s["makespan"] + 1), "makespan"),
    ],
    "memory_mapping": [
        ("overlapping buffers", lambda s: _all_at_zero(s, "buffers"), "share addresses"),
        ("a missing buffer", lambda s: _drop_first(s, "buffers"), "buffer"),
    ],
    "expert_placement": [
        ("a GPU holding too many experts", _crowd_a_gpu, "layer 0"),
        ("a wrong objective", lambda s: s.update(objective=s["objective"] + 1), "objective"),
    ],
    "gpu_packing": [
        ("an unassigned slice", lambda s: _drop_first(s, "assignment"), "slice"),
        ("a wrong cost", lambda s: s.update(cost_per_hour=s["cost_per_hour"] + 1), "cost"),
    ],
}


@pytest.fixture(scope="module")
def solved() -> dict[str, tuple[Any, dict[str, Any], float]]:
    """Each kind's example, solved: the instance, the solution, the objective."""
    found = {}
    for kind, name in EXAMPLES.items():
        model = MODELS[kind]
        instance = model.read_file(example_path(name))
        result = solve(kind, instance, time_limit_s=5, workers=1)
        assert result.solution is not None and result.objective is not None
        found[kind] = (instance, result.solution, float(result.objective))
    return found


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_a_solved_answer_checks_with_its_objective(
    kind: str, solved: dict[str, tuple[Any, dict[str, Any], float]]
) -> None:
    instance, solution, objective = solved[kind]
    verdict = check(kind, instance, solution)
    assert verdict.feasible and verdict.violations == []
    assert verdict.objective == pytest.approx(objective)


CASES = [(kind, *case) for kind, cases in VIOLATIONS.items() for case in cases]


@pytest.mark.parametrize(
    ("kind", "case", "mutate", "named"), CASES, ids=[f"{c[0]}: {c[1]}" for c in CASES]
)
def test_each_violation_is_named(
    kind: str,
    case: str,
    mutate: Mutation,
    named: str,
    solved: dict[str, tuple[Any, dict[str, Any], float]],
) -> None:
    instance, solution, _ = solved[kind]
    broken = copy.deepcopy(solution)
    mutate(broken)
    verdict = check(kind, instance, broken)
    assert not verdict.feasible and verdict.objective is None, case
    assert any(named in v.message for v in verdict.violations), verdict.violations


def test_every_violation_is_listed_not_only_the_first(
    solved: dict[str, tuple[Any, dict[str, Any], float]],
) -> None:
    instance, solution, _ = solved["jssp"]
    broken = copy.deepcopy(solution)
    for operation in broken["operations"][:5]:
        operation["start"] += 1
    assert len(check("jssp", instance, broken).violations) >= 5


def test_the_service_sdk_and_cli_check_alike(
    service: Service,
    solved: dict[str, tuple[Any, dict[str, Any], float]],
    makespan_command: list[str],
    tmp_path: Path,
) -> None:
    instance, solution, objective = solved["jssp"]
    text = example_path(EXAMPLES["jssp"]).read_text()
    body = {"problem": "jssp", "instance_text": text, "solution": solution}
    answer = httpx.post(f"{service.url}/v1/check", json=body, timeout=30)
    assert answer.status_code == 200 and answer.json()["objective"] == objective
    broken = copy.deepcopy(solution)
    broken["operations"][0]["start"] += 1
    with Client(service.url) as sdk:
        verdict = sdk.check("jssp", instance, solution=broken)
        assert not verdict.feasible and verdict.violations
        with pytest.raises(BadRequestError) as bad:
            sdk.check("jssp", instance, solution={"makespan": "soon"})
        assert str(bad.value.field).startswith("solution")
    result_file = tmp_path / "result.json"
    result_file.write_text(
        json.dumps({"problem": "jssp", "status": "feasible", "solution": broken})
    )
    done = subprocess.run(
        [*makespan_command, "check", str(example_path(EXAMPLES["jssp"])), str(result_file)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1 and "(0, 0)" in done.stdout


# --- solving from a solution --------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_an_initial_solution_is_the_warm_start_to_beat(
    kind: str, solved: dict[str, tuple[Any, dict[str, Any], float]]
) -> None:
    instance, solution, objective = solved[kind]
    result = solve(kind, instance, time_limit_s=3, workers=1, initial_solution=solution)
    assert result.warm_start is not None and result.warm_start.method == "given"
    assert result.warm_start.objective == pytest.approx(objective)
    assert result.objective is not None and result.objective <= objective + 1e-9
    assert check(kind, instance, result.solution).objective == pytest.approx(result.objective)


def test_an_infeasible_initial_solution_is_refused_with_its_violations(
    service: Service, solved: dict[str, tuple[Any, dict[str, Any], float]]
) -> None:
    instance, solution, _ = solved["jssp"]
    broken = copy.deepcopy(solution)
    broken["operations"][0]["start"] += 1
    with pytest.raises(OptionsError, match="initial_solution: infeasible: operation"):
        solve("jssp", instance, time_limit_s=1, initial_solution=broken)
    body = {
        "problem": "jssp",
        "instance": instance.model_dump(mode="json", exclude_none=True),
        "options": {"initial_solution": broken},
    }
    answer = httpx.post(f"{service.url}/v1/jobs", json=body, timeout=30)
    assert answer.status_code == 422 and answer.json()["field"] == "options.initial_solution"
    assert "(0, 0)" in answer.json()["message"]


def test_a_job_starts_from_another_jobs_solution(service: Service) -> None:
    with Client(service.url) as sdk:
        first = sdk.submit("jssp", instance_text=example_path("jssp/ft06.txt").read_text())
        first_result = first.wait(timeout=120)
        again = sdk.submit(
            "jssp", instance_text=example_path("jssp/ft06.txt").read_text(), job_initial=first.id
        )
        result = again.wait(timeout=120)
        assert result.warm_start is not None and result.warm_start.method == "given"
        assert result.warm_start.objective == first_result.objective
        listed = sdk.jobs(limit=1)[0]
        assert listed["id"] == again.id and listed["options"]["initial_solution"] is None
        with pytest.raises(BadRequestError) as unknown:
            sdk.submit("jssp", instance_text="1 1\n1\n1\n", job_initial="no-such-job")
        assert unknown.value.field == "options.job_initial"


def test_a_job_replans_near_another_jobs_solution_keeping_what_is_fixed(service: Service) -> None:
    text = example_path("jssp/ft06.txt").read_text()
    with Client(service.url) as sdk:
        first = sdk.submit("jssp", instance_text=text, time_limit_s=5)
        first_result = first.wait(timeout=120)
        assert first_result.solution is not None
        early = [op for op in first_result.solution["operations"] if op["start"] < 10]
        fixed = {
            "operations": [
                {"job": o["job"], "index": o["index"], "start": o["start"]} for o in early
            ]
        }
        again = sdk.submit(
            "jssp",
            instance_text=text,
            time_limit_s=5,
            job_initial=first.id,
            stability_weight=1000,
            fixed=fixed,
        )
        result = again.wait(timeout=120)
        assert result.solution is not None and result.solution["deviation"] == 0
        assert result.objective == first_result.objective
        listed = sdk.jobs(limit=1)[0]
        assert listed["id"] == again.id and listed["options"]["fixed"] is None
        assert again.document()["options"]["fixed"] == fixed


def test_fixings_that_name_nothing_are_refused_before_queuing(service: Service) -> None:
    body = {
        "problem": "jssp",
        "instance_text": example_path("jssp/ft06.txt").read_text(),
        "options": {"fixed": {"operations": [{"job": 42, "index": 0, "start": 0}]}},
    }
    answer = httpx.post(f"{service.url}/v1/jobs", json=body, timeout=30)
    assert answer.status_code == 422
    assert answer.json()["field"] == "options.fixed.operations.0"
    body["options"] = {"reference": {"makespan": 1, "operations": []}}
    answer = httpx.post(f"{service.url}/v1/jobs", json=body, timeout=30)
    assert answer.status_code == 422 and "stability_weight" in answer.json()["message"]


def test_an_infeasible_solve_answers_with_its_conflict(service: Service) -> None:
    clash = [{"job": 0, "index": 0, "start": 10}, {"job": 0, "index": 1, "start": 5}]
    with Client(service.url) as sdk:
        result = sdk.solve(
            "jssp",
            instance_text=example_path("jssp/ft06.txt").read_text(),
            time_limit_s=5,
            fixed={"operations": clash},
        )
    assert result.status.value == "infeasible" and result.conflict is not None
    assert [c.model_dump()["operation"] for c in result.conflict] == [0, 1]
    assert all(c.constraint == "fixed" for c in result.conflict)
