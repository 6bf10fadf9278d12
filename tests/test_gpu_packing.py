"""GPU packing (after Mélange): validation, greedy, exact solves on both backends, checker, CLI."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from makespan.models.errors import InstanceError
from makespan.models.gpu_packing import MODEL, GpuPackingInstance, GpuPackingSolution, from_melange
from makespan.solvers import Result, solve

BENCHMARKS = Path("/work/shared/benchmarks/gpu_packing")
MELANGE = BENCHMARKS / "melange_example.json"
AIBRIX = BENCHMARKS / "aibrix_profile_simulator-llama2-7b-a100.json"
POOLINGS = ("type", "instance")


def small(pooling: str = "type", **changes: Any) -> dict[str, Any]:
    """Three types over a 2x2 workload; L4 cannot serve bucket (1, 1)."""
    document: dict[str, Any] = {
        "gpu_types": [
            {"name": "L4", "cost_per_hour": 0.5, "throughput": [[4.1, 2.0], [1.2, 0.0]]},
            {"name": "A10G", "cost_per_hour": 1.01, "throughput": [[6.0, 3.0], [2.0, 1.0]]},
            {"name": "A100", "cost_per_hour": 3.67, "throughput": [[25.0, 14.0], [9.0, 5.0]]},
        ],
        "workload": [[0.5, 0.2], [0.2, 0.1]],
        "total_request_rate": 12.0,
        "slice_factor": 2,
        "pooling": pooling,
    }
    document.update(changes)
    return document


def aibrix(slice_factor: int, buckets: int, pooling: str = "type") -> dict[str, Any]:
    """The AIBrix A100 profile with made-up types: A100 $3.67, A10G $1.01 (0.3x throughput, no
    input bucket past 5), L4 $0.70 (0.2x, no input past 4 nor output past 3); shares 1/(1+i+j)
    on the first ``buckets`` servable buckets, 40 requests/s."""
    tputs: list[list[float]] = json.loads(AIBRIX.read_text())["tputs"]

    def derived(scale: float, inputs: int, outputs: int) -> list[list[float]]:
        return [
            [t * scale if i < inputs and j < outputs else 0.0 for j, t in enumerate(row)]
            for i, row in enumerate(tputs)
        ]

    servable = [(i, j) for i, row in enumerate(tputs) for j, t in enumerate(row) if t > 0]
    chosen = set(servable[:buckets])
    weights = [[1 / (1 + i + j) if (i, j) in chosen else 0.0 for j in range(5)] for i in range(8)]
    total = sum(map(sum, weights))
    return {
        "gpu_types": [
            {"name": "A100", "cost_per_hour": 3.67, "throughput": tputs},
            {"name": "A10G", "cost_per_hour": 1.01, "throughput": derived(0.3, 6, 5)},
            {"name": "L4", "cost_per_hour": 0.7, "throughput": derived(0.2, 5, 4)},
        ],
        "workload": [[w / total for w in row] for row in weights],
        "total_request_rate": 40.0,
        "slice_factor": slice_factor,
        "pooling": pooling,
    }


def assert_checked(document: dict[str, Any], result: Result) -> GpuPackingSolution:
    """The result's solution passes the checker with the result's objective."""
    instance = MODEL.parse_instance(document)
    assert result.solution is not None and result.objective is not None
    solution = MODEL.parse_solution(result.solution)
    report = MODEL.check(instance, solution)
    assert report.feasible, report.violations
    assert report.objective == pytest.approx(result.objective, rel=1e-9)
    assert solution.cost_per_hour == pytest.approx(result.objective, rel=1e-9)
    return solution


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"workload": [[0.5, 0.2], [0.2, 0.2]]}, "workload: shares sum to"),
        ({"workload": [[0.5, 0.3], [0.2]]}, "workload: rows"),
        ({"total_request_rate": 0}, "total_request_rate"),
        ({"slice_factor": 0}, "slice_factor"),
        ({"pooling": "rack"}, "pooling"),
        ({"workload": [[0.5, 0.2], [0.4, -0.1]]}, "workload.1.1"),
    ],
)
def test_validation_errors_name_the_field(changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(InstanceError, match=expected.replace(".", r"\.")):
        MODEL.parse_instance(small(**changes))


def test_type_errors_name_the_type() -> None:
    document = small()
    types = document["gpu_types"]
    cases = [
        ({**types[0], "cost_per_hour": -1}, "gpu_types.0.cost_per_hour"),
        ({**types[0], "cost_per_hour": 0.12345}, "at most 4 decimals"),
        ({**types[0], "throughput": [[1.0, 1.0]]}, "gpu_types.0.throughput: shape"),
        ({**types[0], "name": "A10G"}, "gpu_types.1.name: duplicate"),
        ({**types[0], "max_count": -2}, "gpu_types.0.max_count"),
    ]
    for first, expected in cases:
        with pytest.raises(InstanceError, match=expected):
            MODEL.parse_instance({**document, "gpu_types": [first, *types[1:]]})


def test_a_bucket_no_type_serves_is_invalid() -> None:
    document = small(gpu_types=[small()["gpu_types"][0]])
    with pytest.raises(InstanceError, match=r"workload\.1\.1: no GPU type can serve"):
        MODEL.parse_instance(document)
    # A zero share needs no server.
    MODEL.parse_instance({**document, "workload": [[0.6, 0.2], [0.2, 0.0]]})


def test_slices_too_big_for_any_gpu_are_infeasible_with_instance_pooling() -> None:
    document = small("instance", total_request_rate=200.0, slice_factor=1)
    result = solve("gpu_packing", document, time_limit_s=5)
    assert result.status.value == "infeasible" and "fits no single GPU" in (result.message or "")
    pooled = solve("gpu_packing", {**document, "pooling": "type"}, time_limit_s=5)
    assert pooled.status.value == "optimal"


@pytest.mark.parametrize("pooling", POOLINGS)
def test_zero_throughput_is_never_assigned(pooling: str) -> None:
    # L4 is the cheapest per request everywhere else; it cannot serve bucket (1, 1).
    instance = MODEL.parse_instance(small(pooling))
    l4 = [instance.load(s, 0) for s in instance.slices if s.bucket == (1, 1)]
    assert l4 and all(load is None for load in l4)
    warm = MODEL.warm_start(instance, 1.0, 0, lambda: False)
    assert warm is not None
    results = [solve("gpu_packing", small(pooling), backend=b) for b in ("highs", "cpsat")]
    for solution in [warm.solution] + [assert_checked(small(pooling), r) for r in results]:
        served = {a.gpu_type for a in solution.assignment if tuple(a.bucket) == (1, 1)}
        assert served and "L4" not in served


@pytest.mark.parametrize("pooling", POOLINGS)
def test_greedy_is_feasible_and_respects_max_count(pooling: str) -> None:
    for document in (small(pooling), aibrix(4, 30, pooling), _capped(pooling)):
        instance = MODEL.parse_instance(document)
        warm = MODEL.warm_start(instance, 1.0, 0, lambda: False)
        assert warm is not None
        report = MODEL.check(instance, warm.solution)
        assert report.feasible, report.violations
        assert report.objective == pytest.approx(warm.objective, rel=1e-9)


def _capped(pooling: str) -> dict[str, Any]:
    """The small instance with the cheapest type (L4) capped at one GPU."""
    document = small(pooling, total_request_rate=24.0)
    document["gpu_types"][0] = {**document["gpu_types"][0], "max_count": 1}
    return document


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("make", [small, _capped])
def test_highs_and_cpsat_prove_the_same_optimum(pooling: str, make: Any) -> None:
    document = make(pooling)
    results = [
        solve("gpu_packing", document, backend=b, time_limit_s=20) for b in ("highs", "cpsat")
    ]
    for result in results:
        assert result.status.value == "optimal", result.message
        solution = assert_checked(document, result)
        assert solution.gpus.get("L4", 0) <= (1 if make is _capped else 10**9)
        bound = MODEL.lower_bound(MODEL.parse_instance(document))
        assert bound is not None and bound <= solution.cost_per_hour + 1e-9
    assert results[0].objective == pytest.approx(results[1].objective, rel=1e-9)


def test_cap_on_the_cheapest_type_is_respected() -> None:
    free = solve("gpu_packing", small(total_request_rate=24.0), backend="highs")
    capped = solve("gpu_packing", _capped("type"), backend="highs")
    assert free.solution is not None and capped.solution is not None
    assert free.solution["gpus"]["L4"] > 1 and capped.solution["gpus"]["L4"] <= 1
    assert capped.objective is not None and free.objective is not None
    assert capped.objective > free.objective


def test_checker_rejects_broken_solutions() -> None:
    document = small()
    result = solve("gpu_packing", document, backend="highs")
    assert result.solution is not None
    instance = MODEL.parse_instance(document)
    good = result.solution
    fewer = {**good, "gpus": {k: max(0, n - 1) for k, n in good["gpus"].items()}}
    wrong_cost = {**good, "cost_per_hour": good["cost_per_hour"] + 1}
    missing = {**good, "assignment": good["assignment"][1:]}
    l4_everywhere = {**good, "assignment": [{**a, "gpu_type": "L4"} for a in good["assignment"]]}
    for broken in (fewer, wrong_cost, missing, l4_everywhere):
        assert not MODEL.check(instance, MODEL.parse_solution(broken)).feasible


def test_melange_example_solves_and_reports_the_single_type_fleet() -> None:
    instance = MODEL.read_file(MELANGE)
    assert instance == MODEL.parse_instance(from_melange(json.loads(MELANGE.read_text())))
    result = solve("gpu_packing", instance, backend="highs")
    assert result.status.value == "optimal" and result.objective == pytest.approx(6.7)
    assert result.solution is not None
    assert result.solution["gpus"] == {"A10G": 3, "A100-80GB": 1}
    assert result.solution["cheapest_single_type"] == {
        "gpu_type": "A100-80GB",
        "count": 2,
        "cost_per_hour": 7.34,
    }


@pytest.mark.parametrize("backend", ["auto", "highs"])
def test_120_slices_are_proven_optimal(backend: str) -> None:
    document = aibrix(4, 30)
    instance = MODEL.parse_instance(document)
    assert len(instance.slices) == 120
    assert MODEL.size(instance) == 8 * 5 * 4  # every bucket x slice_factor, served or not
    started = time.perf_counter()
    result = solve("gpu_packing", document, backend=backend, time_limit_s=60)
    elapsed = time.perf_counter() - started
    print(f"120 slices, type pooling, {backend}: optimal in {elapsed:.2f} s")
    assert result.status.value == "optimal" and result.backend == "highs"
    assert_checked(document, result)


def test_cli_solves_a_json_file(makespan_command: list[str], tmp_path: Path) -> None:
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps(small()))
    done = subprocess.run(
        [*makespan_command, "solve", str(path), "--problem", "gpu_packing", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["problem"] == "gpu_packing" and document["status"] == "optimal"
    solution = GpuPackingSolution.model_validate(document["solution"])
    instance = GpuPackingInstance.model_validate(small())
    assert MODEL.check(instance, solution).feasible
