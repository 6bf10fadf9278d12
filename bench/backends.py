"""Time each backend needs to prove job-shop instances optimal, in one run.

Every backend gets the same instances, time limit, worker count and warm start (on by default,
``--no-warm-start`` to compare the bare models). A cell is the wall time of the whole solve
when it ended proven optimal, else the status and objective it reached.

    python bench/backends.py --instances la01,la02,la03,la04,la05 --time-limit 300 --workers 2
"""

from __future__ import annotations

import argparse
import sys

from makespan.models.jssp.benchmarks import load_named
from makespan.solvers import solve
from makespan.solvers.backends import available_backends


def main(argv: list[str] | None = None) -> int:
    """Solve every instance with every backend and print one markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", default="la01,la02,la03,la04,la05")
    parser.add_argument("--backends", default=",".join(available_backends()))
    parser.add_argument("--time-limit", type=float, default=300.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-warm-start", action="store_true")
    args = parser.parse_args(argv)
    backends = args.backends.split(",")
    flags = " --no-warm-start" if args.no_warm_start else ""
    print(f"# bench/backends.py --time-limit {args.time_limit:g} --workers {args.workers}{flags}")
    print("| instance | optimum | " + " | ".join(backends) + " |")
    print("|---|---|" + "---|" * len(backends))
    for name in args.instances.split(","):
        instance = load_named(name)
        if instance is None:
            print(f"unknown instance {name}", file=sys.stderr)
            return 2
        cells = []
        for backend in backends:
            result = solve(
                "jssp",
                instance,
                time_limit_s=args.time_limit,
                backend=backend,
                workers=args.workers,
                warm_start=not args.no_warm_start,
            )
            if result.status == "optimal":
                cells.append(f"{result.wall_time_s:.2f} s")
            else:
                cells.append(f"{result.status} {result.objective} (bound {result.bound})")
        best = instance.bounds.best_known if instance.bounds else None
        print(f"| {name} | {best} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
