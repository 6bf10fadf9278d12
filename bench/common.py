"""What the benchmarks share: solving a textbook CP-SAT model, solving with ours, formatting
gaps, and starting a real ``makespan serve`` on loopback."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from ortools.sat.python import cp_model

# OR-Tools and the solver stack are imported where a solve needs them: the service benches
# (fuzz, reliability, service) import this module to start servers and talk HTTP only.

SERVE = [sys.executable, "-m", "makespan.api", "serve"]
"""``makespan serve`` as the benches run it: the package of this Python, not a PATH lookup."""


def solve_textbook(
    model: cp_model.CpModel,
    time_limit_s: float,
    workers: int,
    started: float,
    params: Mapping[str, bool] | None = None,
) -> dict[str, Any]:
    """Solve a textbook model with default parameters (only the limit and workers set, and
    ``params`` when an experiment sets some)."""
    from ortools.sat.python import cp_model

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = workers
    for name, value in (params or {}).items():
        setattr(solver.parameters, name, value)
    code = solver.solve(model)
    found = code in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    return {
        "objective": int(solver.objective_value) if found else None,
        "bound": int(solver.best_objective_bound),
        "optimal": code == cp_model.OPTIMAL,
        "time_s": time.monotonic() - started,
    }


def solve_ours(problem: str, instance: Any, time_limit_s: float, workers: int) -> dict[str, Any]:
    """makespan's solve() with its defaults."""
    from makespan.solvers import solve

    result = solve(problem, instance, time_limit_s=time_limit_s, workers=workers, seed=0)
    return {
        "objective": result.objective,
        "bound": result.bound,
        "optimal": result.status == "optimal",
        "time_s": result.wall_time_s,
        "warm_start": result.warm_start.objective if result.warm_start else None,
    }


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """``--time-limit``, ``--workers`` and ``--json-out``, as every comparison bench takes them."""
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json-out", type=Path, default=None, help="write the raw rows here")


def compared(
    base: dict[str, Any], mine: dict[str, Any], **references: float | None
) -> dict[str, Any]:
    """A row's two runs, then both gaps to each reference: ``gap_ub=...`` gives the columns
    ``gap_ub_textbook`` and ``gap_ub_ours``, in that order."""
    row: dict[str, Any] = {"textbook": base, "ours": mine}
    for column, reference in references.items():
        row[f"{column}_textbook"] = gap(base["objective"], reference)
        row[f"{column}_ours"] = gap(mine["objective"], reference)
    return row


def best_known_row(
    name: str, size: str, best: float | None, base: dict[str, Any], mine: dict[str, Any]
) -> tuple[dict[str, Any], str]:
    """A benchmark's row (both runs and their gaps to ``best``) and its table line:
    ``| name | size | best known | textbook | gap | ours | gap | warm start |``."""
    row = {"instance": name, "best": best, **compared(base, mine, gap=best)}
    line = (
        f"| {name} | {size} | {best} | {cell(base)} | {pct(row['gap_textbook'])} "
        f"| {cell(mine)} | {pct(row['gap_ours'])} | {mine['warm_start']} |"
    )
    return row, line


def gap(objective: float | None, reference: float | None) -> float | None:
    """objective / reference - 1; None when either is missing."""
    if objective is None or not reference:
        return None
    return objective / reference - 1


def pct(value: float | None) -> str:
    """A gap as a percentage, ``-`` when unknown."""
    return "-" if value is None else f"{100 * value:.2f}%"


def cell(run: dict[str, Any]) -> str:
    """An objective, starred when proven optimal."""
    return f"{run['objective']}{'*' if run['optimal'] else ''}"


def head_to_head(rows: list[dict[str, Any]], ours: str, theirs: str) -> str:
    """``instances: N; ours better on B, worse on W, equal on E`` over rows with both gaps."""
    better = sum(r[ours] < r[theirs] for r in rows)
    worse = sum(r[ours] > r[theirs] for r in rows)
    return (
        f"instances: {len(rows)}; ours better on {better}, worse on {worse}, "
        f"equal on {len(rows) - better - worse}"
    )


def free_port() -> int:
    """A loopback port that is free now (the OS picks it; a server started next takes it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(
    db: Path | str,
    *options: str,
    log: Path | None = None,
    env: Mapping[str, str] | None = None,
    own_group: bool = True,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``makespan serve`` on a free loopback port with its SQLite file at ``db`` and wait
    until ``/healthz`` answers; the process and its base URL.

    ``options`` go on its command line after the port and the database, ``env`` on top of this
    process's environment; its output is appended to ``log``, or dropped. ``own_group`` gives
    it its own process group, so that signalling the group reaches its solver processes too;
    a bench that kills the server alone to count orphans wants it off. A server that does not
    come up within 60 s is killed and a ``RuntimeError`` names its log.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with _output(log) as output:
        process = subprocess.Popen(
            [*SERVE, "--port", str(port), "--db", str(db), *options],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=own_group,
        )
    try:
        _wait_until_healthy(process, url)
    except RuntimeError as error:
        with contextlib.suppress(ProcessLookupError):  # an exited server's group may be gone
            if own_group:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
        process.wait(timeout=30)
        raise RuntimeError(f"{error}; log: {log or 'not kept'}") from None
    return process, url


@contextlib.contextmanager
def _output(log: Path | None) -> Iterator[IO[bytes] | int]:
    """The server's stdout: ``log`` opened for appending (the child keeps its own copy once
    started, so it is closed here), or DEVNULL."""
    if log is None:
        yield subprocess.DEVNULL
        return
    with log.open("ab") as file:
        yield file


def _wait_until_healthy(process: subprocess.Popen[bytes], url: str, timeout: float = 60) -> None:
    """Poll ``/healthz`` until it answers 200; ``RuntimeError`` if the server exits first or
    ``timeout`` s pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"makespan serve exited with code {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"makespan serve did not answer /healthz within {timeout:g} s")


# --- PostgreSQL (for the benches and the tests) --------------------------------------------


POSTGRES_INSTALL = "apt-get install postgresql"
"""How to get the server the PostgreSQL tests start (Debian's package)."""


def postgres_binaries() -> Path | None:
    """The folder of Debian's PostgreSQL server programs (initdb, pg_ctl), or None."""
    found = shutil.which("initdb")
    if found is not None:
        return Path(found).resolve().parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    return candidates[0].parent if candidates else None


class Postgres:
    """A real PostgreSQL server in a temporary data directory, on a free loopback port, run as
    an unprivileged user when the tests run as root (the server refuses to run as root)."""

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        # Not under a private temporary folder: the server's user must be able to reach it.
        self.folder = Path(tempfile.mkdtemp(prefix="makespan-postgres-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        self.log = self.folder / "postgres.log"

    def _run(self, *command: str) -> None:
        runner = ["runuser", "-u", self.user, "--"] if self.user else []
        done = subprocess.run([*runner, *command], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {done.stdout}{done.stderr}")

    url = ""
    """The ``postgresql://`` URL of the database ``makespan`` (once started)."""

    def start(self) -> Postgres:
        """initdb, then pg_ctl start, then a database named ``makespan``."""
        self.data.mkdir(parents=True)
        if self.user:
            shutil.chown(self.data.parent, self.user)
            shutil.chown(self.data, self.user)
        self._run(
            str(self.binaries / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "makespan",
            "--auth=trust",
            "--no-sync",
        )
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.binaries / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "start",
        )
        self.url = self.new_database("makespan")
        return self

    def new_database(self, name: str) -> str:
        """A fresh database on this server; its URL."""
        self._run(
            str(self.binaries / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "makespan",
            name,
        )
        return f"postgresql://makespan@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        """pg_ctl stop, fast, and remove the data."""
        with contextlib.suppress(RuntimeError, subprocess.SubprocessError, OSError):
            self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)
