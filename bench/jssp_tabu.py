"""Job-shop tabu search: the pure-Python search of a git revision against the compiled one.

Both start from the same best dispatch schedule, with the same seed, and run the tabu search
alone (no CP-SAT) for a fixed wall-clock budget on one core, one after the other on each
instance so that both see the same machine. The stall limit is off by default, so that both use
the whole budget (``--service-stall`` applies the warm start's own, ``stall_limit``). Columns:
iterations per second of the search and the makespan reached; ``same`` says whether the compiled
search, given the old one's iteration count, ends on the same makespan (the same moves, since
both draw the same random numbers). The compiled kernels are loaded before the clock starts;
their load (or, on a cold numba cache, compile) time is printed first.

    python bench/jssp_tabu.py --budgets 2,5
    python bench/jssp_tabu.py --instances ft10,ta41 --budgets 1 --old-rev main
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from makespan.models.jssp.benchmarks import load_named
from makespan.models.jssp.heuristics import best_dispatch, stall_limit
from makespan.models.jssp.instance import JobShopInstance
from makespan.models.jssp.tabu import DEFAULT_MAX_STALL_ITERATIONS, kernels_ready, run_tabu

REPO = Path(__file__).resolve().parents[1]
DEFAULT_INSTANCES = ["ft10", *(f"la{i}" for i in range(16, 21))]
DEFAULT_INSTANCES += [*(f"ta{i:02d}" for i in range(1, 11)), "ta21", "ta41"]
SEED = 0


def old_heuristics(rev: str) -> tuple[ModuleType, str]:
    """``models/jssp/heuristics.py`` as it was at ``rev`` (default: where this branch left
    main), imported under its own name; and the commit it resolved to."""
    commit = _git("rev-parse", "--short", rev)
    source = _git("show", f"{commit}:models/jssp/heuristics.py")
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"jssp_heuristics_{commit}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"jssp_heuristics_{commit}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module, commit


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.strip()


def measure(
    old: ModuleType, instance: JobShopInstance, budget: float, max_stall: int
) -> dict[str, Any]:
    """One instance at one budget: the old search, then the new, then the new one capped at
    the old one's iteration count."""
    start = best_dispatch(instance)
    began = time.monotonic()
    old_found, old_its = old._tabu_search(
        instance,
        start,
        deadline=began + budget,
        seed=SEED,
        lower_bound=None,
        max_stall_iterations=max_stall,
    )
    old_s = time.monotonic() - began
    began = time.monotonic()
    new_found, new_its = run_tabu(
        instance, start, deadline=began + budget, seed=SEED, max_stall_iterations=max_stall
    )
    new_s = time.monotonic() - began
    replay, _ = run_tabu(
        instance,
        start,
        deadline=float("inf"),
        seed=SEED,
        max_stall_iterations=max_stall,
        max_iterations=old_its,
    )
    return {
        "start": start.makespan,
        "old_rate": old_its / old_s,
        "new_rate": new_its / new_s,
        "old": old_found.makespan,
        "new": new_found.makespan,
        "same": replay.makespan == old_found.makespan,
        "best_known": instance.bounds.best_known if instance.bounds else None,
    }


def main(argv: list[str] | None = None) -> int:
    """Measure every instance at every budget; print a markdown table and the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", default=",".join(DEFAULT_INSTANCES))
    parser.add_argument("--budgets", default="2,5", help="seconds per search, comma-separated")
    parser.add_argument("--old-rev", default=None, help="default: git merge-base HEAD main")
    parser.add_argument("--service-stall", action="store_true", help="stop as warm_start does")
    args = parser.parse_args(argv)
    old, commit = old_heuristics(args.old_rev or _git("merge-base", "HEAD", "main"))
    began = time.monotonic()
    kernels_ready(float("inf"), lambda: False)
    print(f"# bench/jssp_tabu.py --budgets {args.budgets} (old: {commit}, python)")
    print(f"kernels loaded in {time.monotonic() - began:.2f} s; load average {_load()}")
    print()
    print("| instance | size | budget | dispatch | its/s old | its/s new | ratio |", end="")
    print(" makespan old | new | same | best known |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for budget in (float(b) for b in args.budgets.split(",")):
        for name in args.instances.split(","):
            instance = load_named(name)
            if instance is None:
                print(f"unknown instance {name}", file=sys.stderr)
                return 2
            stall = stall_limit(instance) if args.service_stall else DEFAULT_MAX_STALL_ITERATIONS
            row = {"name": name, "budget": budget, **measure(old, instance, budget, stall)}
            rows.append(row)
            print(_row(row, instance), flush=True)
    print()
    for budget in sorted({r["budget"] for r in rows}):
        _summary([r for r in rows if r["budget"] == budget], budget)
    print(f"load average {_load()}")
    return 0


def _row(row: dict[str, Any], instance: JobShopInstance) -> str:
    return (
        f"| {row['name']} | {instance.num_jobs}x{instance.num_machines} | {row['budget']:g} s "
        f"| {row['start']} | {row['old_rate']:,.0f} | {row['new_rate']:,.0f} "
        f"| {row['new_rate'] / row['old_rate']:.1f} | {row['old']} | {row['new']} "
        f"| {'yes' if row['same'] else 'no'} | {row['best_known']} |"
    )


def _summary(rows: list[dict[str, Any]], budget: float) -> None:
    median = statistics.median
    speed = [r["new_rate"] / r["old_rate"] for r in rows]
    quality = [r["new"] / r["old"] for r in rows]
    known = [r for r in rows if r["best_known"]] or [{"old": 1, "new": 1, "best_known": 1}]
    gaps_old = [r["old"] / r["best_known"] - 1 for r in known]
    gaps_new = [r["new"] / r["best_known"] - 1 for r in known]
    old_rate = median(r["old_rate"] for r in rows)
    new_rate = median(r["new_rate"] for r in rows)
    print(
        f"- {budget:g} s, {len(rows)} instances: median its/s old {old_rate:,.0f}, new "
        f"{new_rate:,.0f}; median ratio new/old {median(speed):.1f} "
        f"(min {min(speed):.1f}, max {max(speed):.1f})"
    )
    print(
        f"  makespan: median ratio new/old {median(quality):.4f}, new better on "
        f"{sum(q < 1 for q in quality)}, worse on {sum(q > 1 for q in quality)}; "
        f"median gap to best known old {100 * median(gaps_old):.2f}%, "
        f"new {100 * median(gaps_new):.2f}%; same moves at equal iterations on "
        f"{sum(r['same'] for r in rows)}/{len(rows)}"
    )


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
