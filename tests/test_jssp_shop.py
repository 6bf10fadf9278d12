"""Shop scheduling (the job shop's extensions): every field validated naming itself, solved on
every backend with the checker's objective equal to the solver's, checked, dispatched, drawn."""

from __future__ import annotations

import json
import random
import time
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from conftest import BACKENDS, run_makespan

from makespan.models import plotting
from makespan.models.errors import InstanceError
from makespan.models.jssp import MODEL
from makespan.models.jssp.check import check
from makespan.models.jssp.compile import UNHINTED_MAX_OPERATIONS, compile_instance, hint_values
from makespan.models.jssp.flexible import flexible_search
from makespan.models.jssp.formats import write_text
from makespan.models.jssp.instance import JobShopInstance, JobShopSolution
from makespan.models.jssp.shop import SHOP_RULES, best_shop_dispatch, shop_dispatch
from makespan.models.spec import Steering
from makespan.solvers import solve
from makespan.solvers.ir import ConstraintKind

BASE: dict[str, Any] = {
    "num_machines": 2,
    "jobs": [
        [{"machine": 0, "duration": 3}, {"machine": 1, "duration": 2}],
        [{"machine": 1, "duration": 2}, {"machine": 0, "duration": 4}],
        [{"machine": 0, "duration": 2}, {"machine": 1, "duration": 3}],
    ],
}
"""A classic 3 x 2 job shop that every case below extends."""

DUE = {"due": [5, 6, 4], "weight": [1, 2, 3]}
FLEXIBLE_JOBS = [
    [
        {"alternatives": [{"machine": 0, "duration": 3}, {"machine": 1, "duration": 5}]},
        {"machine": 1, "duration": 2},
    ],
    [
        {"machine": 1, "duration": 2},
        {"alternatives": [{"machine": 0, "duration": 4}, {"machine": 1, "duration": 2}]},
    ],
    [{"alternatives": [{"machine": 0, "duration": 2}, {"machine": 1, "duration": 2}]}],
]
SETUPS = [[[0, 2, 1], [2, 0, 3], [1, 1, 0]], [[0, 1, 4], [1, 0, 1], [4, 1, 0]]]

CASES: dict[str, dict[str, Any]] = {
    "flexible": {"jobs": FLEXIBLE_JOBS},
    "release": {"release": [4, 0, 1]},
    "downtime": {"machine_downtime": [[[2, 5]], [[0, 1], [6, 7]]]},
    "setups": {"setup_times": SETUPS},
    "tardiness": {**DUE, "objective": {"total_weighted_tardiness": 1}},
    "completion": {**DUE, "objective": {"total_weighted_completion": 1}},
    "max_lateness": {**DUE, "objective": {"max_lateness": 1}},
    "negative_lateness": {"due": [30, 30, 30], "objective": {"max_lateness": 1}},
    "tardy_jobs": {**DUE, "objective": {"weighted_tardy_jobs": 2}},
    "weighted_sum": {**DUE, "objective": {"makespan": 2, "total_weighted_tardiness": 1}},
    "everything": {
        "jobs": FLEXIBLE_JOBS,
        "release": [0, 1, 2],
        "machine_downtime": [[[5, 7]], []],
        "setup_times": SETUPS,
        **DUE,
        "objective": {"makespan": 1, "total_weighted_tardiness": 1, "weighted_tardy_jobs": 1},
    },
}
"""One case per kind of field, and all of them at once."""


def _instance(case: str) -> JobShopInstance:
    return JobShopInstance.model_validate({**BASE, **CASES[case], "name": case})


# --- the instance ------------------------------------------------------------------------------


def test_a_classic_instance_and_its_solution_keep_their_json() -> None:
    instance = JobShopInstance.model_validate(BASE)
    assert instance.is_classic
    assert json.loads(write_text(instance, "json")) == BASE
    result = solve("jssp", instance, time_limit_s=5)
    assert result.solution is not None and set(result.solution) == {"makespan", "operations"}


def test_the_schema_documents_every_field_with_examples() -> None:
    schema = MODEL.json_schema()
    fields = {"release", "due", "weight", "machine_downtime", "setup_times", "objective"}
    assert fields <= set(schema["properties"])
    for example in schema["examples"]:
        MODEL.parse_instance(example)
    objective = schema["$defs"]["ShopObjective"]["properties"]
    assert set(objective) == {
        "makespan",
        "total_weighted_tardiness",
        "total_weighted_completion",
        "max_lateness",
        "weighted_tardy_jobs",
    }
    assert objective["makespan"]["type"] == "integer"


BAD_FIELDS = [
    ({"release": [0, 1]}, "release", "one value per job"),
    ({"due": [1, 2, 3, 4]}, "due", "one value per job"),
    ({"weight": [1, -1, 1]}, "weight.1", "greater than or equal to 0"),
    ({"weight": [1, 1.5, 1]}, "weight.1", "integer"),
    ({"machine_downtime": [[[5, 5]], []]}, "machine_downtime.0.0", "start < end"),
    ({"machine_downtime": [[]]}, "machine_downtime", "one list of periods per machine"),
    ({"setup_times": [[[0]], [[0]]]}, "setup_times", "setup_times.0: expected a 3 x 3"),
    ({"setup_times": [SETUPS[0]]}, "setup_times", "one matrix per machine"),
    ({"objective": {}}, "objective", "at least one coefficient"),
    ({"objective": {"makespan": 0.5}}, "objective.makespan", "integer"),
    ({"objective": {"speed": 1}}, "objective.speed", "Extra inputs"),
    ({"objective": {"max_lateness": 1}}, None, "due: the objective term max_lateness needs due"),
    (
        {"jobs": [[{"alternatives": [{"machine": 0, "duration": 1}] * 2}]]},
        "jobs.0.0.alternatives",
        "listed twice",
    ),
    (
        {
            "jobs": [
                [{"machine": 0, "duration": 1, "alternatives": [{"machine": 1, "duration": 1}]}]
            ]
        },
        "jobs.0.0",
        "not both",
    ),
    (
        {
            "jobs": [
                [{"alternatives": [{"machine": 0, "duration": 1}, {"machine": 7, "duration": 1}]}]
            ]
        },
        None,
        "jobs.0.0.alternatives.1: machine 7 is out of range",
    ),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD_FIELDS)
def test_bad_fields_are_refused_naming_them(
    change: dict[str, Any], field: str | None, message: str
) -> None:
    with pytest.raises(InstanceError) as caught:
        MODEL.parse_instance({**BASE, **change})
    assert caught.value.field == field
    assert message in str(caught.value)


def test_sums_that_would_not_fit_are_refused() -> None:
    far = {"machine_downtime": [[[0, 10**15]], []]}
    with pytest.raises(InstanceError, match="horizon"):
        MODEL.parse_instance({**BASE, **far})
    heavy = {**DUE, "weight": [10**6] * 3, "objective": {"total_weighted_completion": 10**6}}
    long_jobs = [[{"machine": 0, "duration": 10**9}] * 3] * 3
    with pytest.raises(InstanceError, match="objective: the objective may reach"):
        MODEL.parse_instance({**BASE, **heavy, "jobs": long_jobs})


def test_defaults_and_derived_values() -> None:
    instance = _instance("everything")
    assert not instance.is_classic and instance.is_flexible and instance.has_setups
    assert instance.downtime == (((5, 7),), ())
    assert instance.earliest_completions == (5, 5, 4)
    overlapping = MODEL.parse_instance({**BASE, "machine_downtime": [[[4, 6], [1, 3], [3, 5]], []]})
    assert overlapping.downtime[0] == ((1, 6),)
    # completions 8, 9, 6 against due 5, 6, 4: lateness 3, 3, 2
    values = instance.term_values([8, 9, 6])
    assert values == (9, 1 * 3 + 2 * 3 + 3 * 2, 8 + 18 + 18, 3, 6)
    assert instance.objective_value([8, 9, 6]) == 9 + 15 + 6


# --- solving: every kind of field, every backend, checker == solver ----------------------------


def _assert_checked(instance: JobShopInstance, result: Any) -> None:
    assert result.solution is not None
    solution = MODEL.parse_solution(result.solution)
    report = check(instance, solution)
    assert report.feasible, report.violations
    assert report.objective == result.objective == solution.value()
    if instance.shop_objective.is_makespan:
        assert "objective" not in result.solution
    else:
        assert result.solution["objective"] == result.objective


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_field_solves_to_a_checked_optimum_on_every_backend(case: str) -> None:
    instance = _instance(case)
    optima = {}
    for backend in BACKENDS:
        result = solve(
            "jssp", instance, time_limit_s=60, backend=backend, workers=1, warm_start=False
        )
        assert result.status == "optimal", (backend, result.message)
        _assert_checked(instance, result)
        optima[backend] = result.objective
    warm = solve("jssp", instance, time_limit_s=10, workers=1)
    _assert_checked(instance, warm)
    assert warm.status == "optimal" and warm.warm_start is not None
    assert len({*optima.values(), warm.objective}) == 1, optima


def test_the_fields_change_the_optimum() -> None:
    optimum = {}
    for case in CASES:
        value = solve("jssp", _instance(case), time_limit_s=10).objective
        assert value is not None
        optimum[case] = value
    assert solve("jssp", JobShopInstance.model_validate(BASE), time_limit_s=10).objective == 9
    assert optimum["release"] > 9 and optimum["downtime"] > 9 and optimum["setups"] > 9
    assert optimum["flexible"] < 9 and optimum["negative_lateness"] < 0


def test_setups_compile_to_the_setup_constraint_only_where_positive() -> None:
    ir = compile_instance(_instance("setups")).ir
    assert ConstraintKind.NO_OVERLAP_SETUP in ir.kinds
    zero = [[[0] * 3] * 3] * 2
    plain = compile_instance(MODEL.parse_instance({**BASE, "setup_times": zero})).ir
    assert ConstraintKind.NO_OVERLAP_SETUP not in plain.kinds


def test_small_classic_shops_go_unhinted_to_cp_sat_and_every_other_shop_hinted() -> None:
    def shop(jobs: int, machines: int) -> JobShopInstance:
        rows = [
            [{"machine": (j + k) % machines, "duration": 1 + j * k % 7} for k in range(machines)]
            for j in range(jobs)
        ]
        return MODEL.parse_instance({"num_machines": machines, "jobs": rows})

    small, large = shop(15, 15), shop(16, 15)
    assert small.num_operations == UNHINTED_MAX_OPERATIONS < large.num_operations
    released = _instance("release")
    for instance, hinted in ((small, False), (large, True), (released, True)):
        compiled = compile_instance(instance)
        start = MODEL.warm_start(instance, 0.1, 0, lambda: False)
        assert start is not None
        solution = start.solution
        values = hint_values(instance, compiled, solution)
        assert values and all(v >= 0 for v in values.values())
        assert dict(MODEL.hint(instance, compiled, solution, "cpsat")) == (values if hinted else {})
        assert dict(MODEL.hint(instance, compiled, solution, "highs")) == values


def test_a_hint_outside_the_domains_is_left_out() -> None:
    instance = _instance("release")
    compiled = compile_instance(instance)
    late = JobShopSolution.from_starts(instance, [[10**6, 10**6 + 3], [0, 2], [2, 6]])
    hints = MODEL.hint(instance, compiled, late, "cpsat")
    assert compiled.index.starts[0][0].index not in hints
    assert hints[compiled.index.starts[1][0].index] == 0


# --- the checker ---------------------------------------------------------------------------------


def _ops(instance: JobShopInstance, rows: list[list[tuple[int, int]]]) -> JobShopSolution:
    """A solution from (machine, start) per operation."""
    return JobShopSolution.from_starts(
        instance,
        [[s for _, s in row] for row in rows],
        [[m for m, _ in row] for row in rows],
    )


def test_checker_recomputes_the_objective() -> None:
    instance = _instance("tardiness")
    good = _ops(instance, [[(0, 0), (1, 3)], [(1, 0), (0, 3)], [(0, 7), (1, 9)]])
    report = check(instance, good)
    # completions 5, 7, 12 against due 5, 6, 4, weights 1, 2, 3: tardiness 0 + 2 + 24
    assert report.feasible and report.objective == 26 == good.objective
    lying = good.model_copy(update={"objective": 20})
    assert "claimed objective 20" in check(instance, lying).violations[0]


@pytest.mark.parametrize(
    ("case", "rows", "message"),
    [
        ("release", [[(0, 0), (1, 3)], [(1, 0), (0, 3)], [(0, 7), (1, 9)]], "before its release 4"),
        (
            "downtime",
            [[(0, 5), (1, 8)], [(1, 1), (0, 8)], [(0, 1), (1, 3)]],
            "runs in [1, 3) on machine 0, over its downtime [2, 5)",
        ),
        ("setups", [[(0, 0), (1, 3)], [(1, 0), (0, 3)], [(0, 7), (1, 9)]], "before its setup of 2"),
    ],
)
def test_checker_catches_each_new_violation(
    case: str, rows: list[list[tuple[int, int]]], message: str
) -> None:
    report = check(_instance(case), _ops(_instance(case), rows))
    assert not report.feasible
    assert any(message in v for v in report.violations), report.violations


def test_checker_catches_a_machine_an_operation_cannot_run_on() -> None:
    instance = _instance("flexible")
    good = _ops(instance, [[(0, 0), (1, 3)], [(1, 0), (0, 3)], [(1, 5)]])
    assert check(instance, good).feasible
    moved = tuple(
        op.model_copy(update={"machine": 0}) if (op.job, op.index) == (1, 0) else op
        for op in good.operations
    )
    report = check(instance, good.model_copy(update={"operations": moved}))
    assert "operation (1, 0) runs on machine 0, not 1" in report.violations
    nowhere = tuple(op.model_copy(update={"machine": 99}) for op in good.operations)
    report = check(_instance("everything"), good.model_copy(update={"operations": nowhere}))
    assert not report.feasible and "runs on machine 99, not 0 or 1" in report.violations[0]


# --- dispatching ---------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", SHOP_RULES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_rule_dispatches_a_feasible_schedule(case: str, rule: str) -> None:
    instance = _instance(case)
    schedule = shop_dispatch(instance, rule)
    solution = JobShopSolution.from_starts(instance, schedule.starts, schedule.machines)
    report = check(instance, solution)
    assert report.feasible, report.violations
    assert report.objective == schedule.objective == solution.value()
    assert shop_dispatch(instance, rule) == schedule  # deterministic


def test_best_dispatch_keeps_the_best_rule_and_randomised_runs_only_improve() -> None:
    instance = _instance("tardiness")
    best = best_shop_dispatch(instance, 0.0, 0, lambda: False)
    rules = ("atc", "edd", "mslack", "wspt", "mwkr")
    assert best.objective == min(shop_dispatch(instance, r).objective for r in rules)
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 50

    randomised = best_shop_dispatch(instance, float("inf"), 0, stop)
    assert randomised.objective <= best.objective


# --- pictures and the command line ---------------------------------------------------------------


def test_the_picture_shows_machines_breaks_setups_due_dates_and_tardy_jobs(
    artifacts: Path,
) -> None:
    instance = _instance("everything")
    result = solve("jssp", instance, time_limit_s=10, workers=1)
    svg = plotting.plot_result(MODEL, instance, result, "svg")
    (artifacts / "plot-jssp-shop.svg").write_bytes(svg)
    (artifacts / "plot-jssp-shop.png").write_bytes(
        plotting.plot_result(MODEL, instance, result, "png")
    )
    ids = [element.attrib["id"] for element in ET.fromstring(svg).iter() if "id" in element.attrib]
    assert len(ids) == len(set(ids))
    assert {"gantt", "downtime", "setups", "due-dates", "tardy", "job-0", "makespan"} <= set(ids)
    text = svg.decode()
    assert "downtime" in text and "setup" in text and "tardy job" in text
    assert plotting.plot_result(MODEL, instance, result, "svg") == svg, "not deterministic"
    # The operations are drawn on the machines the solution chose.
    solution = MODEL.parse_solution(result.solution)  # type: ignore[arg-type]
    assert {op.machine for op in solution.operations} == {0, 1}


def test_makespan_solves_a_flexible_benchmark_by_name_and_file(
    makespan_command: list[str], shared_benchmarks: Path, tmp_path: Path
) -> None:
    named = run_makespan(
        makespan_command, "solve", "mk01", "--time-limit", "4", "--json", cwd=tmp_path
    )
    assert named.returncode == 0, named.stderr
    result = json.loads(named.stdout)
    assert 40 <= result["objective"] <= 45
    assert "objective" not in result["solution"]  # the plain makespan
    path = shared_benchmarks / "fjsp" / "KacemHammadiBorne2002" / "kacem1.txt"
    by_file = run_makespan(
        makespan_command, "solve", str(path), "--json", "--time-limit", "3", cwd=tmp_path
    )
    assert by_file.returncode == 0, by_file.stderr
    assert json.loads(by_file.stdout)["objective"] == 11


def _random_flexible(jobs: int, machines: int, seed: int) -> JobShopInstance:
    rng = random.Random(seed)
    rows = []
    for _ in range(jobs):
        row = []
        for _ in range(machines):
            chosen = rng.sample(range(machines), rng.randint(1, 3))
            row.append(
                {"alternatives": [{"machine": m, "duration": rng.randint(0, 9)} for m in chosen]}
            )
        rows.append(row)
    return JobShopInstance.model_validate({"num_machines": machines, "jobs": rows})


@pytest.mark.parametrize("seed", range(4))
def test_the_flexible_search_reassigns_and_never_worsens(seed: int) -> None:
    instance = _random_flexible(8, 5, seed)
    start = shop_dispatch(instance, "mwkr")
    found = flexible_search(
        instance, start, deadline=float("inf"), seed=seed, should_stop=lambda: False, max_rounds=80
    )
    assert found.objective <= start.objective
    solution = JobShopSolution.from_starts(instance, found.starts, found.machines)
    report = check(instance, solution)
    assert report.feasible and report.objective == found.objective, report.violations
    again = flexible_search(
        instance, start, deadline=float("inf"), seed=seed, should_stop=lambda: False, max_rounds=80
    )
    assert again == found  # deterministic for a seed


def test_warm_starts_say_how_they_were_made_and_keep_their_budget() -> None:
    flexible = _random_flexible(12, 6, 7)
    started = time.monotonic()
    warm = MODEL.warm_start(flexible, 1.0, 0, lambda: False)
    assert warm is not None and time.monotonic() - started < 1.5
    assert "+tabu" in warm.method
    due = MODEL.warm_start(_instance("everything"), 0.5, 0, lambda: False)
    assert due is not None and "tabu" not in due.method  # handed to the exact solver
    assert due.method.split("+")[0] in ("atc", "edd", "mslack", "wspt", "mwkr")


# --- re-planning a shop after a disruption -----------------------------------------------------


def _disrupted(case: str, reference: JobShopSolution, machine: int) -> tuple[JobShopInstance, int]:
    """The case with ``machine`` down for 4 from the end of the work started before t = 2, and
    that t."""
    start = max(op.end for op in reference.operations if op.start < 2)
    document = _instance(case).model_dump(mode="json", exclude_none=True)
    downtime = document.get("machine_downtime") or [[] for _ in range(document["num_machines"])]
    downtime[machine] = [*downtime[machine], [start, start + 4]]
    return JobShopInstance.model_validate({**document, "machine_downtime": downtime}), 2


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_repair_keeps_the_fixings_and_fits_the_disruption(case: str) -> None:
    yesterday = solve("jssp", _instance(case), time_limit_s=10).solution
    assert yesterday is not None
    reference = MODEL.parse_solution(yesterday)
    for machine in (0, 1):
        instance, t = _disrupted(case, reference, machine)
        fixed = MODEL.fixed_before(reference, t)
        repaired = MODEL.repair(instance, Steering(fixed, reference, Fraction(1)))
        assert repaired is not None, (case, machine)
        assert check(instance, repaired).feasible, check(instance, repaired).violations
        assert MODEL.kept(instance, repaired, fixed) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_disruption_is_replanned_near_yesterday_keeping_what_started(backend: str) -> None:
    yesterday = solve("jssp", _instance("everything"), time_limit_s=10).solution
    assert yesterday is not None
    reference = MODEL.parse_solution(yesterday)
    instance, t = _disrupted("everything", reference, 0)
    deviations = []
    for weight in (0, 1, 100):
        result = solve(
            "jssp",
            instance,
            time_limit_s=30,
            backend=backend,
            workers=1,
            reference=yesterday,
            fix_before=t,
            stability_weight=weight,
        )
        assert result.status == "optimal", result.message
        solution = MODEL.parse_solution(result.solution or {})
        assert check(instance, solution).feasible
        assert MODEL.kept(instance, solution, MODEL.fixed_before(reference, t)) == []
        deviation = MODEL.deviation(instance, solution, reference)
        assert (result.solution or {})["deviation"] == deviation
        assert result.objective == solution.value() + weight * deviation
        deviations.append(deviation)
    assert deviations[0] >= deviations[1] >= deviations[2] and deviations[0] > deviations[2]


def test_a_fixing_that_runs_into_downtime_names_both() -> None:
    instance = _instance("downtime")  # machine 0 is down over [2, 5)
    fixed = {"operations": [{"job": 0, "index": 0, "start": 1, "machine": 0}]}
    result = solve("jssp", instance, time_limit_s=10, fixed=fixed)
    assert result.status == "infeasible"
    assert sorted(item.constraint for item in result.conflict or []) == ["downtime", "fixed"]


def test_a_flexible_operation_fixed_to_a_machine_runs_there() -> None:
    instance = _instance("flexible")
    fixed = {"operations": [{"job": 0, "index": 0, "machine": 1}]}
    result = solve("jssp", instance, time_limit_s=10, fixed=fixed)
    assert result.status == "optimal" and result.solution is not None
    first = next(op for op in result.solution["operations"] if (op["job"], op["index"]) == (0, 0))
    assert first["machine"] == 1 and first["end"] - first["start"] == 5
