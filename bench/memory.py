"""Memory-mapping benchmark over ../shared/benchmarks/memory, ours against textbook CP-SAT.

Per instance, in one run and with the same time limit and workers:
- textbook: CP-SAT's 2-D no-overlap of (fixed lifetime) x (offset) rectangles with offsets in
  ``[0, capacity - size]``; without a capacity it minimises the peak, offsets capped by the sum
  of sizes. No hint, default parameters;
- ours: ``solve()`` with its defaults (greedy warm start, the canonical search, CP-SAT).

It prints, per instance, whether each fits the capacity (or its peak against the max-live lower
bound), the time to that answer, and medians. The textbook model is only built for instances of
at most ``--textbook-max`` buffers (its no-overlap-2d on 60k boxes does not load in the limit).

    python bench/memory.py --time-limit 60 --workers 2
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

from ortools.sat.python import cp_model

from makespan.models.memory_mapping import MODEL, MemoryInstance
from makespan.solvers import solve

SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "memory"


def textbook(instance: MemoryInstance, time_limit_s: float, workers: int) -> dict[str, Any]:
    """The plain CP-SAT model; the peak it reaches (None without a solution) and its time."""
    started = time.monotonic()
    model = cp_model.CpModel()
    top = instance.capacity or sum(b.size for b in instance.buffers)
    ends = []
    xs, ys = [], []
    for b in instance.buffers:
        offset = model.new_int_var(0, top - b.size, f"o{b.id}")
        xs.append(model.new_fixed_size_interval_var(b.lower, b.upper - b.lower, f"t{b.id}"))
        ys.append(model.new_fixed_size_interval_var(offset, b.size, f"a{b.id}"))
        ends.append(offset + b.size)
    model.add_no_overlap_2d(xs, ys)
    peak = model.new_int_var(0, top, "peak")
    model.add_max_equality(peak, ends)
    if instance.capacity is None:
        model.minimize(peak)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.1, time_limit_s - (time.monotonic() - started))
    solver.parameters.num_workers = workers
    code = solver.solve(model)
    found = code in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    return {"peak": solver.value(peak) if found else None, "time_s": time.monotonic() - started}


def ours(instance: MemoryInstance, time_limit_s: float, workers: int) -> dict[str, Any]:
    """``solve()`` with defaults; the time is the first fit for capacity instances."""
    result = solve("memory_mapping", instance, time_limit_s=time_limit_s, workers=workers)
    peak = result.solution["peak"] if result.solution else None
    return {
        "peak": peak,
        "time_s": result.wall_time_s,
        "status": result.status,
        "backend": result.backend,
        "greedy": result.warm_start.objective if result.warm_start else None,
    }


def describe(run: dict[str, Any], instance: MemoryInstance) -> str:
    """``fits`` / ``no`` at a capacity, else the peak over max-live."""
    if run["peak"] is None:
        return "no solution"
    if instance.capacity is not None:
        return "fits" if run["peak"] <= instance.capacity else "no"
    excess = run["peak"] - instance.max_live
    return "= max-live" if excess == 0 else f"+{excess} ({run['peak'] / instance.max_live:.6f})"


def instances(only: list[str]) -> list[Path]:
    """The benchmark files, MiniMalloc's first, optionally filtered by name."""
    files = sorted((SHARED / "minimalloc").rglob("*.csv")) + sorted(
        (SHARED / "idealloc").rglob("*.csv")
    )
    return [f for f in files if not only or any(o in str(f.relative_to(SHARED)) for o in only)]


def main() -> None:
    """Run the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--textbook-max", type=int, default=2000)
    parser.add_argument("--only", nargs="*", default=[])
    args = parser.parse_args()
    print(f"## memory mapping, {args.time_limit:g} s, {args.workers} workers")
    print(
        "| instance | n | capacity | max-live | ours | ours time s | by | textbook | textbook s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    times: list[float] = []
    textbook_times: list[float] = []
    for path in instances(args.only):
        instance = MODEL.read_file(path)
        mine = ours(instance, args.time_limit, args.workers)
        theirs: dict[str, Any] | None = None
        if len(instance.buffers) <= args.textbook_max:
            theirs = textbook(instance, args.time_limit, args.workers)
        times.append(mine["time_s"])
        if theirs is not None:
            textbook_times.append(theirs["time_s"])
        row = [
            str(path.relative_to(SHARED)),
            str(len(instance.buffers)),
            str(instance.capacity or "-"),
            str(instance.max_live),
            describe(mine, instance),
            f"{mine['time_s']:.2f}",
            mine["backend"],
            describe(theirs, instance) if theirs else "not run",
            f"{theirs['time_s']:.2f}" if theirs else "-",
        ]
        print("| " + " | ".join(row) + " |", flush=True)
    print()
    print(f"median time, ours: {statistics.median(times):.2f} s over {len(times)} instances")
    if textbook_times:
        print(
            f"median time, textbook: {statistics.median(textbook_times):.2f} s over "
            f"{len(textbook_times)} instances"
        )


if __name__ == "__main__":
    main()
