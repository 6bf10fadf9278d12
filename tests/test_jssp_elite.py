"""The classic job shop's own search (:mod:`makespan.models.jssp.elite`): machine ranks and the
distance between schedules, path relinking, checked improvements, a proof at the lower bound,
stop requests, and its part in a solve."""

from __future__ import annotations

import itertools
import random
import time
from collections import Counter
from pathlib import Path

import pytest

from makespan.models.jssp import MODEL, elite, lns
from makespan.models.jssp.check import check
from makespan.models.jssp.formats import read_text
from makespan.models.jssp.heuristics import best_dispatch, giffler_thompson
from makespan.models.jssp.instance import JobShopInstance, JobShopSolution
from makespan.models.jssp.kernels import new_snapshot
from makespan.models.jssp.tabu import start_times
from makespan.models.jssp.workers import Budget
from makespan.models.spec import SearchContext
from makespan.solvers import solve

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def ft06() -> JobShopInstance:
    """Fisher & Thompson's 6x6 shop (optimum 55)."""
    return read_text((DATA / "ft06.txt").read_text(), source="ft06.txt")


@pytest.fixture(scope="module")
def la06() -> JobShopInstance:
    """Lawrence's 15x5 shop (optimum 926, its trivial lower bound)."""
    found = MODEL.load_named("la06")
    assert found is not None and found.trivial_lower_bound == 926
    return found


@pytest.fixture(scope="module")
def la01() -> JobShopInstance:
    """Lawrence's 10x5 shop (optimum 666)."""
    return read_text((DATA / "la01.txt").read_text(), source="la01.txt")


def _elite(instance: JobShopInstance, rule: str) -> elite.Elite:
    found = giffler_thompson(instance, rule)
    return elite.Elite(found.makespan, found.starts, elite.machine_ranks(instance, found.starts))


def _brute_distance(instance: JobShopInstance, a: elite.Elite, b: elite.Elite) -> int:
    machines = [op.fixed[0] for job in instance.jobs for op in job]
    return sum(
        1
        for u, v in itertools.combinations(range(len(machines)), 2)
        if machines[u] == machines[v] and (a.rank[u] < a.rank[v]) != (b.rank[u] < b.rank[v])
    )


def test_ranks_number_each_machine_in_start_order(ft06: JobShopInstance) -> None:
    found = best_dispatch(ft06)
    ranks = elite.machine_ranks(ft06, found.starts)
    ops = [
        (op.fixed[0], s)
        for job, row in zip(ft06.jobs, found.starts, strict=True)
        for op, s in zip(job, row, strict=True)
    ]
    for m in range(ft06.num_machines):
        on_m = [k for k, (machine, _) in enumerate(ops) if machine == m]
        by_start = sorted(on_m, key=lambda k: ops[k][1])
        assert [int(ranks[k]) for k in by_start] == list(range(len(on_m)))


def test_distance_counts_the_pairs_ordered_differently(ft06: JobShopInstance) -> None:
    a, b = _elite(ft06, "spt"), _elite(ft06, "mwkr")
    assert elite.distance(ft06, a, a) == 0
    assert elite.distance(ft06, a, b) == elite.distance(ft06, b, a) == _brute_distance(ft06, a, b)
    assert elite.distance(ft06, a, b) > 0


@pytest.mark.parametrize("seed", range(4))
def test_relinking_moves_part_of_the_way_and_stays_feasible(
    la01: JobShopInstance, seed: int
) -> None:
    a, b = _elite(la01, "spt"), _elite(la01, "mwkr")
    total = elite.distance(la01, a, b)
    graph = elite.relink(la01, a, b, 0.5, random.Random(seed))
    starts = start_times(graph, new_snapshot(graph), la01)
    solution = JobShopSolution.from_starts(la01, starts)
    assert check(la01, solution).feasible
    between = elite.Elite(solution.makespan, starts, elite.machine_ranks(la01, starts))
    assert elite.distance(la01, between, b) == total - int(0.5 * total)
    assert elite.distance(la01, a, between) == int(0.5 * total)


def test_the_pool_keeps_the_best_distinct_schedules(la01: JobShopInstance) -> None:
    pool = elite.ElitePool(la01)
    schedules = [giffler_thompson(la01, rule) for rule in ("spt", "mwkr", "lpt", "mopnr")]
    for found in schedules + schedules:
        pool.offer(found.makespan, found.starts)
    distinct = {found.starts for found in schedules}
    assert len(pool.members) == min(elite.POOL_SIZE, len(distinct))
    assert [m.makespan for m in pool.members] == sorted(m.makespan for m in pool.members)
    assert pool.pair(random.Random(0)) is not None


@pytest.mark.parametrize("workers", [1, 2])
def test_search_hands_over_checked_improvements_and_proves_the_bound(
    la06: JobShopInstance, workers: int
) -> None:
    start = JobShopSolution.from_starts(la06, giffler_thompson(la06, "spt").starts)
    seen: list[tuple[str, float]] = []

    def on_solution(method: str, solution: JobShopSolution, objective: float) -> None:
        report = check(la06, solution)
        assert report.feasible and report.objective == objective == solution.makespan
        seen.append((method, objective))

    gains: Counter[str] = Counter()
    budget = Budget(time.monotonic() + 20, lambda: False, workers, 0, on_solution)
    answer = elite.elite_search(la06, start, budget, gains)
    assert answer.proven_optimal and answer.objective == 926 == la06.trivial_lower_bound
    assert answer.solution is not None and check(la06, answer.solution).objective == 926
    assert seen and all(method == elite.METHOD for method, _ in seen)
    objectives = [objective for _, objective in seen]
    assert objectives == sorted(set(objectives), reverse=True) and objectives[-1] == 926
    assert sum(gains.values()) == start.makespan - 926


def test_search_stops_when_told() -> None:
    ft10 = MODEL.load_named("ft10")
    assert ft10 is not None
    start = JobShopSolution.from_starts(ft10, giffler_thompson(ft10, "spt").starts)
    began = time.monotonic()
    answer = elite.elite_search(ft10, start, Budget(began + 30, lambda: True, 2))
    assert time.monotonic() - began < 2 and answer.solution is None
    assert not answer.proven_optimal and answer.bound == ft10.trivial_lower_bound


def test_tiny_shops_are_left_to_cp_sat(ft06: JobShopInstance) -> None:
    assert ft06.num_operations <= elite.EXACT_MAX_OPERATIONS
    start = JobShopSolution.from_starts(ft06, giffler_thompson(ft06, "spt").starts)
    began = time.monotonic()
    answer = elite.elite_search(ft06, start, Budget(began + 30, lambda: False, 2))
    assert time.monotonic() - began < 0.5 and answer.solution is None


def test_kind_search_runs_it_on_classic_shops(la06: JobShopInstance) -> None:
    start = JobShopSolution.from_starts(la06, giffler_thompson(la06, "spt").starts)
    seen: list[float] = []
    context = SearchContext(1, 0, lambda m, s, o: seen.append(o), start)
    answer = lns.kind_search(la06, 10.0, lambda: False, start.makespan, context)
    assert answer.method == elite.METHOD and answer.objective == 926 and answer.proven_optimal
    assert seen[-1] == 926 and MODEL.search_with is lns.KindSearch.search_with


def test_a_solve_of_a_classic_shop_ends_checked_with_a_proven_bound() -> None:
    instance = MODEL.load_named("ft10")
    assert instance is not None
    result = solve("jssp", instance, time_limit_s=4, workers=2, seed=1)
    assert result.solution is not None
    report = check(instance, JobShopSolution.model_validate(result.solution))
    assert report.feasible and report.objective == result.objective
    assert result.bound is not None and result.objective is not None
    assert instance.trivial_lower_bound <= result.bound <= result.objective


def test_the_classic_search_gives_its_lns_share_to_cp_sat_steps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ta21 = MODEL.load_named("ta21")
    assert ta21 is not None and ta21.num_operations > elite.STALL_MAX_OPERATIONS
    monkeypatch.setattr(lns, "CLASSIC_LNS_SHARE", 1.0)  # the whole search to the LNS
    start = JobShopSolution.from_starts(ta21, best_dispatch(ta21).starts)
    seen: list[float] = []

    def on_solution(method: str, solution: JobShopSolution, objective: float) -> None:
        assert method == lns.METHOD and check(ta21, solution).objective == objective
        seen.append(objective)

    gains: Counter[str] = Counter()
    budget = Budget(time.monotonic() + 3, lambda: False, 2, 0, on_solution)
    answer = lns.classic_search(ta21, start, budget, gains=gains)
    assert answer.method == lns.METHOD and answer.solution is not None
    assert check(ta21, answer.solution).objective == answer.objective == seen[-1]
    assert gains[lns.METHOD] == start.makespan - answer.objective > 0
    assert answer.bound == ta21.trivial_lower_bound and not answer.proven_optimal
