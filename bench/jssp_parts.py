"""Job-shop: which part of the classic shop's solve gives how much, on one time limit.

The parts run as ``solve(backend="auto")`` runs them, one after the other with the same shares
of the limit: the warm start (best dispatch rule, then the tabu search until its stall limit,
within 15%), the elite search of ``models/jssp/elite.py`` (tabu searches on every worker,
restarted from relinked pool members, within 80% of what is left; on shops above 15 x 15 the
last ``--lns-share`` of that goes to the CP-SAT large-neighbourhood search of
``models/jssp/lns.py`` from the elite search's best), then CP-SAT on the whole model, hinted
with the best schedule on shops above 15 x 15 (the rest). A row gives the makespan after each
part, the proven bound (the larger of the elite search's and CP-SAT's) and what each part took
off: the elite search's first searches (from the incumbent), restarts from the best (while the
pool holds one schedule) and relinked starts, the LNS, CP-SAT. ``--search-share`` sets the
elite search's share of what the warm start leaves (the rest is CP-SAT's), to choose the split
by measurement. ``--pool-size 1`` keeps the pool at one schedule: every restart is from the
best, no relinking (the ablation of path relinking).

    python bench/jssp_parts.py --time-limit 60 --workers 2
    python bench/jssp_parts.py --time-limit 60 --workers 2 --lns-share 0.25
    python bench/jssp_parts.py --time-limit 60 --workers 2 --search-share 0.95
    python bench/jssp_parts.py --instances ta21,ta42 --pool-size 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from typing import Any

from common import add_run_options, pct
from jssp import best_known_values, named_shops

from makespan.models.jssp import elite, lns
from makespan.models.jssp.heuristics import best_dispatch, prepare, warm_start
from makespan.models.jssp.instance import JobShopInstance
from makespan.models.jssp.workers import Budget
from makespan.solvers import solve
from makespan.solvers.pipeline import HEURISTIC_SHARE

HARD = "ta21,ta24,ta27,ta30,ta33,ta36,ta39,ta42,ta45,ta48"
PARTS = ("warm start", elite.INCUMBENT, elite.BEST, elite.RELINKED, lns.METHOD, "cp-sat")


def parts(
    instance: JobShopInstance, time_limit_s: float, workers: int, search_share: float
) -> dict[str, Any]:
    """The makespan after each part and each part's gain, the elite search given
    ``search_share`` of what the warm start leaves."""
    began = time.monotonic()
    dispatch = best_dispatch(instance).makespan
    start = warm_start(instance, HEURISTIC_SHARE * time_limit_s, 0, lambda: False)
    incumbent = start.solution
    gains: Counter[str] = Counter()
    rest = time_limit_s - (time.monotonic() - began)
    deadline = time.monotonic() + search_share * rest
    answer = lns.classic_search(
        instance, incumbent, Budget(deadline, lambda: False, workers), gains=gains
    )
    searched = answer.solution or incumbent
    rest = max(0.1, time_limit_s - (time.monotonic() - began))
    final = solve(
        "jssp",
        instance,
        backend="cpsat",
        time_limit_s=rest,
        workers=workers,
        initial_solution=searched,
        warm_start=False,
    )
    assert final.objective is not None
    gains["warm start"] = dispatch - incumbent.makespan
    gains["cp-sat"] = searched.makespan - int(final.objective)
    return {
        "dispatch": dispatch,
        "warm_start": incumbent.makespan,
        "searched": searched.makespan,
        "final": int(final.objective),
        "bound": max(b for b in (final.bound, answer.bound) if b is not None),
        "gains": dict(gains),
    }


def elite_share() -> float:
    """The elite search's share of what the warm start leaves (the kind's search share)."""
    from makespan.models.jssp import MODEL

    return float(MODEL.search_share)


def main(argv: list[str] | None = None) -> int:
    """Run the parts on every instance; print the table and each part's share of the gains."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", default=HARD)
    parser.add_argument("--pool-size", type=int, default=elite.POOL_SIZE)
    parser.add_argument("--lns-share", type=float, default=lns.CLASSIC_LNS_SHARE)
    parser.add_argument("--search-share", type=float, default=elite_share())
    add_run_options(parser)
    args = parser.parse_args(argv)
    elite.POOL_SIZE = args.pool_size
    lns.CLASSIC_LNS_SHARE = args.lns_share
    prepare()
    bks = best_known_values()
    print(
        f"# bench/jssp_parts.py --time-limit {args.time_limit:g} --workers {args.workers}"
        f" --pool-size {args.pool_size} --lns-share {args.lns_share:g}"
        f" --search-share {args.search_share:g}"
    )
    print(
        "| instance | best known | dispatch | warm start | elite search | final | gap | bound "
        "| from incumbent | from best | relinked | lns | cp-sat |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for name, instance in named_shops(args.instances):
        row = parts(instance, args.time_limit, args.workers, args.search_share)
        row["instance"], row["best_known"] = name, bks.get(name)
        row["gap"] = row["final"] / row["best_known"] - 1 if row["best_known"] else None
        rows.append(row)
        g = row["gains"]
        print(
            f"| {name} | {row['best_known']} | {row['dispatch']} | {row['warm_start']} "
            f"| {row['searched']} | {row['final']} | {pct(row['gap'])} | {row['bound']:g} "
            f"| {g.get(elite.INCUMBENT, 0)} | {g.get(elite.BEST, 0)} "
            f"| {g.get(elite.RELINKED, 0)} | {g.get(lns.METHOD, 0)} | {g.get('cp-sat', 0)} |",
            flush=True,
        )
    _summary(rows)
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=1))
    return 0


def _summary(rows: list[dict[str, Any]]) -> None:
    gaps = [r["gap"] for r in rows if r["gap"] is not None]
    totals = Counter[str]()
    for r in rows:
        totals.update(r["gains"])
    whole = sum(totals.values()) or 1
    print()
    if gaps:
        print(f"mean gap {pct(statistics.fmean(gaps))}, median {pct(statistics.median(gaps))}")
    shares = ", ".join(f"{part} {totals[part]} ({totals[part] / whole:.1%})" for part in PARTS)
    print(f"makespan taken off from the dispatch schedule, summed: {shares}")


if __name__ == "__main__":
    sys.exit(main())
