"""Independent expert-placement checker: recomputes replica counts, per-GPU and per-node loads,
balancedness and both parts of the objective from the instance and the slots alone."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

import numpy as np

from makespan.models.check import CheckReport, ViolationLog
from makespan.models.errors import InstanceError
from makespan.models.expert_placement.instance import (
    ExpertPlacementFixed,
    ExpertPlacementInstance,
    ExpertPlacementSolution,
)

Sets = list[list[tuple[int, ...]]]
"""``[l][e]``: the GPUs holding a replica of expert e of layer l."""


def check(instance: ExpertPlacementInstance, solution: ExpertPlacementSolution) -> CheckReport:
    """Every slot holds an expert in range and every expert at least one replica, never two on
    one GPU; without ``phy2log`` (one replica per expert), every GPU holds ``experts_per_gpu``
    experts of each layer; a group's replicas on one node; every GPU within its memory. The
    objective :math:`\\beta \\sum_l \\max_g L_{l,g} + \\gamma \\sum_r t_r \\min c`, and every
    figure the solution states (``max_load_sum``, ``crossing_tokens``, ``objective``,
    ``placement``, ``log2phy``, ``logcnt``, ``gpu_loads``, ``node_loads``, balancedness) must
    match the recomputed one."""
    log = ViolationLog()
    sets = _replica_sets(instance, solution, log)
    if sets is None or log.count:
        return log.report(None)
    _check_groups(instance, sets, log)
    _check_memory(instance, sets, log)
    loads = _gpu_loads(instance, sets)
    max_load_sum = int(loads.max(axis=1).sum())
    crossing = _crossing(instance, sets)
    objective = (
        _fraction(instance.balance_weight) * max_load_sum
        + _fraction(instance.communication_weight) * crossing
    )
    _compare(log, "max_load_sum", solution.max_load_sum, max_load_sum)
    _compare(log, "crossing_tokens", solution.crossing_tokens, float(crossing))
    _compare(log, "objective", solution.objective, float(objective))
    _check_stated(instance, solution, sets, loads, log)
    return log.report(None if log.count else float(objective))


def _replica_sets(
    instance: ExpertPlacementInstance, solution: ExpertPlacementSolution, log: ViolationLog
) -> Sets | None:
    _check_placement_shape(instance, solution, log)
    if log.count:
        return None
    if not instance.replicated:
        _check_counts(instance, solution.placement, log)
        return [[(g,) for g in row] for row in solution.placement]
    if solution.phy2log is None:
        log.add(
            f"phy2log is missing: the instance has {instance.slots} slots for "
            f"{instance.num_experts} experts per layer"
        )
        return None
    return _sets_of_slots(instance, solution.phy2log, log)


def _check_placement_shape(
    instance: ExpertPlacementInstance, solution: ExpertPlacementSolution, log: ViolationLog
) -> None:
    if len(solution.placement) != instance.num_layers:
        log.add(f"placement has {len(solution.placement)} layers, not {instance.num_layers}")
        return
    for layer, gpus in enumerate(solution.placement):
        if len(gpus) != instance.num_experts:
            log.add(f"layer {layer} places {len(gpus)} experts, not {instance.num_experts}")
            continue
        bad = [g for g in gpus if g >= instance.num_gpus]
        if bad:
            log.add(f"layer {layer}: GPU {bad[0]} is out of range 0..{instance.num_gpus - 1}")


def _check_counts(
    instance: ExpertPlacementInstance, placement: Sequence[Sequence[int]], log: ViolationLog
) -> None:
    for layer, gpus in enumerate(placement):
        counts = Counter(gpus)
        for gpu in range(instance.num_gpus):
            if counts[gpu] != instance.slots_per_gpu:
                log.add(
                    f"layer {layer}: GPU {gpu} holds {counts[gpu]} experts, "
                    f"not {instance.slots_per_gpu}"
                )


def _sets_of_slots(
    instance: ExpertPlacementInstance, phy2log: Sequence[Sequence[int]], log: ViolationLog
) -> Sets | None:
    if len(phy2log) != instance.num_layers:
        log.add(f"phy2log has {len(phy2log)} layers, not {instance.num_layers}")
        return None
    per_gpu = instance.slots_per_gpu
    sets: Sets = []
    for layer, slots in enumerate(phy2log):
        if len(slots) != instance.slots:
            log.add(f"phy2log.{layer} has {len(slots)} slots, not {instance.slots}")
            continue
        bad = [e for e in slots if e >= instance.num_experts]
        if bad:
            log.add(
                f"phy2log.{layer}: expert {bad[0]} is out of range 0..{instance.num_experts - 1}"
            )
            continue
        gpus: list[list[int]] = [[] for _ in range(instance.num_experts)]
        for slot, expert in enumerate(slots):
            g = slot // per_gpu
            if g in gpus[expert]:
                log.add(f"layer {layer}: expert {expert} has two replicas on GPU {g}")
            gpus[expert].append(g)
        for expert, held in enumerate(gpus):
            if not held:
                log.add(f"layer {layer}: expert {expert} has no replica")
        sets.append([tuple(held) for held in gpus])
    return sets


def _check_groups(instance: ExpertPlacementInstance, sets: Sets, log: ViolationLog) -> None:
    if instance.num_groups is None:
        return
    size = instance.num_experts // instance.num_groups
    per_node = instance.num_gpus // instance.num_nodes
    for layer, row in enumerate(sets):
        for group in range(instance.num_groups):
            nodes = {g // per_node for gpus in row[group * size : (group + 1) * size] for g in gpus}
            if len(nodes) > 1:
                log.add(f"layer {layer}: group {group} spans nodes {sorted(nodes)}")


def _check_memory(instance: ExpertPlacementInstance, sets: Sets, log: ViolationLog) -> None:
    if instance.gpu_memory is None or instance.expert_bytes is None:
        return
    used = [0] * instance.num_gpus
    for sizes, row in zip(instance.expert_bytes, sets, strict=True):
        for size, gpus in zip(sizes, row, strict=True):
            for g in gpus:
                used[g] += size
    for g, (have, cap) in enumerate(zip(used, instance.gpu_memory, strict=True)):
        if have > cap:
            log.add(f"GPU {g} holds {have} bytes of expert weights, above its memory {cap}")


def _gpu_loads(instance: ExpertPlacementInstance, sets: Sets) -> np.ndarray:
    """Per layer and GPU the replica shares, each :math:`\\lceil w / c \\rceil`, in int64 (a
    layer's load plus one token per slot stays below 2^56)."""
    loads = np.zeros((instance.num_layers, instance.num_gpus), dtype=np.int64)
    for layer, (row, weights) in enumerate(zip(sets, instance.loads, strict=True)):
        counts = np.array([len(gpus) for gpus in row], dtype=np.int64)
        shares = -(-np.array(weights, dtype=np.int64) // counts)
        experts = np.repeat(np.arange(len(row)), counts)
        gpus = np.array([g for held in row for g in held], dtype=np.int64)
        np.add.at(loads[layer], gpus, shares[experts])
    return loads


def _crossing(instance: ExpertPlacementInstance, sets: Sets) -> Fraction:
    cost: dict[tuple[int, int], Fraction] = {}
    total = Fraction(0)
    for route in instance.routing:
        best = min(
            _link_cost(instance, g, h, cost)
            for g in sets[route.layer][route.src]
            for h in sets[route.layer + 1][route.dst]
        )
        total += route.tokens * best
    return total


def _link_cost(
    instance: ExpertPlacementInstance, g: int, h: int, cache: dict[tuple[int, int], Fraction]
) -> Fraction:
    if (g, h) not in cache:
        if instance.link_cost is not None:
            value = instance.link_cost[g][h]
        elif g == h:
            value = 0.0
        else:
            per_node = instance.num_gpus // instance.num_nodes
            same = g // per_node == h // per_node
            intra = 1.0 if instance.intra_node_cost is None else instance.intra_node_cost
            inter = 1.0 if instance.inter_node_cost is None else instance.inter_node_cost
            value = intra if same else inter
        cache[(g, h)] = _fraction(value)
    return cache[(g, h)]


def _check_stated(
    instance: ExpertPlacementInstance,
    solution: ExpertPlacementSolution,
    sets: Sets,
    loads: np.ndarray,
    log: ViolationLog,
) -> None:
    """The figures a solution may state beside its slots, each against the recomputed one
    (the slots are ``placement`` with one replica per expert, else ``phy2log``)."""
    first = tuple(tuple(min(gpus) for gpus in row) for row in sets)
    if solution.placement != first:
        log.add("placement does not name each expert's first GPU in phy2log")
    if solution.phy2log is not None and not instance.replicated:
        per_gpu = instance.slots_per_gpu
        held = [
            [sorted(row[g * per_gpu : (g + 1) * per_gpu]) for g in range(instance.num_gpus)]
            for row in solution.phy2log
        ]
        wanted = [
            [sorted(e for e, gpus in enumerate(row) if g in gpus) for g in range(instance.num_gpus)]
            for row in sets
        ]
        if held != wanted:
            log.add("phy2log differs from placement")
    counts = tuple(tuple(len(gpus) for gpus in row) for row in sets)
    if solution.logcnt is not None and solution.logcnt != counts:
        log.add("logcnt differs from the replica counts in phy2log")
    if solution.log2phy is not None and not _log2phy_matches(instance, solution, counts):
        log.add("log2phy differs from the slots in phy2log")
    if solution.gpu_loads is not None and solution.gpu_loads != tuple(map(tuple, loads.tolist())):
        log.add("gpu_loads differ from the replica shares the GPUs hold")
    per_node = loads.reshape(instance.num_layers, instance.num_nodes, -1).sum(axis=2)
    if solution.node_loads is not None and solution.node_loads != tuple(
        map(tuple, per_node.tolist())
    ):
        log.add("node_loads differ from the sums of their GPUs' loads")
    means = loads.sum(axis=1) / instance.num_gpus
    peaks = loads.max(axis=1)
    if solution.layer_balancedness is not None:
        stated = solution.layer_balancedness
        actual = [m / p if p else 1.0 for m, p in zip(means.tolist(), peaks.tolist(), strict=True)]
        if len(stated) != len(actual) or any(
            not math.isclose(a, b, rel_tol=1e-9) for a, b in zip(stated, actual, strict=False)
        ):
            log.add("layer_balancedness differs from mean / max of the GPU loads")
    if solution.balancedness is not None:
        overall = float(means.sum() / peaks.sum()) if peaks.sum() else 1.0
        _compare(log, "balancedness", solution.balancedness, overall)


def _log2phy_matches(
    instance: ExpertPlacementInstance,
    solution: ExpertPlacementSolution,
    counts: tuple[tuple[int, ...], ...],
) -> bool:
    if solution.phy2log is None or solution.log2phy is None:
        return solution.log2phy is None
    if len(solution.log2phy) != instance.num_layers:
        return False
    for slots, rows, layer_counts in zip(solution.phy2log, solution.log2phy, counts, strict=True):
        if len(rows) != instance.num_experts:
            return False
        for expert, (row, count) in enumerate(zip(rows, layer_counts, strict=True)):
            named = [s for s in row if s != -1]
            if len(named) != count or any(
                not 0 <= s < len(slots) or slots[s] != expert for s in named
            ):
                return False
            if sorted(named) != named or any(s != -1 for s in row[count:]):
                return False
    return True


def _fraction(value: float) -> Fraction:
    return Fraction(Decimal(repr(value)))


def _compare(log: ViolationLog, name: str, claimed: float, actual: float) -> None:
    if not math.isclose(claimed, actual, rel_tol=1e-9, abs_tol=1e-9):
        log.add(f"claimed {name} {claimed} differs from the placement's {actual}")


def infeasibility_reason(instance: ExpertPlacementInstance) -> str | None:
    """Why no placement exists, when that is plain: GPUs whose memory cannot hold their slots'
    lightest experts. None otherwise (slots, groups and nodes are checked by the instance to
    always fit; memory beyond this is decided by the solve)."""
    if instance.gpu_memory is None or instance.expert_bytes is None:
        return None
    lightest = sum(sum(sorted(row)[: instance.slots_per_gpu]) for row in instance.expert_bytes)
    for g, cap in enumerate(instance.gpu_memory):
        if cap < lightest:
            return (
                f"GPU {g} has {cap} bytes of memory, but its {instance.slots_per_gpu} slots per "
                f"layer need at least {lightest}"
            )
    return None


def validate_fixed(instance: ExpertPlacementInstance, fixed: ExpertPlacementFixed) -> None:
    """Every fixing names a layer, expert and GPU of the instance; without replicas each expert
    at most once, with them each (expert, GPU) pair at most once."""
    seen: set[tuple[int, ...]] = set()
    ranges = {
        "layer": instance.num_layers,
        "expert": instance.num_experts,
        "gpu": instance.num_gpus,
    }
    for k, fixing in enumerate(fixed.root):
        for name, count in ranges.items():
            if getattr(fixing, name) >= count:
                raise InstanceError(f"out of range 0..{count - 1}", field=f"{k}.{name}")
        key: tuple[int, ...] = (fixing.layer, fixing.expert)
        if instance.replicated:
            key = (*key, fixing.gpu)
        if key in seen:
            raise InstanceError(
                f"expert {fixing.expert} of layer {fixing.layer} fixed twice", field=str(k)
            )
        seen.add(key)


def kept(
    instance: ExpertPlacementInstance,
    solution: ExpertPlacementSolution,
    fixed: ExpertPlacementFixed,
) -> list[str]:
    """Every fixing whose GPU holds no replica of its expert in ``solution``."""
    sets = _lenient_sets(instance, solution)
    broken = []
    for f in fixed.root:
        row = sets[f.layer] if f.layer < len(sets) else []
        found = row[f.expert] if f.expert < len(row) else ()
        if f.gpu not in found:
            broken.append(
                f"expert {f.expert} of layer {f.layer} is fixed on GPU {f.gpu}, found on "
                f"{list(found) or None}"
            )
    return broken


def _lenient_sets(
    instance: ExpertPlacementInstance, solution: ExpertPlacementSolution
) -> list[list[set[int]]]:
    """Replica sets read from whatever the solution holds, out-of-range entries skipped."""
    if solution.phy2log is None:
        return [[{g} for g in row] for row in solution.placement]
    per_gpu = instance.slots_per_gpu
    sets: list[list[set[int]]] = [
        [set() for _ in range(instance.num_experts)] for _ in solution.phy2log
    ]
    for layer, slots in enumerate(solution.phy2log):
        for slot, expert in enumerate(slots):
            if expert < instance.num_experts:
                sets[layer][expert].add(slot // per_gpu)
    return sets


def deviation(
    instance: ExpertPlacementInstance,
    solution: ExpertPlacementSolution,
    reference: ExpertPlacementSolution,
) -> int:
    """The expert weights copied to a GPU that did not hold them in the reference, counted
    (``migration`` = ``"experts"``; with one replica per expert, the experts moved to another
    GPU) or in bytes (``"bytes"``).

    Raises:
        InstanceError: the reference is not a placement of the instance's shape.
    """
    before = _reference_sets(instance, reference)
    after = _lenient_sets(instance, solution)
    sizes = instance.expert_bytes if instance.migration == "bytes" else None
    moved = 0
    for layer, row in enumerate(after[: instance.num_layers]):
        for expert, gpus in enumerate(row):
            new = len(gpus - before[layer][expert])
            moved += new * (sizes[layer][expert] if sizes is not None else 1)
    return moved


def reference_violations(
    instance: ExpertPlacementInstance,
    solution: ExpertPlacementSolution,
    reference: ExpertPlacementSolution,
) -> list[str]:
    """``max_moves`` broken: more weights (or bytes) moved from the reference than it allows."""
    if instance.max_moves is None:
        return []
    moved = deviation(instance, solution, reference)
    if moved <= instance.max_moves:
        return []
    unit = "bytes" if instance.migration == "bytes" else "expert weights"
    return [f"{moved} {unit} moved from the reference, above max_moves {instance.max_moves}"]


def _reference_sets(
    instance: ExpertPlacementInstance, reference: ExpertPlacementSolution
) -> list[list[set[int]]]:
    """The reference's replica sets, its shape checked."""
    if len(reference.placement) != instance.num_layers:
        raise InstanceError(
            f"{len(reference.placement)} layers, not {instance.num_layers}", field="placement"
        )
    for layer, row in enumerate(reference.placement):
        if len(row) != instance.num_experts:
            raise InstanceError(
                f"{len(row)} experts, not {instance.num_experts}", field=f"placement.{layer}"
            )
        if any(gpu >= instance.num_gpus for gpu in row):
            raise InstanceError(
                f"a GPU out of range 0..{instance.num_gpus - 1}", field=f"placement.{layer}"
            )
    log = ViolationLog()
    if reference.phy2log is not None:
        _sets_of_slots(instance, reference.phy2log, log)
    elif instance.replicated:
        log.add("phy2log is missing: the instance replicates experts")
    if log.count:
        raise InstanceError(log.report(None).violations[0], field="phy2log")
    return _lenient_sets(instance, reference)
