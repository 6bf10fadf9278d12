"""Shared fixtures and helpers: test data paths, the shared benchmark folder, the backends to
test, the ``makespan`` command, and real servers on loopback."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from makespan.solvers.backends import available_backends

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[1]
SHARED_BENCHMARKS = REPO.parent / "shared" / "benchmarks"

BACKENDS = available_backends()
"""Every backend this installation runs: behaviour specs are parametrised over all of them."""


@pytest.fixture
def data() -> Path:
    """The folder of small test instance files."""
    return DATA


@pytest.fixture
def shared_benchmarks() -> Path:
    """../shared/benchmarks, or a clean skip where it is absent."""
    if not SHARED_BENCHMARKS.is_dir():
        pytest.skip("../shared/benchmarks is not present")
    return SHARED_BENCHMARKS


ARTIFACTS = REPO / "test-artifacts"
"""Pictures and screenshots the tests make, kept for people to look at (git ignores them)."""


@pytest.fixture
def artifacts() -> Path:
    """test-artifacts/ in the repository, created when first asked for."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def makespan_command() -> list[str]:
    """The installed ``makespan`` console script."""
    script = shutil.which("makespan", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.fail("the makespan command is not installed beside this Python")
    return [script]


def run_makespan(
    command: list[str], *args: str, cwd: Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``makespan ARGS`` in ``cwd``, its output captured as text; it never raises on an
    exit code, so that the test asserts on it."""
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout, check=False
    )


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll ``predicate`` every 0.1 s until it holds; ``TimeoutError`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.1)


class Service:
    """A real ``makespan serve`` subprocess on a free loopback port, with its own SQLite file
    (``db``) or on a shared PostgreSQL database (``database``, its log then in ``log``)."""

    def __init__(
        self,
        command: list[str],
        db: Path,
        env: dict[str, str],
        *,
        database: str | None = None,
    ) -> None:
        self.command = command
        self.db = db
        self.database = database or str(db)
        self.env = env
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = db.with_suffix(".log")

    @property
    def pid(self) -> int:
        """The server process's pid (it must have been started)."""
        assert self.process is not None
        return self.process.pid

    def start(self) -> Service:
        """Start the server and wait until /healthz answers."""
        environment = {**os.environ, **self.env}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*self.command, "serve", "--port", str(self.port), "--db", self.database],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environment,
                start_new_session=True,  # its own process group, so kill() takes the solvers too
            )
        return self.wait_until_up()

    def wait_until_up(self) -> Service:
        """Wait until /healthz answers; an error with the log's tail if the server died."""
        assert self.process is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server did not start: {self.log.read_text()[-2000:]}")

    def signal_alone(self, signum: signal.Signals, timeout: float) -> None:
        """Send ``signum`` to the server process alone (its job processes are left to notice
        on their own) and wait up to ``timeout`` s for it to exit."""
        assert self.process is not None
        os.kill(self.process.pid, signum)
        self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """kill -9 the server and every process it started, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        """A graceful stop (SIGTERM), then kill whatever is left of its process group."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _environment(settings: dict[str, str]) -> dict[str, str]:
    """``workers="1"`` as ``MAKESPAN_WORKERS=1``: settings named as the service documents them."""
    return {f"MAKESPAN_{name.upper()}": value for name, value in settings.items()}


@pytest.fixture
def start_service(makespan_command: list[str], tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """Start real servers with settings from ``MAKESPAN_*`` variables; all stopped afterwards."""
    started: list[Service] = []

    def start(db: Path | None = None, **env: str) -> Service:
        service = Service(
            makespan_command, db or tmp_path / f"jobs{len(started)}.sqlite3", _environment(env)
        )
        started.append(service)
        return service.start()

    yield start
    for service in started:
        service.stop()


def module_service(folder: str, **settings: str) -> object:
    """A module-scoped ``service`` fixture: one real server shared by a module's tests, with
    ``settings`` as ``MAKESPAN_*`` variables and its SQLite file in a temporary ``folder``.

    Assign it at module level (``service = module_service("name", workers="1")``) for pytest
    to find; it is opaque otherwise. Starting a server takes seconds, hence one per module.
    """

    @pytest.fixture(scope="module", name="service")
    def service(
        makespan_command: list[str], tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[Service]:
        db = tmp_path_factory.mktemp(folder) / "jobs.sqlite3"
        server = Service(makespan_command, db, _environment(settings))
        server.start()
        yield server
        server.stop()

    return service


# --- PostgreSQL ---------------------------------------------------------------------------

sys.path.insert(0, str(REPO / "bench"))  # the PostgreSQL starter is shared with the benches
from common import POSTGRES_INSTALL, Postgres, postgres_binaries  # noqa: E402


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A real PostgreSQL server for the session; a clean skip without one (a failure under CI,
    whose .ci/run installs it)."""
    binaries = postgres_binaries()
    if binaries is None:
        message = f"PostgreSQL is not installed: {POSTGRES_INSTALL}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    # Not under pytest's temporary folder: the server's user must be able to reach it.
    server = Postgres(binaries).start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres: Postgres, request: pytest.FixtureRequest) -> str:
    """A fresh PostgreSQL database for one test."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:50].lower()
    return postgres.new_database(f"{name}_{_free_port()}")
