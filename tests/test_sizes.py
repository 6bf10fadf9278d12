"""Sizing before work: every kind counts an instance's size from its JSON value or file text,
cheaply and without raising, and the count matches the validated instance's ``size``."""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from makespan.instances import EXAMPLES, example_path
from makespan.models.expert_placement.generate import generate
from makespan.models.jssp.formats import write_text as write_jssp
from makespan.models.rcpsp.formats import write_text as write_rcpsp
from makespan.models.registry import MODELS, get_model
from makespan.models.sizing import UNREADABLY_LARGE, count, lines, nonblank_line_count

DEFAULT_LIMITS = {
    "jssp": 250_000,
    "rcpsp": 100_000,
    "memory_mapping": 200_000,
    "expert_placement": 2_000_000,
    "gpu_packing": 100_000,
}

DATA_FILES = [
    ("jssp", "ft06.json", "json"),
    ("jssp", "tiny_taillard_header.txt", "taillard"),
    ("rcpsp", "rcpsp_small.sm", "psplib"),
    ("rcpsp", "rcpsp_features.json", "json"),
    ("memory_mapping", "memory_small.csv", "minimalloc"),
    ("memory_mapping", "memory_two_level.json", "json"),
]


def _measured(work: Callable[[], int]) -> tuple[int, float, int]:
    """``work()``, its wall time and the peak memory it allocated."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = work()
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, elapsed, peak


def _assert_sizes_match(kind: str, text: str, fmt: str, source: str) -> None:
    """text_size (format given and inferred) and document_size of the JSON form equal size."""
    model = get_model(kind)
    instance = model.read_text(text, fmt, source)
    size = model.size(instance)
    assert model.text_size(text, fmt) == size
    assert model.text_size(text, None) == size
    document = json.loads(instance.model_dump_json())
    assert model.document_size(document) == size
    assert model.text_size(json.dumps(document), "json") == size


def test_every_kind_has_its_default_limit() -> None:
    limits = {kind: model.about.default_size_limit for kind, model in MODELS.items()}
    assert limits == DEFAULT_LIMITS


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_bundled_examples_are_sized_exactly(example: Any) -> None:
    _assert_sizes_match(example.problem, example.text(), example.format, example.file)


@pytest.mark.parametrize(("kind", "name", "fmt"), DATA_FILES)
def test_test_files_are_sized_exactly(data: Path, kind: str, name: str, fmt: str) -> None:
    _assert_sizes_match(kind, (data / name).read_text(), fmt, name)


def test_written_formats_are_sized_exactly() -> None:
    jssp = get_model("jssp").read_file(example_path("jssp/la01.txt"))
    for fmt in ("taillard", "orlib"):
        _assert_sizes_match("jssp", write_jssp(jssp, fmt), fmt, "<instance>")
    rcpsp = get_model("rcpsp").read_file(example_path("rcpsp/small.sm"))
    _assert_sizes_match("rcpsp", write_rcpsp(rcpsp, "patterson"), "patterson", "<instance>")


def test_shared_benchmark_files_are_sized_exactly(shared_benchmarks: Path) -> None:
    files = [
        ("jssp", shared_benchmarks / "jssp" / "dmu" / "dmu01.txt", "orlib"),
        ("rcpsp", shared_benchmarks / "rcpsp" / "j30" / "j30_10_1.rcp", "patterson"),
        ("gpu_packing", shared_benchmarks / "gpu_packing" / "melange_example.json", "json"),
    ]
    for kind, path, fmt in files:
        _assert_sizes_match(kind, path.read_text(), fmt, path.name)


def test_windows_and_old_mac_line_ends_are_sized_like_unix_ones() -> None:
    text = example_path("jssp/ft06.txt").read_text()
    for end in ("\r\n", "\r"):
        _assert_sizes_match("jssp", text.replace("\n", end), "taillard", "ft06.txt")
    small = example_path("rcpsp/small.sm").read_text()
    _assert_sizes_match("rcpsp", small.replace("\n", "\r"), "psplib", "small.sm")
    trace = example_path("memory_mapping/trace60.csv").read_text()
    _assert_sizes_match("memory_mapping", trace.replace("\n", "\r\n"), "minimalloc", "t.csv")


def test_job_shop_lib_json_is_sized_by_its_matrices() -> None:
    text = '{"duration_matrix": [[1, 2], [3, 4]], "machines_matrix": [[1, 0], [0, 1]]}'
    _assert_sizes_match("jssp", text, "json", "x.json")


def test_comment_lines_only_raise_the_csv_count(data: Path) -> None:
    model = get_model("memory_mapping")
    text = (data / "memory_aligned.csv").read_text()
    size = model.size(model.read_text(text, "minimalloc", "a.csv"))
    assert size <= model.text_size(text, "minimalloc") <= size + 1  # the comment line


def test_expert_placement_size_is_layers_experts_gpus() -> None:
    model = get_model("expert_placement")
    default = generate(layers=8, experts=64, gpus=8, tokens=100_000, seed=0)
    assert model.size(default) == 8 * 64 * 8 <= model.about.default_size_limit
    example = model.read_file(example_path("expert_placement/moe_4x16.json"))
    assert model.size(example) == 4 * 16 * 4
    # The declared sizes count, not the rows' contents; the rows' length stands in for them.
    assert model.document_size({"num_gpus": 8, "experts_per_gpu": 8, "loads": [[]] * 3}) == 1536
    assert model.document_size({"num_gpus": 2, "experts_per_gpu": "x", "loads": [[1] * 6]}) == 12


def _wide_workload(rows: int, columns: int, slice_factor: int) -> dict[str, Any]:
    share = 1 / (rows * columns)
    workload = [[share] * columns for _ in range(rows)]
    return {
        "gpu_types": [
            {"name": "A100", "cost_per_hour": 3.67, "throughput": [[9.0] * columns] * rows}
        ],
        "workload": workload,
        "total_request_rate": 10.0,
        "slice_factor": slice_factor,
    }


def test_gpu_packing_is_sized_without_building_slices() -> None:
    model = get_model("gpu_packing")
    document = _wide_workload(300, 300, 10_000)
    size, elapsed, peak = _measured(lambda: model.document_size(document))
    assert size == 300 * 300 * 10_000
    assert elapsed < 0.01 and peak < 10_000  # microseconds and bytes, not 900 million slices
    melange = {"gpu_info": {}, "workload_distribution": document["workload"], "slice_factor": 7}
    assert model.document_size(melange) == 300 * 300 * 7


def test_gpu_packing_counts_every_spelling_of_the_slice_factor() -> None:
    model = get_model("gpu_packing")
    for factor in (10_000, 10_000.0, "10000", " 10_000 ", "10000.0"):
        document = {**_wide_workload(2, 3, 1), "slice_factor": factor}
        assert model.document_size(document) == 60_000, factor
    assert model.document_size({**_wide_workload(1, 1, 1), "slice_factor": "9" * 500}) == (
        UNREADABLY_LARGE
    )


def test_a_16_mib_minimalloc_csv_is_sized_without_parsing() -> None:
    model = get_model("memory_mapping")
    line = "buffer_0000001,0,10,4096\n"
    buffers = 16 * 2**20 // len(line)
    text = "id,lower,upper,size\n" + line * buffers
    size, elapsed, peak = _measured(lambda: model.text_size(text, "minimalloc"))
    assert size == buffers
    assert elapsed < 0.5 and peak < 10_000  # counted in place: no line, row or buffer built
    assert model.text_size(text, None) == buffers


def test_a_huge_header_is_sized_from_the_header_alone() -> None:
    jssp, rcpsp = get_model("jssp"), get_model("rcpsp")
    assert jssp.text_size("1000000 1000\n1 2\n", None) == 10**9
    assert jssp.text_size("Instance x\n# comment\n 3 4 # jobs machines\n", "taillard") == 12
    assert jssp.text_size("9" * 500 + " 2\n", "orlib") == 2 * UNREADABLY_LARGE
    assert rcpsp.text_size("70000000 4\n", "patterson") == 70_000_000
    assert rcpsp.text_size("jobs (incl. supersource/sink ):  900000\n", "psplib") == 900_000


WRONG_DOCUMENTS: list[Any] = [
    None,
    True,
    17,
    -3.5,
    float("nan"),
    "jobs",
    [],
    [1, [2]],
    {},
    {"jobs": 5, "activities": "x", "buffers": None, "loads": {"a": 1}, "workload": 3},
    {"jobs": [5, "x", None, {"a": 1}], "loads": [5], "num_gpus": [], "experts_per_gpu": {}},
    {"loads": [], "num_gpus": 10**400, "experts_per_gpu": float("inf")},
    {"duration_matrix": 5, "machines_matrix": [None]},
    {"gpu_info": 5, "workload_distribution": [[0.1], "ab", None], "slice_factor": -4},
    {"workload": [[1.0]], "slice_factor": float("nan")},
    {"workload": [[1.0]], "slice_factor": "1e3"},
]


@pytest.mark.parametrize("kind", sorted(MODELS))
@pytest.mark.parametrize("document", WRONG_DOCUMENTS, ids=repr)
def test_wrong_types_are_sized_without_raising(kind: str, document: Any) -> None:
    model = get_model(kind)
    size = model.document_size(document)
    assert isinstance(size, int) and size >= 0
    text = json.dumps(document)
    for fmt in (None, *model.formats):
        assert model.text_size(text, fmt) >= 0


WRONG_TEXTS = ["", "\n\n", "{", "[" * 100_000, "1" * 5000, "x y z", "-3 4\n", "\x00\u2028#"]


@pytest.mark.parametrize("kind", sorted(MODELS))
@pytest.mark.parametrize("text", WRONG_TEXTS, ids=lambda t: repr(t[:12]))
def test_wrong_texts_are_sized_without_raising(kind: str, text: str) -> None:
    model = get_model(kind)
    for fmt in (None, *model.formats):
        assert model.text_size(text, fmt) >= 0


def test_counts_read_numbers_as_validation_does() -> None:
    assert [count(v) for v in (4, True, 4.0, "4", " +4 ", "1_000", "4.00")] == [
        4,
        1,
        4,
        4,
        4,
        1000,
        4,
    ]
    assert [count(v) for v in (-4, 4.5, "1e3", "x", None, [4], "٤", float("inf"))] == [0] * 8


def test_lines_and_line_counts_follow_the_parsers() -> None:
    assert [line for line in lines("a\r\nb\x0cc\u2028d") if line] == ["a", "b", "c", "d"]
    assert nonblank_line_count("h\na\n\nb\n") == 3
    assert 3 <= nonblank_line_count("h\na\n\n\nb\n") <= 4  # an upper bound: runs count once
    assert nonblank_line_count("h\r\na\r\nb") == 3
    assert nonblank_line_count("") == 0
