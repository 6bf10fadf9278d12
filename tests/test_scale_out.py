"""Beyond one machine: two ``makespan serve`` processes on one real PostgreSQL server, their
jobs run on one local multi-node Ray cluster (``ray.cluster_utils.Cluster``).

Any server answers for any job (status, events, cancel); when a server dies, another takes its
jobs over once their leases run out; a Ray node that dies ends its job clearly. Skipped
cleanly without PostgreSQL (a failure under CI, whose .ci/run installs it) or Ray.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from common import Postgres
from conftest import Service, _environment, wait_for

from makespan.api.client import Client, Event
from makespan.api.store import JobStore
from makespan.models.jssp.benchmarks import load_named

ray_cluster_utils = pytest.importorskip("ray.cluster_utils")

LEASE_S = "4"
"""Short leases: a dead server's jobs are taken over within seconds."""


@pytest.fixture
def cluster() -> Iterator[Any]:
    """A Ray head and one more node, one CPU each: two jobs at once must use both."""
    ray_cluster = ray_cluster_utils.Cluster(
        initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False}
    )
    ray_cluster.add_node(num_cpus=1)
    ray_cluster.wait_for_nodes()
    yield ray_cluster
    ray_cluster.shutdown()


@pytest.fixture
def servers(
    postgres: Postgres,
    postgres_url: str,
    cluster: Any,
    makespan_command: list[str],
    tmp_path: Path,
) -> Iterator[tuple[Service, Service]]:
    """Servers A and B on one database and one Ray cluster."""
    settings = _environment(
        {"executor": f"ray:{cluster.address}", "workers": "2", "lease_s": LEASE_S}
    )
    started = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        env = {**settings, "MAKESPAN_STATE_DIR": str(folder / "jobs")}
        server = Service(makespan_command, folder / "server.db", env, database=postgres_url)
        started.append(server.start())
    yield started[0], started[1]
    for server in started:
        server.stop()


def _instance(name: str) -> Any:
    instance = load_named(name)
    assert instance is not None
    return instance


def _owner(store: JobStore, job_id: str) -> str | None:
    record = store.get(job_id)
    assert record is not None
    return record.owner


def _ended(server: Service, job_id: str) -> bool:
    return _status(server, job_id) in ("done", "failed", "cancelled")


def _status(server: Service, job_id: str) -> str:
    status: str = httpx.get(f"{server.url}/v1/jobs/{job_id}", timeout=30).json()["status"]
    return status


def test_two_servers_share_jobs_events_cancels_and_take_over(
    servers: tuple[Service, Service], cluster: Any
) -> None:
    a, b = servers
    with Client(a.url) as on_a, Client(b.url) as on_b:
        # A job submitted on A is seen, followed live and cancelled on B.
        watched = on_a.submit("jssp", _instance("ta41"), time_limit_s=60)
        events: list[Event] = []
        follower = threading.Thread(target=lambda: events.extend(on_b.job(watched.id).events()))
        follower.start()
        wait_for(lambda: any(e.kind == "incumbent" for e in events), 60)
        assert on_b.job(watched.id).status() == "running"
        on_b.job(watched.id).cancel()
        follower.join(timeout=60)
        assert [e.kind for e in events][-1] == "done"
        assert on_a.job(watched.id).document()["status"] == "cancelled"

        # Two jobs at once on two one-CPU nodes; A dies with both running.
        jobs = [on_a.submit("jssp", _instance(name), time_limit_s=8) for name in ("ta41", "ta42")]
        wait_for(lambda: all(_status(b, job.id) == "running" for job in jobs), 60)
        store = JobStore(b.database)
        try:
            owners_on_a = {job.id: _owner(store, job.id) for job in jobs}
            a.kill()
            for job in jobs:
                result = on_b.job(job.id).wait(timeout=120)  # re-run by B after the lease
                assert result.solution is not None
                record = store.get(job.id)
                assert record is not None and record.status.value == "done"
                assert record.attempts == 2  # A's start, then B's: never two at once
                assert record.owner is None or record.owner != owners_on_a[job.id]
        finally:
            store.close()
        listed = httpx.get(f"{b.url}/v1/jobs", params={"limit": 10}).json()
        assert {job["id"] for job in listed} >= {watched.id, *(job.id for job in jobs)}


def test_a_ray_node_that_dies_ends_its_job_clearly(
    servers: tuple[Service, Service], cluster: Any
) -> None:
    a, _ = servers
    with Client(a.url) as sdk:
        jobs = [sdk.submit("jssp", _instance(name), time_limit_s=12) for name in ("ta41", "ta42")]
        store = JobStore(a.database)
        try:  # both solving (each has reported progress), so one on each node
            wait_for(lambda: all(store.incumbents(job.id) for job in jobs), 60)
        finally:
            store.close()
        worker_node = next(node for node in cluster.list_all_nodes() if not node.head)
        cluster.remove_node(worker_node)  # one of the two jobs runs there
        documents = []
        for job in jobs:
            wait_for(partial(_ended, a, job.id), 120)
            documents.append(job.document())
    ended_by_the_node = [
        d
        for d in documents
        if (d["error"] or {}).get("message", "").startswith("the Ray task failed")
        or "the Ray task failed" in ((d["result"] or {}).get("message") or "")
    ]
    messages = [((d["error"] or d["result"] or {}).get("message")) for d in documents]
    assert len(ended_by_the_node) == 1, messages
