"""Nothing lost: the job pipeline under injected faults, against real servers on loopback.

Each test injects one fault for real (a database lock held by another process, a job process
killed or frozen, the server SIGKILLed alone, a file-descriptor or file-size limit imposed on the
running server, SIGTERM during a synchronous solve) and checks that every job answered with an
id reaches a final state with its best answer, that nothing is left running, and that the
server keeps serving. ``bench/reliability.py`` runs the same faults many times, with figures.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Service, wait_for

from makespan.api.client import Client, Job
from makespan.api.store import JobStore
from makespan.models.jssp import MODEL as JSSP
from makespan.models.jssp.benchmarks import load_named

TINY = {
    "num_machines": 2,
    "jobs": [
        [{"machine": 0, "duration": 3}, {"machine": 1, "duration": 2}],
        [{"machine": 1, "duration": 2}, {"machine": 0, "duration": 4}],
    ],
}


def _ta41() -> Any:
    instance = load_named("ta41")
    assert instance is not None
    return instance


def _assert_checked(document: dict[str, Any]) -> None:
    result = document["result"]
    assert result is not None and result["solution"] is not None, document
    report = JSSP.check(_ta41(), JSSP.parse_solution(result["solution"]))
    assert report.feasible and report.objective == result["objective"]


def _folders(server: Service) -> Path:
    return server.db.with_suffix(".jobs")


def _running_ta41(sdk: Client, time_limit_s: float) -> Job:
    """A ta41 job once it runs: ta41 is never proven, so it runs for its whole limit."""
    job = sdk.submit("jssp", _ta41(), time_limit_s=time_limit_s)
    wait_for(lambda: job.status() == "running")
    return job


def _job_pid(server: Service, job_id: str) -> int:
    """The pid of the job's process, once it has written it."""
    pid_file = _folders(server) / job_id / "pid"
    wait_for(pid_file.exists)
    return int(pid_file.read_text().strip())


def _wait_gone(pid: int) -> None:
    """Wait until ``pid`` has exited (gone, or a zombie nobody has reaped yet)."""
    wait_for(lambda: not Path(f"/proc/{pid}").exists() or _zombie(pid), 15)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@contextlib.contextmanager
def _limited(pid: int, limit: int, soft: int) -> Iterator[None]:
    """The resource ``limit`` of the running process ``pid`` lowered to ``soft`` for the block,
    then put back: the server meets the limit while it runs, as it would in production."""
    limits = resource.prlimit(pid, limit)
    resource.prlimit(pid, limit, (soft, limits[1]))
    try:
        yield
    finally:
        resource.prlimit(pid, limit, limits)


def _document_after_restart(
    start_service: Callable[..., Service], db: Path, job_id: str
) -> dict[str, Any]:
    """Restart a server on ``db``, wait for the job to end there, and return its document."""
    restarted = start_service(db=db, workers="1")
    with Client(restarted.url) as sdk:
        sdk.job(job_id).wait(timeout=120)
        return sdk.job(job_id).document()


@pytest.fixture
def server(start_service: Callable[..., Service]) -> Service:
    """A server with one CPU slot, as most faults here want: one job runs, the next queues."""
    return start_service(workers="1")


@pytest.fixture
def sdk(server: Service) -> Iterator[Client]:
    """An SDK client to ``server``."""
    with Client(server.url) as client:
        yield client


def test_a_database_lock_held_by_another_process_loses_nothing(
    server: Service, sdk: Client
) -> None:
    job = sdk.submit("jssp", TINY, time_limit_s=5)
    job.wait(timeout=60)
    running = _running_ta41(sdk, 3)
    locker = sqlite3.connect(server.db, timeout=30)
    locker.execute("BEGIN IMMEDIATE")  # the write lock, as a backup or a sqlite3 shell
    try:
        time.sleep(5)  # the job ends meanwhile; its result waits for the lock
        health = httpx.get(f"{server.url}/healthz", timeout=10).json()
        assert health["status"] == "degraded" and any("store" in p for p in health["problems"])
    finally:
        locker.rollback()
        locker.close()
    result = running.wait(timeout=60)
    assert result.objective is not None
    _assert_checked(running.document())
    after = sdk.solve("jssp", TINY, time_limit_s=5)
    assert after.objective == 7
    wait_for(lambda: httpx.get(f"{server.url}/healthz").json()["status"] == "ok", 30)


def test_a_process_that_cannot_start_fails_its_job_and_frees_the_slots(
    server: Service, sdk: Client
) -> None:
    assert sdk.solve("jssp", TINY, time_limit_s=5).objective == 7  # fork server up
    open_files = len(os.listdir(f"/proc/{server.pid}/fd"))
    with _limited(server.pid, resource.RLIMIT_NOFILE, open_files):
        job = sdk.submit("jssp", TINY, time_limit_s=5)
        wait_for(lambda: job.status() in ("failed", "done"))
    document = job.document()
    if document["status"] == "failed":  # the pipe or the fork failed for want of fds
        assert "could not start" in document["error"]["message"]
    assert sdk.solve("jssp", TINY, time_limit_s=5).objective == 7  # its slot came back


def test_a_killed_job_process_ends_with_its_checkpoint_or_fails(
    start_service: Callable[..., Service],
) -> None:
    server = start_service(workers="2")
    with Client(server.url) as sdk:
        victim = sdk.submit("jssp", _ta41(), time_limit_s=30)
        bystander = sdk.submit("jssp", _ta41(), time_limit_s=4)
        wait_for(lambda: (_folders(server) / victim.id / "checkpoint.json").exists())
        os.kill(_job_pid(server, victim.id), signal.SIGKILL)
        wait_for(lambda: victim.status() in ("done", "failed"))
        document = victim.document()
        assert document["status"] == "done", document
        assert document["result"]["termination"] == "error"
        assert "exited" in document["result"]["message"]
        _assert_checked(document)
        bystander.wait(timeout=60)  # the other job's channel was never disturbed
        _assert_checked(bystander.document())


def test_jobs_run_one_after_another_in_a_warm_process(server: Service, sdk: Client) -> None:
    assert sdk.solve("jssp", TINY, time_limit_s=5).objective == 7  # the process kept warm
    first = _running_ta41(sdk, 1)
    pid = _job_pid(server, first.id)
    first.wait(timeout=60)
    second = _running_ta41(sdk, 1)
    assert _job_pid(server, second.id) == pid  # no fork: the same process, idle meanwhile
    second.wait(timeout=60)
    _assert_checked(second.document())


def test_a_killed_job_process_is_replaced_for_the_next_job(server: Service, sdk: Client) -> None:
    victim = _running_ta41(sdk, 30)
    pid = _job_pid(server, victim.id)
    wait_for(lambda: (_folders(server) / victim.id / "checkpoint.json").exists())
    os.kill(pid, signal.SIGKILL)
    victim.wait(timeout=60)
    _wait_gone(pid)
    after = _running_ta41(sdk, 1)
    assert _job_pid(server, after.id) != pid
    after.wait(timeout=60)
    _assert_checked(after.document())


def test_a_frozen_job_is_killed_at_its_deadline_and_keeps_its_warm_start(
    start_service: Callable[..., Service],
) -> None:
    server = start_service(workers="1", kill_grace_s="1")
    with Client(server.url) as sdk:
        job = sdk.submit("jssp", _ta41(), time_limit_s=4)
        wait_for(lambda: (_folders(server) / job.id / "checkpoint.json").exists())
        os.kill(_job_pid(server, job.id), signal.SIGSTOP)  # stuck: never answers again
        wait_for(lambda: job.status() in ("done", "failed"), timeout=30)
        document = job.document()
        assert document["status"] == "done"
        assert document["result"]["termination"] == "time_limit"
        assert "killed" in document["result"]["message"]
        _assert_checked(document)


def test_a_job_cancelled_while_queued_never_starts(sdk: Client) -> None:
    blocker = sdk.submit("jssp", _ta41(), time_limit_s=3)
    queued = sdk.submit("jssp", TINY, time_limit_s=3)
    assert queued.cancel()["status"] == "cancelled"
    blocker.wait(timeout=60)
    time.sleep(1.5)  # the scheduler has looked at the queue again meanwhile
    document = queued.document()
    assert document["status"] == "cancelled" and document["started_at"] is None


def test_cancelling_a_running_job_stops_its_process(server: Service, sdk: Client) -> None:
    job = sdk.submit("jssp", _ta41(), time_limit_s=60)
    pid = _job_pid(server, job.id)
    job.cancel()
    result = job.wait(timeout=30)
    assert result.termination == "cancelled" and job.status() == "cancelled"
    _wait_gone(pid)


def test_sigkill_of_the_server_alone_leaves_no_orphans_and_the_job_reruns(
    server: Service, sdk: Client, start_service: Callable[..., Service]
) -> None:
    job = sdk.submit("jssp", _ta41(), time_limit_s=4)
    pid = _job_pid(server, job.id)
    server.signal_alone(signal.SIGKILL, timeout=30)  # the server only, as the OOM killer does
    _wait_gone(pid)
    document = _document_after_restart(start_service, server.db, job.id)
    assert document["status"] == "done"
    _assert_checked(document)
    with contextlib.closing(JobStore(server.db)) as store:
        record = store.get(job.id)
        assert record is not None and record.attempts == 2


def test_sigterm_during_a_synchronous_solve_answers_503_and_keeps_the_job(
    server: Service, start_service: Callable[..., Service]
) -> None:
    answers: list[httpx.Response] = []
    body = {"problem": "jssp", "instance": json.loads(_ta41().model_dump_json())}
    body["options"] = {"time_limit_s": 8}  # the signal lands as the job process starts

    def solve() -> None:
        answers.append(httpx.post(f"{server.url}/v1/solve", json=body, timeout=60))

    thread = threading.Thread(target=solve)
    thread.start()
    wait_for(lambda: any(_folders(server).glob("*/pid")))
    server.signal_alone(signal.SIGTERM, timeout=60)
    thread.join(timeout=60)
    (answer,) = answers
    assert answer.status_code == 503, answer.text
    job_id = answer.headers["location"].rsplit("/", 1)[1]
    _assert_checked(_document_after_restart(start_service, server.db, job_id))


def test_full_disk_delays_the_result_but_loses_nothing(server: Service, sdk: Client) -> None:
    job = _running_ta41(sdk, 3)
    size = server.db.stat().st_size + Path(f"{server.db}-wal").stat().st_size
    with _limited(server.pid, resource.RLIMIT_FSIZE, max(size // 2, 4096)):
        time.sleep(5)  # the job ends; its result cannot be written
        refused = httpx.post(
            f"{server.url}/v1/jobs", json={"problem": "jssp", "instance": TINY}, timeout=30
        )
        assert refused.status_code in (202, 503), refused.text
    job.wait(timeout=60)
    _assert_checked(job.document())


def test_purge_and_retention(server: Service, start_service: Callable[..., Service]) -> None:
    with Client(server.url) as sdk:  # closed before the graceful stop below
        done = sdk.submit("jssp", TINY, time_limit_s=5)
        done.wait(timeout=60)
        running = _running_ta41(sdk, 20)
        refused = httpx.delete(f"{server.url}/v1/jobs/{running.id}", params={"purge": "true"})
        assert refused.status_code == 409
        running.cancel()
        running.wait(timeout=60)
        purged = httpx.delete(f"{server.url}/v1/jobs/{running.id}", params={"purge": "true"})
        assert purged.status_code == 200
        assert httpx.get(f"{server.url}/v1/jobs/{running.id}").status_code == 404
        listed = httpx.get(f"{server.url}/v1/jobs").json()
        assert [job["id"] for job in listed] == [done.id]
        assert "result" not in listed[0] and listed[0]["objective"] == 7
    server.stop()
    restarted = start_service(db=server.db, workers="1", retention_days="0.00001")
    assert httpx.get(f"{restarted.url}/v1/jobs/{done.id}").status_code == 404


def test_plots_are_bounded_and_never_stall_the_service(server: Service, sdk: Client) -> None:
    job = sdk.submit("jssp", _ta41(), time_limit_s=2)
    job.wait(timeout=60)

    def picture(fmt: str) -> httpx.Response:
        return httpx.get(f"{server.url}/v1/jobs/{job.id}/plot.{fmt}", timeout=120)

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(picture, ["png", "svg", "pdf"] * 4))
        health = httpx.get(f"{server.url}/healthz", timeout=10)
    assert health.status_code == 200
    for answer in answers:
        assert answer.status_code in (200, 503), answer.text
        if answer.status_code == 503:
            assert answer.headers["retry-after"]
    assert any(answer.status_code == 200 for answer in answers)
    assert picture("svg").status_code == 200  # and from the cache
