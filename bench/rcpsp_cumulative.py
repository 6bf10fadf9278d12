"""CP-SAT's cumulative options on hard RCPSP instances: does any of them help the textbook model?

Issue #17 asks to try CP-SAT's cumulative propagators (timetable edge finding, the overload
checker, ...) and keep what the measurements support. Each option is switched on alone in the
textbook model of ``bench/rcpsp.py`` (default parameters otherwise), on the same instances with
the same limit and workers, and compared with the defaults: mean makespan gap to the best known
and the count of instances where it ends better or worse than the defaults.

    python bench/rcpsp_cumulative.py --time-limit 10 --workers 2
"""

from __future__ import annotations

import argparse
import statistics

from common import pct
from rcpsp import SHARED, load_bounds, textbook

from makespan.models.rcpsp import MODEL

OPTIONS: dict[str, dict[str, bool]] = {
    "defaults": {},
    "timetable edge finding": {"use_timetable_edge_finding_in_cumulative": True},
    "overload checker": {"use_overload_checker_in_cumulative": True},
    "conservative overload checker": {
        "use_overload_checker_in_cumulative": True,
        "use_conservative_scale_overload_checker": True,
    },
    "hard precedences": {"use_hard_precedences_in_cumulative": True},
    "dynamic precedences": {"use_dynamic_precedence_in_cumulative": True},
}
"""Each experiment's SAT parameters, set on top of CP-SAT's defaults."""

INSTANCES = [f"j120{s}_{i}" for s in (51, 56) for i in range(1, 6)]
"""Five instances from each of the hard j120 parameter sets 51 and 56."""


def main() -> int:
    """Run every option on every instance; print the makespans and the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--instances", default=",".join(INSTANCES))
    args = parser.parse_args()
    bounds = load_bounds()
    names = args.instances.split(",")
    made: dict[str, dict[str, int]] = {label: {} for label in OPTIONS}
    print(f"# bench/rcpsp_cumulative.py --time-limit {args.time_limit:g} --workers {args.workers}")
    print("| instance | best known | " + " | ".join(OPTIONS) + " |")
    print("|---|---|" + "---|" * len(OPTIONS))
    for name in names:
        instance = MODEL.read_file(SHARED / bounds[name]["file"])
        for label, params in OPTIONS.items():
            found = textbook(instance, args.time_limit, args.workers, params)["objective"]
            made[label][name] = found if found is not None else 10**9
        row = " | ".join(str(made[label][name]) for label in OPTIONS)
        print(f"| {name} | {bounds[name]['upper_bound']} | {row} |", flush=True)
    print()
    print("| option | mean gap to best known | better / worse than defaults |")
    print("|---|---|---|")
    for label in OPTIONS:
        gaps = [made[label][n] / bounds[n]["upper_bound"] - 1 for n in names]
        better = sum(made[label][n] < made["defaults"][n] for n in names)
        worse = sum(made[label][n] > made["defaults"][n] for n in names)
        print(f"| {label} | {pct(statistics.fmean(gaps))} | {better} / {worse} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
