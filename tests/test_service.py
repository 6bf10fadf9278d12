"""The REST service and the SDK against a real server on a loopback port."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Service, module_service, wait_for

from makespan.api.client import (
    AuthenticationError,
    BadRequestError,
    Client,
    Job,
    JobFailedError,
    NotFoundError,
    PayloadTooLargeError,
    QueueFullError,
)
from makespan.models.jssp import MODEL
from makespan.models.jssp.benchmarks import load_named
from makespan.models.jssp.instance import JobShopInstance
from makespan.models.registry import MODELS
from makespan.solvers.result import Result

TINY = {
    "num_machines": 2,
    "jobs": [
        [{"machine": 0, "duration": 3}, {"machine": 1, "duration": 2}],
        [{"machine": 1, "duration": 2}, {"machine": 0, "duration": 4}],
    ],
}


def _named(name: str) -> JobShopInstance:
    instance = load_named(name)
    assert instance is not None
    return instance


service = module_service(
    "service", workers="2", max_body_bytes=str(256 * 1024), max_time_limit_s="120"
)
"""One server shared by the tests of this module: 2 CPU slots, 256 KiB bodies."""


@pytest.fixture
def client(service: Service) -> Iterator[Client]:
    with Client(service.url) as sdk:
        yield sdk


def _assert_checked(instance: JobShopInstance, result: Result) -> None:
    assert result.solution is not None
    report = MODEL.check(instance, MODEL.parse_solution(result.solution))
    assert report.feasible, report.violations
    assert report.objective == result.objective


def test_submit_and_poll(client: Client, data: Path) -> None:
    job = client.submit("jssp", instance_text=(data / "ft06.txt").read_text(), time_limit_s=30)
    result = job.wait(timeout=120)
    assert result.status == "optimal" and result.objective == 55
    _assert_checked(_named("ft06"), result)
    document = job.document()
    assert document["status"] == "done" and document["options"]["workers"] == 1
    assert document["created_at"] <= document["started_at"] <= document["finished_at"]


def test_location_header_and_job_list(service: Service) -> None:
    answer = httpx.post(f"{service.url}/v1/jobs", json={"problem": "jssp", "instance": TINY})
    assert answer.status_code == 202 and answer.json()["status"] == "queued"
    assert answer.headers["location"] == f"/v1/jobs/{answer.json()['id']}"
    Job(Client(service.url), answer.json()["id"]).wait(timeout=60)
    listed = httpx.get(f"{service.url}/v1/jobs", params={"limit": 5, "status": "done"}).json()
    assert listed[0]["id"] == answer.json()["id"]
    assert all(job["status"] == "done" for job in listed)


def test_synchronous_solve(client: Client) -> None:
    result = client.solve("jssp", TINY, time_limit_s=10)
    assert result.status == "optimal" and result.objective == 7


def test_a_job_stops_at_its_gap_limit(client: Client) -> None:
    instance = _named("ft10")
    result = client.submit("jssp", instance.model_dump(), time_limit_s=10, gap_limit=0.5).wait(60)
    assert result.termination == "gap_limit" and result.status == "feasible"
    assert result.bound is not None and result.objective is not None
    assert result.bound < result.objective and result.gap is not None and result.gap <= 0.5
    _assert_checked(instance, result)


def test_events_stream_incumbents_then_done(client: Client) -> None:
    instance = _named("ta41")
    job = client.submit("jssp", instance, time_limit_s=4)
    events = list(job.events())
    kinds = [event.kind for event in events]
    assert kinds[0] == "status" and kinds[-1] == "done"
    incumbents = [e.data for e in events if e.kind == "incumbent"]
    assert incumbents, kinds
    objectives = [i["objective"] for i in incumbents if i["objective"] is not None]
    assert objectives == sorted(objectives, reverse=True)
    final = Result.model_validate(events[-1].data)
    assert final.objective == objectives[-1]
    _assert_checked(instance, final)
    # a late subscriber gets the whole story replayed
    replay = list(job.events())
    assert [e.kind for e in replay].count("incumbent") == len(incumbents)


def test_cancel_mid_solve_keeps_the_incumbent(client: Client) -> None:
    instance = _named("ta41")
    job = client.submit("jssp", instance, time_limit_s=100)
    wait_for(lambda: job.status() == "running")
    time.sleep(3)
    started = time.monotonic()
    job.cancel()
    result = job.wait(timeout=60)
    assert time.monotonic() - started < 30
    assert job.status() == "cancelled" and result.termination == "cancelled"
    _assert_checked(instance, result)


def test_cancel_of_a_queued_job_and_unknown_job(service: Service, client: Client) -> None:
    blockers = [client.submit("jssp", _named("ta41"), time_limit_s=6) for _ in range(2)]
    queued = client.submit("jssp", TINY, time_limit_s=5)
    assert queued.status() == "queued"
    assert queued.cancel()["status"] == "cancelled"
    for blocker in blockers:
        blocker.cancel()
    with pytest.raises(NotFoundError):
        client.job("nope").status()


def test_fifty_concurrent_small_jobs_all_complete(client: Client) -> None:
    with ThreadPoolExecutor(max_workers=10) as pool:
        jobs = list(pool.map(lambda _: client.submit("jssp", TINY, time_limit_s=5), range(50)))
        results = list(pool.map(lambda job: job.wait(timeout=300), jobs))
    assert len({job.id for job in jobs}) == 50
    assert all(r.status == "optimal" and r.objective == 7 for r in results)


BAD_BODIES: list[tuple[str, Any, str | None]] = [
    ("unknown kind", {"problem": "tsp", "instance": TINY}, "problem"),
    (
        "schema violation",
        {
            "problem": "jssp",
            "instance": {"num_machines": 2, "jobs": [[{"machine": 9, "duration": 1}]]},
        },
        "instance",
    ),
    (
        "negative duration",
        {
            "problem": "jssp",
            "instance": {"num_machines": 1, "jobs": [[{"machine": 0, "duration": -1}]]},
        },
        "instance.jobs.0.0.duration",
    ),
    ("no instance", {"problem": "jssp"}, None),
    ("both instances", {"problem": "jssp", "instance": TINY, "instance_text": "1 1\n0 1\n"}, None),
    ("bad instance text", {"problem": "jssp", "instance_text": "2 2\n1 x\n"}, "instance_text"),
    (
        "time limit over max",
        {"problem": "jssp", "instance": TINY, "options": {"time_limit_s": 1e6}},
        "options.time_limit_s",
    ),
    (
        "negative time limit",
        {"problem": "jssp", "instance": TINY, "options": {"time_limit_s": -1}},
        "options.time_limit_s",
    ),
    (
        "too many workers",
        {"problem": "jssp", "instance": TINY, "options": {"workers": 64}},
        "options.workers",
    ),
    (
        "unknown backend",
        {"problem": "jssp", "instance": TINY, "options": {"backend": "cplex"}},
        "options.backend",
    ),
    (
        "misspelt parameter",
        {"problem": "jssp", "instance": TINY, "options": {"backend_params": "num_workrs: 2"}},
        "options.backend_params",
    ),
    (
        "negative gap limit",
        {"problem": "jssp", "instance": TINY, "options": {"gap_limit": -0.1}},
        "options.gap_limit",
    ),
    (
        "parameter the service owns",
        {
            "problem": "jssp",
            "instance": TINY,
            "options": {"backend": "highs", "backend_params": "threads=64"},
        },
        "options.backend_params",
    ),
    (
        "unknown option",
        {"problem": "jssp", "instance": TINY, "options": {"timelimit": 3}},
        "options.timelimit",
    ),
]


@pytest.mark.parametrize(("case", "body", "field"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_bad_requests_get_422_naming_the_field(
    service: Service, case: str, body: Any, field: str | None
) -> None:
    answer = httpx.post(f"{service.url}/v1/jobs", json=body)
    assert answer.status_code == 422, answer.text
    error = answer.json()
    assert error["message"]
    if field is not None:
        assert error["field"].startswith(field), error
    if case == "bad instance text":
        assert error["line"] == 2 and "expected an integer" in error["message"]


def test_malformed_json_and_oversize_body(service: Service) -> None:
    broken = httpx.post(
        f"{service.url}/v1/jobs",
        content=b'{"problem": "jssp", "inst',
        headers={"content-type": "application/json"},
    )
    assert broken.status_code == 422 and broken.json()["message"]
    huge = {"problem": "jssp", "instance_text": "x" * (300 * 1024)}
    too_big = httpx.post(f"{service.url}/v1/jobs", json=huge)
    assert too_big.status_code == 413 and "limit" in too_big.json()["message"]
    with Client(service.url) as sdk, pytest.raises(PayloadTooLargeError):
        sdk.submit("jssp", instance_text="x" * (300 * 1024))
    with Client(service.url) as sdk, pytest.raises(BadRequestError) as caught:
        sdk.submit("jssp", instance_text="2 2\n1 x\n")
    assert caught.value.field == "instance_text" and caught.value.line == 2


def test_problems_schema_and_openapi(service: Service) -> None:
    problems = httpx.get(f"{service.url}/v1/problems").json()
    assert [p["kind"] for p in problems["problems"]] == sorted(MODELS)
    schema = httpx.get(f"{service.url}/v1/problems/jssp/schema").json()
    assert "jobs" in schema["properties"]
    assert httpx.get(f"{service.url}/v1/problems/tsp/schema").status_code == 404
    components = httpx.get(f"{service.url}/openapi.json").json()["components"]["schemas"]
    for kind, model in MODELS.items():
        request = f"{kind.title().replace('_', '')}JobRequest"
        assert model.instance_type.__name__ in components
        assert components[request]["examples"][0]["problem"] == kind


def test_kill_9_mid_job_loses_nothing(
    start_service: Callable[..., Service], tmp_path: Path
) -> None:
    db = tmp_path / "crash.sqlite3"
    server = start_service(db=db, workers="1")
    with Client(server.url) as sdk:
        running = sdk.submit("jssp", _named("ta41"), time_limit_s=3)
        queued = sdk.submit("jssp", TINY, time_limit_s=3)
        wait_for(lambda: running.status() == "running")
    server.kill()
    restarted = start_service(db=db, workers="1")
    with Client(restarted.url) as sdk:
        for job_id in (running.id, queued.id):
            result = sdk.job(job_id).wait(timeout=120)
            assert result.objective is not None
        assert sdk.job(running.id).document()["status"] == "done"


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, frontier = [], [pid]
    while frontier:
        for child in children.get(frontier.pop(), []):
            found.append(child)
            frontier.append(child)
    return found


def test_a_crashed_solver_fails_its_job_not_the_server(
    start_service: Callable[..., Service],
) -> None:
    server = start_service(workers="1")
    with Client(server.url) as sdk:
        sdk.solve("jssp", TINY, time_limit_s=5)  # the fork server and a warm job process are up
        job = sdk.submit("jssp", _named("ta41"), time_limit_s=60)
        wait_for(lambda: job.status() == "running")
        pid_file = server.db.with_suffix(".jobs") / job.id / "pid"  # the job's process
        wait_for(lambda: pid_file.exists() and pid_file.read_text().strip().isdigit())
        assert int(pid_file.read_text()) in _descendants(server.pid)
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
        wait_for(lambda: job.status() in ("failed", "done"))
        document = job.document()
        if document["status"] == "failed":  # killed before its first checkpoint
            assert document["error"]["type"] == "crashed"
            assert "exited (signal SIGKILL)" in document["error"]["message"]
            with pytest.raises(JobFailedError):
                job.wait(timeout=5)
        else:  # killed after it: the checked warm start is the answer
            result = Result.model_validate(document["result"])
            assert result.termination == "error" and "SIGKILL" in (result.message or "")
            _assert_checked(_named("ta41"), result)
        assert sdk.solve("jssp", TINY, time_limit_s=5).objective == 7  # still serving


def test_api_key_and_full_queue(start_service: Callable[..., Service]) -> None:
    server = start_service(
        api_key="s3cret", workers="1", max_queue="1", instance_limits='{"jssp": 1000}'
    )
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    anonymous = httpx.get(f"{server.url}/v1/jobs")
    assert anonymous.status_code == 401 and anonymous.json()["message"]
    with Client(server.url, api_key="wrong") as sdk, pytest.raises(AuthenticationError):
        sdk.jobs()
    with Client(server.url, api_key="s3cret") as sdk:
        first = sdk.submit("jssp", _named("ta41"), time_limit_s=20)
        wait_for(lambda: first.status() == "running")
        second = sdk.submit("jssp", TINY, time_limit_s=5)
        with pytest.raises(QueueFullError) as caught:
            sdk.submit("jssp", TINY, time_limit_s=5)
        assert caught.value.retry_after is not None
        first.cancel()
        second.wait(timeout=60)
        with pytest.raises(PayloadTooLargeError) as too_big:
            sdk.submit("jssp", _named("ta71"), time_limit_s=5)  # 2000 operations
        assert too_big.value.field == "instance"
        assert "limit of 1000 operations" in str(too_big.value)


def test_non_loopback_bind_needs_a_key(makespan_command: list[str], tmp_path: Path) -> None:
    import subprocess

    done = subprocess.run(
        [*makespan_command, "serve", "--host", "0.0.0.0", "--db", str(tmp_path / "x.db")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "API key" in done.stderr


def test_schemathesis_finds_no_server_errors(
    start_service: Callable[..., Service], tmp_path: Path
) -> None:
    import shutil
    import sys

    st = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert st is not None, "schemathesis is part of the dev extra"
    server = start_service(workers="1", max_time_limit_s="1", max_body_bytes="65536")
    import subprocess

    done = subprocess.run(
        [
            st,
            "run",
            f"{server.url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "15",
            "--phases",
            "examples,fuzzing",
            "--request-timeout",
            "20",
            "--seed",
            "1",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
