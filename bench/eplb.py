"""Expert placement against DeepSeek's EPLB, in one run.

EPLB's two policies are written here from their published description (deepseek-ai/EPLB,
``rebalance_experts``), not imported:

- *hierarchical* (``num_groups % num_nodes == 0``): pack expert groups onto nodes (balanced
  packing: heaviest first onto the least-loaded node with room, the same number per node), share
  each node's slots among its experts (each spare slot to the expert with the largest
  weight / replica count), pack the node's replicas onto its GPUs (balanced packing again);
- *global*: the same with one group and one node.

Balanced packing does not keep two replicas of one expert off the same GPU; the scores below
count such a pair as twice the share on that GPU. makespan's answers are ``solve()`` with its
defaults; a rebalance passes the previous answer as ``reference`` with ``stability_weight``.

Loads: ``generate`` (Zipf popularity, skew 1) for window 1; window 2 multiplies each load by a
log-normal factor (sigma ``--drift``), the drift between two measurement windows. Figures:
balancedness = sum over layers of mean GPU load / sum of max GPU load (vLLM's), a replica
carrying ceil(w / c); max load = the sum over layers of the largest GPU load; routed = tokens of
routes whose experts share no GPU (cross-node in brackets); moved = expert weights copied to a
GPU that lacked them in the window-1 placement of the same method.

    python bench/eplb.py --time-limit 30 --workers 2
"""

from __future__ import annotations

import argparse
import heapq
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from makespan.models.expert_placement import MODEL
from makespan.models.expert_placement.generate import generate
from makespan.models.expert_placement.heuristics import warm_start
from makespan.models.expert_placement.instance import (
    ExpertPlacementInstance,
    balance_bound,
    routing_bound,
)
from makespan.solvers import solve

Sets = list[list[list[int]]]
"""``[l][e]``: the GPUs of expert e's replicas (a GPU twice when EPLB doubles up)."""


@dataclass(frozen=True)
class Size:
    """One benchmark shape."""

    layers: int
    experts: int
    gpus: int
    replicas: int
    nodes: int
    groups: int

    def label(self) -> str:
        """``LxExG, R slots, N nodes``."""
        return (
            f"{self.layers}x{self.experts}x{self.gpus}, {self.replicas} slots, {self.nodes} nodes"
        )


SIZES = [
    Size(8, 64, 8, 80, 2, 4),
    Size(32, 64, 8, 80, 2, 4),
    Size(58, 256, 32, 288, 4, 8),
    Size(58, 256, 32, 320, 4, 8),
]
"""The shapes; the last two are DeepSeek-V3 (58 MoE layers, 256 experts in 8 groups)."""


def balanced_packing(weights: list[float], packs: int) -> list[int]:
    """EPLB's balanced packing: items heaviest first onto the lightest pack with room."""
    per_pack = len(weights) // packs
    load = [0.0] * packs
    count = [0] * packs
    pack_of = [0] * len(weights)
    for item in sorted(range(len(weights)), key=lambda i: -weights[i]):
        pack = min((p for p in range(packs) if count[p] < per_pack), key=lambda p: load[p])
        pack_of[item] = pack
        load[pack] += weights[item]
        count[pack] += 1
    return pack_of


def replicate(weights: list[float], slots: int) -> list[int]:
    """EPLB's replication: each spare slot to the expert with the largest weight / count."""
    counts = [1] * len(weights)
    heap = [(-w, e) for e, w in enumerate(weights)]
    heapq.heapify(heap)
    for _ in range(slots - len(weights)):
        _, e = heapq.heappop(heap)
        counts[e] += 1
        heapq.heappush(heap, (-weights[e] / counts[e], e))
    return counts


def eplb_layer(weights: list[float], size: Size, hierarchical: bool) -> list[list[int]]:
    """The GPUs of every expert of one layer by EPLB's hierarchical or global policy."""
    groups, nodes = (size.groups, size.nodes) if hierarchical else (1, 1)
    per_group = size.experts // groups
    group_weight = [sum(weights[k * per_group : (k + 1) * per_group]) for k in range(groups)]
    node_of_group = balanced_packing(group_weight, nodes)
    gpus_per_node = size.gpus // nodes
    sets: list[list[int]] = [[] for _ in weights]
    for node in range(nodes):
        experts = [
            e
            for k in range(groups)
            if node_of_group[k] == node
            for e in range(k * per_group, (k + 1) * per_group)
        ]
        counts = replicate([weights[e] for e in experts], size.replicas // nodes)
        replicas = [
            (e, weights[e] / c) for e, c in zip(experts, counts, strict=True) for _ in range(c)
        ]
        gpu_of = balanced_packing([w for _, w in replicas], gpus_per_node)
        for (e, _), g in zip(replicas, gpu_of, strict=True):
            sets[e].append(node * gpus_per_node + g)
    return sets


def eplb(instance: ExpertPlacementInstance, size: Size, hierarchical: bool) -> Sets:
    """EPLB's placement of every layer."""
    return [eplb_layer([float(w) for w in row], size, hierarchical) for row in instance.loads]


def scores(instance: ExpertPlacementInstance, sets: Sets) -> dict[str, float]:
    """Balancedness, max-load sum and routed tokens of replica sets."""
    means, peaks = 0.0, 0
    for row, experts in zip(instance.loads, sets, strict=True):
        per_gpu = np.zeros(instance.num_gpus, dtype=np.int64)
        for load, gpus in zip(row, experts, strict=True):
            for g in gpus:
                per_gpu[g] += -(-load // len(gpus))
        means += float(per_gpu.mean())
        peaks += int(per_gpu.max())
    per_node = instance.gpus_per_node
    routed = cross_node = 0
    for route in instance.routing:
        a, b = set(sets[route.layer][route.src]), set(sets[route.layer + 1][route.dst])
        if not a & b:
            routed += route.tokens
            if not {g // per_node for g in a} & {g // per_node for g in b}:
                cross_node += route.tokens
    return {
        "balancedness": means / peaks if peaks else 1.0,
        "max_load": peaks,
        "routed": routed,
        "cross_node": cross_node,
    }


def moved(before: Sets, after: Sets) -> int:
    """Expert weights copied to a GPU that lacked them (multisets: a doubled copy counts)."""
    total = 0
    for old_row, new_row in zip(before, after, strict=True):
        for old, new in zip(old_row, new_row, strict=True):
            left = list(old)
            for g in new:
                if g in left:
                    left.remove(g)
                else:
                    total += 1
    return total


def drifted(instance: ExpertPlacementInstance, sigma: float, seed: int) -> ExpertPlacementInstance:
    """Window 2: every load times a log-normal factor."""
    rng = np.random.default_rng(seed)
    factors = rng.lognormal(0.0, sigma, size=(instance.num_layers, instance.num_experts))
    loads = np.minimum(np.rint(np.array(instance.loads) * factors), 10**9).astype(int)
    return instance.model_copy(update={"loads": tuple(tuple(r) for r in loads.tolist())})


def instance_of(size: Size, seed: int, routing: bool) -> ExpertPlacementInstance:
    """Window 1 of a shape: generated loads (and routes when ``routing``)."""
    base = generate(size.layers, size.experts, size.gpus, 100_000, seed=seed)
    document: dict[str, Any] = base.model_dump(exclude={"experts_per_gpu"})
    document.update(
        num_replicas=size.replicas,
        num_nodes=size.nodes,
        num_groups=size.groups,
        intra_node_cost=1.0,
        inter_node_cost=4.0,
    )
    if not routing:
        document.update(routing=(), communication_weight=0.0)
    return ExpertPlacementInstance.model_validate(document)


def ours(
    instance: ExpertPlacementInstance, limit: float, workers: int, **options: Any
) -> tuple[Sets, float, Any]:
    """makespan's answer: its replica sets, the time taken and the Result."""
    start = time.perf_counter()
    result = solve("expert_placement", instance, time_limit_s=limit, workers=workers, **options)
    elapsed = time.perf_counter() - start
    assert result.solution is not None
    solution = MODEL.parse_solution(result.solution)
    assert MODEL.check(instance, solution).feasible
    return [[list(g) for g in row] for row in solution.replica_sets(instance)], elapsed, result


def warm(instance: ExpertPlacementInstance, budget: float) -> tuple[Sets, float]:
    """makespan's warm start alone (EPLB's policy and the replica search) and its time."""
    start = time.perf_counter()
    answer = warm_start(instance, budget, 0, lambda: False)
    seconds = time.perf_counter() - start
    assert answer is not None and MODEL.check(instance, answer.solution).feasible
    return [[list(g) for g in row] for row in answer.solution.replica_sets(instance)], seconds


def timed_eplb(
    instance: ExpertPlacementInstance, size: Size, hierarchical: bool
) -> tuple[Sets, float]:
    """EPLB's placement and its time."""
    start = time.perf_counter()
    sets = eplb(instance, size, hierarchical)
    return sets, time.perf_counter() - start


def row(name: str, instance: ExpertPlacementInstance, sets: Sets, seconds: float, move: Any) -> str:
    """One table row."""
    s = scores(instance, sets)
    return (
        f"| {name} | {s['balancedness']:.4f} | {s['max_load']} | {s['routed']} ({s['cross_node']}) "
        f"| {move} | {seconds:.2f} |"
    )


def balance_table(args: argparse.Namespace) -> None:
    """EPLB's objective (balance only): both windows, rebalancing, and the fast path."""
    print(f"## balance only (EPLB's objective), {args.time_limit:g} s, {args.workers} workers\n")
    for size in SIZES[: args.sizes]:
        window1 = instance_of(size, args.seed, routing=False)
        window2 = drifted(window1, args.drift, args.seed + 1)
        print(f"### {size.label()}, {size.groups} groups\n")
        print("| method (window 2) | balancedness | max load | routed (cross-node) | moved | s |")
        print("|---|---|---|---|---|---|")
        for name, hierarchical in (("EPLB hierarchical", True), ("EPLB global", False)):
            before, _ = timed_eplb(window1, size, hierarchical)
            after, seconds = timed_eplb(window2, size, hierarchical)
            print(row(name, window2, after, seconds, moved(before, after)))
        fast, fast_s = warm(window2, args.fast_budget)
        limit = args.time_limit
        previous, _, first = ours(window1, limit, args.workers)
        scratch, scratch_s, result = ours(window2, limit, args.workers)
        print(row("makespan warm start", window2, fast, fast_s, moved(previous, fast)))
        print(row(f"makespan, {limit:g} s", window2, scratch, scratch_s, moved(previous, scratch)))
        for weight in args.weights:
            near, near_s, _ = ours(
                window2, limit, args.workers, reference=first.solution, stability_weight=weight
            )
            print(
                row(
                    f"makespan rebalance, w={weight:g}",
                    window2,
                    near,
                    near_s,
                    moved(previous, near),
                )
            )
        free2 = window2.model_copy(update={"num_groups": None})
        free1 = window1.model_copy(update={"num_groups": None})
        free_before, _, _ = ours(free1, limit, args.workers)
        free, free_s, _ = ours(free2, limit, args.workers)
        print(
            row(f"makespan, no groups, {limit:g} s", free2, free, free_s, moved(free_before, free))
        )
        gap = (result.objective - result.bound) / result.objective if result.bound else None
        print(
            f"\nmakespan {limit:g} s: max load {result.objective:g}, proven bound "
            f"{result.bound:g}, gap {gap:.3%}\n"
            if gap is not None
            else ""
        )


def balance_only(layers: int, seed: int) -> ExpertPlacementInstance:
    """A generated shape with one replica per expert and no routes: the balance objective
    alone."""
    document = generate(layers, 64, 8, 100_000, seed=seed).model_dump()
    document.update(routing=(), communication_weight=0.0)
    return ExpertPlacementInstance.model_validate(document)


def gap_table(args: argparse.Namespace) -> None:
    """The proven bounds: balance and routing gaps of makespan's answers, with routing."""
    print(f"## bound gaps with routing, {args.time_limit:g} s, {args.workers} workers\n")
    print("| instance | balance | its bound | gap | routed cost | its bound | gap | s |")
    print("|---|---|---|---|---|---|---|---|")
    cases = [
        ("8x64x8, one replica each, balance only", balance_only(8, args.seed)),
        ("32x64x8, one replica each, balance only", balance_only(32, args.seed)),
        ("8x64x8, one replica each", generate(8, 64, 8, 100_000, seed=args.seed)),
        ("32x64x8, one replica each", generate(32, 64, 8, 100_000, seed=args.seed)),
        ("8x64x8, 80 slots, 2 nodes", instance_of(SIZES[0], args.seed, routing=True)),
        ("32x64x8, 80 slots, 2 nodes", instance_of(SIZES[1], args.seed, routing=True)),
    ]
    for name, instance in cases:
        _, seconds, result = ours(instance, args.time_limit, args.workers)
        solution = MODEL.parse_solution(result.solution)
        balance = sum(balance_bound(instance, layer) for layer in range(instance.num_layers))
        if not instance.routing and result.bound is not None:
            balance = max(balance, int(result.bound))  # the solve's own proven bound
        routing = float(routing_bound(instance))
        crossing = solution.crossing_tokens
        print(
            f"| {name} | {solution.max_load_sum} | {balance} | "
            f"{(solution.max_load_sum - balance) / solution.max_load_sum:.2%} | {crossing:g} | "
            f"{routing:g} | {(crossing - routing) / crossing if crossing else 0:.1%} | "
            f"{seconds:.1f} |"
        )
    print()


OPTIONS: list[tuple[str, type, Any, str]] = [
    ("--time-limit", float, 30.0, "Seconds per makespan solve."),
    ("--workers", int, 2, "Solver threads."),
    ("--drift", float, 0.3, "Sigma of the log-normal drift between the windows."),
    ("--seed", int, 0, "Generator seed."),
    ("--sizes", int, len(SIZES), "Run the first N shapes."),
    ("--fast-budget", float, 0.5, "Warm-start seconds."),
]
"""The bench's options: flag, type, default, help."""


def main() -> None:
    """Run the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for flag, kind, default, text in OPTIONS:
        parser.add_argument(flag, type=kind, default=default, help=text)
    parser.add_argument("--weights", type=float, nargs="*", default=[1.0, 10.0, 100.0])
    parser.add_argument("--skip-gaps", action="store_true", help="Only the balance tables.")
    parser.add_argument("--only-gaps", action="store_true", help="Only the bound-gap table.")
    args = parser.parse_args()
    if not args.only_gaps:
        balance_table(args)
    if not args.skip_gaps:
        gap_table(args)


if __name__ == "__main__":
    main()
