"""Re-planning after a disruption: objective and deviation at three stability weights, per kind,
against re-solving from scratch (the textbook answer: solve the new instance, ignore the plan).

For one instance of each kind: solve it (the plan), disrupt it (a machine or resource down
from t, buffers that grew, drifted expert loads, a shifted workload), then solve the disrupted
instance from scratch and with ``reference`` = the plan at each weight (jssp and rcpsp also fix
what started before t). Every answer is checked; the deviation is the checker's.

    python bench/stability.py --time-limit 20 --workers 2
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from makespan.instances import example_path
from makespan.models.registry import get_model
from makespan.solvers import check, solve

SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"

Scenario = tuple[str, Any, Any, int | None]
"""(what happened, the instance, the disrupted instance, the time t to fix before, if any)."""


def _jssp(plan_of: Callable[[str, Any], dict[str, Any]]) -> Scenario:
    model = get_model("jssp")
    instance = model.read_file(example_path("jssp/la01.txt"))
    plan = plan_of("jssp", instance)
    t = plan["makespan"] // 3
    busiest = max(range(instance.num_machines), key=lambda m: _machine_work(instance, m))
    document = instance.model_dump(mode="json", exclude_none=True)
    jobs = document["jobs"]
    for job in jobs:  # the busiest machine runs 50 % slower from t: its waiting work grows
        for k, op in enumerate(job):
            if op["machine"] == busiest and _starts(plan, jobs.index(job), k) >= t:
                op["duration"] += op["duration"] // 2
    what = f"la01: machine {busiest} 50 % slower for work not started by t = {t}"
    return what, instance, model.parse_instance(document), t


def _machine_work(instance: Any, machine: int) -> int:
    return sum(op.duration for job in instance.jobs for op in job if op.machine == machine)


def _starts(plan: dict[str, Any], job: int, index: int) -> int:
    for op in plan["operations"]:
        if op["job"] == job and op["index"] == index:
            return int(op["start"])
    raise KeyError((job, index))


def _rcpsp(plan_of: Callable[[str, Any], dict[str, Any]]) -> Scenario:
    model = get_model("rcpsp")
    path = SHARED / "rcpsp" / "j30" / "j30_10_1.rcp"
    instance = model.read_file(path if path.exists() else example_path("rcpsp/small.sm"))
    plan = plan_of("rcpsp", instance)
    t = plan["makespan"] // 3
    document = instance.model_dump(mode="json", by_alias=True, exclude_none=True)
    resource = document["resources"][0]
    # The resource goes down once the work it started before t is done (what runs at t
    # finishes: its activities are fixed, and cannot overlap the downtime).
    users = {a["id"] for a in document["activities"] if a.get("demands", {}).get(resource["name"])}
    down = max([t] + [a["end"] for a in plan["activities"] if a["id"] in users and a["start"] < t])
    resource["downtime"] = [[down, down + 6]]
    what = f"{path.stem}: resource {resource['name']} down during [{down}, {down + 6})"
    return what, instance, model.parse_instance(document), t


def _changed(
    kind: str,
    name: str,
    change: Callable[[dict[str, Any]], str],
    plan_of: Callable[[str, Any], dict[str, Any]],
) -> Scenario:
    """A bundled example, planned, then changed in its JSON form by ``change`` (which says
    what it did)."""
    model = get_model(kind)
    instance = model.read_file(example_path(name))
    plan_of(kind, instance)
    document = instance.model_dump(mode="json", exclude_none=True)
    what = change(document)
    return f"{Path(name).stem}: {what}", instance, model.parse_instance(document), None


def _grow_buffers(document: dict[str, Any]) -> str:
    buffers = document["buffers"]
    grown = random.Random(7).sample(range(len(buffers)), k=len(buffers) // 10)
    for k in grown:
        buffers[k]["size"] += buffers[k]["size"] // 4
    return f"{len(grown)} buffers 25 % larger"


def _drift_loads(document: dict[str, Any]) -> str:
    rng = random.Random(7)
    document["loads"] = [
        [max(1, round(load * rng.lognormvariate(0, 0.4))) for load in row]
        for row in document["loads"]
    ]
    return "expert loads drift (x lognormal, sigma 0.4)"


def _shift_workload(document: dict[str, Any]) -> str:
    workload = document["workload"]
    workload[0][0], workload[1][1] = workload[0][0] - 0.1, workload[1][1] + 0.1
    return "10 % of the requests move from short to medium prompts"


WEIGHTS: dict[str, list[float]] = {
    "jssp": [0.1, 1, 10],
    "rcpsp": [0.1, 1, 10],
    "memory_mapping": [100, 10_000, 1_000_000],
    "expert_placement": [10, 100, 1000],
    "gpu_packing": [0.1, 1, 10],
}
"""Each kind's weights, in its objective's units per change (a byte of peak memory weighs
less than an hour of GPU cost)."""

SCENARIOS: dict[str, Callable[[Callable[[str, Any], dict[str, Any]]], Scenario]] = {
    "jssp": _jssp,
    "rcpsp": _rcpsp,
    "memory_mapping": partial(
        _changed, "memory_mapping", "memory_mapping/trace60.csv", _grow_buffers
    ),
    "expert_placement": partial(
        _changed, "expert_placement", "expert_placement/moe_4x16.json", _drift_loads
    ),
    "gpu_packing": partial(_changed, "gpu_packing", "gpu_packing/fleet.json", _shift_workload),
}


def run(kind: str, weights: list[float], limit: float, workers: int) -> list[dict[str, Any]]:
    """The rows of one kind: from scratch, then one per weight."""
    plans: dict[str, dict[str, Any]] = {}

    def plan_of(problem: str, instance: Any) -> dict[str, Any]:
        result = solve(problem, instance, time_limit_s=limit, workers=workers)
        assert result.solution is not None, result.message
        plans["plan"] = result.solution
        return result.solution

    what, _, disrupted, t = SCENARIOS[kind](plan_of)
    plan = plans["plan"]
    model = get_model(kind)
    rows = []
    scratch = solve(kind, disrupted, time_limit_s=limit, workers=workers)
    rows.append(_row(kind, what, "from scratch", scratch, disrupted, plan, model))
    for w in weights:
        result = solve(
            kind,
            disrupted,
            time_limit_s=limit,
            workers=workers,
            reference=plan,
            stability_weight=w,
            fix_before=t,
        )
        rows.append(_row(kind, what, f"w = {w:g}", result, disrupted, plan, model))
    return rows


def _row(
    kind: str, what: str, how: str, result: Any, instance: Any, plan: Any, model: Any
) -> dict[str, Any]:
    assert result.solution is not None, result.message
    verdict = check(kind, instance, result.solution)
    assert verdict.feasible, verdict.violations
    deviation = model.deviation(
        instance, model.parse_solution(result.solution), model.parse_solution(plan)
    )
    return {
        "kind": kind,
        "what": what,
        "how": how,
        "status": result.status.value,
        "objective": verdict.objective,
        "deviation": deviation,
        "time_s": result.wall_time_s,
    }


def main() -> None:
    """Run the scenarios and print one table per kind."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time-limit", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--weights", type=float, nargs="+", help="default: per kind")
    parser.add_argument("--kinds", nargs="+", default=list(SCENARIOS))
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    every = []
    for kind in args.kinds:
        rows = run(kind, args.weights or WEIGHTS[kind], args.time_limit, args.workers)
        every += rows
        print(f"\n### {kind}: {rows[0]['what']}\n")
        print("| solve | status | objective | deviation | time (s) |")
        print("|---|---|---:|---:|---:|")
        for row in rows:
            print(
                f"| {row['how']} | {row['status']} | {row['objective']:g} | "
                f"{row['deviation']} | {row['time_s']:.1f} |"
            )
        sys.stdout.flush()
    if args.json:
        args.json.write_text(json.dumps(every, indent=2) + "\n")


if __name__ == "__main__":
    main()
