"""Flexible job shop: makespan's solver against the textbook CP-SAT flexible model, same
instances, same run.

The textbook model is the one OR-Tools' ``flexible_job_shop_sat`` example writes: per operation a
start, an end and an interval of variable duration; per machine it may run on an optional
interval with its own start, tied to the operation's when present; exactly one present; a
no-overlap per machine; a precedence chain per job; no hint; default parameters (only the time
limit and worker count set). For due-date objectives it adds each term as written: tardiness
``T_j >= C_j - d_j, T_j >= 0``, lateness ``L >= C_j - d_j``, a tardy literal with ``C_j <= d_j``
when false, the makespan as the max of the job ends. Ours is ``makespan.solvers.solve`` with its
defaults. Both get the same wall-clock limit and workers.

Two parts, in one run:

- **benchmarks**: Brandimarte mk01-mk10 and samples of Hurink vdata and Dauzère-Pérès & Paulli
  (files from ``../shared/benchmarks/fjsp``), the makespan; gap = makespan / best-known upper
  bound - 1 (``fjsp_bks_scheduleopt.json``).
- **generated**: flexible job shops with releases, due dates and weights (:func:`generate`),
  under each due-date or flow objective; gap = objective / best of the two - 1.
- **extended** (``--extended N``, N seeds per size): the same with sequence-dependent setups
  and machine downtime (:func:`generate_extended`), 15x6 and 20x8, under weighted tardiness,
  weighted completion and makespan + max lateness; the ratio of the mean gaps is printed.

    python bench/fjsp.py --time-limit 30 --workers 2
    python bench/fjsp.py --instances mk01,mk06 --generated 0 --time-limit 10
    python bench/fjsp.py --instances "" --generated 0 --extended 4 --time-limit 20 --workers 2
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from common import (
    add_run_options,
    best_known_row,
    cell,
    head_to_head,
    pct,
    solve_ours,
    solve_textbook,
)
from ortools.sat.python import cp_model

from makespan.models.jssp.benchmarks import load_named
from makespan.models.jssp.instance import JobShopInstance

BENCHMARKS = (
    [f"mk{i:02d}" for i in range(1, 11)]
    + [f"{name}_vdata" for name in ("la01", "la11", "la21", "la26", "la31", "la40", "abz5", "abz7")]
    + [f"dpp{i:02d}a" for i in (1, 4, 7, 10, 13, 16)]
)
"""Brandimarte mk01-mk10, eight Hurink vdata and six Dauzère-Pérès & Paulli instances."""

OBJECTIVES: dict[str, dict[str, int]] = {
    "twt": {"total_weighted_tardiness": 1},
    "twc": {"total_weighted_completion": 1},
    "lmax": {"max_lateness": 1},
    "wtardy": {"weighted_tardy_jobs": 1},
    "cmax+twt": {"makespan": 1, "total_weighted_tardiness": 1},
}
"""The objectives the generated instances are solved under."""

SIZES = ((10, 5), (20, 8), (30, 10))
"""Jobs x machines of the generated instances."""


def generate(jobs: int, machines: int, seed: int) -> JobShopInstance:
    """A flexible job shop of ``jobs`` x ``machines``: each job visits ``machines // 2`` to
    ``machines`` operations, each on 1 to 3 machines with durations 5-50 (each machine's
    duration within 30% of the first); releases spread over a fifth of the mean machine load
    ``L``; due dates ``release + W_j + u (L - W_j)`` with ``W_j`` the job's mean work and ``u``
    uniform in [0, 0.5], tight enough that lateness is the rule; weights 1-4."""
    rng = random.Random(seed)
    rows = []
    for _ in range(jobs):
        ops = []
        for _ in range(rng.randint(max(1, machines // 2), machines)):
            base = rng.randint(5, 50)
            chosen = rng.sample(range(machines), rng.randint(1, min(3, machines)))
            ops.append(
                [
                    {"machine": m, "duration": max(1, round(base * rng.uniform(0.7, 1.3)))}
                    for m in chosen
                ]
            )
        rows.append(ops)
    mean_work = [sum(sum(a["duration"] for a in op) / len(op) for op in job) for job in rows]
    load = sum(mean_work) / machines
    release = [rng.randint(0, int(load / 5)) for _ in range(jobs)]
    due = [
        r + int(w + rng.uniform(0, 0.5) * max(0.0, load - w))
        for r, w in zip(release, mean_work, strict=True)
    ]
    return JobShopInstance.model_validate(
        {
            "name": f"gen{jobs}x{machines}s{seed}",
            "num_machines": machines,
            "jobs": [
                [op[0] if len(op) == 1 else {"alternatives": op} for op in job] for job in rows
            ],
            "release": release,
            "due": due,
            "weight": [rng.randint(1, 4) for _ in range(jobs)],
        }
    )


EXTENDED_SIZES = ((15, 6), (20, 8))
"""Jobs x machines of the generated shops with setups and downtime (the issue's range)."""

EXTENDED_OBJECTIVES: dict[str, dict[str, int]] = {
    "twt": {"total_weighted_tardiness": 1},
    "twc": {"total_weighted_completion": 1},
    "cmax+lmax": {"makespan": 1, "max_lateness": 1},
}
"""The objectives the shops with setups and downtime are solved under."""


def generate_extended(jobs: int, machines: int, seed: int) -> JobShopInstance:
    """:func:`generate`'s shop plus sequence-dependent setups and machine downtime: each job
    has a family position ``f_j`` in 0-10 and ``setup[m][j][k] = c_m |f_j - f_k|`` with
    ``c_m`` in 1-2 (a metric, so the triangle inequality holds); each machine is down for one
    or two periods of 10-40 within its first mean load ``L``."""
    base = generate(jobs, machines, seed)
    rng = random.Random(10_000 + seed)
    family = [rng.randint(0, 10) for _ in range(jobs)]
    setups = []
    for _ in range(machines):
        scale = rng.randint(1, 2)
        setups.append([[scale * abs(a - b) for b in family] for a in family])
    load = sum(min(d for _, d in op.choices) for job in base.jobs for op in job) / machines
    downtime = []
    for _ in range(machines):
        periods = []
        for _ in range(rng.randint(1, 2)):
            start = rng.randint(0, max(1, int(load)))
            periods.append([start, start + rng.randint(10, 40)])
        downtime.append(periods)
    return JobShopInstance.model_validate(
        {
            **base.model_dump(exclude_none=True),
            "name": f"ext{jobs}x{machines}s{seed}",
            "setup_times": setups,
            "machine_downtime": downtime,
        }
    )


def textbook(instance: JobShopInstance, time_limit_s: float, workers: int) -> dict[str, Any]:
    """The plain CP-SAT flexible job-shop model under the instance's objective (with each
    machine's downtime as fixed intervals in its no-overlap and each setup as a pairwise
    disjunction, where the instance has them)."""
    started = time.monotonic()
    model = cp_model.CpModel()
    by_machine: dict[int, list[tuple[int, Any]]] = {}
    ends = [_textbook_job(model, instance, j, by_machine) for j in range(instance.num_jobs)]
    for machine, held in by_machine.items():
        down = instance.downtime[machine] if instance.machine_downtime else ()
        blocks = [
            model.new_fixed_size_interval_var(a, b - a, f"down{machine}_{a}") for a, b in down
        ]
        model.add_no_overlap([interval for _, interval in held] + blocks)
        if instance.has_setups:
            _textbook_setups(model, instance, machine, held)
    model.minimize(_textbook_objective(model, instance, ends, instance.horizon))
    return solve_textbook(model, time_limit_s, workers, started)


def _textbook_job(
    model: cp_model.CpModel,
    instance: JobShopInstance,
    j: int,
    by_machine: dict[int, list[tuple[int, Any]]],
) -> Any:
    """Job ``j``'s operations, chained from its release; the end of its last one."""
    horizon = instance.horizon
    previous_end: Any = instance.releases[j]
    for k, op in enumerate(instance.jobs[j]):
        start = model.new_int_var(0, horizon, f"s{j}_{k}")
        duration = model.new_int_var(op.min_duration, op.max_duration, f"d{j}_{k}")
        end = model.new_int_var(0, horizon, f"e{j}_{k}")
        model.new_interval_var(start, duration, end, f"i{j}_{k}")
        model.add(start >= previous_end)
        presences = []
        for machine, p in op.choices:
            present = model.new_bool_var(f"x{j}_{k}_{machine}")
            alt_start = model.new_int_var(0, horizon, f"s{j}_{k}_{machine}")
            alt_end = model.new_int_var(0, horizon, f"e{j}_{k}_{machine}")
            interval = model.new_optional_interval_var(
                alt_start, p, alt_end, present, f"i{j}_{k}_{machine}"
            )
            model.add(start == alt_start).only_enforce_if(present)
            model.add(duration == p).only_enforce_if(present)
            by_machine.setdefault(machine, []).append((j, interval))
            presences.append(present)
        model.add_exactly_one(presences)
        previous_end = end
    return previous_end


def _textbook_setups(
    model: cp_model.CpModel, instance: JobShopInstance, machine: int, held: list[tuple[int, Any]]
) -> None:
    """Per pair of operations of two jobs on ``machine`` (``held``: job and optional
    interval): when both run there, one ends its setup before the other starts (enough for
    setups that obey the triangle inequality)."""
    assert instance.setup_times is not None
    setup = instance.setup_times[machine]
    for a, (j, first) in enumerate(held):
        for k, second in held[a + 1 :]:
            if j == k:
                continue
            both = [first.presence_literals()[0], second.presence_literals()[0]]
            before = model.new_bool_var(f"before_{first.name}_{second.name}")
            model.add(second.start_expr() >= first.end_expr() + setup[j][k]).only_enforce_if(
                [before, *both]
            )
            model.add(first.start_expr() >= second.end_expr() + setup[k][j]).only_enforce_if(
                [~before, *both]
            )


def _textbook_objective(
    model: cp_model.CpModel, instance: JobShopInstance, ends: list[Any], horizon: int
) -> Any:
    objective = instance.shop_objective
    terms: list[Any] = []
    if objective.makespan:
        makespan = model.new_int_var(0, horizon, "makespan")
        model.add_max_equality(makespan, ends)
        terms.append(objective.makespan * makespan)
    for j, (end, due, weight) in enumerate(zip(ends, instance.dues, instance.weights, strict=True)):
        if objective.total_weighted_tardiness:
            late = model.new_int_var(0, horizon, f"T{j}")
            model.add(late >= end - due)
            terms.append(objective.total_weighted_tardiness * weight * late)
        if objective.total_weighted_completion:
            terms.append(objective.total_weighted_completion * weight * end)
        if objective.weighted_tardy_jobs:
            tardy = model.new_bool_var(f"u{j}")
            model.add(end <= due).only_enforce_if(~tardy)
            terms.append(objective.weighted_tardy_jobs * weight * tardy)
    if objective.max_lateness:
        lateness = model.new_int_var(-max(instance.dues), horizon, "L")
        for end, due in zip(ends, instance.dues, strict=True):
            model.add(lateness >= end - due)
        terms.append(objective.max_lateness * lateness)
    return sum(terms)


def _run(
    instance: JobShopInstance, args: argparse.Namespace
) -> tuple[dict[str, Any], dict[str, Any]]:
    base = textbook(instance, args.time_limit, args.workers)
    mine = solve_ours("jssp", instance, args.time_limit, args.workers)
    return base, mine


def _benchmarks(names: list[str], args: argparse.Namespace) -> list[dict[str, Any]]:
    print(f"# bench/fjsp.py --time-limit {args.time_limit:g} --workers {args.workers}: benchmarks")
    print("| instance | size | best known | textbook | gap | ours | gap | warm start |")
    print("|---|---|---|---|---|---|---|---|")
    rows = []
    for name in names:
        instance = load_named(name)
        if instance is None:
            raise SystemExit(f"unknown instance {name} (is ../shared/benchmarks there?)")
        best = instance.bounds.upper if instance.bounds else None
        base, mine = _run(instance, args)
        size = f"{instance.num_jobs}x{instance.num_machines}"
        row, line = best_known_row(name, size, best, base, mine)
        rows.append(row)
        print(line, flush=True)
    for family in ("mk", "_vdata", "dpp"):
        _summary([r for r in rows if family in r["instance"]], family)
    return rows


def _generated(count: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    return _group("generated", SIZES, generate, OBJECTIVES, count, args)


def _extended(count: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = _group("extended", EXTENDED_SIZES, generate_extended, EXTENDED_OBJECTIVES, count, args)
    _summary(rows, "all")
    _ratio(rows)
    return rows


def _group(
    title: str,
    sizes: tuple[tuple[int, int], ...],
    make: Callable[[int, int, int], JobShopInstance],
    objectives: dict[str, dict[str, int]],
    count: int,
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    """``count`` shops per size made by ``make``, each under every objective: the table and a
    summary per objective."""
    print()
    print(f"# bench/fjsp.py --time-limit {args.time_limit:g} --workers {args.workers}: {title}")
    print("| instance | objective | textbook | ours | gap textbook | gap ours | warm start |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for jobs, machines in sizes:
        for seed in range(count):
            shop = make(jobs, machines, seed)
            for label, objective in objectives.items():
                instance = JobShopInstance.model_validate(
                    {**shop.model_dump(exclude_none=True), "objective": objective}
                )
                rows.append(_generated_row(instance, label, args))
    for label in objectives:
        _summary([r for r in rows if r["objective"] == label], label)
    return rows


def _generated_row(
    instance: JobShopInstance, label: str, args: argparse.Namespace
) -> dict[str, Any]:
    """Both solvers on ``instance``; the table row, printed."""
    base, mine = _run(instance, args)
    found = [v for v in (base["objective"], mine["objective"]) if v is not None]
    best = min(found) if found else None
    row: dict[str, Any] = {"instance": instance.name, "objective": label, "textbook": base}
    row.update({"ours": mine, **_gaps(base, mine, best)})
    print(
        f"| {instance.name} | {label} | {cell(base)} | {cell(mine)} "
        f"| {pct(row['gap_textbook'])} | {pct(row['gap_ours'])} | {mine['warm_start']} |",
        flush=True,
    )
    return row


def _ratio(rows: list[dict[str, Any]]) -> None:
    paired = [r for r in rows if r["gap_ours"] is not None and r["gap_textbook"] is not None]
    if paired:
        ours = statistics.fmean(r["gap_ours"] for r in paired)
        base = statistics.fmean(r["gap_textbook"] for r in paired)
        ratio = "n/a" if base == 0 else f"{ours / base:.2f}"
        worst = max(r["gap_ours"] - r["gap_textbook"] for r in paired)
        print(f"ratio of mean gaps ours / textbook: {ratio}; worst excess {pct(worst)}")


def _gaps(base: dict[str, Any], mine: dict[str, Any], best: float | None) -> dict[str, Any]:
    """Gaps to the better of the two: (objective - best) / (|best| + 1), so that a zero
    tardiness and a negative lateness have gaps too."""

    def rel(value: float | None) -> float | None:
        if value is None or best is None:
            return None
        return (value - best) / (abs(best) + 1)

    return {"gap_textbook": rel(base["objective"]), "gap_ours": rel(mine["objective"])}


def _summary(rows: list[dict[str, Any]], label: str) -> None:
    paired = [r for r in rows if r["gap_ours"] is not None and r["gap_textbook"] is not None]
    if not paired:
        return
    mean_ours = statistics.fmean(r["gap_ours"] for r in paired)
    mean_base = statistics.fmean(r["gap_textbook"] for r in paired)
    print()
    print(f"{label}: {head_to_head(paired, 'gap_ours', 'gap_textbook')}")
    print(f"{label}: mean gap textbook {pct(mean_base)}, ours {pct(mean_ours)}")
    print(
        f"{label}: proven optimal textbook {sum(r['textbook']['optimal'] for r in paired)}, "
        f"ours {sum(r['ours']['optimal'] for r in paired)}"
    )


def warm_starts(names: list[str], budget_s: float) -> list[dict[str, Any]]:
    """The flexible warm start's steps on each instance, each with ``budget_s``: the best
    dispatching rule; randomised dispatching; the tabu search on the machines the dispatch
    chose (no reassignment); rounds of the tabu search with machine reassignment (the warm
    start as ``solve`` runs it)."""
    from makespan.models.jssp.dispatch import WarmStart
    from makespan.models.jssp.heuristics import SHOP_DISPATCH_SHARE, warm_start
    from makespan.models.jssp.shop import best_shop_dispatch
    from makespan.models.jssp.tabu import kernels_ready, tabu_search

    kernels_ready(time.monotonic() + 60, lambda: False)
    print(f"# bench/fjsp.py --warm-starts {budget_s:g}")
    print("| instance | best known | dispatch | + random | + tabu, same machines | + reassign |")
    print("|---|---|---|---|---|---|")
    rows: list[dict[str, Any]] = []
    never = lambda: False  # noqa: E731
    for name in names:
        instance = load_named(name)
        assert instance is not None and instance.bounds is not None
        dispatch = best_shop_dispatch(instance, 0.0, 0, never).objective
        randomised = best_shop_dispatch(instance, time.monotonic() + budget_s, 0, never)
        start = best_shop_dispatch(
            instance, time.monotonic() + SHOP_DISPATCH_SHARE * budget_s, 0, never
        )
        fixed = tabu_search(
            instance.assigned(start.machines),
            WarmStart(start.method, start.starts, start.objective),
            deadline=time.monotonic() + (1 - SHOP_DISPATCH_SHARE) * budget_s,
        ).makespan
        found = warm_start(instance, budget_s, 0, never)
        assert found is not None
        best = instance.bounds.upper
        assert best is not None
        steps = [dispatch, randomised.objective, fixed, found.objective]
        rows.append({"instance": name, "best": best, "steps": steps})
        cells = " | ".join(f"{v} ({pct(v / best - 1)})" for v in steps)
        print(f"| {name} | {best} | {cells} |", flush=True)
    means = [statistics.fmean(r["steps"][i] / r["best"] - 1 for r in rows) for i in range(4)]
    print()
    print("mean gap to the best known: " + ", ".join(pct(m) for m in means))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run both solvers on every benchmark and generated instance and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", default=",".join(BENCHMARKS))
    parser.add_argument("--generated", type=int, default=1, help="instances per size (seeds)")
    parser.add_argument(
        "--extended", type=int, default=0, help="shops with setups and downtime per size (seeds)"
    )
    parser.add_argument(
        "--warm-starts",
        type=float,
        default=None,
        metavar="BUDGET_S",
        help="only compare the warm start's steps on mk01-mk10 with this budget each",
    )
    add_run_options(parser)
    args = parser.parse_args(argv)
    if args.warm_starts is not None:
        warm_starts([f"mk{i:02d}" for i in range(1, 11)], args.warm_starts)
        return 0
    names = [n for n in args.instances.split(",") if n]
    rows = _benchmarks(names, args) if names else []
    generated = _generated(args.generated, args) if args.generated else []
    extended = _extended(args.extended, args) if args.extended else []
    if args.json_out:
        found = {"benchmarks": rows, "generated": generated, "extended": extended}
        args.json_out.write_text(json.dumps(found, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
