"""What the comparison benchmarks share: solving a textbook CP-SAT model, solving with ours, and
formatting gaps."""

from __future__ import annotations

import time
from typing import Any

from ortools.sat.python import cp_model

from makespan.solvers import solve


def solve_textbook(
    model: cp_model.CpModel, time_limit_s: float, workers: int, started: float
) -> dict[str, Any]:
    """Solve a textbook model with default parameters (only the limit and workers set)."""
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = workers
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
    result = solve(problem, instance, time_limit_s=time_limit_s, workers=workers, seed=0)
    return {
        "objective": result.objective,
        "bound": result.bound,
        "optimal": result.status == "optimal",
        "time_s": result.wall_time_s,
        "warm_start": result.warm_start.objective if result.warm_start else None,
    }


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
