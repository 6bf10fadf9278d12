"""Expert placement: validation, generator, heuristics, exact solves on both backends, the CLI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from makespan.models.errors import InstanceError
from makespan.models.expert_placement import MODEL, ExpertPlacementInstance
from makespan.models.expert_placement import compile as compile_module
from makespan.models.expert_placement.generate import generate
from makespan.models.expert_placement.heuristics import greedy, warm_start
from makespan.solvers import Result, solve

LIMITS = ("--time-limit", "30", "--workers", "2")

SMALL: dict[str, Any] = MODEL.json_schema()["examples"][0]
"""The schema's example: 2 layers of 4 experts on 2 GPUs, two routes."""


def _with(**changes: Any) -> dict[str, Any]:
    return {**SMALL, **changes}


def _small() -> ExpertPlacementInstance:
    return generate(layers=2, experts=8, gpus=4, tokens=1000, skew=1.0, affinity=0.7, seed=0)


def _assert_checked(instance: ExpertPlacementInstance, result: Result) -> None:
    assert result.solution is not None
    contract = {"placement", "max_load_sum", "crossing_tokens", "objective"}
    eplb = {"phy2log", "log2phy", "logcnt", "gpu_loads", "node_loads", "balancedness"}
    assert contract | eplb <= set(result.solution)
    report = MODEL.check(instance, MODEL.parse_solution(result.solution))
    assert report.feasible, report.violations
    assert report.objective == pytest.approx(result.objective, rel=1e-9)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"loads": [[1, 2, 3], [1, 2, 3, 4]]}, None, "loads.1: 4 experts"),
        ({"routing": [{"layer": 1, "src": 0, "dst": 0, "tokens": 1}]}, None, "routing.0.layer"),
        ({"routing": [{"layer": 0, "src": 0, "dst": 9, "tokens": 1}]}, None, "routing.0.dst"),
        ({"routing": [{"layer": 0, "src": 0, "dst": 0, "tokens": -1}]}, "routing.0.tokens", ""),
        ({"loads": [[1, 2, 3, -4], [1, 2, 3, 4]]}, "loads.0.3", ""),
        ({"link_cost": [[0, 1]]}, None, "link_cost: 1 rows"),
        ({"link_cost": [[0, 1], [1, -1]]}, "link_cost.1.1", ""),
        ({"link_cost": [[0, 1.00001], [1, 0]]}, "link_cost.0.1", "4 decimal places"),
        ({"balance_weight": 0.12345}, "balance_weight", "4 decimal places"),
        ({"extra": 1}, "extra", ""),
    ],
)
def test_validation_errors_name_the_field(
    changes: dict[str, Any], field: str | None, message: str
) -> None:
    with pytest.raises(InstanceError) as caught:
        MODEL.parse_instance(_with(**changes))
    assert caught.value.field == field
    assert message in str(caught.value)


def test_generator_is_deterministic_and_consistent() -> None:
    a = generate(4, 16, 4, 5000, skew=1.2, affinity=0.8, seed=3)
    assert a == generate(4, 16, 4, 5000, skew=1.2, affinity=0.8, seed=3)
    assert a != generate(4, 16, 4, 5000, skew=1.2, affinity=0.8, seed=4)
    assert all(sum(row) == 5000 for row in a.loads)
    for layer in range(3):
        out = [0] * 16
        for route in a.routing:
            if route.layer == layer:
                out[route.src] += route.tokens
        assert out == list(a.loads[layer])
    assert MODEL.parse_instance(a.model_dump()) == a
    with pytest.raises(ValueError, match="experts % gpus"):
        generate(2, 10, 4, 100)


def test_greedy_and_warm_start_are_feasible_and_warm_start_is_no_worse() -> None:
    instance = generate(4, 32, 4, 20_000, skew=1.0, affinity=0.7, seed=1)
    lpt = greedy(instance)
    assert MODEL.check(instance, lpt).feasible
    warm = warm_start(instance, 2.0, 0, lambda: False)
    assert warm is not None
    report = MODEL.check(instance, warm.solution)
    assert report.feasible and report.objective == warm.objective
    assert instance.lower_bound <= warm.objective <= lpt.objective
    assert warm.method in ("lpt", "lpt+swap")


def test_checker_rejects_bad_counts_and_claims() -> None:
    instance = MODEL.parse_instance(SMALL)
    good = greedy(instance)
    assert MODEL.check(instance, good).feasible
    crowded = good.model_copy(update={"placement": ((0, 0, 0, 1), good.placement[1])})
    assert "holds 3 experts" in MODEL.check(instance, crowded).violations[0]
    lying = good.model_copy(update={"objective": good.objective - 1})
    assert "claimed objective" in MODEL.check(instance, lying).violations[0]


@pytest.mark.parametrize("backend", ["cpsat", "highs"])
def test_backends_prove_the_same_optimum(backend: str) -> None:
    instance = _small()
    result = solve("expert_placement", instance, time_limit_s=30, backend=backend, workers=2)
    assert result.status == "optimal"
    assert result.objective == pytest.approx(1217, rel=1e-9)
    _assert_checked(instance, result)


@pytest.mark.parametrize("backend", ["cpsat", "highs"])
def test_link_costs_and_fractional_weights(backend: str) -> None:
    costs = [[0.0 if g == h else 0.5 + 0.25 * abs(g - h) for h in range(4)] for g in range(4)]
    document = {
        **_small().model_dump(),
        "link_cost": costs,
        "balance_weight": 0.5,
        "communication_weight": 1.25,
    }
    instance = MODEL.parse_instance(document)
    assert MODEL.compile(instance, None).ir.objective_scale == 16  # 1.25 * 0.75 = 15/16
    result = solve("expert_placement", instance, time_limit_s=30, backend=backend, workers=2)
    assert result.status == "optimal"
    assert result.objective == pytest.approx(800.625, rel=1e-9)
    _assert_checked(instance, result)


def test_cli_solves_a_json_file(makespan_command: list[str], tmp_path: Path) -> None:
    path = tmp_path / "moe.json"
    path.write_text(_small().model_dump_json())
    done = subprocess.run(
        [*makespan_command, "solve", str(path), "--problem", "expert_placement", "--json", *LIMITS],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["problem"] == "expert_placement" and document["status"] == "optimal"
    assert document["objective"] == document["solution"]["objective"] == 1217


@pytest.mark.parametrize("backend", ["cpsat", "highs"])
def test_time_limited_answers_match_the_checker(backend: str) -> None:
    instance = generate(4, 32, 4, 20_000, skew=1.0, affinity=0.7, seed=2)
    result = solve(
        "expert_placement", instance, time_limit_s=3, backend=backend, workers=2, warm_start=False
    )
    assert result.status in ("feasible", "optimal")
    assert result.message is None or "rejected" not in result.message
    _assert_checked(instance, result)


@pytest.mark.parametrize("backend", ["cpsat", "highs"])
def test_compact_route_form_proves_the_same_optimum(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compile_module, "COMPACT_ROWS", 0)
    instance = _small()
    assert compile_module.compile_instance(instance).index.position
    result = solve("expert_placement", instance, time_limit_s=30, backend=backend, workers=2)
    assert result.status == "optimal"
    assert result.objective == pytest.approx(1217, rel=1e-9)
    _assert_checked(instance, result)


def test_cli_generate_writes_a_valid_instance_or_exits_2(
    makespan_command: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "moe.json"
    args = ["generate", "expert_placement", "--layers", "3", "--experts", "8", "--gpus", "4"]
    done = subprocess.run(
        [*makespan_command, *args, "--seed", "5", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    instance = MODEL.read_file(out)
    assert instance == generate(
        layers=3, experts=8, gpus=4, tokens=100_000, skew=1.0, affinity=0.7, seed=5
    )
    bad = subprocess.run(
        [*makespan_command, "generate", "expert_placement", "--experts", "10", "--gpus", "4"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
