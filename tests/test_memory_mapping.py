"""memory_mapping: MiniMalloc CSV and JSON, checker, capacity search, solves on every backend."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import BACKENDS

from makespan.models.errors import InstanceError
from makespan.models.memory_mapping import MODEL, MemoryInstance, MemorySolution, search
from makespan.models.memory_mapping.heuristics import two_level_greedy
from makespan.solvers import Result, solve

CHALLENGING = ("F", "J", "K")
"""Three of MiniMalloc's eleven challenging instances that the search answers in well under a
second each; bench/memory.py runs all eleven."""


def read(data: Path, name: str) -> MemoryInstance:
    return MODEL.read_file(data / name)


def placement(instance: MemoryInstance, offsets: dict[str, int]) -> MemorySolution:
    sizes = {b.id: b.size for b in instance.buffers}
    return MODEL.parse_solution(
        {
            "peak": max(o + sizes[i] for i, o in offsets.items()),
            "buffers": [{"id": i, "offset": o} for i, o in offsets.items()],
        }
    )


def assert_checked(instance: MemoryInstance, result: Result) -> MemorySolution:
    assert result.solution is not None, result
    solution = MODEL.parse_solution(result.solution)
    report = MODEL.check(instance, solution)
    assert report.feasible, report.violations
    assert report.objective == result.objective
    return solution


# --- reading -------------------------------------------------------------------------------


def test_reads_minimalloc_csv(data: Path) -> None:
    instance = read(data, "memory_small.csv")
    assert [b.id for b in instance.buffers] == ["a", "b", "c", "d", "e"]
    assert instance.buffers[1].lower == 3 and instance.buffers[1].upper == 9
    assert instance.capacity is None and instance.max_live == 12
    aligned = read(data, "memory_aligned.csv")
    assert [b.alignment for b in aligned.buffers] == [1, 4, 2, 8]


def test_capacity_comes_from_a_minimalloc_benchmark_name(tmp_path: Path, data: Path) -> None:
    target = tmp_path / "example.12.csv"
    target.write_text((data / "memory_small.csv").read_text())
    assert MODEL.read_file(target).capacity == 12


def test_json_round_trip_and_generated_schema(data: Path) -> None:
    instance = read(data, "memory_two_level.json")
    assert instance.two_level and instance.capacity == 8
    assert MODEL.parse_instance(instance.model_dump()) == instance
    schema = MODEL.json_schema()
    assert "buffers" in schema["properties"] and "capacity" in schema["properties"]


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        ("id,lower,size\n", 1, "header lacks upper"),
        ("id,lower,upper,size\na,0,3,4\nb,0,x,4\n", 3, "expected an integer upper, got 'x'"),
        ("id,lower,upper,size\na,3,3,4\n", 2, "upper (3) must exceed lower (3)"),
        ("id,lower,upper,size\na,0,3,4\na,1,2,1\n", 3, "duplicate buffer id 'a'"),
        ("id,lower,upper,size\na,0,3\n", 2, "expected at least 4 comma-separated values"),
        ("id,lower,upper,size\na,0,3,0\n", 2, "size 0 out of range"),
        ("id,lower,upper,size\n", 2, "no buffers"),
    ],
)
def test_csv_errors_name_file_line_and_expectation(
    tmp_path: Path, text: str, line: int, expected: str
) -> None:
    target = tmp_path / "bad.csv"
    target.write_text(text)
    with pytest.raises(InstanceError) as caught:
        MODEL.read_file(target)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{target}:{line}: ")
    assert expected in str(caught.value)


def test_json_errors_name_the_field() -> None:
    with pytest.raises(InstanceError) as caught:
        MODEL.parse_instance({"buffers": [{"id": "a", "lower": 0, "upper": 2, "size": -1}]})
    assert caught.value.field == "buffers.0.size"
    with pytest.raises(InstanceError, match="two-level instance needs"):
        MODEL.parse_instance(
            {"two_level": True, "buffers": [{"id": "a", "lower": 0, "upper": 2, "size": 1}]}
        )


# --- checker -------------------------------------------------------------------------------


def test_checker_accepts_a_packing_and_recomputes_the_peak(data: Path) -> None:
    instance = read(data, "memory_small.csv")
    good = placement(instance, {"a": 8, "b": 8, "c": 4, "d": 4, "e": 0})
    report = MODEL.check(instance, good)
    assert report.feasible and report.objective == 12


def test_checker_finds_every_kind_of_violation(data: Path) -> None:
    instance = read(data, "memory_aligned.csv")
    clash = placement(instance, {"w": 0, "x": 0, "y": 6, "z": 16})
    report = MODEL.check(instance, clash)
    assert not report.feasible
    assert any("'w' and 'x' are alive together" in v for v in report.violations)
    misaligned = placement(instance, {"w": 1, "x": 6, "y": 3, "z": 0})
    violations = MODEL.check(instance, misaligned).violations
    assert any("'x': offset 6 is not a multiple of 4" in v for v in violations)
    assert any("'y': offset 3 is not a multiple of 2" in v for v in violations)
    missing = MODEL.parse_solution({"peak": 3, "buffers": [{"id": "w", "offset": 0}]})
    assert "buffer 'x' is not placed" in MODEL.check(instance, missing).violations
    lying = MODEL.parse_solution(
        {**placement(instance, {"w": 1, "x": 4, "y": 2, "z": 0}).model_dump(), "peak": 5}
    )
    assert any("stated peak 5" in v for v in MODEL.check(instance, lying).violations)
    tight = instance.model_copy(update={"capacity": 8})
    over = MODEL.check(tight, placement(tight, {"w": 1, "x": 4, "y": 2, "z": 0}))
    assert "peak 9 exceeds the capacity 8" in over.violations


# --- solving -------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_minimum_peak_on_every_backend(data: Path, backend: str) -> None:
    for name, optimum in (("memory_small.csv", 12), ("memory_aligned.csv", 9)):
        instance = read(data, name)
        result = solve(
            "memory_mapping", instance, backend=backend, time_limit_s=20, warm_start=False
        )
        assert result.status == "optimal", result
        assert result.objective == optimum
        assert_checked(instance, result)


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_level_keeps_the_most_benefit_fast(data: Path, backend: str) -> None:
    instance = read(data, "memory_two_level.json")
    result = solve("memory_mapping", instance, backend=backend, time_limit_s=20)
    assert result.status == "optimal", result
    solution = assert_checked(instance, result)
    # 'huge' exceeds fast memory; of hot/warm/cold (12 bytes alive at t = 2..4 in 8) the
    # least valuable, 'cold', stays slow.
    assert set(solution.slow) == {"huge", "cold"}
    assert result.objective == 1010


def test_two_level_greedy_is_a_checked_lower_quality_start(data: Path) -> None:
    instance = read(data, "memory_two_level.json")
    greedy = two_level_greedy(instance)
    report = MODEL.check(instance, greedy)
    assert report.feasible and report.objective is not None and report.objective >= 1010


def test_capacity_answer_ends_the_solve_at_the_first_fit(data: Path) -> None:
    instance = read(data, "memory_small.csv").model_copy(update={"capacity": 16})
    result = solve("memory_mapping", instance, time_limit_s=30)
    solution = assert_checked(instance, result)
    assert solution.peak <= 16
    assert result.termination == "solved"
    assert result.wall_time_s < 10  # the goal, not the time limit, ended it
    assert result.status in ("optimal", "feasible")


def test_capacity_below_max_live_is_infeasible_without_search(data: Path) -> None:
    instance = read(data, "memory_small.csv").model_copy(update={"capacity": 11})
    result = solve("memory_mapping", instance, time_limit_s=10)
    assert result.status == "infeasible" and result.termination == "solved"
    assert result.message is not None and "12 > capacity 11" in result.message


def test_the_search_proves_infeasibility_by_exhaustion() -> None:
    # Max-live 3 > capacity 2: the search must exhaust its space rather than find anything.
    lower, upper, size = (np.array(v, dtype=np.int64) for v in ([0, 0, 1], [2, 3, 3], [1, 1, 1]))
    outcome = search.fit(lower, upper, size, np.ones(3, dtype=np.int64), 2, time_limit_s=10)
    assert outcome.offsets is None and outcome.proven_infeasible


def test_the_search_respects_alignment_and_capacity(data: Path) -> None:
    instance = read(data, "memory_aligned.csv")
    a = instance.arrays
    outcome = search.fit(a.lower, a.upper, a.size, a.alignment, 9, time_limit_s=10)
    assert outcome.offsets is not None
    offsets = dict(zip((b.id for b in instance.buffers), outcome.offsets.tolist(), strict=True))
    report = MODEL.check(instance, placement(instance, offsets))
    assert report.feasible and report.objective == 9


@pytest.mark.parametrize("name", CHALLENGING)
def test_minimalloc_challenging_instances_fit(shared_benchmarks: Path, name: str) -> None:
    instance = MODEL.read_file(
        shared_benchmarks / "memory" / "minimalloc" / "challenging" / f"{name}.1048576.csv"
    )
    assert instance.capacity == 1048576
    result = solve("memory_mapping", instance, time_limit_s=60)
    solution = assert_checked(instance, result)
    assert solution.peak <= 1048576
    assert result.termination == "solved"
    assert result.backend == "canonical_search"


def test_real_trace_gets_within_one_percent_of_max_live(shared_benchmarks: Path) -> None:
    path = shared_benchmarks / "memory" / "idealloc" / "somas_tensors" / "tiny_bert.csv"
    instance = MODEL.read_file(path)
    result = solve("memory_mapping", instance, time_limit_s=20)
    solution = assert_checked(instance, result)
    assert solution.peak <= 1.01 * instance.max_live
    assert result.bound == instance.max_live


# --- command line --------------------------------------------------------------------------


def run_cli(makespan_command: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*makespan_command, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_cli_capacity_flag(makespan_command: list[str], data: Path) -> None:
    done = run_cli(
        makespan_command, "solve", str(data / "memory_small.csv"), "--capacity", "12", "--json"
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    assert result["problem"] == "memory_mapping"
    assert result["solution"]["peak"] == 12 and result["status"] == "optimal"
    wrong = run_cli(makespan_command, "solve", str(data / "ft06.txt"), "--capacity", "12")
    assert wrong.returncode == 2
    assert "--capacity applies to memory_mapping" in wrong.stderr


def test_generated_two_level_instance_solves_and_checks(makespan_command: list[str]) -> None:
    done = run_cli(makespan_command, "generate", "memory_mapping", "--buffers", "40", "--two-level")
    assert done.returncode == 0, done.stderr
    instance = MODEL.parse_instance(json.loads(done.stdout))
    assert instance.two_level and instance.capacity is not None
    greedy = two_level_greedy(instance)
    result = solve("memory_mapping", instance, time_limit_s=20)
    solution = assert_checked(instance, result)
    assert result.objective is not None and result.objective <= (greedy.slow_benefit or 0)
    assert solution.peak <= instance.capacity
    assert result.bound is not None and result.bound <= result.objective
