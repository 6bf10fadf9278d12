"""The job-shop checker catches every kind of broken schedule."""

from __future__ import annotations

from typing import Any

import pytest

from makespan.models.jssp.check import check
from makespan.models.jssp.instance import JobShopInstance, JobShopSolution

INSTANCE = JobShopInstance.model_validate(
    {
        "num_machines": 2,
        "jobs": [
            [{"machine": 0, "duration": 3}, {"machine": 1, "duration": 2}],
            [{"machine": 1, "duration": 2}, {"machine": 0, "duration": 4}],
        ],
    }
)
GOOD = [[0, 3], [0, 3]]  # makespan 7


def _solution(starts: list[list[int]], **changes: Any) -> JobShopSolution:
    solution = JobShopSolution.from_starts(INSTANCE, starts)
    return solution.model_copy(update=changes)


def test_feasible_schedule_passes_with_its_makespan() -> None:
    report = check(INSTANCE, _solution(GOOD))
    assert report.feasible and report.objective == 7


@pytest.mark.parametrize(
    ("starts", "message"),
    [
        ([[0, 2], [0, 5]], "starts before"),
        ([[0, 3], [0, 2]], "overlap on machine 0"),
        ([[0, 3], [3, 5]], "overlap on machine 1"),
    ],
)
def test_broken_schedules_fail(starts: list[list[int]], message: str) -> None:
    report = check(INSTANCE, _solution(starts))
    assert not report.feasible and report.objective is None
    assert any(message in v for v in report.violations)


def test_wrong_makespan_claim_fails() -> None:
    report = check(INSTANCE, _solution(GOOD, makespan=6))
    assert not report.feasible and "claimed makespan" in report.violations[0]


def test_missing_duplicate_and_mislabelled_operations_fail() -> None:
    ops = list(_solution(GOOD).operations)
    missing = check(INSTANCE, JobShopSolution(makespan=7, operations=tuple(ops[1:])))
    assert any("not scheduled" in v for v in missing.violations)
    twice = check(INSTANCE, JobShopSolution(makespan=7, operations=(*ops, ops[0])))
    assert any("twice" in v for v in twice.violations)
    moved = ops[0].model_copy(update={"machine": 1})
    wrong = check(INSTANCE, JobShopSolution(makespan=7, operations=(moved, *ops[1:])))
    assert any("runs on machine 1" in v for v in wrong.violations)
    short = ops[0].model_copy(update={"end": 1})
    assert any(
        "lasts 1" in v
        for v in check(
            INSTANCE, JobShopSolution(makespan=7, operations=(short, *ops[1:]))
        ).violations
    )


def test_zero_length_operations_may_sit_inside_others() -> None:
    instance = JobShopInstance.model_validate(
        {
            "num_machines": 1,
            "jobs": [[{"machine": 0, "duration": 4}], [{"machine": 0, "duration": 0}]],
        }
    )
    report = check(instance, JobShopSolution.from_starts(instance, [[0], [2]]))
    assert report.feasible and report.objective == 4
