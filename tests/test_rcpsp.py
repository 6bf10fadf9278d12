"""RCPSP model pieces: validation, file formats, checker, bounds and heuristics (no solving)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from makespan.models.errors import InstanceError
from makespan.models.rcpsp import MODEL, RcpspInstance, RcpspSolution, formats, heuristics
from makespan.models.rcpsp.bounds import lower_bound
from makespan.models.rcpsp.check import infeasibility_reason
from makespan.models.rcpsp.compile import compile_instance
from makespan.models.rcpsp.network import build_network
from makespan.models.registry import infer_kind

FEATURES = "rcpsp_features.json"
SMALL = "rcpsp_small.sm"


def _document(data: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((data / FEATURES).read_text())
    return document


def _features(data: Path) -> RcpspInstance:
    return MODEL.read_file(data / FEATURES)


# --------------------------------------------------------------------------------------------
# Validation and schema
# --------------------------------------------------------------------------------------------


def _edit(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy with ``value`` at the dotted ``path`` (list indices as numbers)."""
    copy: dict[str, Any] = json.loads(json.dumps(document))
    *parents, last = path.split(".")
    node: Any = copy
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return copy


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("activities.2.id", 2, "activities.2.id"),
        ("activities.3.successors", [6, 99], "activities.3.successors"),
        ("activities.1.demands", {"R9": 1}, "activities.1.demands"),
        ("activities.5.successors", [1], "activities.0.successors"),
        ("activities.3.release", 13, "activities.3.deadline"),
        ("resources.0.downtime", [[8, 6]], "resources.0.downtime"),
        ("resources.0.downtime", [[1, 5], [4, 6]], "resources.0.downtime"),
        ("resources.1.name", "R1", "resources.1.name"),
        ("disjunctive.0", [3, 42], "disjunctive.0.1"),
        ("disjunctive.0", [3, 3], "disjunctive.0"),
        ("lags.0.to", 77, "lags.0.to"),
        ("lags.0.min", 9, "lags.0"),
        ("lags.1.max", 0, "lags.1"),
    ],
)
def test_validation_names_the_field(data: Path, path: str, value: Any, field: str) -> None:
    with pytest.raises(InstanceError, match=rf"{field}:"):
        MODEL.parse_instance(_edit(_document(data), path, value))


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("activities.1.duration", -1, "activities.1.duration"),
        ("activities.1.demands", {"R1": -2}, "activities.1.demands.R1"),
        ("resources.0.capacity", "x", "resources.0.capacity"),
        ("activities.1.colour", "red", "activities.1.colour"),
    ],
)
def test_type_errors_name_the_field(data: Path, path: str, value: Any, field: str) -> None:
    with pytest.raises(InstanceError) as caught:
        MODEL.parse_instance(_edit(_document(data), path, value))
    assert caught.value.field == field


def test_schema_and_example() -> None:
    schema = MODEL.json_schema()
    assert {"resources", "activities", "disjunctive", "lags"} <= set(schema["properties"])
    lag = schema["$defs"]["Lag"]["properties"]
    assert {"from", "to", "min", "max"} <= set(lag)
    for example in schema["examples"]:
        assert MODEL.parse_instance(example).num_activities == 4


def test_json_form_round_trips_with_contract_names(data: Path) -> None:
    instance = _features(data)
    text = formats.write_text(instance, "json")
    assert '"from": 2' in text
    assert formats.read_text(text, None, "again.json") == instance
    assert MODEL.parse_instance(instance.model_dump(mode="json")) == instance


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def test_psplib_file_keeps_job_numbers_and_dummies(data: Path) -> None:
    instance = MODEL.read_file(data / SMALL)
    assert instance.name == "rcpsp_small"
    assert [a.id for a in instance.activities] == [1, 2, 3, 4, 5, 6]
    assert [r.capacity for r in instance.resources] == [3, 2]
    second = instance.activities[1]
    assert (second.duration, second.demands, second.successors) == (3, {"R1": 2, "R2": 1}, (5,))
    assert instance.activities[-1].duration == 0


@pytest.mark.parametrize("format", ["psplib", "patterson", "json"])
def test_text_formats_round_trip(data: Path, format: str) -> None:
    instance = MODEL.read_file(data / SMALL)
    text = formats.write_text(instance, format)
    again = formats.read_text(text, format, f"again.{format}")
    assert again.activities == instance.activities and again.resources == instance.resources


def test_text_formats_refuse_what_they_cannot_hold(data: Path) -> None:
    with pytest.raises(ValueError, match="plain RCPSP"):
        formats.write_text(_features(data), "patterson")


def test_format_and_kind_inference(data: Path) -> None:
    text = (data / SMALL).read_text()
    patterson = formats.write_patterson(MODEL.read_file(data / SMALL))
    assert formats.infer_format(text, "x.txt") == "psplib"
    assert formats.infer_format(patterson, "x.rcp") == "patterson"
    assert formats.infer_format("{}", "x") == "json"
    assert infer_kind(text, "x.sm") == infer_kind(patterson, "x.rcp") == "rcpsp"
    assert infer_kind(text, "x.txt") == "rcpsp"
    assert infer_kind((data / FEATURES).read_text(), "x.json") == "rcpsp"
    assert formats.sniff(patterson)
    assert not formats.sniff("2 2\n1 2\n3 4\n1 2\n2 1\n")


PATTERSON = "3 1\n4\n0 0 1 2\n3 2 1 3\n0 0 0\n"


def test_patterson_reader_wraps_activity_rows() -> None:
    wrapped = "3 1\n4\n0 0\n1 2\n3 2 1\n3\n0 0 0\n"
    assert formats.read_text(wrapped, "patterson") == formats.read_text(PATTERSON, "patterson")


SM_LINES = (Path(__file__).parent / "data" / SMALL).read_text().splitlines(keepends=True)


def _sm(replace: dict[int, str] | None = None, cut: int | None = None) -> str:
    lines = list(SM_LINES[:cut])
    for number, text in (replace or {}).items():
        lines[number - 1] = text + "\n"
    return "".join(lines)


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        (PATTERSON.replace("3 2 1 3", "3 x 1 3"), "bad.rcp", ":4: expected an integer, found 'x'"),
        (PATTERSON.replace("3 2 1 3", "3 2 1 9"), "bad.rcp", ":4: a successor of activity 2"),
        (PATTERSON[:-3], "bad.rcp", ":5: file ends early; expected the number of successors"),
        (PATTERSON + "7\n", "bad.rcp", ":6: unexpected data after the last activity"),
        (PATTERSON.replace("4\n", "4 5\n", 1), "bad.rcp", ":2: expected the capacities"),
        ("3 1\n4\n0 0 1 2\n3 2 1 3\n0 0 1 1\n", "c.rcp", ":3: activities.0.successors: the"),
        (_sm({20: "   2        1          2           5"}), "bad.sm", ":20: job 2 lists 1 succ"),
        (_sm({31: "  3      1     4       2    z"}), "bad.sm", ":31: expected an integer"),
        (_sm({19: "   1        2          3           2   3   4"}), "bad.sm", ":19: job 1 has 2"),
        (_sm(cut=33), "cut.sm", ":33: file ends early; expected the 'AVAILABILITIES' section"),
        (_sm(cut=22), "cut.sm", ":22: file ends early; expected the 'REQUESTS/DURATIONS'"),
        (_sm({6: "jobs (incl. supersource/sink ):  7"}), "bad.sm", ":25: expected 7 precedence"),
        (_sm({38: "    3"}), "bad.sm", ":38: expected 2 availabilities"),
    ],
)
def test_bad_files_name_file_and_line(tmp_path: Path, text: str, name: str, expected: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InstanceError) as caught:
        MODEL.read_file(path)
    assert str(caught.value).startswith(f"{path}{expected}")


def test_j30_files_parse_and_round_trip(shared_benchmarks: Path) -> None:
    folder = shared_benchmarks / "rcpsp" / "j30"
    for path in sorted(folder.glob("j30_1_*.rcp")):
        instance = MODEL.read_file(path)
        assert instance.num_activities == 32 and len(instance.resources) == 4
        for format in ("patterson", "psplib"):
            again = formats.read_text(formats.write_text(instance, format), format)
            assert again.activities == instance.activities


# --------------------------------------------------------------------------------------------
# Checker
# --------------------------------------------------------------------------------------------

OPTIMAL = [0, 0, 2, 0, 8, 6, 10]
"""An optimal schedule of the features instance (makespan 10), by activity position."""


def _with(instance: RcpspInstance, **moved: int) -> RcpspSolution:
    """The optimal schedule with some activities (``a<id>=start``) moved."""
    starts = list(OPTIMAL)
    for key, start in moved.items():
        starts[instance.position[int(key[1:])]] = start
    return RcpspSolution.from_starts(instance, starts)


def test_checker_accepts_the_optimal_schedule(data: Path) -> None:
    instance = _features(data)
    report = MODEL.check(instance, _with(instance))
    assert report.feasible and report.objective == 10


@pytest.mark.parametrize(
    ("moved", "expected"),
    [
        ({"a3": 0}, "activity 3 starts at 0, before its release 1"),
        ({"a4": 11, "a6": 13, "a5": 13, "a7": 16}, "activity 4 ends at 13, after its deadline"),
        ({"a5": 5}, "activity 5 starts before its predecessor 3 ends"),
        ({"a6": 3}, "start(6) - start(2) = 3 is outside [4, 7]"),
        ({"a6": 9, "a7": 12}, "start(6) - start(2) = 9 is outside [4, 7]"),
        ({"a3": 3}, "disjunctive activities 3 and 6 overlap"),
        ({"a5": 6}, "activity 5 uses R1 during its downtime [6, 8)"),
        ({"a5": 4}, "resource R1 is loaded 4 > capacity 3 at time 4"),
        ({"a4": 2}, "resource R2 is loaded 3 > capacity 2 at time 2"),
    ],
)
def test_checker_catches_each_violation(data: Path, moved: dict[str, int], expected: str) -> None:
    instance = _features(data)
    report = MODEL.check(instance, _with(instance, **moved))
    assert not report.feasible and report.objective is None
    assert any(expected in v for v in report.violations), report.violations


def test_checker_catches_bad_entries(data: Path) -> None:
    instance = _features(data)
    good = _with(instance).model_dump()
    entries = good["activities"]
    cases = {
        "lasts 4, not 3": {**good, "activities": [{**entries[1], "end": 4}, *entries[2:]]},
        "activity 1 is not scheduled": {**good, "activities": entries[1:]},
        "activity 1 is scheduled twice": {**good, "activities": [entries[0], *entries]},
        "activity 42 does not exist": {**good, "activities": [*entries, {**entries[0], "id": 42}]},
        "claimed makespan 9": {**good, "makespan": 9},
    }
    for expected, document in cases.items():
        report = MODEL.check(instance, MODEL.parse_solution(document))
        assert any(expected in v for v in report.violations), (expected, report.violations)


# --------------------------------------------------------------------------------------------
# Bounds, infeasibility and compile
# --------------------------------------------------------------------------------------------


def test_lower_bound_counts_downtime(data: Path) -> None:
    document = {
        "resources": [{"name": "M", "capacity": 2, "downtime": [[2, 5]]}],
        "activities": [{"id": i, "duration": 2, "demands": {"M": 1}} for i in range(4)],
    }
    # 8 units of work at 2 per time: [0, 2) then [5, 7) after the downtime.
    assert lower_bound(MODEL.parse_instance(document)) == 7
    assert lower_bound(_features(data)) == 7


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("activities.4.deadline", 6, "activity 5 has deadline 6 but cannot finish before 7"),
        ("activities.6.deadline", 6, "activity 7 has deadline 6 but cannot finish before 7"),
        ("activities.4.demands", {"R1": 4}, "activity 5 needs 4 of resource R1"),
        ("lags.1", {"from": 6, "to": 2, "min": -3}, "form a cycle of positive length"),
    ],
)
def test_infeasibility_reasons(data: Path, path: str, value: Any, expected: str) -> None:
    instance = MODEL.parse_instance(_edit(_document(data), path, value))
    reason = infeasibility_reason(instance)
    assert reason is not None and expected in reason
    assert lower_bound(instance) is None
    assert heuristics.warm_start(instance, time_budget_s=1) is None
    assert compile_instance(instance).index.starts == ()


def test_compile_domains_follow_the_network(data: Path) -> None:
    instance = _features(data)
    compiled = compile_instance(instance, 12)
    variables = [compiled.ir.variables[v.index] for v in compiled.index.starts]
    assert [(v.lb, v.ub) for v in variables][:4] == [(0, 5), (0, 5), (1, 6), (0, 7)]
    makespan = compiled.ir.variables[compiled.index.makespan.index]
    assert (makespan.lb, makespan.ub) == (7, 12)
    assert {k.value for k in compiled.ir.kinds} == {"linear", "cumulative", "no_overlap"}


# --------------------------------------------------------------------------------------------
# Heuristics
# --------------------------------------------------------------------------------------------


def _instances(data: Path) -> list[RcpspInstance]:
    return [_features(data), MODEL.read_file(data / SMALL)]


@pytest.mark.parametrize("scheme", heuristics.SCHEMES)
@pytest.mark.parametrize("rule", heuristics.RULES)
def test_every_scheme_and_rule_passes_the_checker(data: Path, scheme: str, rule: str) -> None:
    for instance in _instances(data):
        project = heuristics.build_project(instance, build_network(instance))
        starts = heuristics.SCHEME_FUNCTIONS[scheme](project, heuristics.priorities(project, rule))
        assert starts is not None
        for candidate in (starts, heuristics.justify(project, starts)):
            solution = RcpspSolution.from_starts(instance, candidate)
            report = MODEL.check(instance, solution)
            assert report.feasible, (scheme, rule, report.violations)
        justified = heuristics.makespan(project, heuristics.justify(project, starts))
        assert justified <= heuristics.makespan(project, starts)


def test_warm_start_is_checked_and_stops_when_told(data: Path) -> None:
    for instance in _instances(data):
        warm = MODEL.warm_start(instance, 2.0, 0, lambda: False)
        assert warm is not None and warm.objective == 10
        assert MODEL.check(instance, warm.solution).objective == warm.objective
    assert heuristics.warm_start(_features(data), time_budget_s=5, should_stop=lambda: True) is None


TRAPPED = json.loads((Path(__file__).parent / "data" / "rcpsp_trapped.json").read_text())
"""Feasible (1 at 5, 2 at 7), but every scheme starts 1 at 0 and then 2 cannot follow it."""


def test_schemes_give_up_on_a_maximum_lag_trap() -> None:
    instance = MODEL.parse_instance(TRAPPED)
    assert infeasibility_reason(instance) is None
    assert heuristics.warm_start(instance, time_budget_s=1) is None
