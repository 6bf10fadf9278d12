"""Hostile input: numbers that would overflow a sum are refused naming the field, and no JSON
value or text makes a reader raise anything but InstanceError."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from makespan.instances import example_path
from makespan.models.errors import InstanceError
from makespan.models.jssp.formats import write_text as write_jssp
from makespan.models.jssp.instance import MAX_DURATION, Operation
from makespan.models.memory_mapping.instance import with_capacity
from makespan.models.rcpsp.formats import write_text as write_rcpsp
from makespan.models.rcpsp.instance import horizon_of
from makespan.models.rcpsp.network import build_network
from makespan.models.registry import MODELS, get_model

DATA = Path(__file__).parent / "data"


def _refused(kind: str, document: Any) -> InstanceError:
    with pytest.raises(InstanceError) as caught:
        get_model(kind).parse_instance(document)
    return caught.value


# --- numbers bounded so that every sum fits ----------------------------------------------------


def test_a_huge_duration_is_refused_naming_it() -> None:
    jobs = [[{"machine": 0, "duration": 10**40}]]
    error = _refused("jssp", {"num_machines": 1, "jobs": jobs})
    assert error.field == "jobs.0.0.duration"
    text = f"1 1\n{10**40}\n1\n"
    with pytest.raises(InstanceError, match=r"x:2: processing time .* is above"):
        get_model("jssp").read_text(text, "taillard", "x")


def test_a_horizon_past_the_limit_is_refused_naming_the_jobs() -> None:
    longest = Operation(machine=0, duration=MAX_DURATION)
    error = _refused("jssp", {"num_machines": 1, "jobs": [[longest] * 1_000_001]})
    assert error.field == "jobs" and "durations sum to" in error.message


def test_too_many_machines_are_refused() -> None:
    error = _refused("jssp", {"num_machines": 10**6, "jobs": [[{"machine": 0, "duration": 1}]]})
    assert error.field == "num_machines"
    with pytest.raises(InstanceError, match=r"x:1: 1000000 machines"):
        get_model("jssp").read_text("1 1000000\n" + "0 1 " * 1000, "orlib", "x")


def test_rcpsp_horizon_is_the_networks_default_horizon() -> None:
    instance = get_model("rcpsp").read_file(example_path("rcpsp/features.json"))
    latest_downtime = max(end for r in instance.resources for _, end in r.downtime)
    network = build_network(instance)
    assert horizon_of(instance) >= network.default_horizon
    if latest_downtime <= max(network.releases + network.deadlines):
        assert horizon_of(instance) == network.default_horizon


def _gpu_document(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "gpu_types": [{"name": "L4", "cost_per_hour": 0.7, "throughput": [[4.0, 2.0]]}],
        "workload": [[0.5, 0.5]],
        "total_request_rate": 10.0,
    }
    document.update(changes)
    return document


def test_a_denormal_throughput_is_refused_naming_it() -> None:
    types = [{"name": "L4", "cost_per_hour": 0.7, "throughput": [[1e-320, 2.0]]}]
    error = _refused("gpu_packing", _gpu_document(gpu_types=types))
    assert error.field == "gpu_types.0.throughput.0.0"
    assert "neither 0 nor at least" in error.message
    error = _refused("gpu_packing", _gpu_document(workload=[[1.0, 5e-324]]))
    assert error.field == "workload.0.1"


def test_a_huge_slice_count_is_refused_before_any_slice_exists() -> None:
    share = 1 / 40_000
    document = _gpu_document(
        workload=[[share] * 200] * 200,
        gpu_types=[{"name": "L4", "cost_per_hour": 0.7, "throughput": [[4.0] * 200] * 200}],
        slice_factor=10_000,
    )
    error = _refused("gpu_packing", document)
    assert "slice_factor: 40000 buckets x 10000" in str(error)


def test_a_bucket_needing_too_many_gpus_is_refused_naming_type_and_bucket() -> None:
    types = [{"name": "L4", "cost_per_hour": 0.7, "throughput": [[4.0, 1e-6]]}]
    error = _refused("gpu_packing", _gpu_document(gpu_types=types, total_request_rate=1e6))
    assert "gpu_types.0.throughput.0.1: L4 needs" in str(error)
    assert "bucket [0, 1]" in str(error)


def test_a_fleet_whose_cost_is_not_exact_is_refused() -> None:
    types = [{"name": "H100", "cost_per_hour": 999999.9999, "throughput": [[1.0, 1.0]]}]
    error = _refused("gpu_packing", _gpu_document(gpu_types=types, total_request_rate=1e6))
    assert "gpu_types: the largest fleet" in str(error)
    capped = [{**types[0], "max_count": 10}]
    get_model("gpu_packing").parse_instance(_gpu_document(gpu_types=capped, total_request_rate=1e6))


def test_a_memory_size_of_2_to_the_50_is_refused_naming_it() -> None:
    buffers = [{"id": "a", "lower": 0, "upper": 1, "size": 2**50}]
    assert _refused("memory_mapping", {"buffers": buffers}).field == "buffers.0.size"
    with pytest.raises(InstanceError, match=r"x:2: size 1125899906842624 out of range"):
        get_model("memory_mapping").read_text(f"id,lower,upper,size\na,0,1,{2**50}\n", None, "x")


def test_a_capacity_given_apart_from_the_instance_is_bounded_too() -> None:
    instance = get_model("memory_mapping").read_file(example_path("memory_mapping/trace60.csv"))
    with pytest.raises(InstanceError, match="capacity must be") as caught:
        with_capacity(instance, 2**70)
    assert caught.value.field == "capacity"
    assert with_capacity(instance, 2**40).capacity == 2**40


def _experts(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "num_gpus": 2,
        "experts_per_gpu": 2,
        "loads": [[10**9] * 4] * 3,
        "routing": [{"layer": 0, "src": e, "dst": e, "tokens": 10**9} for e in range(4)],
    }
    document.update(changes)
    return document


def test_expert_weights_that_overflow_are_refused_naming_the_weight() -> None:
    error = _refused("expert_placement", _experts(balance_weight=999999.9999))
    assert "balance_weight: balance_weight x total load" in str(error)
    link_cost = [[0, 1e6], [999999.9999, 0]]
    error = _refused("expert_placement", _experts(communication_weight=1e6, link_cost=link_cost))
    assert "communication_weight: communication_weight x link costs" in str(error)
    get_model("expert_placement").parse_instance(_experts(balance_weight=1e6))


def test_experts_per_gpu_is_bounded() -> None:
    error = _refused("expert_placement", _experts(experts_per_gpu=10**6))
    assert error.field == "experts_per_gpu"


# --- only InstanceError, whatever the input ------------------------------------------------------

FIELD_NAMES = sorted(
    {
        name
        for model in MODELS.values()
        for name in model.instance_type.model_fields
        if name != "name"
    }
    | {"machine", "duration", "id", "lower", "upper", "size", "alignment", "benefit", "layer"}
    | {"src", "dst", "tokens", "capacity", "downtime", "demands", "successors", "release"}
    | {"deadline", "from", "to", "min", "max", "cost_per_hour", "throughput", "max_count"}
    | {"duration_matrix", "machines_matrix", "gpu_info", "cost", "tputs", "problem"}
    | {"workload_distribution"}
)

NASTY_NUMBERS = [0, 1, -1, 2**53 + 1, 2**62, 2**63, -(2**63) - 1, 10**40, 10**400]


def _too_long_to_print() -> int:
    """An integer of 5001 digits: Python refuses to convert it to text (4300 at most)."""
    return 10**5000


NASTY_FLOATS = [5e-324, 1e-320, -0.0, 1e308, float("nan"), float("inf"), -float("inf"), 0.12345]
NASTY_STRINGS = ["", "5", " 7 ", "1e3", "4.0", "10000", "x", "R1", "9" * 5000]

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(NASTY_NUMBERS),
    st.builds(_too_long_to_print),  # built, not listed: hypothesis cannot repr it
    st.floats(),
    st.sampled_from(NASTY_FLOATS),
    st.text(max_size=6),
    st.sampled_from(NASTY_STRINGS),
)
keys = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=4))
json_values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=20,
)

VALID_DOCUMENTS: dict[str, list[Any]] = {
    "jssp": [
        json.loads((DATA / "ft06.json").read_text()),
        {"duration_matrix": [[1, 2], [3, 4]], "machines_matrix": [[1, 0], [0, 1]]},
    ],
    "rcpsp": [json.loads(example_path("rcpsp/features.json").read_text())],
    "memory_mapping": [json.loads((DATA / "memory_two_level.json").read_text())],
    "expert_placement": [json.loads(example_path("expert_placement/moe_4x16.json").read_text())],
    "gpu_packing": [
        json.loads(example_path("gpu_packing/fleet.json").read_text()),
        {
            "gpu_info": {"A10G": {"cost": 1.01, "tputs": [[2, 1], [5, 2]]}},
            "workload_distribution": [[0.2, 0.1], [0.5, 0.2]],
            "total_request_rate": 30.0,
            "slice_factor": 2,
        },
    ],
}


def _text_files() -> dict[str, list[tuple[str, str]]]:
    la01 = get_model("jssp").read_file(example_path("jssp/la01.txt"))
    small = get_model("rcpsp").read_file(example_path("rcpsp/small.sm"))
    return {
        "jssp": [
            (example_path("jssp/ft06.txt").read_text(), "taillard"),
            (write_jssp(la01, "orlib"), "orlib"),
        ],
        "rcpsp": [
            (example_path("rcpsp/small.sm").read_text(), "psplib"),
            (write_rcpsp(small, "patterson"), "patterson"),
        ],
        "memory_mapping": [
            (example_path("memory_mapping/trace60.csv").read_text(), "minimalloc"),
            ((DATA / "memory_aligned.csv").read_text(), "minimalloc"),
        ],
    }


TEXT_FILES = _text_files()

FUZZ_EXAMPLES = os.environ.get("MAKESPAN_FUZZ_EXAMPLES")
"""Set to fuzz longer, with fresh random examples each run; by default the examples are few and
always the same, so the suite stays fast and deterministic."""

FUZZ = settings(
    max_examples=int(FUZZ_EXAMPLES or 60),
    deadline=None,
    derandomize=FUZZ_EXAMPLES is None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _only_instance_errors(kind: str, document: Any) -> None:
    """Parse ``document`` as a value and as JSON text: it validates, or InstanceError; the
    sizes never raise, and a valid document's size is its instance's."""
    model = get_model(kind)
    size = model.document_size(document)
    assert size >= 0
    try:
        instance = model.parse_instance(document)
    except InstanceError:
        pass
    else:
        assert size == model.size(instance)
    try:
        text = json.dumps(document)
    except ValueError:  # an integer of more than 4300 digits has no text (Python's limit)
        return
    assert model.text_size(text, "json") >= 0
    for fmt in ("json", None):
        with contextlib.suppress(InstanceError):
            model.read_text(text, fmt, "x")


def _mutated(data: st.DataObject, value: Any) -> Any:
    """``value`` with one part, chosen by walking down at random, replaced or removed."""
    if isinstance(value, dict | list) and value and data.draw(st.booleans()):
        key = data.draw(
            st.sampled_from(list(value) if isinstance(value, dict) else range(len(value)))
        )
        if isinstance(value, dict) and data.draw(st.integers(0, 5)) == 0:
            del value[key]
        else:
            value[key] = _mutated(data, value[key])
        return value
    return data.draw(json_values)


@pytest.mark.parametrize("kind", sorted(MODELS))
@FUZZ
@given(document=json_values)
def test_random_json_values_raise_only_instance_errors(kind: str, document: Any) -> None:
    _only_instance_errors(kind, document)


@pytest.mark.parametrize("kind", sorted(MODELS))
@FUZZ
@given(data=st.data())
def test_mutated_valid_documents_raise_only_instance_errors(kind: str, data: st.DataObject) -> None:
    original = data.draw(st.sampled_from(VALID_DOCUMENTS[kind]))
    document = copy.deepcopy(original)
    for _ in range(data.draw(st.integers(1, 3))):
        document = _mutated(data, document)
    _only_instance_errors(kind, document)


NASTY_TOKENS = ["-1", "0", "x", "", "1e9", "99999999999999999999", "9" * 5000, "1.5", "\x00", "#"]


def _mutated_text(data: st.DataObject, text: str) -> str:
    """``text`` with a few tokens replaced by nasty ones, or a line dropped, or cut short."""
    tokens = re.split(r"(\s+)", text) or [""]
    for _ in range(data.draw(st.integers(1, 3))):
        action = data.draw(st.sampled_from(["token", "token", "line", "cut"]))
        if action == "token":
            position = data.draw(st.integers(0, max(0, len(tokens) - 1)))
            tokens[position] = data.draw(st.sampled_from(NASTY_TOKENS) | st.text(max_size=3))
        elif action == "line":
            lines = "".join(tokens).splitlines(keepends=True)
            if lines:
                del lines[data.draw(st.integers(0, len(lines) - 1))]
            tokens = re.split(r"(\s+)", "".join(lines)) or [""]
        else:
            tokens = tokens[: data.draw(st.integers(0, len(tokens)))] or [""]
    return "".join(tokens)


def _read_only_instance_errors(kind: str, text: str, fmt: str | None) -> None:
    """Read ``text``: an instance no larger than its ``text_size``, or InstanceError."""
    model = get_model(kind)
    size = model.text_size(text, fmt)
    try:
        instance = model.read_text(text, fmt, "x")
    except InstanceError:
        return
    assert model.size(instance) <= size


@pytest.mark.parametrize("kind", sorted(TEXT_FILES))
@FUZZ
@given(data=st.data())
def test_mutated_files_raise_only_instance_errors(kind: str, data: st.DataObject) -> None:
    text, fmt = data.draw(st.sampled_from(TEXT_FILES[kind]))
    mutated = _mutated_text(data, text)
    _read_only_instance_errors(kind, mutated, data.draw(st.sampled_from([fmt, None])))


@pytest.mark.parametrize("kind", sorted(MODELS))
@FUZZ
@given(text=st.text(max_size=40), fmt=st.none() | st.sampled_from(["json", "taillard"]))
def test_random_text_raises_only_instance_errors(kind: str, text: str, fmt: str | None) -> None:
    model = get_model(kind)
    if fmt is not None and fmt not in model.formats:
        fmt = model.formats[0]
    _read_only_instance_errors(kind, text, fmt)


HOSTILE_TEXTS = [
    ("jssp", "[" * 100_000, "json"),
    ("jssp", '{"num_machines": ' + "9" * 5000 + "}", "json"),
    ("jssp", '{"duration_matrix": 5, "machines_matrix": [[1, "x"]]}', "json"),
    ("jssp", '{"duration_matrix": [[1]], "machines_matrix": [["x"]]}', "json"),
    ("jssp", "1 1\n" + "9" * 5000 + "\n1\n", "taillard"),
    ("jssp", "1 1 1 1 " + "9" * 30 + " 1\n1\n1\n", "taillard"),
    ("rcpsp", "jobs (incl. supersource/sink ):  " + "9" * 5000 + "\n", "psplib"),
    ("rcpsp", "2 1\n" + "9" * 5000 + "\n", "patterson"),
    ("memory_mapping", "id,lower,upper,size\n" + "a" * 200_000 + ",0,1,1\n", "minimalloc"),
    ("memory_mapping", 'id,lower,upper,size\n"a,0,1,1\n', "minimalloc"),
    ("memory_mapping", "id,lower,upper,size\na,0,1," + "9" * 5000 + "\n", "minimalloc"),
    ("gpu_packing", '{"gpu_info": {"A": 5}, "workload_distribution": [[1]]}', "json"),
    ("gpu_packing", '{"gpu_info": [1], "total_request_rate": "x"}', "json"),
    ("expert_placement", '{"num_gpus": 1e400, "loads": [[1]]}', "json"),
]


@pytest.mark.parametrize(("kind", "text", "fmt"), HOSTILE_TEXTS, ids=lambda v: str(v)[:30])
def test_known_hostile_texts_raise_instance_errors(kind: str, text: str, fmt: str) -> None:
    model = get_model(kind)
    assert model.text_size(text, fmt) >= 0
    for given_format in (fmt, None):
        with pytest.raises(InstanceError):
            model.read_text(text, given_format, "x")
