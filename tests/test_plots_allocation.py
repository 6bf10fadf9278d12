"""Pictures of memory-mapping, expert-placement and GPU-packing solutions: the SVG carries the
named groups, PNGs are PNGs, and the numbers drawn (single-type fleets, loads, traffic, live
bytes) are right. The pictures are kept in test-artifacts/ for people to look at."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
from conftest import DATA, REPO
from test_expert_placement import SMALL
from test_gpu_packing import small

from makespan.models.expert_placement import MODEL as EXPERTS
from makespan.models.expert_placement.plot import gpu_loads, gpu_traffic, redundant_replicas
from makespan.models.gpu_packing import MODEL as GPUS
from makespan.models.gpu_packing.heuristics import cheapest_single_type
from makespan.models.gpu_packing.plot import SingleTypeFleet, single_type_fleets, type_loads
from makespan.models.memory_mapping import MODEL as MEMORY
from makespan.models.memory_mapping import MemoryInstance, MemorySolution
from makespan.models.memory_mapping import plot as memory_plot
from makespan.models.plotting import plot_result, render
from makespan.models.spec import ProblemModel
from makespan.solvers import Result, solve

INSTANCES = REPO / "instances"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def ids(svg: bytes) -> set[str]:
    """Every element id in an SVG document."""
    return {e.attrib["id"] for e in ET.fromstring(svg).iter() if "id" in e.attrib}


def element(svg: bytes, gid: str) -> ET.Element:
    """The element with id ``gid``."""
    found = [e for e in ET.fromstring(svg).iter() if e.attrib.get("id") == gid]
    assert len(found) == 1, f"{len(found)} elements with id {gid!r}"
    return found[0]


def pictures(
    model: ProblemModel[Any, Any], instance: Any, result: Result, artifacts: Path, name: str
) -> bytes:
    """Render SVG and PNG, keep both in artifacts/, check the PNG signature; the SVG bytes."""
    svg = plot_result(model, instance, result, "svg", name)
    png = plot_result(model, instance, result, "png", name)
    assert png.startswith(PNG_SIGNATURE)
    stem = f"plot-{model.kind}-{name}"
    (artifacts / f"{stem}.svg").write_bytes(svg)
    (artifacts / f"{stem}.png").write_bytes(png)
    return svg


# --- memory mapping ------------------------------------------------------------------------


def test_memory_picture_of_a_trace(artifacts: Path) -> None:
    instance = MEMORY.read_file(INSTANCES / "memory_mapping" / "trace60.csv")
    result = solve("memory_mapping", instance, time_limit_s=5)
    assert result.solution is not None
    svg = pictures(MEMORY, instance, result, artifacts, "trace60")
    assert {"buffers", "peak", "live"} <= ids(svg)
    assert "capacity" not in ids(svg) and "slow" not in ids(svg)
    assert element(svg, "buffers").find("{http://www.w3.org/2000/svg}image") is None


def test_memory_picture_at_a_capacity(artifacts: Path) -> None:
    instance = MEMORY.read_file(DATA / "memory_small.csv").model_copy(update={"capacity": 14})
    result = solve("memory_mapping", instance, time_limit_s=5)
    svg = pictures(MEMORY, instance, result, artifacts, "small-capacity")
    assert {"buffers", "peak", "live", "capacity"} <= ids(svg)


def test_memory_picture_of_two_levels(artifacts: Path) -> None:
    instance = MEMORY.read_file(DATA / "memory_two_level.json")
    result = solve("memory_mapping", instance, time_limit_s=5)
    assert result.solution is not None and result.solution["slow"]
    svg = pictures(MEMORY, instance, result, artifacts, "two-level")
    assert {"buffers", "peak", "live", "capacity", "slow"} <= ids(svg)


def test_live_bytes_reaches_max_live() -> None:
    instance = MEMORY.read_file(DATA / "memory_small.csv")
    a = instance.arrays
    times, live = memory_plot.live_bytes(a.lower, a.upper, a.size)
    assert int(live.max()) == instance.max_live == 12
    assert live[-1] == 0 and times[-1] == a.upper.max()
    assert list(times) == sorted(set(a.lower.tolist()) | set(a.upper.tolist()))


def test_format_bytes() -> None:
    assert memory_plot.format_bytes(512) == "512 B"
    assert memory_plot.format_bytes(1536) == "1.5 KiB"
    assert memory_plot.format_bytes(497_261_190_115) == "463.1 GiB"


def staircase(count: int) -> tuple[MemoryInstance, MemorySolution]:
    """``count`` buffers, each alive for one step at its own time, all at offset 0."""
    buffers = [
        {"id": f"b{i}", "lower": i, "upper": i + 1 + i % 3, "size": 64 * (1 + i % 50)}
        for i in range(count)
    ]
    instance = MEMORY.parse_instance({"buffers": buffers})
    offsets = {f"b{i}": 3200 * (i % 3) for i in range(count)}
    peak = max(offsets[b.id] + b.size for b in instance.buffers)
    solution = MEMORY.parse_solution(
        {"peak": peak, "buffers": [{"id": k, "offset": o} for k, o in offsets.items()]}
    )
    assert MEMORY.check(instance, solution).feasible
    return instance, solution


def test_large_traces_are_rasterized_and_keep_their_gid(artifacts: Path) -> None:
    instance, solution = staircase(memory_plot.RASTER_BUFFERS + 1000)
    started = time.monotonic()
    svg = render(memory_plot.draw(instance, solution), "svg")
    assert time.monotonic() - started < 10
    (artifacts / "plot-memory_mapping-staircase.svg").write_bytes(svg)
    buffers = element(svg, "buffers")
    assert buffers.find("{http://www.w3.org/2000/svg}image") is not None
    assert len(svg) < 2_000_000
    assert {"peak", "live"} <= ids(svg)


# --- expert placement ----------------------------------------------------------------------


def test_expert_placement_picture(artifacts: Path) -> None:
    instance = EXPERTS.read_file(INSTANCES / "expert_placement" / "moe_4x16.json")
    result = solve("expert_placement", instance, time_limit_s=2, workers=2)
    assert result.solution is not None
    svg = pictures(EXPERTS, instance, result, artifacts, "moe_4x16")
    assert {"load-heatmap", "traffic-matrix"} <= ids(svg)

    solution = EXPERTS.parse_solution(result.solution)
    loads = gpu_loads(instance, solution)
    assert loads.shape == (instance.num_gpus, instance.num_layers)
    assert int(loads.max(axis=0).sum()) == solution.max_load_sum
    assert loads.sum(axis=0).tolist() == [sum(row) for row in instance.loads]
    traffic = gpu_traffic(instance, solution)
    assert int(traffic.sum()) == sum(r.tokens for r in instance.routing)
    off_diagonal = int(traffic.sum() - np.trace(traffic))
    assert off_diagonal == solution.crossing_tokens  # default link costs: 1 across, 0 local


def test_replicated_placement_picture_shows_replicas_and_nodes(artifacts: Path) -> None:
    instance = EXPERTS.read_file(DATA / "eplb_small.json")
    result = solve("expert_placement", instance, time_limit_s=2, workers=2)
    svg = pictures(EXPERTS, instance, result, artifacts, "eplb_small")
    assert {"load-heatmap", "traffic-matrix", "replicas"} <= ids(svg)
    assert result.solution is not None
    solution = EXPERTS.parse_solution(result.solution)
    loads = gpu_loads(instance, solution)
    assert solution.gpu_loads is not None
    assert loads.T.tolist() == [list(row) for row in solution.gpu_loads]
    extra = redundant_replicas(instance, solution)
    assert solution.logcnt is not None
    assert int(extra.sum()) == sum(c for row in solution.logcnt for c in row if c > 1)


def test_expert_traffic_by_hand() -> None:
    instance = EXPERTS.parse_instance(SMALL)
    solution = EXPERTS.parse_solution(
        {
            "placement": [[0, 0, 1, 1], [1, 0, 0, 1]],
            "max_load_sum": 0,
            "crossing_tokens": 0,
            "objective": 0,
        }
    )
    assert gpu_loads(instance, solution).tolist() == [[160, 150], [85, 95]]
    # expert 0 (GPU 0) -> expert 2 (GPU 0) stays local; expert 2 (GPU 1) -> expert 1 (GPU 0)
    assert gpu_traffic(instance, solution).tolist() == [[80, 0], [50, 0]]


# --- GPU packing ---------------------------------------------------------------------------


def test_single_type_fleets_by_hand() -> None:
    # small(): type pooling, 12 requests/s, L4 cannot serve bucket (1, 1); loads per bucket
    # rate / throughput: A10G 6/6 + 2.4/3 + 2.4/2 + 1.2/1 = 4.2 -> 5 GPUs = 5.05 per hour;
    # A100 6/25 + 2.4/14 + 2.4/9 + 1.2/5 = 0.918 -> 1 GPU = 3.67 per hour.
    instance = GPUS.parse_instance(small())
    fleets = single_type_fleets(instance)
    assert fleets[0] == SingleTypeFleet("L4", None, None)
    assert fleets[1] == SingleTypeFleet("A10G", 5, 5.05)
    assert fleets[2] == SingleTypeFleet("A100", 1, 3.67)
    cheapest = cheapest_single_type(instance)
    assert cheapest is not None and (cheapest.gpu_type, cheapest.count) == ("A100", 1)

    # capped at 2 A100s, twice the rate needs 2: still fine; three times the rate needs 3
    capped = small(total_request_rate=36.0)
    capped["gpu_types"][2]["max_count"] = 2
    fleets = single_type_fleets(GPUS.parse_instance(capped))
    assert fleets[2] == SingleTypeFleet("A100", None, None)
    assert fleets[1] == SingleTypeFleet("A10G", 13, 13.13)  # 12.6 -> 13


def test_gpu_packing_picture(artifacts: Path) -> None:
    instance = GPUS.read_file(INSTANCES / "gpu_packing" / "fleet.json")
    result = solve("gpu_packing", instance, time_limit_s=5)
    assert result.solution is not None
    svg = pictures(GPUS, instance, result, artifacts, "fleet")
    assert {"fleet", "cheapest-single-type"} <= ids(svg)
    assert element(svg, "cheapest-single-type").find("{http://www.w3.org/2000/svg}path") is not None

    solution = GPUS.parse_solution(result.solution)
    loads = type_loads(instance, solution)
    for gpu, load in zip(instance.gpu_types, loads, strict=True):
        assert load <= solution.gpus.get(gpu.name, 0) + 1e-9
    assert sum(loads) > 0


def test_gpu_packing_picture_per_instance(artifacts: Path) -> None:
    instance = GPUS.parse_instance(small("instance"))
    result = solve("gpu_packing", instance, time_limit_s=5)
    svg = pictures(GPUS, instance, result, artifacts, "small-instance-pooling")
    assert {"fleet", "cheapest-single-type"} <= ids(svg)


def test_gpu_packing_picture_without_a_single_type(artifacts: Path) -> None:
    document = small()
    document["gpu_types"] = document["gpu_types"][:2]
    document["gpu_types"][1]["max_count"] = 2
    instance = GPUS.parse_instance(document)
    assert cheapest_single_type(instance) is None
    result = solve("gpu_packing", instance, time_limit_s=5)
    assert result.solution is not None
    svg = pictures(GPUS, instance, result, artifacts, "no-single-type")
    note = element(svg, "cheapest-single-type")
    assert "no single GPU type" in "".join(note.itertext())
