"""Shared fixtures: test data paths, the shared benchmark folder, the backends to test."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from makespan.solvers.backend import available_backends

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


@pytest.fixture(scope="session")
def makespan_command() -> list[str]:
    """The installed ``makespan`` console script."""
    script = shutil.which("makespan", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.fail("the makespan command is not installed beside this Python")
    return [script]
