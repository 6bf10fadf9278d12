"""The job store's contract, on both of its databases: the embedded SQLite file and a real
PostgreSQL server (started by the ``postgres`` fixture; skipped cleanly without one)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from makespan.api.store import MAX_INCUMBENTS, JobStatus, JobStore


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of each kind the store supports."""
    if request.param == "sqlite":
        return str(tmp_path / "jobs.sqlite3")
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(database: str) -> Iterator[JobStore]:
    """A store with a short lease, closed afterwards."""
    opened = JobStore(database, lease_s=1.0)
    yield opened
    opened.close()


def _queued(store: JobStore, slots: int = 1) -> str:
    return store.insert("jssp", '{"num_machines": 1}', {"time_limit_s": 1}, slots).id


def test_a_job_is_stored_before_its_id_is_answered(store: JobStore, database: str) -> None:
    job_id = _queued(store)
    other = JobStore(database)
    try:
        record = other.get(job_id)
        assert record is not None and record.status is JobStatus.QUEUED
        assert other.instance(job_id) == '{"num_machines": 1}'
        assert [r.id for r in other.recent(5)] == [job_id]
        assert other.count(JobStatus.QUEUED) == 1
    finally:
        other.close()


def test_the_oldest_job_is_claimed_first_and_never_overtaken(store: JobStore) -> None:
    first, second = _queued(store, slots=2), _queued(store)
    assert store.claim_oldest("a", free_slots=1) is None  # the oldest needs two slots
    claimed = store.claim_oldest("a", free_slots=2)
    assert claimed is not None and claimed.id == first and claimed.owner == "a"
    assert claimed.status is JobStatus.RUNNING and claimed.attempts == 1
    later = store.claim_oldest("b", free_slots=4)
    assert later is not None and later.id == second
    assert store.claim_oldest("b", free_slots=4) is None


def test_servers_claiming_together_take_each_job_once(store: JobStore, database: str) -> None:
    ids = {_queued(store) for _ in range(30)}
    claimed: dict[str, list[str]] = {"a": [], "b": []}

    def claim_all(owner: str) -> None:
        mine = JobStore(database, lease_s=30)
        try:
            while (record := mine.claim_oldest(owner, free_slots=1)) is not None:
                claimed[owner].append(record.id)
        finally:
            mine.close()

    threads = [threading.Thread(target=claim_all, args=(owner,)) for owner in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    together = claimed["a"] + claimed["b"]
    assert sorted(together) == sorted(ids)  # every job claimed, none twice


def test_a_cancelled_job_never_starts_and_final_states_are_final(store: JobStore) -> None:
    job_id = _queued(store)
    cancelled = store.request_cancel(job_id)
    assert cancelled is not None and cancelled.status is JobStatus.CANCELLED
    assert not store.claim(job_id, "a")
    assert store.claim_oldest("a", free_slots=1) is None
    assert not store.finish(job_id, JobStatus.DONE, {"objective": 1})


def test_only_the_server_holding_a_job_can_end_it(store: JobStore) -> None:
    job_id = _queued(store)
    assert store.claim(job_id, "a")
    store.save_checkpoint(job_id, {"objective": 9}, "b")  # not b's: ignored
    assert not store.finish(job_id, JobStatus.DONE, {"objective": 5}, owner="b")
    assert store.finish(job_id, JobStatus.DONE, {"objective": 5}, owner="a")
    record = store.get(job_id)
    assert record is not None and record.result == {"objective": 5}


def test_a_dead_servers_jobs_are_requeued_then_ended_with_their_checkpoint(
    store: JobStore,
) -> None:
    job_id = _queued(store)
    assert store.claim(job_id, "dead")
    store.save_checkpoint(job_id, {"objective": 7, "message": None}, "dead")
    assert store.recover("me", 2, alive=lambda owner: True).requeued == []  # lease still held
    time.sleep(1.2)  # the lease (1 s) runs out
    assert store.recover("me", 2, alive=lambda owner: True).requeued == [job_id]
    assert store.claim(job_id, "dead")  # its second start; the server dies again
    store.save_checkpoint(job_id, {"objective": 6, "message": None}, "dead")
    recovery = store.recover("me", 2, alive=lambda owner: owner != "dead")  # known gone
    assert recovery.finished == [job_id]
    record = store.get(job_id)
    assert record is not None and record.status is JobStatus.DONE and record.attempts == 2
    assert record.result is not None and record.result["objective"] == 6
    assert "stopped" in record.result["message"]


def test_renewed_leases_keep_the_job(store: JobStore) -> None:
    job_id = _queued(store)
    assert store.claim(job_id, "a")
    for _ in range(3):
        time.sleep(0.5)
        store.renew("a", [job_id])
    assert store.recover("b", 2, alive=lambda owner: True).requeued == []


def test_purge_retention_and_thinning(store: JobStore) -> None:
    running, done = _queued(store), _queued(store)
    assert store.claim(running, "a") and store.claim(done, "a")
    for k in range(3 * MAX_INCUMBENTS):
        store.add_incumbent(running, float(k), 10_000.0 - k, 1.0)
    points = store.incumbents(running)
    assert len(points) <= MAX_INCUMBENTS
    assert points[0]["time_s"] == 0 and points[-1]["time_s"] == 3 * MAX_INCUMBENTS - 1
    assert [p["seq"] for p in store.incumbents(running, after=points[-2]["seq"])] == [
        points[-1]["seq"]
    ]
    assert not store.purge(running)  # not finished
    assert store.finish(done, JobStatus.DONE, {"objective": 1})
    assert store.expire(timedelta(days=1)) == 0
    time.sleep(0.01)
    assert store.expire(timedelta(0)) == 1
    assert store.get(done) is None
    assert store.finish(running, JobStatus.CANCELLED)
    assert store.purge(running) and store.get(running) is None
    assert store.incumbents(running) == []
