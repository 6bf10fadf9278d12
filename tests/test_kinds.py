"""What every kind shares through the registry: inferring the kind of a file (and saying why
none fits), the generators' options, the capacity hook."""

from __future__ import annotations

import inspect
import typing
from pathlib import Path
from typing import Any

import annotated_types
import pytest
from pydantic import BaseModel, ValidationError

from makespan.api import cli
from makespan.instances import example_path
from makespan.models.errors import InstanceError
from makespan.models.expert_placement.generate import generate as generate_placement
from makespan.models.memory_mapping.generate import generate as generate_memory
from makespan.models.registry import MODELS, get_model, infer_kind
from makespan.models.spec import CapacityQuestion, Generative

GENERATING = ("expert_placement", "memory_mapping")
"""The kinds with a generator (``makespan generate KIND``)."""

SMALL_OPTIONS: dict[str, dict[str, Any]] = {
    "expert_placement": {"layers": 2, "experts": 8, "gpus": 4, "tokens": 1000, "seed": 3},
    "memory_mapping": {"buffers": 30, "two_level": True, "fast_share": 0.4, "seed": 3},
}

KINDS_LIST = "or pass --problem (expert_placement, gpu_packing, jssp, memory_mapping, rcpsp)"


def _examples() -> list[tuple[str, Path]]:
    folder = example_path("jssp").parent
    return [(path.parent.name, path) for path in sorted(folder.glob("*/*.*"))]


@pytest.mark.parametrize(("kind", "path"), _examples(), ids=lambda value: str(value))
@pytest.mark.parametrize("named", [True, False], ids=["by name", "by content"])
def test_every_bundled_example_is_inferred_as_its_kind(kind: str, path: Path, named: bool) -> None:
    source = path.name if named else "instance"
    assert infer_kind(path.read_text(), source) == kind


def _cannot_tell(text: str, source: str) -> str:
    with pytest.raises(InstanceError) as caught:
        infer_kind(text, source)
    message = str(caught.value)
    assert message.startswith(f"cannot tell the problem kind of {source}: ")
    assert message.endswith(KINDS_LIST)
    return message


def test_a_truncated_taillard_file_says_what_each_text_reader_found() -> None:
    message = _cannot_tell("2 3\n1 2\n", "bad.txt")
    assert (
        "of bad.txt: as jssp (taillard): bad.txt:2: expected the processing times of job 1 of 2 "
        "(3 integers), found 2 values; as jssp (orlib): bad.txt:2: expected 3 'machine time' "
        "pairs for job 1 of 2 (6 integers), found 2 values; as jssp (fjsp): bad.txt:2: job 1 of "
        "2, operation 1: expected 2 'machine duration' pairs (4 integers), found 0 values; as "
        "rcpsp (psplib): bad.txt:2: file ends early; expected the 'PRECEDENCE RELATIONS' "
        "section; as rcpsp (patterson): "
        "bad.txt:2: expected the capacities of the 3 resources (3 integers), found 2 values; "
        "as memory_mapping (minimalloc): bad.txt:1: header lacks id, lower, upper, size"
    ) in message
    assert "(json)" not in message


def test_readers_that_fail_alike_are_named_together() -> None:
    message = _cannot_tell("hello\n", "notes.txt")
    assert "as jssp (taillard), jssp (orlib): notes.txt:1: file ends early;" in message
    invalid = _cannot_tell("{oops\n", "bad.json")
    readers = ", ".join(f"{kind} (json)" for kind in MODELS)
    assert f"bad.json: as {readers}: bad.json:1: invalid JSON" in invalid
    assert invalid.count("invalid JSON") == 1


def test_a_json_document_no_kind_claims_gets_each_kinds_field_error() -> None:
    message = _cannot_tell('{"hello": 1}', "other.json")
    for kind, field in [
        ("jssp", "num_machines"),
        ("rcpsp", "activities"),
        ("memory_mapping", "buffers"),
        ("expert_placement", "num_gpus"),
        ("gpu_packing", "gpu_types"),
    ]:
        assert f"as {kind} (json): other.json:{field}: Field required" in message


def test_a_json_document_with_a_jobs_key_is_a_job_shop() -> None:
    text = '{"jobs": [[{"machine": 0, "duration": 3}]]}'
    assert infer_kind(text, "jobs.json") == "jssp"
    with pytest.raises(InstanceError, match=r"jobs\.json:num_machines: Field required"):
        get_model("jssp").read_text(text, None, "jobs.json")


def test_a_job_shop_wrapped_without_its_problem_is_still_a_job_shop() -> None:
    wrapped = '{"instance": {"num_machines": 1, "jobs": [[{"machine": 0, "duration": 3}]]}}'
    assert infer_kind(wrapped, "wrapped.json") == "jssp"


def test_a_key_named_inside_another_kinds_document_claims_nothing() -> None:
    # A resource called "jobs" is no job-shop key: the document stays a project.
    text = example_path("rcpsp/features.json").read_text().replace('"R1"', '"jobs"')
    assert '"jobs"' in text
    assert infer_kind(text, "project.json") == "rcpsp"


def test_a_broken_json_document_that_names_a_kinds_key_is_that_kinds_to_report() -> None:
    for kind, text in [
        ("memory_mapping", '{"buffers": [\n'),
        ("gpu_packing", '{"gpu_types": [\n'),
        ("expert_placement", '{"experts_per_gpu": 2,\n'),
    ]:
        assert infer_kind(text, "broken.json") == kind
        with pytest.raises(InstanceError, match=r"broken\.json:2: invalid JSON"):
            get_model(kind).read_text(text, None, "broken.json")


# --------------------------------------------------------------------------------------------
# Generators
# --------------------------------------------------------------------------------------------


def _generative(kind: str) -> Generative[Any]:
    model = get_model(kind)
    assert isinstance(model, Generative)
    return model


def _options(kind: str) -> type[BaseModel]:
    return _generative(kind).generator_options


def _bound(field: Any, kind: type[Any]) -> Any:
    """The ``ge`` or ``le`` limit in a pydantic field's metadata, None when it has none."""
    for item in field.metadata:
        if isinstance(item, kind):
            return item.ge if isinstance(item, annotated_types.Ge) else item.le
    return None


@pytest.mark.parametrize("kind", GENERATING)
def test_generator_options_are_the_command_lines(kind: str) -> None:
    command = cli.generator_command(kind, _generative(kind))
    hints = typing.get_type_hints(command, include_extras=True)
    parameters = inspect.signature(command).parameters
    fields = _options(kind).model_fields
    assert list(fields) == [name for name in parameters if name != "out"]
    for name, field in fields.items():
        option = hints[name].__metadata__[0]
        assert field.default == parameters[name].default, name
        assert field.description == option.help, name
        assert _bound(field, annotated_types.Ge) == option.min, name
        assert _bound(field, annotated_types.Le) == option.max, name


@pytest.mark.parametrize("kind", GENERATING)
def test_generate_through_the_model_is_deterministic_and_valid(kind: str) -> None:
    model, generator = get_model(kind), _generative(kind)
    options = _options(kind)(**SMALL_OPTIONS[kind])
    instance = generator.generate(options)
    assert isinstance(instance, model.instance_type)
    assert instance == generator.generate(_options(kind)(**SMALL_OPTIONS[kind]))
    assert instance != generator.generate(options.model_copy(update={"seed": 4}))
    assert model.parse_instance(instance.model_dump()) == instance
    assert model.size(instance) > 0


def test_the_models_generators_are_the_generate_functions() -> None:
    placement, memory = _generative("expert_placement"), _generative("memory_mapping")
    assert placement.generate(_options("expert_placement")()) == generate_placement(
        layers=8, experts=64, gpus=8, tokens=100_000, skew=1.0, affinity=0.7, seed=0
    )
    small = _options("memory_mapping")(**SMALL_OPTIONS["memory_mapping"])
    assert memory.generate(small) == generate_memory(
        30, two_level=True, fast_share=0.4, alignment=1, seed=3
    )


@pytest.mark.parametrize(
    ("kind", "values", "field"),
    [
        ("expert_placement", {"layers": 0}, "layers"),
        ("expert_placement", {"affinity": 1.5}, "affinity"),
        ("expert_placement", {"skew": -1}, "skew"),
        ("expert_placement", {"tokens": 0}, "tokens"),
        ("memory_mapping", {"fast_share": 0.001}, "fast_share"),
        ("memory_mapping", {"buffers": 0}, "buffers"),
        ("memory_mapping", {"alignment": 0}, "alignment"),
        ("memory_mapping", {"unknown": 1}, "unknown"),
    ],
)
def test_generator_options_are_bounded(kind: str, values: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _options(kind)(**values)
    assert caught.value.errors()[0]["loc"] == (field,)


@pytest.mark.parametrize("kind", GENERATING)
def test_generator_options_are_frozen_and_their_own(kind: str) -> None:
    options = _options(kind)()
    with pytest.raises(ValidationError, match="frozen"):
        setattr(options, "seed", 5)  # noqa: B010 (the options type is known only at run time)
    other = next(k for k in GENERATING if k != kind)
    generate = _generative(kind).generate
    with pytest.raises(TypeError, match=f"expected GeneratorOptions, got {type(options).__name__}"):
        generate(_options(other)())


def test_options_that_fit_their_bounds_but_not_each_other_are_a_value_error() -> None:
    generate = _generative("expert_placement").generate
    with pytest.raises(ValueError, match="experts % gpus"):
        generate(_options("expert_placement")(experts=10, gpus=4))


def test_only_the_generating_kinds_have_a_generator() -> None:
    for kind, model in MODELS.items():
        assert isinstance(model, Generative) == (kind in GENERATING)


# --------------------------------------------------------------------------------------------
# Capacity
# --------------------------------------------------------------------------------------------


def test_only_memory_mapping_takes_a_capacity() -> None:
    takes = [kind for kind, model in MODELS.items() if isinstance(model, CapacityQuestion)]
    assert takes == ["memory_mapping"]
    memory = get_model("memory_mapping")
    assert isinstance(memory, CapacityQuestion)
    instance = memory.read_file(example_path("memory_mapping/trace60.csv"))
    assert memory.with_capacity(instance, 4096).capacity == 4096
    with pytest.raises(InstanceError, match="capacity must be") as caught:
        memory.with_capacity(instance, 0)
    assert caught.value.field == "capacity"
