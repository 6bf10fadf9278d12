"""Lint, format and types over the whole tree: part of the test command, so CI runs them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ["models", "solvers", "api", "instances"]
TREE = [*PACKAGES, "tests", "bench"]


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (pip install -e '.[dev]')")
    return found


def _run(args: list[str], env: dict[str, str] | None = None) -> None:
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stdout + done.stderr


def _namespace_tree() -> Path:
    """``makespan/{models,solvers,...}`` as links to the repository folders.

    mypy cannot follow setuptools' editable-install import hook, so it reads the package
    through this tree; the path is stable so that mypy's cache is reused between runs.
    """
    root = REPO / ".mypy_cache" / "namespace"
    package = root / "makespan"
    package.mkdir(parents=True, exist_ok=True)
    for folder in PACKAGES:
        link = package / folder
        if not link.is_symlink():
            link.symlink_to(REPO / folder, target_is_directory=True)
    return root


def test_ruff_lint() -> None:
    _run([_tool("ruff"), "check", *TREE])


def test_ruff_format() -> None:
    _run([_tool("ruff"), "format", "--check", *TREE])


def test_mypy() -> None:
    root = _namespace_tree()
    # tests/ and bench/ are on the path too: their scripts import helpers (conftest, common).
    paths = [str(root), str(REPO / "tests"), str(REPO / "bench")]
    env = {**os.environ, "MYPYPATH": os.pathsep.join(paths)}
    _run([_tool("mypy"), str(root / "makespan"), "tests", "bench"], env=env)
