"""Solving from a solution: fixed parts kept exactly, a reference stayed close to as the weight
grows, and infeasible fixings explained by a minimal conflict, for every kind and backend.

Each kind gets a deliberately poor but feasible reference (jobs one after another, buffers
stacked, experts in order, every slice on the dearest GPU), so that a weight of 0 must move
away from it (the optimum is better) and a weight above the objective's whole range must keep
it (any change costs more than it can gain).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import pytest
from conftest import DATA

from makespan.instances import example_path
from makespan.models.gpu_packing.heuristics import greedy, to_solution
from makespan.models.registry import get_model
from makespan.solvers import OptionsError, check, solve
from makespan.solvers.result import Result, Status


def _jssp() -> tuple[Any, dict[str, Any]]:
    instance = get_model("jssp").read_file(DATA / "ft06.txt")
    operations, clock = [], 0
    for j, job in enumerate(instance.jobs):
        for k, op in enumerate(job):
            operations.append(
                {
                    "job": j,
                    "index": k,
                    "machine": op.machine,
                    "start": clock,
                    "end": clock + op.duration,
                }
            )
            clock += op.duration
    return instance, {"makespan": clock, "operations": operations}


def _rcpsp() -> tuple[Any, dict[str, Any]]:
    instance = get_model("rcpsp").read_file(example_path("rcpsp/small.sm"))
    activities, clock = [], 0
    for a in instance.activities:  # the file lists every activity after its predecessors
        activities.append({"id": a.id, "start": clock, "end": clock + a.duration})
        clock += a.duration
    return instance, {"makespan": clock, "activities": activities}


def _memory() -> tuple[Any, dict[str, Any]]:
    instance = get_model("memory_mapping").read_file(DATA / "memory_small.csv")
    buffers, top = [], 0
    for b in instance.buffers:
        buffers.append({"id": b.id, "offset": top})
        top += b.size
    return instance, {"peak": top, "buffers": buffers}


def _experts() -> tuple[Any, dict[str, Any]]:
    model = get_model("expert_placement")
    instance = model.parse_instance(
        {
            "num_gpus": 2,
            "experts_per_gpu": 2,
            "loads": [[9, 7, 2, 1], [8, 1, 6, 2]],
            "routing": [{"layer": 0, "src": 0, "dst": 3, "tokens": 5}],
        }
    )
    placement = [[e // 2 for e in range(4)] for _ in range(2)]
    solution = model.solution_type.from_placement(instance, placement)
    return instance, solution.model_dump(mode="json")


def _gpus() -> tuple[Any, dict[str, Any]]:
    instance = get_model("gpu_packing").read_file(example_path("gpu_packing/fleet.json"))
    dearest = max(instance.gpu_types, key=lambda t: t.cost_per_hour)
    k = instance.gpu_types.index(dearest)
    packing = greedy(instance, [k])
    assert packing is not None
    return instance, to_solution(instance, packing).model_dump(mode="json")


POOR_REFERENCES: dict[str, Callable[[], tuple[Any, dict[str, Any]]]] = {
    "jssp": _jssp,
    "rcpsp": _rcpsp,
    "memory_mapping": _memory,
    "expert_placement": _experts,
    "gpu_packing": _gpus,
}

CASES = [(kind, backend) for kind in POOR_REFERENCES for backend in ("cpsat", "highs")]


def _checked_objective(kind: str, instance: Any, result: Result, reference: Any, w: float) -> float:
    """objective + w * deviation, recomputed by the kind's checker alone."""
    assert result.solution is not None
    verdict = check(kind, instance, result.solution)
    assert verdict.feasible, verdict.violations
    model = get_model(kind)
    deviation = model.deviation(
        instance, model.parse_solution(result.solution), model.parse_solution(reference)
    )
    assert result.solution["deviation"] == deviation
    return float(verdict.objective or 0) + float(Fraction(w).limit_denominator(1000)) * deviation


@pytest.mark.parametrize(("kind", "backend"), CASES)
def test_the_answer_deviates_less_as_the_weight_grows(kind: str, backend: str) -> None:
    instance, reference = POOR_REFERENCES[kind]()
    model = get_model(kind)
    poor = check(kind, instance, reference)
    assert poor.feasible and poor.objective is not None, poor.violations
    keep_all = math.ceil(float(poor.objective) - float(model.lower_bound(instance) or 0)) + 1
    deviations, objectives = [], []
    for w in (0.0, 0.01, keep_all):
        result = solve(
            kind,
            instance,
            time_limit_s=20,
            backend=backend,
            reference=reference,
            stability_weight=w,
            warm_start=False,
        )
        assert result.status is Status.OPTIMAL, (w, result.message)
        assert result.objective == pytest.approx(
            _checked_objective(kind, instance, result, reference, w), rel=1e-9
        )
        assert result.solution is not None
        deviations.append(result.solution["deviation"])
        objectives.append(float(check(kind, instance, result.solution).objective or 0))
    assert deviations == sorted(deviations, reverse=True), deviations
    assert deviations[0] > 0 and deviations[-1] == 0, deviations
    assert objectives[0] < poor.objective and objectives[-1] == poor.objective


def _fixings(kind: str, reference: dict[str, Any]) -> Any:
    """Two entries of the poor reference, as the kind's fixings."""
    if kind == "jssp":
        ops = reference["operations"][:2]
        return {
            "operations": [{"job": o["job"], "index": o["index"], "start": o["start"]} for o in ops]
        }
    if kind == "rcpsp":
        return {
            "activities": [
                {"id": a["id"], "start": a["start"]} for a in reference["activities"][1:3]
            ]
        }
    if kind == "memory_mapping":
        return {"buffers": reference["buffers"][1:3]}
    if kind == "expert_placement":
        return [
            {"layer": 0, "expert": e, "gpu": g} for e, g in enumerate(reference["placement"][0][:2])
        ]
    return {
        "assignment": [
            {k: a[k] for k in ("bucket", "slice", "gpu_type")} for a in reference["assignment"][:3]
        ]
    }


def _kept(kind: str, solution: dict[str, Any], fixed: Any) -> bool:
    if kind == "jssp":
        starts = {(o["job"], o["index"]): o["start"] for o in solution["operations"]}
        return all(starts[(f["job"], f["index"])] == f["start"] for f in fixed["operations"])
    if kind == "rcpsp":
        starts = {a["id"]: a["start"] for a in solution["activities"]}
        return all(starts[f["id"]] == f["start"] for f in fixed["activities"])
    if kind == "memory_mapping":
        offsets = {b["id"]: b["offset"] for b in solution["buffers"]}
        return all(offsets[f["id"]] == f["offset"] for f in fixed["buffers"])
    if kind == "expert_placement":
        return all(solution["placement"][f["layer"]][f["expert"]] == f["gpu"] for f in fixed)
    types = {(tuple(a["bucket"]), a["slice"]): a["gpu_type"] for a in solution["assignment"]}
    return all(
        types[(tuple(f["bucket"]), f["slice"])] == f["gpu_type"] for f in fixed["assignment"]
    )


@pytest.mark.parametrize(("kind", "backend"), CASES)
def test_fixed_values_are_kept_exactly(kind: str, backend: str) -> None:
    instance, reference = POOR_REFERENCES[kind]()
    fixed = _fixings(kind, reference)
    result = solve(kind, instance, time_limit_s=20, backend=backend, fixed=fixed)
    assert result.status is Status.OPTIMAL, result.message
    assert result.solution is not None and _kept(kind, result.solution, fixed)
    free = solve(kind, instance, time_limit_s=20, backend=backend)
    assert result.objective is not None and free.objective is not None
    assert result.objective >= free.objective  # fixing only removes solutions
    assert check(kind, instance, result.solution).objective == result.objective


@pytest.mark.parametrize("kind", list(POOR_REFERENCES))
def test_the_initial_solution_is_the_reference_when_only_a_weight_is_given(kind: str) -> None:
    instance, reference = POOR_REFERENCES[kind]()
    result = solve(
        kind, instance, time_limit_s=10, initial_solution=reference, stability_weight=1e6
    )
    assert result.warm_start is not None and result.warm_start.method == "given"
    assert result.solution is not None and result.solution["deviation"] == 0


BAD_FIXINGS: dict[str, tuple[Any, str]] = {
    "jssp": ({"operations": [{"job": 9, "index": 0, "start": 0}]}, "options.fixed.operations.0"),
    "rcpsp": ({"activities": [{"id": 99, "start": 0}]}, "options.fixed.activities.0.id"),
    "memory_mapping": ({"buffers": [{"id": "zz", "offset": 0}]}, "options.fixed.buffers.0.id"),
    "expert_placement": ([{"layer": 0, "expert": 0, "gpu": 7}], "options.fixed.0.gpu"),
    "gpu_packing": (
        {"assignment": [{"bucket": [0, 0], "slice": 0, "gpu_type": "TPU"}]},
        "options.fixed.assignment.0.gpu_type",
    ),
}


@pytest.mark.parametrize("kind", list(BAD_FIXINGS))
def test_a_fixing_that_names_nothing_of_the_instance_is_an_options_error(kind: str) -> None:
    instance, _ = POOR_REFERENCES[kind]()
    fixed, field = BAD_FIXINGS[kind]
    with pytest.raises(OptionsError) as caught:
        solve(kind, instance, time_limit_s=1, fixed=fixed)
    assert caught.value.field == field


def test_a_reference_needs_a_weight_and_must_cover_the_instance() -> None:
    instance, reference = _jssp()
    with pytest.raises(OptionsError, match="stability_weight"):
        solve("jssp", instance, time_limit_s=1, reference=reference)
    short = {**reference, "operations": reference["operations"][1:]}
    with pytest.raises(OptionsError) as caught:
        solve("jssp", instance, time_limit_s=1, reference=short, stability_weight=1)
    assert caught.value.field.startswith("options.reference")


@pytest.mark.parametrize("weight", [-1, 0.0001, 2e6])
def test_a_weight_out_of_range_or_finer_than_a_thousandth_is_refused(weight: float) -> None:
    instance, reference = _jssp()
    with pytest.raises(OptionsError) as caught:
        solve("jssp", instance, time_limit_s=1, reference=reference, stability_weight=weight)
    assert caught.value.field == "stability_weight"


def _rcpsp_without(document: dict[str, Any], kept: list[dict[str, Any]]) -> dict[str, Any]:
    """The instance with only the windows, lags, pairs, capacities and downtime that ``kept``
    (conflict items) name; precedences stay, everything else is dropped."""
    names = {
        (item["constraint"], str(item.get("activity", item.get("resource", item.get("from")))))
        for item in kept
    }
    doc: dict[str, Any] = json.loads(json.dumps(document))
    for a in doc["activities"]:
        if ("release", str(a["id"])) not in names:
            a.pop("release", None)
        if ("deadline", str(a["id"])) not in names:
            a.pop("deadline", None)
    messages = {item["message"] for item in kept}
    doc["lags"] = [
        {
            **lag,
            "min": lag["min"]
            if f"the lag {lag['from']} -> {lag['to']} of at least {lag['min']}" in messages
            else None,
            "max": lag["max"]
            if f"the lag {lag['from']} -> {lag['to']} of at most {lag['max']}" in messages
            else None,
        }
        for lag in doc.get("lags", [])
    ]
    doc["disjunctive"] = [
        pair
        for pair in doc.get("disjunctive", [])
        if f"activities {pair[0]} and {pair[1]} do not overlap" in messages
    ]
    for r in doc["resources"]:
        r["downtime"] = [
            d
            for d in r.get("downtime", [])
            if f"resource {r['name']} is down during [{d[0]}, {d[1]})" in messages
        ]
        if ("capacity", r["name"]) not in names:
            r["capacity"] = 10**6
    return doc


def _solved_status(kind: str, instance: Any, **options: Any) -> Status:
    return solve(kind, instance, time_limit_s=10, **options).status


def test_an_infeasible_rcpsp_instance_names_a_minimal_conflict() -> None:
    document = json.loads((DATA / "rcpsp_features.json").read_text())
    document["activities"][4]["deadline"] = 9  # activity 5 cannot end by 9
    result = solve("rcpsp", document, time_limit_s=10)
    assert result.status is Status.INFEASIBLE and result.conflict
    conflict = [item.model_dump() for item in result.conflict]
    assert {"deadline", "release"} <= {item["constraint"] for item in conflict}
    assert "dropping any one" in (result.message or "")
    assert _solved_status("rcpsp", _rcpsp_without(document, conflict)) is Status.INFEASIBLE
    for k in range(len(conflict)):
        fewer = conflict[:k] + conflict[k + 1 :]
        assert _solved_status("rcpsp", _rcpsp_without(document, fewer)) is Status.OPTIMAL, conflict[
            k
        ]


def test_a_resource_too_small_for_an_activity_is_named() -> None:
    document = json.loads((DATA / "rcpsp_features.json").read_text())
    document["resources"][1]["capacity"] = 1
    result = solve("rcpsp", document, time_limit_s=5)
    assert result.status is Status.INFEASIBLE
    assert [item.constraint for item in result.conflict or []] == ["capacity"]


def test_infeasible_jssp_fixings_name_a_minimal_conflict() -> None:
    instance, _ = _jssp()
    fixings = [
        {"job": 0, "index": 0, "start": 10},
        {"job": 0, "index": 1, "start": 5},  # before its job predecessor ends
        {"job": 1, "index": 0, "start": 0},
        {"job": 2, "index": 0, "start": 0},
    ]
    result = solve("jssp", instance, time_limit_s=10, fixed={"operations": fixings})
    assert result.status is Status.INFEASIBLE and result.conflict
    named = [(item.model_dump()["job"], item.model_dump()["operation"]) for item in result.conflict]
    chosen = [f for f in fixings if (f["job"], f["index"]) in named]
    assert len(chosen) == len(named) >= 2
    assert _solved_status("jssp", instance, fixed={"operations": chosen}) is Status.INFEASIBLE
    for k in range(len(chosen)):
        fewer = chosen[:k] + chosen[k + 1 :]
        assert _solved_status("jssp", instance, fixed={"operations": fewer}) is Status.OPTIMAL


@pytest.mark.parametrize("kind", ["memory_mapping", "expert_placement", "gpu_packing"])
def test_fixings_that_cannot_all_hold_give_infeasible_with_the_fixings_named(kind: str) -> None:
    instance, reference = POOR_REFERENCES[kind]()
    if kind == "memory_mapping":  # a and c live together: not both at 0
        fixed: Any = {
            "buffers": [
                {"id": "a", "offset": 0},
                {"id": "c", "offset": 0},
                {"id": "d", "offset": 0},
            ]
        }
    elif kind == "expert_placement":  # three experts of layer 0 on a GPU with room for two
        fixed = [{"layer": 0, "expert": e, "gpu": 1} for e in range(3)]
    else:  # the bucket (2, 2) has no throughput on L4
        fixed = {
            "assignment": [
                {"bucket": [2, 2], "slice": 0, "gpu_type": "L4"},
                reference["assignment"][0],
            ]
        }
        fixed["assignment"][1] = {
            k: fixed["assignment"][1][k] for k in ("bucket", "slice", "gpu_type")
        }
    result = solve(kind, instance, time_limit_s=10, fixed=fixed)
    assert result.status is Status.INFEASIBLE
    assert result.conflict and all(item.constraint == "fixed" for item in result.conflict)
    expected = {"memory_mapping": 2, "expert_placement": 3, "gpu_packing": 1}[kind]
    assert len(result.conflict) == expected
