"""Job-shop files: every format reads and round-trips; bad files name their line."""

from __future__ import annotations

from pathlib import Path

import pytest

from makespan.models.errors import InstanceError
from makespan.models.jssp import MODEL
from makespan.models.jssp.benchmarks import load_named
from makespan.models.jssp.formats import infer_format, read_text, write_text


@pytest.mark.parametrize(
    ("name", "fmt"), [("ft06.txt", "taillard"), ("la01.txt", "orlib"), ("ft06.json", "json")]
)
def test_reads_each_format_and_infers_it(data: Path, name: str, fmt: str) -> None:
    text = (data / name).read_text()
    assert infer_format(text, name) == fmt
    instance = MODEL.read_file(data / name)
    reference = load_named(name.split(".")[0])
    assert reference is not None
    assert instance.jobs == reference.jobs


@pytest.mark.parametrize("fmt", ["taillard", "orlib", "json"])
def test_writers_round_trip(fmt: str) -> None:
    instance = load_named("la01")
    assert instance is not None
    again = read_text(write_text(instance, fmt), fmt)
    assert again.jobs == instance.jobs and again.num_machines == instance.num_machines


def test_taillard_original_header_with_bounds(data: Path) -> None:
    instance = MODEL.read_file(data / "tiny_taillard_header.txt")
    assert instance.num_jobs == 3 and instance.num_machines == 3
    assert instance.jobs[2][2].duration == 0
    assert instance.bounds is not None and instance.bounds.upper == 11


def test_dmu_files_read_as_orlib(shared_benchmarks: Path) -> None:
    instance = MODEL.read_file(shared_benchmarks / "jssp" / "dmu" / "dmu01.txt")
    assert (instance.num_jobs, instance.num_machines) == (20, 15)


def test_job_shop_lib_json_is_accepted() -> None:
    text = '{"duration_matrix": [[1, 2]], "machines_matrix": [[1, 0]], "name": "x"}'
    instance = read_text(text)
    assert instance.num_machines == 2 and instance.jobs[0][0].machine == 1


BAD_FILES = {
    "wrong_count": ("2 2\n1 2\n3\n1 2\n2 1\n", "taillard", 3, "expected the processing times"),
    "not_integer": ("2 2\n1 x\n3 4\n1 2\n2 1\n", "taillard", 2, "expected an integer, found 'x'"),
    "machine_range": ("2 2\n1 2\n3 4\n1 3\n2 1\n", "taillard", 4, "machine 3 is out of range 1..2"),
    "negative": ("2 2\n0 1 1 -4\n1 2 0 3\n", "orlib", 2, "processing time must be >= 0"),
    "truncated": ("3 2\n0 1 1 4\n1 2 0 3\n", "orlib", 3, "file ends early"),
    "orlib_machine": ("2 2\n0 1 2 4\n1 2 0 3\n", "orlib", 2, "machine 2 is out of range 0..1"),
    "bad_header": ("2\n0 1 1 4\n", "orlib", 1, "expected 'jobs machines'"),
    "trailing": ("1 1\n0 5\n7 7\n", "orlib", 3, "unexpected data"),
    "bad_json": ('{"num_machines": 2,\n "jobs": [}', "json", 2, "invalid JSON"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_name_file_and_line(tmp_path: Path, case: str) -> None:
    text, fmt, line, message = BAD_FILES[case]
    path = tmp_path / f"{case}.txt"
    path.write_text(text)
    with pytest.raises(InstanceError) as caught:
        MODEL.read_file(path, fmt)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert message in str(caught.value)


def test_json_schema_violation_names_the_field() -> None:
    with pytest.raises(InstanceError) as caught:
        MODEL.parse_instance({"num_machines": 2, "jobs": [[{"machine": 5, "duration": 1}]]})
    assert "jobs.0.0.machine" in str(caught.value)
    with pytest.raises(InstanceError) as caught:
        MODEL.parse_instance({"num_machines": 2, "jobs": [[{"machine": 0, "duration": -1}]]})
    assert caught.value.field == "jobs.0.0.duration"


def test_schema_is_generated() -> None:
    schema = MODEL.json_schema()
    assert schema["title"] == "JobShopInstance"
    assert {"jobs", "num_machines"} <= set(schema["required"])
