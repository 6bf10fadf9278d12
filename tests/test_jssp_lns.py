"""The job shop's large-neighbourhood search (:mod:`makespan.models.jssp.lns`): where it runs,
what a step keeps, checked improvements, a proof on a small shop, and its part in a solve."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from makespan.models.jssp import MODEL, lns
from makespan.models.jssp.check import check
from makespan.models.jssp.compile import compile_instance
from makespan.models.jssp.instance import JobShopInstance, JobShopSolution
from makespan.models.jssp.shop import best_shop_dispatch
from makespan.models.jssp.workers import Budget
from makespan.models.spec import CooperativeSearch, SearchContext
from makespan.solvers import Incumbent, solve

FT06_LIKE = {
    "num_machines": 2,
    "jobs": [
        [{"machine": 0, "duration": 3}, {"machine": 1, "duration": 2}],
        [{"machine": 1, "duration": 2}, {"machine": 0, "duration": 4}],
    ],
}


def due_date_shop(jobs: int, machines: int, seed: int) -> JobShopInstance:
    """A flexible shop of ``jobs`` x ``machines`` with releases, tight due dates, weights,
    one downtime period per machine and metric setups, under the weighted tardiness."""
    rng = random.Random(seed)
    rows: list[list[dict[str, Any]]] = []
    for _ in range(jobs):
        row: list[dict[str, Any]] = []
        for _ in range(machines):
            chosen = rng.sample(range(machines), rng.randint(1, 2))
            options = [{"machine": m, "duration": rng.randint(2, 12)} for m in chosen]
            row.append(options[0] if len(options) == 1 else {"alternatives": options})
        rows.append(row)
    family = [rng.randint(0, 4) for _ in range(jobs)]
    return JobShopInstance.model_validate(
        {
            "num_machines": machines,
            "jobs": rows,
            "release": [rng.randint(0, 10) for _ in range(jobs)],
            "due": [rng.randint(15, 40) for _ in range(jobs)],
            "weight": [rng.randint(1, 4) for _ in range(jobs)],
            "machine_downtime": [
                [[s, s + 4]] for s in (rng.randint(0, 30) for _ in range(machines))
            ],
            "setup_times": [[[abs(a - b) for b in family] for a in family]] * machines,
            "objective": {"total_weighted_tardiness": 1},
        }
    )


def _dispatched(instance: JobShopInstance) -> JobShopSolution:
    shop = best_shop_dispatch(instance, time.monotonic() + 0.5, 0, lambda: False)
    return JobShopSolution.from_starts(instance, shop.starts, shop.machines)


def _assert_checked(instance: JobShopInstance, solution: JobShopSolution, value: float) -> None:
    report = check(instance, solution)
    assert report.feasible, report.violations
    assert report.objective == value == solution.value()


def test_the_search_runs_on_the_shops_the_tabu_searches_leave_out() -> None:
    plain = JobShopInstance.model_validate(FT06_LIKE)
    flexible = JobShopInstance.model_validate(
        {
            **FT06_LIKE,
            "jobs": [
                [{"alternatives": [{"machine": 0, "duration": 3}, {"machine": 1, "duration": 4}]}]
            ],
        }
    )
    late = JobShopInstance.model_validate(
        {**FT06_LIKE, "due": [3, 3], "objective": {"total_weighted_tardiness": 1}}
    )
    released = JobShopInstance.model_validate({**FT06_LIKE, "release": [0, 2]})
    assert not lns.applies(plain) and not lns.applies(flexible)
    assert lns.applies(late) and lns.applies(released)
    assert isinstance(MODEL, CooperativeSearch)
    answer = MODEL.search(plain, 5.0, lambda: False, None)
    # The classic shop's own search: its dispatch schedule meets the proven bound, so no
    # schedule comes back and the large-neighbourhood search never runs.
    assert answer.solution is None and answer.method != lns.METHOD and answer.bound == 7


def test_a_step_keeps_the_machines_and_their_order_outside_what_it_frees() -> None:
    instance = due_date_shop(8, 4, 1)
    current = _dispatched(instance)
    free = frozenset((j, k) for j in range(3) for k in range(4))
    found, _ = lns._step(compile_instance(instance), instance, current, free, 5.0, 0)
    assert found is not None
    _assert_checked(instance, found, found.value())
    assert found.value() <= current.value()
    before = {(o.job, o.index): o for o in current.operations}
    after = {(o.job, o.index): o for o in found.operations}
    for key, op in before.items():
        if key not in free:
            assert after[key].machine == op.machine
    for machine in range(instance.num_machines):
        kept = [
            o for o in current.operations if o.machine == machine and (o.job, o.index) not in free
        ]
        order = sorted(kept, key=lambda o: o.start)
        assert sorted(kept, key=lambda o: after[(o.job, o.index)].start) == order


@pytest.mark.parametrize("seed", [0, 1])
def test_the_search_improves_the_dispatch_schedule_with_checked_schedules(seed: int) -> None:
    instance = due_date_shop(10, 4, seed)
    start = _dispatched(instance)
    heard: list[tuple[str, JobShopSolution, float]] = []
    budget = Budget(
        time.monotonic() + 3.0,
        lambda: False,
        2,
        seed,
        lambda method, solution, value: heard.append((method, solution, value)),
    )
    answer = lns.improve(instance, start, budget)
    assert answer.solution is not None and answer.objective is not None
    assert answer.objective < start.value()
    _assert_checked(instance, answer.solution, answer.objective)
    values = [value for _, _, value in heard]
    assert values == sorted(values, reverse=True) and len(set(values)) == len(values)
    assert values[-1] == answer.objective and {method for method, _, _ in heard} == {"lns"}
    for _, solution, value in heard:
        _assert_checked(instance, solution, value)


def test_the_search_proves_a_small_shop_optimal_at_the_exact_optimum() -> None:
    instance = due_date_shop(4, 2, 3)
    exact = solve("jssp", instance, time_limit_s=30, backend="cpsat", warm_start=False)
    assert exact.status == "optimal"
    answer = lns.improve(
        instance, _dispatched(instance), Budget(time.monotonic() + 30, lambda: False)
    )
    assert answer.proven_optimal
    best = answer.objective if answer.solution is not None else _dispatched(instance).value()
    assert best == exact.objective


def test_the_search_stops_when_told() -> None:
    instance = due_date_shop(10, 4, 0)
    began = time.monotonic()
    answer = lns.improve(instance, _dispatched(instance), Budget(began + 30, lambda: True, 2))
    assert time.monotonic() - began < 2 and answer.solution is None


def test_a_due_date_solve_runs_the_search_and_ends_checked() -> None:
    instance = due_date_shop(12, 4, 2)
    heard: list[Incumbent] = []
    result = solve("jssp", instance, time_limit_s=4, workers=2, on_incumbent=heard.append)
    assert result.solution is not None and result.objective is not None
    assert result.warm_start is not None and result.warm_start.objective is not None
    assert result.objective < result.warm_start.objective
    report = check(instance, MODEL.parse_solution(result.solution))
    assert report.feasible and report.objective == result.objective
    objectives = [i.objective for i in heard if i.objective is not None]
    assert objectives == sorted(objectives, reverse=True)
    assert result.bound is not None and result.bound <= result.objective


def test_the_context_without_an_incumbent_starts_from_the_dispatch() -> None:
    instance = due_date_shop(6, 3, 4)
    context: SearchContext[JobShopSolution] = SearchContext(1, 0, lambda *_: None)
    answer = MODEL.search_with(instance, 2.0, lambda: False, None, context)
    if answer.solution is not None:
        assert answer.objective is not None
        _assert_checked(instance, answer.solution, answer.objective)
        assert answer.objective < _dispatched(instance).value()
    else:
        assert answer.proven_optimal
