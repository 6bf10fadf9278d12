"""RCPSP: makespan's solver against the textbook CP-SAT model, same PSPLIB instances, same run.

The textbook model is the one every CP-SAT tutorial writes: one interval per activity, a
cumulative per resource, a precedence per successor, makespan = max of ends, horizon = sum of
durations, no hint, default parameters (only the time limit and worker count set). Ours is
``makespan.solvers.solve`` with its defaults (warm start, hint, tightened domains). Both get the
same wall-clock limit.

Gaps: makespan / upper bound - 1 (best known, UGent tables) and makespan / critical-path bound
- 1 (the usual measure on j60-j120, where optima are unknown), from
``../shared/benchmarks/rcpsp/bounds/psplib_bounds.json``.

    python bench/rcpsp.py --time-limit 60 --workers 2          # instance 1 of every parameter
    python bench/rcpsp.py --instances j301_1,j6013_1 --time-limit 10
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from common import add_run_options, cell, compared, head_to_head, pct, solve_ours, solve_textbook
from ortools.sat.python import cp_model

from makespan.models.rcpsp import MODEL, RcpspInstance

SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "rcpsp"
BOUNDS = SHARED / "bounds" / "psplib_bounds.json"


def load_bounds() -> dict[str, dict[str, Any]]:
    """The bounds entries by PSPLIB name (``j301_1``: set j30, parameter 1, instance 1)."""
    if not BOUNDS.exists():
        return {}
    instances: dict[str, dict[str, Any]] = json.loads(BOUNDS.read_text())["instances"]
    return instances


def default_instances(bounds: dict[str, dict[str, Any]]) -> list[str]:
    """Instance 1 of every parameter combination of every set."""
    return [name for name in bounds if name.endswith("_1")]


def textbook(instance: RcpspInstance, time_limit_s: float, workers: int) -> dict[str, Any]:
    """The plain CP-SAT RCPSP model, solved with default parameters."""
    started = time.monotonic()
    model = cp_model.CpModel()
    horizon = sum(a.duration for a in instance.activities)
    starts: dict[int, Any] = {}
    ends: dict[int, Any] = {}
    intervals: dict[int, Any] = {}
    for a in instance.activities:
        starts[a.id] = model.new_int_var(0, horizon, f"s{a.id}")
        ends[a.id] = model.new_int_var(0, horizon, f"e{a.id}")
        intervals[a.id] = model.new_interval_var(starts[a.id], a.duration, ends[a.id], f"i{a.id}")
    for a in instance.activities:
        for successor in a.successors:
            model.add(starts[successor] >= ends[a.id])
    for resource in instance.resources:
        users = [a for a in instance.activities if a.demands.get(resource.name, 0)]
        model.add_cumulative(
            [intervals[a.id] for a in users],
            [a.demands[resource.name] for a in users],
            resource.capacity,
        )
    makespan = model.new_int_var(0, horizon, "makespan")
    model.add_max_equality(makespan, list(ends.values()))
    model.minimize(makespan)
    return solve_textbook(model, time_limit_s, workers, started)


def main(argv: list[str] | None = None) -> int:
    """Run both solvers on every instance; print the table and the summary counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", default=None, help="PSPLIB names, comma-separated")
    add_run_options(parser)
    args = parser.parse_args(argv)
    bounds = load_bounds()
    if not bounds:
        print(f"no bounds file at {BOUNDS}", file=sys.stderr)
        return 2
    names = args.instances.split(",") if args.instances else default_instances(bounds)
    unknown = [name for name in names if name not in bounds]
    if unknown:
        print(f"unknown instances: {', '.join(unknown)}", file=sys.stderr)
        return 2
    print(f"# bench/rcpsp.py --time-limit {args.time_limit:g} --workers {args.workers}")
    print("| instance | ub | cpm | textbook | gap ub | ours | gap ub | gap cpm | warm start |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = [_run(name, bounds[name], args.time_limit, args.workers) for name in names]
    _summary(rows)
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=1))
    return 0


def _run(name: str, entry: dict[str, Any], time_limit_s: float, workers: int) -> dict[str, Any]:
    instance = MODEL.read_file(SHARED / entry["file"])
    upper, cpm = entry["upper_bound"], entry["cpm_lb"]
    base = textbook(instance, time_limit_s, workers)
    mine = solve_ours("rcpsp", instance, time_limit_s, workers)
    row = {
        "instance": name,
        "upper_bound": upper,
        "cpm_lb": cpm,
        **compared(base, mine, gap_ub=upper, gap_cpm=cpm),
    }
    print(
        f"| {name} | {upper} | {cpm} "
        f"| {cell(base)} | {pct(row['gap_ub_textbook'])} "
        f"| {cell(mine)} | {pct(row['gap_ub_ours'])} "
        f"| {pct(row['gap_cpm_ours'])} | {mine['warm_start']} |",
        flush=True,
    )
    return row


def _mean(rows: list[dict[str, Any]], key: str) -> str:
    return pct(statistics.fmean(r[key] for r in rows))


def _summary(rows: list[dict[str, Any]]) -> None:
    paired = [r for r in rows if r["gap_ub_ours"] is not None and r["gap_ub_textbook"] is not None]
    if not paired:
        return
    print()
    print(head_to_head(paired, "gap_ub_ours", "gap_ub_textbook"))
    print(
        f"proven optimal: textbook {sum(r['textbook']['optimal'] for r in paired)}, "
        f"ours {sum(r['ours']['optimal'] for r in paired)}"
    )
    print(
        f"mean gap to upper bound: textbook {_mean(paired, 'gap_ub_textbook')}, "
        f"ours {_mean(paired, 'gap_ub_ours')}"
    )
    print(
        f"mean gap to critical-path bound: textbook {_mean(paired, 'gap_cpm_textbook')}, "
        f"ours {_mean(paired, 'gap_cpm_ours')}"
    )


if __name__ == "__main__":
    sys.exit(main())
