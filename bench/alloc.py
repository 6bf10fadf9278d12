"""Allocation benchmarks: MoE expert placement and GPU fleet packing, all in one run.

Expert placement (generated, Zipf loads with layer-to-layer affinity), per size:
- greedy: the EPLB-style per-layer LPT balance alone;
- plain ILP: the same model, no warm start, the same time limit;
- ours: ``solve()`` with its defaults (LPT + affinity swaps as hint, then CP-SAT).

GPU packing on the AIBrix llama2-7b/A100 profile from ../shared (throughput at the SLO), with
made-up hourly costs per GPU type (the profile's cost field is a placeholder), per slice factor:
- pooled ILP (Mélange): ``pooling: "type"``, no warm start;
- ours, pooled: ``pooling: "type"`` with defaults;
- ours, bin packing: ``pooling: "instance"`` with defaults;
- the cheapest single-type fleet.

    python bench/alloc.py --placement-limit 30 --packing-limit 10 --workers 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from common import pct

from makespan.models.expert_placement.generate import generate
from makespan.models.expert_placement.heuristics import greedy
from makespan.solvers import solve

SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "gpu_packing"
SIZES = [(8, 64, 8), (32, 64, 8), (58, 256, 32)]
"""(layers, experts, GPUs); the last is DeepSeek-V3 scale."""
MADE_UP_COSTS = {"A100": 3.67, "A10G": 1.01, "L4": 0.70, "T4": 0.53, "V100": 2.48}
"""Hourly costs used for the profile's GPU types (the profile itself has placeholders)."""


def placement(limit: float, workers: int) -> None:
    """The expert-placement table."""
    print(f"## expert placement, {limit:g} s, {workers} workers")
    print("| layers x experts x GPUs | greedy | plain ILP | ours | ours vs greedy | ours bound |")
    print("|---|---|---|---|---|---|")
    for layers, experts, gpus in SIZES:
        instance = generate(
            layers=layers,
            experts=experts,
            gpus=gpus,
            tokens=100_000,
            skew=1.0,
            affinity=0.7,
            seed=0,
        )
        base = greedy(instance).objective
        plain = solve(
            "expert_placement", instance, time_limit_s=limit, workers=workers, warm_start=False
        )
        ours = solve("expert_placement", instance, time_limit_s=limit, workers=workers)
        gain = None if ours.objective is None else ours.objective / base - 1
        print(
            f"| {layers}x{experts}x{gpus} | {base:g} | {_value(plain)} | {_value(ours)} "
            f"| {pct(gain)} | {ours.bound} |",
            flush=True,
        )


def _value(result: Any) -> str:
    if result.objective is None:
        return f"no solution ({result.status})"
    return f"{result.objective:g}{'*' if result.status == 'optimal' else ''}"


def aibrix_instance(slice_factor: int, pooling: str) -> dict[str, Any]:
    """The AIBrix profile (8x5 buckets, rows = input length, columns = output length) as a
    gpu_packing instance at 40 requests/s, shares 1/(1+i+j) over the buckets the profiled A100
    can serve, with two made-up cheaper types: A10G at 30% of the A100's throughput for inputs
    up to bucket 5, L4 at 20% for inputs up to bucket 4 and outputs up to bucket 3."""
    profile = json.loads((SHARED / "aibrix_profile_simulator-llama2-7b-a100.json").read_text())
    a100 = profile["tputs"]

    def derived(factor: float, max_row: int, max_col: int) -> list[list[float]]:
        return [
            [
                round(t * factor, 4) if i <= max_row and j <= max_col else 0.0
                for j, t in enumerate(row)
            ]
            for i, row in enumerate(a100)
        ]

    weights = [
        [1.0 / (1 + i + j) if t > 0 else 0.0 for j, t in enumerate(row)]
        for i, row in enumerate(a100)
    ]
    total = sum(map(sum, weights))
    return {
        "gpu_types": [
            {"name": "A100", "cost_per_hour": MADE_UP_COSTS["A100"], "throughput": a100},
            {
                "name": "A10G",
                "cost_per_hour": MADE_UP_COSTS["A10G"],
                "throughput": derived(0.3, 5, len(a100[0])),
            },
            {"name": "L4", "cost_per_hour": MADE_UP_COSTS["L4"], "throughput": derived(0.2, 4, 3)},
        ],
        "workload": [[w / total for w in row] for row in weights],
        "total_request_rate": 40.0,
        "slice_factor": slice_factor,
        "pooling": pooling,
    }


def packing(limit: float, workers: int) -> None:
    """The GPU-packing table."""
    print(f"## GPU packing (AIBrix profile, made-up costs), {limit:g} s, {workers} workers")
    print(
        "| slice factor | slices | pooled ILP | ours, pooled | ours, bin packing "
        "| cheapest single type | time to prove (pooled) |"
    )
    print("|---|---|---|---|---|---|---|")
    for factor in (1, 4, 16):
        pooled = aibrix_instance(factor, "type")
        slices = factor * sum(share > 0 for row in pooled["workload"] for share in row)
        plain = solve("gpu_packing", pooled, time_limit_s=limit, workers=workers, warm_start=False)
        started = time.monotonic()
        ours = solve("gpu_packing", pooled, time_limit_s=limit, workers=workers)
        proved = time.monotonic() - started
        binned = solve(
            "gpu_packing", aibrix_instance(factor, "instance"), time_limit_s=limit, workers=workers
        )
        single = (ours.solution or {}).get("cheapest_single_type") or {}
        print(
            f"| {factor} | {slices} | {_value(plain)} | {_value(ours)} | {_value(binned)} "
            f"| {single.get('cost_per_hour')} ({single.get('gpu_type')}) "
            f"| {proved:.2f} s |",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    """Run both tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--placement-limit", type=float, default=30.0)
    parser.add_argument("--packing-limit", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", choices=["placement", "packing"], default=None)
    args = parser.parse_args(argv)
    print(
        f"# bench/alloc.py --placement-limit {args.placement_limit:g} "
        f"--packing-limit {args.packing_limit:g} --workers {args.workers}"
    )
    if args.only != "packing":
        placement(args.placement_limit, args.workers)
    if args.only != "placement":
        packing(args.packing_limit, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
