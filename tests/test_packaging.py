"""The distribution installs under one namespace, its command works, and its solver libraries
can share a process."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ORTOOLS_TINY = """
from ortools.sat.python import cp_model
m = cp_model.CpModel(); x = m.new_int_var(0, 10, "x"); m.add(x >= 3); m.minimize(x)
s = cp_model.CpSolver(); assert s.solve(m) == cp_model.OPTIMAL and s.value(x) == 3
"""
HIGHS_TINY = """
import highspy
h = highspy.Highs(); h.setOptionValue("output_flag", False)
h.addVar(0, 10); h.changeColCost(0, 1.0); h.addRow(3, 1e30, 1, [0], [1.0]); h.run()
assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
assert abs(h.getInfo().objective_function_value - 3) < 1e-9
"""


@pytest.mark.parametrize("first", ["ortools", "highspy"])
def test_ortools_and_highspy_solve_in_one_process(first: str) -> None:
    """highspy 1.15 breaks OR-Tools 9.15 in one process whichever loads first; 1.14 must not."""
    code = ORTOOLS_TINY + HIGHS_TINY if first == "ortools" else HIGHS_TINY + ORTOOLS_TINY
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_no_bare_top_level_packages_are_installed(tmp_path: Path) -> None:
    code = (
        "import importlib.util as u, makespan.models, makespan.solvers, makespan.api;"
        "assert all(u.find_spec(n) is None for n in ('models', 'solvers', 'api', 'instances'))"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path, timeout=60)


def test_installed_command_runs(makespan_command: list[str], tmp_path: Path) -> None:
    out = subprocess.run(
        [*makespan_command, "problems", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=True,
    )
    assert '"jssp"' in out.stdout


def test_bundled_examples_are_installed() -> None:
    from makespan.instances import example_path

    assert example_path("jssp/ft06.txt").read_text().count("\n") >= 13


def test_the_wheel_carries_the_page_and_the_examples(tmp_path: Path) -> None:
    """``pip install .`` installs from a wheel: the page's files and every bundled example must
    be in it, not only in the source tree that an editable install reads."""
    from makespan.instances import EXAMPLES

    repo = Path(__file__).resolve().parents[1]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(repo)],
        check=True,
        timeout=600,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("makespan-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    expected = {f"makespan/api/static/{name}" for name in ("index.html", "app.js", "style.css")}
    expected |= {f"makespan/instances/{example.file}" for example in EXAMPLES}
    expected |= {f"makespan/{package}/py.typed" for package in ("models", "solvers", "api")}
    assert expected <= names, sorted(expected - names)
