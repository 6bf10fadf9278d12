"""RCPSP: makespan's solver against the textbook CP-SAT model, same PSPLIB instances, same run.

The textbook model is the one every CP-SAT tutorial writes: one interval per activity, a
cumulative per resource, a precedence per successor, makespan = max of ends, horizon = sum of
durations, no hint, default parameters (only the time limit and worker count set). Ours is
``makespan.solvers.solve`` with its defaults (warm start, hint, tightened domains). Both get the
same wall-clock limit.

Gaps: makespan / upper bound - 1 (best known, UGent tables) and makespan / critical-path bound
- 1 (the usual measure on j60-j120, where optima are unknown), from
``../shared/benchmarks/rcpsp/bounds/psplib_bounds.json``. After the per-instance table come one
row per parameter set and the overall rows: instances, best known reached, proven optimal, and
the mean gaps, textbook then ours.

    python bench/rcpsp.py --time-limit 60 --workers 2          # instance 1 of every parameter
    python bench/rcpsp.py --instances j301_1,j6013_1 --time-limit 10
    python bench/rcpsp.py --preset issue17 --time-limit 10 --workers 2 \
        --jsonl-out rows.jsonl                                  # all j30, j120 sets 1, 6, ..., 56

``--jsonl-out`` appends each instance's row as it finishes; with ``--resume`` the instances
already there are read back instead of solved again.
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


PRESETS = {
    "issue17": lambda bounds: [
        *(f"j30{p}_{i}" for p in range(1, 49) for i in range(1, 11)),
        *(f"j120{p}_{i}" for p in range(1, 60, 5) for i in range(1, 11)),
    ]
}
"""Named instance lists: ``issue17`` is every j30 instance and the j120 parameter sets 1, 6, 11,
..., 56 (120 files, every set with resource strength 0.1)."""


def parameter_set(name: str, entry: dict[str, Any]) -> str:
    """``j120/51`` for ``j12051_3``: the benchmark set and its parameter combination."""
    prefix: str = entry["set"]
    return f"{prefix}/{name[len(prefix) :].split('_')[0]}"


def textbook(
    instance: RcpspInstance,
    time_limit_s: float,
    workers: int,
    params: dict[str, bool] | None = None,
) -> dict[str, Any]:
    """The plain CP-SAT RCPSP model, solved with default parameters (or ``params``)."""
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
    return solve_textbook(model, time_limit_s, workers, started, params)


def main(argv: list[str] | None = None) -> int:
    """Run both solvers on every instance; print the table and the summaries."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", default=None, help="PSPLIB names, comma-separated")
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None)
    parser.add_argument("--jsonl-out", type=Path, default=None, help="append rows here")
    parser.add_argument("--resume", action="store_true", help="reuse the rows of --jsonl-out")
    add_run_options(parser)
    args = parser.parse_args(argv)
    bounds = load_bounds()
    if not bounds:
        print(f"no bounds file at {BOUNDS}", file=sys.stderr)
        return 2
    if args.preset:
        names = PRESETS[args.preset](bounds)
    else:
        names = args.instances.split(",") if args.instances else default_instances(bounds)
    unknown = [name for name in names if name not in bounds]
    if unknown:
        print(f"unknown instances: {', '.join(unknown)}", file=sys.stderr)
        return 2
    done = _read_rows(args.jsonl_out) if args.resume and args.jsonl_out else {}
    print(f"# bench/rcpsp.py --time-limit {args.time_limit:g} --workers {args.workers}")
    print("| instance | ub | cpm | textbook | gap ub | ours | gap ub | gap cpm | warm start |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    for name in names:
        row = done.get(name) or _run(name, bounds[name], args.time_limit, args.workers)
        _print_row(row)
        rows.append(row)
        if args.jsonl_out and name not in done:
            with args.jsonl_out.open("a") as out:
                out.write(json.dumps(row) + "\n")
    _summary(rows)
    _per_set(rows, bounds)
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=1))
    return 0


def _read_rows(path: Path) -> dict[str, dict[str, Any]]:
    """The rows an earlier run appended to ``path``, by instance (none when it is missing)."""
    if not path.exists():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {row["instance"]: row for row in rows}


def _run(name: str, entry: dict[str, Any], time_limit_s: float, workers: int) -> dict[str, Any]:
    instance = MODEL.read_file(SHARED / entry["file"])
    upper, cpm = entry["upper_bound"], entry["cpm_lb"]
    base = textbook(instance, time_limit_s, workers)
    mine = solve_ours("rcpsp", instance, time_limit_s, workers)
    return {
        "instance": name,
        "upper_bound": upper,
        "cpm_lb": cpm,
        **compared(base, mine, gap_ub=upper, gap_cpm=cpm),
    }


def _print_row(row: dict[str, Any]) -> None:
    base, mine = row["textbook"], row["ours"]
    print(
        f"| {row['instance']} | {row['upper_bound']} | {row['cpm_lb']} "
        f"| {cell(base)} | {pct(row['gap_ub_textbook'])} "
        f"| {cell(mine)} | {pct(row['gap_ub_ours'])} "
        f"| {pct(row['gap_cpm_ours'])} | {mine['warm_start']} |",
        flush=True,
    )


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


def _per_set(rows: list[dict[str, Any]], bounds: dict[str, dict[str, Any]]) -> None:
    """One row per parameter set, then per benchmark set, then overall (rows where both
    solvers found a schedule; a missing schedule is counted apart)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        key = parameter_set(row["instance"], bounds[row["instance"]])
        groups.setdefault(key, []).append(row)
    totals: dict[str, list[dict[str, Any]]] = {}
    for key, members in groups.items():
        totals.setdefault(key.split("/")[0], []).extend(members)
    print()
    print(
        "| set | n | best known reached tb / ours | proven optimal tb / ours "
        "| gap ub tb / ours | gap cpm tb / ours | no schedule tb / ours |"
    )
    print("|---|---|---|---|---|---|---|")
    for key, members in [*groups.items(), *totals.items(), ("overall", rows)]:
        print(_set_row(key, members))


def _set_row(key: str, members: list[dict[str, Any]]) -> str:
    def count(side: str, test: Any) -> int:
        return sum(1 for r in members if test(r, r[side]))

    def reached(r: dict[str, Any], run: dict[str, Any]) -> bool:
        return run["objective"] is not None and run["objective"] <= r["upper_bound"]

    def optimal(r: dict[str, Any], run: dict[str, Any]) -> bool:
        return bool(run["optimal"])

    def missing(r: dict[str, Any], run: dict[str, Any]) -> bool:
        return run["objective"] is None

    paired = [
        r for r in members if r["gap_ub_ours"] is not None and r["gap_ub_textbook"] is not None
    ]
    gaps = "- | -"
    if paired:
        gaps = (
            f"{_mean(paired, 'gap_ub_textbook')} / {_mean(paired, 'gap_ub_ours')} "
            f"| {_mean(paired, 'gap_cpm_textbook')} / {_mean(paired, 'gap_cpm_ours')}"
        )
    return (
        f"| {key} | {len(members)} "
        f"| {count('textbook', reached)} / {count('ours', reached)} "
        f"| {count('textbook', optimal)} / {count('ours', optimal)} "
        f"| {gaps} | {count('textbook', missing)} / {count('ours', missing)} |"
    )


if __name__ == "__main__":
    sys.exit(main())
