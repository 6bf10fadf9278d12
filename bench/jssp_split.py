"""Job-shop: the split of the time limit on small classic shops, the elite search against the
final CP-SAT solve, measured.

On shops of at most ``STALL_MAX_OPERATIONS`` operations (15 x 15) the elite search hands over
to CP-SAT once nothing improved for half the time it searched (``models/jssp/elite.py``).
``--caps`` runs ``solve`` with its defaults once per value of ``STALL_CAP_SHARE``, the share of
the search's budget after which it hands over at the latest (1 = no cap, as shipped), and
prints each run's makespans, bounds and proofs and their mean gap to the best known.

    python bench/jssp_split.py --time-limit 60 --workers 2                 # caps 0.3 and 1
    python bench/jssp_split.py --instances ft10,ta01 --caps 0.2,0.5,1
"""

from __future__ import annotations

import argparse
import statistics
import sys

from common import add_run_options, cell, pct, solve_ours
from jssp import best_known_values, named_shops

from makespan.models.jssp import elite

SMALL = ",".join(["ft10"] + [f"ta{i:02d}" for i in range(1, 11)])


def main(argv: list[str] | None = None) -> int:
    """One table per cap, then one summary line per cap."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", default=SMALL)
    parser.add_argument("--caps", default="0.3,1")
    add_run_options(parser)
    args = parser.parse_args(argv)
    bks = best_known_values()
    instances = named_shops(args.instances)
    print(f"# bench/jssp_split.py --time-limit {args.time_limit:g} --workers {args.workers}")
    print("| cap | instance | best known | ours | bound | s | gap |")
    print("|---|---|---|---|---|---|---|")
    summaries = []
    for cap in (float(c) for c in args.caps.split(",")):
        elite.STALL_CAP_SHARE = cap
        gaps, proven = [], 0
        for name, instance in instances:
            best = bks.get(name) or (instance.bounds.best_known if instance.bounds else None)
            mine = solve_ours("jssp", instance, args.time_limit, args.workers)
            gap = mine["objective"] / best - 1 if best and mine["objective"] else None
            if gap is not None:
                gaps.append(gap)
            proven += mine["optimal"]
            print(
                f"| {cap:g} | {name} | {best} | {cell(mine)} | {mine['bound']} "
                f"| {mine['time_s']:.1f} | {pct(gap)} |",
                flush=True,
            )
        summaries.append(
            f"cap {cap:g}: mean gap {pct(statistics.fmean(gaps))}, "
            f"median {pct(statistics.median(gaps))}, proven optimal {proven} of {len(instances)}"
        )
    print()
    print("\n".join(f"- {line}" for line in summaries))
    return 0


if __name__ == "__main__":
    sys.exit(main())
