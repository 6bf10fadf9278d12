"""Pictures of job-shop and RCPSP schedules: the parts people look for are there (found by their
SVG ids), the critical path is a tight chain, and big instances stay quick to draw."""

from __future__ import annotations

import random
import time
import xml.etree.ElementTree as ET
from itertools import pairwise
from pathlib import Path

import pytest
from conftest import DATA

from makespan.models import plotting
from makespan.models.jssp import MODEL as JSSP
from makespan.models.jssp.benchmarks import load_named
from makespan.models.jssp.heuristics import giffler_thompson
from makespan.models.jssp.instance import JobShopInstance, JobShopSolution
from makespan.models.jssp.plot import critical_path
from makespan.models.jssp.plot import draw as draw_job_shop
from makespan.models.rcpsp import MODEL as RCPSP
from makespan.models.rcpsp.instance import Activity, RcpspInstance, Resource
from makespan.models.rcpsp.plot import draw as draw_project
from makespan.models.rcpsp.plot import pack_rows, resource_ids, usage
from makespan.solvers import solve

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def svg_ids(svg: bytes) -> list[str]:
    """Every ``id`` attribute in an SVG document, in document order."""
    root = ET.fromstring(svg)
    return [element.attrib["id"] for element in root.iter() if "id" in element.attrib]


def assert_critical(
    instance: JobShopInstance, solution: JobShopSolution, path: list[tuple[int, int]]
) -> None:
    """``path`` is a chain of operations, each ending when the next starts on the same job (next
    operation) or the same machine, that starts at 0 and ends at the makespan."""
    ops = {(o.job, o.index): o for o in solution.operations}
    assert path, "no critical path"
    assert len(set(path)) == len(path)
    assert ops[path[0]].start == 0
    assert ops[path[-1]].end == solution.makespan
    for a, b in pairwise(path):
        assert ops[a].end == ops[b].start, (a, b)
        same_job = a[0] == b[0] and b[1] == a[1] + 1
        same_machine = instance.jobs[a[0]][a[1]].machine == instance.jobs[b[0]][b[1]].machine
        assert same_job or same_machine, (a, b)


@pytest.mark.parametrize(("name", "optimum"), [("ft06", 55), ("la01", 666)])
def test_job_shop_picture_has_every_job_and_the_critical_path(
    artifacts: Path, name: str, optimum: int
) -> None:
    instance = JSSP.read_file(DATA / f"{name}.txt")
    result = solve("jssp", instance, time_limit_s=5, workers=1)
    assert result.objective == optimum and result.solution is not None
    solution = JSSP.parse_solution(result.solution)

    path = critical_path(instance, solution)
    assert_critical(instance, solution, path)
    assert solution.makespan == optimum

    svg = plotting.plot_result(JSSP, instance, result, "svg")
    png = plotting.plot_result(JSSP, instance, result, "png")
    (artifacts / f"plot-jssp-{name}.svg").write_bytes(svg)
    (artifacts / f"plot-jssp-{name}.png").write_bytes(png)
    assert png.startswith(PNG_SIGNATURE)
    ids = svg_ids(svg)
    assert len(ids) == len(set(ids)), "SVG ids repeat"
    jobs = {i for i in ids if i.startswith("job-")}
    assert jobs == {f"job-{j}" for j in range(instance.num_jobs)}
    assert {"gantt", "critical-path", "critical-operations", "makespan"} <= set(ids)
    text = svg.decode()
    assert "job 0" in text and "critical path" in text  # the legend, as text
    assert f"objective {optimum}" in text  # the title draw_result adds


def _schedule(instance: JobShopInstance, starts: list[list[int]]) -> JobShopSolution:
    solution = JobShopSolution.from_starts(instance, starts)
    assert JSSP.check(instance, solution).feasible
    return solution


def test_critical_path_prefers_chains_back_to_time_zero() -> None:
    # Job 0: (m1, 4) then (m0, 2); job 1: (m0, 2) idling until 2, so both ends are tight
    # before operation (0, 1) but only the job predecessor reaches back to 0.
    instance = JobShopInstance.from_matrices([[1, 0], [0]], [[4, 2], [2]])
    solution = _schedule(instance, [[0, 4], [2]])
    assert critical_path(instance, solution) == [(0, 0), (0, 1)]

    # Two operations end at the makespan 5; only job 1's reaches back to 0.
    instance = JobShopInstance.from_matrices([[1, 1], [0]], [[2, 2], [5]])
    solution = _schedule(instance, [[1, 3], [0]])
    assert critical_path(instance, solution) == [(1, 0)]

    # Both predecessors tight and back to 0: the machine predecessor is taken.
    instance = JobShopInstance.from_matrices([[1, 0], [0]], [[2, 2], [2]])
    solution = _schedule(instance, [[0, 2], [0]])
    assert critical_path(instance, solution) == [(1, 0), (0, 1)]


def test_critical_path_of_a_delayed_schedule_stops_at_the_idle_time() -> None:
    instance = JSSP.read_file(DATA / "ft06.txt")
    found = giffler_thompson(instance, "mwkr")
    solution = _schedule(instance, [[s + 3 for s in row] for row in found.starts])
    path = critical_path(instance, solution)
    ops = {(o.job, o.index): o for o in solution.operations}
    assert ops[path[0]].start == 3 and ops[path[-1]].end == solution.makespan
    shifted = JobShopSolution.from_starts(instance, [list(row) for row in found.starts])
    assert_critical(instance, shifted, critical_path(instance, shifted))


def test_a_100_by_20_job_shop_is_drawn_quickly(artifacts: Path) -> None:
    instance = load_named("ta71")
    assert instance is not None and (instance.num_jobs, instance.num_machines) == (100, 20)
    found = giffler_thompson(instance, "mwkr")
    solution = JobShopSolution.from_starts(instance, [list(row) for row in found.starts])
    assert_critical(instance, solution, critical_path(instance, solution))

    began = time.perf_counter()
    svg = plotting.render(draw_job_shop(instance, solution), "svg")
    elapsed = time.perf_counter() - began
    png = plotting.render(draw_job_shop(instance, solution), "png")
    (artifacts / "plot-jssp-ta71.png").write_bytes(png)
    ids = svg_ids(svg)
    assert sum(i.startswith("job-") for i in ids) == 100 and "critical-path" in ids
    assert len(svg) < 2_000_000  # one collection per job, not one element group per bar
    assert elapsed < 15, f"drawing ta71 took {elapsed:.1f} s"  # about 0.5 s on a quiet machine


@pytest.mark.parametrize(
    ("file", "downtime"), [("rcpsp_features.json", True), ("rcpsp_small.sm", False)]
)
def test_rcpsp_picture_has_the_gantt_and_every_resource(
    artifacts: Path, file: str, downtime: bool
) -> None:
    instance = RCPSP.read_file(DATA / file)
    result = solve("rcpsp", instance, time_limit_s=5, workers=1)
    assert result.objective == 10

    svg = plotting.plot_result(RCPSP, instance, result, "svg")
    png = plotting.plot_result(RCPSP, instance, result, "png")
    stem = Path(file).stem.replace("rcpsp_", "")
    (artifacts / f"plot-rcpsp-{stem}.svg").write_bytes(svg)
    (artifacts / f"plot-rcpsp-{stem}.png").write_bytes(png)
    assert png.startswith(PNG_SIGNATURE)
    ids = set(svg_ids(svg))
    assert {"gantt", "activities", "milestones", "makespan"} <= ids
    for name in ("R1", "R2"):
        assert {f"resource-{name}", f"profile-{name}", f"capacity-{name}"} <= ids
    assert ("downtime-R1" in ids) == downtime
    assert "downtime-R2" not in ids
    assert ("releases" in ids) == ("deadlines" in ids) == downtime  # features has both
    assert ("downtime" in svg.decode()) == downtime  # its legend entry


def test_usage_profile_steps_with_the_schedule() -> None:
    instance = RCPSP.read_file(DATA / "rcpsp_features.json")
    result = solve("rcpsp", instance, time_limit_s=5, workers=1)
    assert result.solution is not None
    solution = RCPSP.parse_solution(result.solution)
    for resource in instance.resources:
        times, levels = usage(instance, solution, resource.name)
        assert times[0] == 0 and levels[-1] == 0 and times == sorted(set(times))
        for t in range(solution.makespan):
            expected = sum(
                a.demands.get(resource.name, 0)
                for a, s in zip(instance.activities, solution.starts(instance), strict=True)
                if s <= t < s + a.duration
            )
            level = levels[max(k for k, time_ in enumerate(times) if time_ <= t)]
            assert level == expected <= resource.capacity, (resource.name, t)


def test_rows_are_packed_without_overlap_and_resource_ids_are_safe() -> None:
    spans = [(0, 4), (1, 3), (3, 6), (4, 5), (5, 9), (0, 9)]
    rows = pack_rows(spans)
    assert max(rows) + 1 == 3  # the deepest overlap
    for i, (a, b) in enumerate(spans):
        for j, (c, d) in enumerate(spans[:i]):
            assert rows[i] != rows[j] or b <= c or d <= a, (i, j)
    names = [Resource(name=n, capacity=1) for n in ("R 1", "R_1", "<cpu>", "ok-name_2")]
    assert resource_ids(names) == ["R_1", "R_1-1", "_cpu_", "ok-name_2"]


def _big_project(count: int, seed: int) -> RcpspInstance:
    """``count`` activities between a dummy source and sink, random chains and demands on four
    resources, like a PSPLIB j120 file."""
    rng = random.Random(seed)
    names = ["R1", "R2", "R3", "R4"]
    activities = [Activity(id=0, duration=0, successors=tuple(range(1, 6)))]
    for i in range(1, count + 1):
        successors = tuple(sorted({rng.randint(i + 1, count + 1) for _ in range(2)}))
        demands = {n: rng.randint(0, 6) for n in rng.sample(names, 2)}
        activities.append(
            Activity(id=i, duration=rng.randint(1, 10), demands=demands, successors=successors)
        )
    activities.append(Activity(id=count + 1, duration=0))
    resources = tuple(Resource(name=n, capacity=10) for n in names)
    return RcpspInstance(name="big", resources=resources, activities=tuple(activities))


def test_a_120_activity_project_is_packed_and_drawn_quickly(artifacts: Path) -> None:
    instance = _big_project(120, seed=7)
    found = RCPSP.warm_start(instance, 0.2, 0, lambda: False)
    assert found is not None
    began = time.perf_counter()
    svg = plotting.render(draw_project(instance, found.solution), "svg")
    elapsed = time.perf_counter() - began
    png = plotting.render(draw_project(instance, found.solution), "png")
    (artifacts / "plot-rcpsp-120.png").write_bytes(png)
    ids = set(svg_ids(svg))
    assert {"gantt", "activities", "profile-R4", "capacity-R4"} <= ids
    assert "milestones" not in ids  # packed rows leave the dummies out
    assert elapsed < 15, f"drawing 122 activities took {elapsed:.1f} s"  # about 0.5 s quiet
