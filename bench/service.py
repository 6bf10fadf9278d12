"""The service's overhead over an in-process solve, and how fast it takes submissions.

In one run: N in-process ``solve()`` calls (ft06, 1 s limit, 1 worker), then the same N through
a real ``makespan serve`` on loopback (``POST /v1/solve`` one at a time: latency), then N
submitted at once through ``POST /v1/jobs`` and awaited (throughput over the server's CPU
slots). Then submit throughput: ``--submissions`` small jobs posted by 16 clients as fast as
the servers answer ``202``, on one server with its SQLite file, one server on PostgreSQL, and
two servers sharing that PostgreSQL database (the clients split between them); PostgreSQL is
a real server started for the run (Debian's ``postgresql``; its rows are skipped without it).

    python bench/service.py --jobs 40 --slots 2 --submissions 2000
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from common import POSTGRES_INSTALL, Postgres, postgres_binaries, start_server

from makespan.api.client import Client
from makespan.models.jssp.benchmarks import load_named
from makespan.solvers import solve

OPTIONS: dict[str, Any] = {"time_limit_s": 1.0, "workers": 1, "seed": 0}


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def report(name: str, latencies: list[float], wall: float) -> None:
    """One line: count, jobs/s, p50 and p99 latency."""
    print(
        f"| {name} | {len(latencies)} | {len(latencies) / wall:.2f} | "
        f"{1000 * statistics.median(latencies):.0f} | {1000 * percentile(latencies, 0.99):.0f} |"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the measurements and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--slots", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--submissions", type=int, default=2000)
    parser.add_argument("--only-steps", action="store_true", help="Only where the time goes.")
    args = parser.parse_args(argv)
    instance = load_named("ft06")
    assert instance is not None
    body = instance.model_dump(mode="json", exclude_none=True)
    if args.only_steps:
        steps(body, args.jobs, args.slots)
        return 0

    print(f"# bench/service.py --jobs {args.jobs} --slots {args.slots}  (ft06, 1 s limit)")
    print("| path | jobs | jobs/s | p50 ms | p99 ms |")
    print("|---|---|---|---|---|")
    latencies = []
    started = time.monotonic()
    for _ in range(args.jobs):
        t = time.monotonic()
        assert solve("jssp", instance, **OPTIONS).objective == 55
        latencies.append(time.monotonic() - t)
    report("in-process solve(), sequential", latencies, time.monotonic() - started)

    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "bench.sqlite3"
        process, url = start_server(db, "--workers", str(args.slots))
        try:
            with Client(url) as client:
                client.solve("jssp", body, **OPTIONS)  # warm the fork server
                latencies = []
                started = time.monotonic()
                for _ in range(args.jobs):
                    t = time.monotonic()
                    assert client.solve("jssp", body, **OPTIONS).objective == 55
                    latencies.append(time.monotonic() - t)
                report("API POST /v1/solve, sequential", latencies, time.monotonic() - started)

                def submit_and_wait(_: int) -> float:
                    t = time.monotonic()
                    assert client.submit("jssp", body, **OPTIONS).wait(timeout=600).objective == 55
                    return time.monotonic() - t

                started = time.monotonic()
                with ThreadPoolExecutor(max_workers=args.jobs) as pool:
                    latencies = list(pool.map(submit_and_wait, range(args.jobs)))
                report(
                    f"API POST /v1/jobs, {args.jobs} at once", latencies, time.monotonic() - started
                )
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    steps(body, args.jobs, args.slots)
    submit_throughput(args.submissions)
    return 0


STEPS = (
    ("HTTP round trip (GET /healthz)", "http"),
    ("accept: parse, validate, store the job (POST to created_at)", "accept"),
    ("queue: scheduler wakes and claims (created_at to started_at)", "queue"),
    ("run beyond the solve: start, channel, files, result commit", "beyond"),
    ("the solve itself (the Result's wall_time_s)", "solve"),
    ("answer: publish and respond (finished_at to the answer)", "answer"),
    ("total POST /v1/solve", "total"),
)
"""The steps of a synchronous solve, with the key of each in :func:`_timeline`."""


def steps(body: dict[str, Any], count: int, slots: int) -> None:
    """Where a synchronous solve's time goes: per step, the median over ``count`` solves of
    ft06, from the client's clock and the job's stored times (milliseconds; the service's
    clock and the client's are the same machine's)."""
    print(f"\n# where the time goes: POST /v1/solve of ft06, {count} solves, median ms")
    print("| step | p50 ms |")
    print("|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        process, url = start_server(Path(folder) / "bench.sqlite3", "--workers", str(slots))
        try:
            with httpx.Client(base_url=url, timeout=60) as client:
                document = {"problem": "jssp", "instance": body, "options": OPTIONS}
                client.post("/v1/solve", json=document).raise_for_status()  # warm
                rows = [_timeline(client, document) for _ in range(count)]
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    for name, key in STEPS:
        print(f"| {name} | {1000 * statistics.median(row[key] for row in rows):.1f} |")
    overhead = [row["total"] - row["solve"] for row in rows]
    print(
        f"| **service overhead (total - solve)** | **{1000 * statistics.median(overhead):.1f}** |"
    )


def _timeline(client: httpx.Client, document: dict[str, Any]) -> dict[str, float]:
    """One synchronous solve, cut into the steps of :data:`STEPS` (seconds)."""
    before = time.time()
    client.get("/healthz").raise_for_status()
    sent = time.time()
    answer = client.post("/v1/solve", json=document)
    received = time.time()
    answer.raise_for_status()
    job = client.get("/v1/jobs", params={"limit": 1}).json()[0]
    created, started, finished = (
        _epoch(job[k]) for k in ("created_at", "started_at", "finished_at")
    )
    solve_s = answer.json()["wall_time_s"]
    return {
        "http": sent - before,
        "accept": created - sent,
        "queue": started - created,
        "beyond": finished - started - solve_s,
        "solve": solve_s,
        "answer": received - finished,
        "total": received - sent,
    }


def _epoch(stamp: str) -> float:
    """A stored ISO 8601 time (``...Z``) as seconds since the epoch."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


SUBMITTERS = 16
"""Clients posting jobs at once in the submit-throughput part."""


def submit_throughput(count: int) -> None:
    """Submissions per second: SQLite, PostgreSQL with one server, and with two."""
    print(f"\n# submit throughput: {count} jobs from {SUBMITTERS} clients (202 answers per s)")
    print("| store | servers | jobs/s | p50 ms | p99 ms |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        rate = _submissions([Path(folder) / "bench.sqlite3"], count, folder)
        print(f"| SQLite | 1 | {rate} |")
    binaries = postgres_binaries()
    if binaries is None:
        print(f"| PostgreSQL | - | skipped: {POSTGRES_INSTALL} | | |")
        return
    postgres = Postgres(binaries).start()
    try:
        for servers in (1, 2):
            url = postgres.new_database(f"bench{servers}")
            with tempfile.TemporaryDirectory() as folder:
                rate = _submissions([url] * servers, count, folder)
            print(f"| PostgreSQL | {servers} | {rate} |")
    finally:
        postgres.stop()


def _submissions(databases: list[Path | str], count: int, folder: str) -> str:
    """Start one server per database entry, post ``count`` jobs spread over them; the table
    cells: jobs/s, p50 and p99 of the submit latency."""
    settings = {"MAKESPAN_MAX_QUEUE": str(count + 1), "MAKESPAN_WORKERS": "1"}
    servers = [
        start_server(
            database, env={**settings, "MAKESPAN_STATE_DIR": str(Path(folder) / f"jobs{k}")}
        )
        for k, database in enumerate(databases)
    ]
    body = {"problem": "jssp", "instance": TINY, "options": {"time_limit_s": 1}}
    # One pooled client per server, kept alive: the clients' own cost stays out of the figure.
    limits = httpx.Limits(max_connections=SUBMITTERS, max_keepalive_connections=SUBMITTERS)
    clients = [httpx.Client(base_url=url, timeout=60, limits=limits) for _, url in servers]
    try:

        def post(k: int) -> float:
            started = time.monotonic()
            answer = clients[k % len(clients)].post("/v1/jobs", json=body)
            assert answer.status_code == 202, answer.text
            return time.monotonic() - started

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=SUBMITTERS) as pool:
            latencies = list(pool.map(post, range(count)))
        wall = time.monotonic() - started
    finally:
        for client in clients:
            client.close()
        for process, _ in servers:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)
    p50, p99 = (1000 * percentile(latencies, q) for q in (0.5, 0.99))
    return f"{count / wall:.0f} | {p50:.1f} | {p99:.1f}"


TINY: dict[str, Any] = {
    "num_machines": 2,
    "jobs": [
        [{"machine": 0, "duration": 3}, {"machine": 1, "duration": 2}],
        [{"machine": 1, "duration": 2}, {"machine": 0, "duration": 4}],
    ],
}


if __name__ == "__main__":
    sys.exit(main())
