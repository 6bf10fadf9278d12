"""The RCPSP search: compiled schedule generation and justification, the genetic operators, the
energetic lower bound, and the kind's search inside a solve."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from makespan.models.rcpsp import MODEL, RcpspInstance, RcpspSolution, kernels
from makespan.models.rcpsp.bounds import lower_bound
from makespan.models.rcpsp.energetic import destructive_bound
from makespan.models.rcpsp.evolve import Arrays, Evolution, kernels_ready, problem_of
from makespan.models.rcpsp.search import search
from makespan.models.spec import CooperativeSearch, Searchable, SearchContext
from makespan.solvers import Incumbent, solve
from makespan.solvers.options import SolveOptions
from makespan.solvers.pipeline import steered

FEATURES = "rcpsp_features.json"
SMALL = "rcpsp_small.sm"


@pytest.fixture(scope="module", autouse=True)
def _loaded() -> None:
    assert kernels_ready(time.monotonic() + 300, lambda: False)


def random_instance(seed: int, *, extensions: bool) -> RcpspInstance:
    """A random project of 8-16 activities on two resources; with ``extensions`` also downtime,
    releases, loose deadlines, disjunctive pairs and minimum/maximum lags."""
    rng = random.Random(seed)
    n = rng.randint(8, 16)
    resources: list[dict[str, Any]] = [
        {"name": "A", "capacity": rng.randint(2, 5)},
        {"name": "B", "capacity": rng.randint(2, 5)},
    ]
    if extensions:
        start = rng.randint(2, 10)
        resources[0]["downtime"] = [[start, start + rng.randint(1, 4)]]
    activities: list[dict[str, Any]] = []
    for i in range(n):
        successors = sorted({j for j in range(i + 1, n) if rng.random() < 2.0 / n})
        activity: dict[str, Any] = {
            "id": i,
            "duration": rng.choice([0, 1, 2, 3, 4, 5]) if i else 0,
            "demands": {
                r["name"]: rng.randint(0, r["capacity"]) for r in resources if rng.random() < 0.7
            },
            "successors": successors,
        }
        if extensions and rng.random() < 0.3:
            activity["release"] = rng.randint(0, 8)
        if extensions and rng.random() < 0.2:
            activity["deadline"] = 200
        activities.append(activity)
    document: dict[str, Any] = {"resources": resources, "activities": activities}
    if extensions:
        pairs = {tuple(sorted(rng.sample(range(n), 2))) for _ in range(2)}
        document["disjunctive"] = [list(p) for p in pairs]
        lags = []
        for _ in range(3):
            a, b = sorted(rng.sample(range(n), 2))
            lags.append({"from": a, "to": b, "min": rng.randint(-2, 3), "max": 150})
        document["lags"] = lags
    return RcpspInstance.model_validate(document)


def _instances(data: Path) -> list[RcpspInstance]:
    fixed = [MODEL.read_file(data / FEATURES), MODEL.read_file(data / SMALL)]
    generated = [random_instance(s, extensions=s % 2 == 1) for s in range(12)]
    return fixed + generated


def _arrays(instance: RcpspInstance) -> Arrays:
    arrays = problem_of(instance)
    assert arrays is not None
    return arrays


def _random_lists(arrays: Arrays, count: int, seed: int) -> list[np.ndarray]:
    problem = arrays.problem
    n = problem.dur.shape[0]
    rng = kernels.new_stream(seed)
    weight = np.ones(n)
    lists = []
    for _ in range(count):
        out = np.zeros(n, dtype=np.int64)
        kernels.random_list(problem, weight, rng, out, np.zeros(n, dtype=np.int64))
        lists.append(out)
    return lists


def _respects_order(arrays: Arrays, activity_list: np.ndarray) -> bool:
    problem = arrays.problem
    n = problem.dur.shape[0]
    if sorted(activity_list.tolist()) != list(range(n)):
        return False
    position = {int(a): k for k, a in enumerate(activity_list)}
    return all(
        position[i] < position[int(problem.succ_to[a])]
        for i in range(n)
        for a in range(problem.succ_ptr[i], problem.succ_ptr[i + 1])
    )


def _decode(arrays: Arrays, activity_list: np.ndarray, rounds: int) -> tuple[int, list[int]]:
    work = kernels.new_work(arrays.problem)
    value = kernels.decode(arrays.problem, work, activity_list, rounds, kernels.new_counters())
    return int(value), [int(s) for s in work.keep]


def test_random_lists_decode_to_schedules_the_checker_accepts(data: Path) -> None:
    for instance in _instances(data):
        arrays = _arrays(instance)
        decoded = 0
        for activity_list in _random_lists(arrays, 30, seed=1):
            assert _respects_order(arrays, activity_list)
            for rounds in (0, 3):
                value, starts = _decode(arrays, activity_list, rounds)
                if value == kernels.FAILED:
                    continue  # a window ran out of room: the search skips such lists
                decoded += 1
                report = MODEL.check(instance, RcpspSolution.from_starts(instance, starts))
                assert report.feasible, (instance.name, report.violations)
                assert report.objective == value
        assert decoded > 0, instance.name


def test_justification_never_lengthens_a_schedule(data: Path) -> None:
    for instance in _instances(data):
        arrays = _arrays(instance)
        for activity_list in _random_lists(arrays, 30, seed=2):
            plain, _ = _decode(arrays, activity_list, 0)
            justified, _ = _decode(arrays, activity_list, 3)
            if plain != kernels.FAILED:
                assert justified != kernels.FAILED and justified <= plain


def test_the_justified_list_decodes_to_its_schedule(data: Path) -> None:
    for instance in _instances(data)[:6]:
        arrays = _arrays(instance)
        for activity_list in _random_lists(arrays, 10, seed=3):
            work = kernels.new_work(arrays.problem)
            counters = kernels.new_counters()
            value = kernels.decode(arrays.problem, work, activity_list, 3, counters)
            if value == kernels.FAILED:
                continue
            again, starts = _decode(arrays, work.keep_list.copy(), 0)
            assert again == value and starts == [int(s) for s in work.keep]


def test_crossovers_and_mutation_keep_the_list_order(data: Path) -> None:
    for instance in _instances(data):
        arrays = _arrays(instance)
        problem = arrays.problem
        n = problem.dur.shape[0]
        lists = _random_lists(arrays, 12, seed=4)
        rng = kernels.new_stream(5)
        child = np.zeros(n, dtype=np.int64)
        used = np.zeros(n, dtype=np.int64)
        for mother, father in zip(lists, reversed(lists), strict=True):
            kernels.two_point(mother, father, child, used, rng)
            assert _respects_order(arrays, child)
            value, starts = _decode(arrays, mother, 0)
            if value != kernels.FAILED:
                kernels.peak(problem, mother, np.array(starts), father, child, used, rng)
                assert _respects_order(arrays, child)
            kernels.shift(problem, child, np.zeros(n, dtype=np.int64), rng)
            assert _respects_order(arrays, child)


def test_the_population_keeps_its_best_and_stops_at_the_target(data: Path) -> None:
    instance = MODEL.read_file(data / SMALL)
    island = Evolution(_arrays(instance), seed=0, target=10)
    island.run_until(time.monotonic() + 5, lambda: False)
    assert island.status == kernels.AT_TARGET and island.best_makespan == 10
    report = MODEL.check(instance, RcpspSolution.from_starts(instance, island.best_starts))
    assert report.feasible and report.objective == 10
    other = Evolution(_arrays(instance), seed=1, target=0, population=4)
    other.run_until(time.monotonic() + 5, lambda: False, lambda e: e.generations < 3)
    assert other.generations >= 3 and other.inject(island.best_list) == 10
    assert other.best_makespan == 10


def test_no_list_decodes_in_a_maximum_lag_trap(data: Path) -> None:
    trapped = json.loads((data / "rcpsp_trapped.json").read_text())
    island = Evolution(_arrays(MODEL.parse_instance(trapped)), seed=0, target=0)
    island.run_until(time.monotonic() + 5, lambda: False)
    assert island.status == kernels.NO_SCHEDULE and island.best_makespan is None


# --------------------------------------------------------------------------------------------
# The energetic bound
# --------------------------------------------------------------------------------------------


def _bound(instance: RcpspInstance, high: int) -> int:
    arrays = _arrays(instance)
    return destructive_bound(arrays.problem, lower_bound(instance) or 0, high, float("inf"))


def test_the_energetic_bound_never_passes_a_known_optimum(shared_benchmarks: Path) -> None:
    document = json.loads((shared_benchmarks / "rcpsp/bounds/psplib_bounds.json").read_text())
    entries = [e for e in document["instances"].values() if e["set"] == "j30"]
    raised = 0
    for entry in random.Random(0).sample(entries, 120):
        instance = MODEL.read_file(shared_benchmarks / "rcpsp" / entry["file"])
        bound = _bound(instance, entry["optimum"] + 5)
        assert bound <= entry["optimum"], entry["file"]
        raised += bound > (lower_bound(instance) or 0)
    assert raised > 0  # it is stronger than the critical-path and energy bounds somewhere


def test_the_energetic_bound_holds_on_the_extensions(data: Path) -> None:
    for instance in _instances(data):
        arrays = _arrays(instance)
        island = Evolution(arrays, seed=0, target=0)
        island.run_until(time.monotonic() + 0.5, lambda: False)
        if island.best_makespan is None:
            continue
        exact = solve("rcpsp", instance, time_limit_s=5, workers=1, backend="cpsat")
        assert exact.status == "optimal" and exact.objective is not None
        assert _bound(instance, island.best_makespan) <= exact.objective, instance.name


# --------------------------------------------------------------------------------------------
# The kind's search
# --------------------------------------------------------------------------------------------


def test_the_search_answers_checked_schedules_and_a_bound(data: Path) -> None:
    heard: list[tuple[str, float]] = []
    context = SearchContext[RcpspSolution](
        2, 0, lambda method, solution, value: heard.append((method, value))
    )
    for instance in _instances(data):
        answer = search(instance, 2.0, lambda: False, None, context)
        if answer.solution is None:
            continue
        report = MODEL.check(instance, answer.solution)
        assert report.feasible and report.objective == answer.objective
        assert answer.objective is not None and answer.bound is not None
        assert answer.bound <= answer.objective
        assert answer.proven_optimal == (answer.bound == answer.objective)
    assert heard and all(method == "genetic" for method, _ in heard)


def test_the_search_stops_when_told(data: Path) -> None:
    instance = MODEL.read_file(data / SMALL)
    began = time.monotonic()
    answer = search(instance, 30.0, lambda: True, None)
    assert time.monotonic() - began < 5 and answer.solution is None


def test_a_solve_streams_the_search_and_ends_checked(shared_benchmarks: Path) -> None:
    instance = MODEL.read_file(shared_benchmarks / "rcpsp/j120/j120_51_1.rcp")
    heard: list[Incumbent] = []
    result = solve("rcpsp", instance, time_limit_s=3, workers=2, on_incumbent=heard.append)
    assert result.status == "feasible" and result.objective is not None
    assert result.warm_start is not None and result.warm_start.objective is not None
    assert result.objective < result.warm_start.objective
    objectives = [i.objective for i in heard if i.objective is not None]
    assert len(objectives) >= 3 and objectives == sorted(objectives, reverse=True)
    assert result.bound is not None and result.bound > 150  # energetic; CP-SAT's is near 100
    report = MODEL.check(instance, MODEL.parse_solution(result.solution or {}))
    assert report.feasible and report.objective == result.objective


def test_a_steered_solve_keeps_its_fixings_without_the_search(shared_benchmarks: Path) -> None:
    """The search knows nothing of fixings: under ``fixed`` the pipeline solves the steered
    model, which is neither Searchable nor a CooperativeSearch, so the search does not run (its
    schedules, which move the fixed activities, would only be rejected by the checker)."""
    instance = MODEL.read_file(shared_benchmarks / "rcpsp/j120/j120_51_1.rcp")
    by_id = {a.id: a for a in instance.activities}
    first, second = instance.activities[0].successors[:2]
    assert first not in by_id[second].successors  # both may start late, in either order
    later = 3 + by_id[first].duration + 4
    fixed = {"activities": [{"id": first, "start": 3}, {"id": second, "start": later}]}
    assert isinstance(MODEL, CooperativeSearch)
    model = steered(MODEL, instance, SolveOptions(fixed=fixed))
    assert not isinstance(model, Searchable) and not isinstance(model, CooperativeSearch)
    result = solve("rcpsp", instance, time_limit_s=2, workers=2, fixed=fixed)
    assert result.solution is not None and result.objective is not None
    starts = {a["id"]: a["start"] for a in result.solution["activities"]}
    assert starts[first] == 3 and starts[second] == later
    assert result.backend != "genetic" and "genetic" not in (result.message or "")
    assert result.warm_start is not None and result.warm_start.method != "genetic"
    report = MODEL.check(instance, MODEL.parse_solution(result.solution))
    assert report.feasible and report.objective == result.objective
