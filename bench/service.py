"""The service's overhead over an in-process solve, for small jobs (ft06, 1 s limit, 1 worker).

In one run: N in-process ``solve()`` calls, then the same N through a real ``makespan serve``
on loopback (``POST /v1/solve`` one at a time: latency), then N submitted at once through
``POST /v1/jobs`` and awaited (throughput over the server's CPU slots).

    python bench/service.py --jobs 40 --slots 2
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
from pathlib import Path
from typing import Any

from common import start_server

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
    """Run the three measurements and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--slots", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    instance = load_named("ft06")
    assert instance is not None
    body = instance.model_dump(mode="json", exclude_none=True)

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
    return 0


if __name__ == "__main__":
    sys.exit(main())
