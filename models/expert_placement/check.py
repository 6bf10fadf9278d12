"""Independent expert-placement checker: recomputes both parts of the objective from the
instance and the placement alone."""

from __future__ import annotations

import math
from collections import Counter
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


def check(instance: ExpertPlacementInstance, solution: ExpertPlacementSolution) -> CheckReport:
    """Every expert of every layer on a GPU in range, every GPU holding exactly
    ``experts_per_gpu`` experts of each layer; objective
    :math:`\\beta \\sum_l \\max_g load_{l,g} + \\gamma \\sum_r t_r c_{g(src_r), g(dst_r)}`,
    and the solution's ``max_load_sum``, ``crossing_tokens`` and ``objective`` must match it."""
    log = ViolationLog()
    _check_shape(instance, solution, log)
    if log.count:
        return log.report(None)
    placement = solution.placement
    max_load_sum = _max_load_sum(instance, placement)
    crossing = Fraction(0)
    for route in instance.routing:
        g = placement[route.layer][route.src]
        h = placement[route.layer + 1][route.dst]
        crossing += route.tokens * _fraction(_link_cost(instance, g, h))
    objective = (
        _fraction(instance.balance_weight) * max_load_sum
        + _fraction(instance.communication_weight) * crossing
    )
    _compare(log, "max_load_sum", solution.max_load_sum, max_load_sum)
    _compare(log, "crossing_tokens", solution.crossing_tokens, float(crossing))
    _compare(log, "objective", solution.objective, float(objective))
    return log.report(float(objective))


def _max_load_sum(instance: ExpertPlacementInstance, placement: tuple[tuple[int, ...], ...]) -> int:
    """:math:`\\sum_l \\max_g load_{l,g}` of a placement of the instance's shape, computed
    apart from the solution's own arithmetic: per-GPU loads in int64 arrays (a layer's load is
    below 2^55), their per-layer maxima summed as Python integers (the layers are unbounded)."""
    gpus = np.array(placement, dtype=np.int64)
    per_gpu = np.zeros((instance.num_layers, instance.num_gpus), dtype=np.int64)
    layers = np.arange(instance.num_layers)[:, None]
    np.add.at(per_gpu, (layers, gpus), np.array(instance.loads, dtype=np.int64))
    return sum(per_gpu.max(axis=1).tolist())


def _check_shape(
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
            continue
        counts = Counter(gpus)
        for gpu in range(instance.num_gpus):
            if counts[gpu] != instance.experts_per_gpu:
                log.add(
                    f"layer {layer}: GPU {gpu} holds {counts[gpu]} experts, "
                    f"not {instance.experts_per_gpu}"
                )


def _link_cost(instance: ExpertPlacementInstance, g: int, h: int) -> float:
    if instance.link_cost is None:
        return 0.0 if g == h else 1.0
    return instance.link_cost[g][h]


def _fraction(value: float) -> Fraction:
    return Fraction(Decimal(repr(value)))


def _compare(log: ViolationLog, name: str, claimed: float, actual: float) -> None:
    if not math.isclose(claimed, actual, rel_tol=1e-9, abs_tol=1e-9):
        log.add(f"claimed {name} {claimed} differs from the placement's {actual}")


def infeasibility_reason(instance: ExpertPlacementInstance) -> str | None:
    """None: every valid instance has a placement (the instance checks its shape)."""
    del instance
    return None


def validate_fixed(instance: ExpertPlacementInstance, fixed: ExpertPlacementFixed) -> None:
    """Every fixing names a layer, expert and GPU of the instance, each expert at most once."""
    seen: set[tuple[int, int]] = set()
    ranges = {
        "layer": instance.num_layers,
        "expert": instance.num_experts,
        "gpu": instance.num_gpus,
    }
    for k, fixing in enumerate(fixed.root):
        for name, count in ranges.items():
            if getattr(fixing, name) >= count:
                raise InstanceError(f"out of range 0..{count - 1}", field=f"{k}.{name}")
        if (fixing.layer, fixing.expert) in seen:
            raise InstanceError(
                f"expert {fixing.expert} of layer {fixing.layer} fixed twice", field=str(k)
            )
        seen.add((fixing.layer, fixing.expert))


def kept(
    instance: ExpertPlacementInstance,
    solution: ExpertPlacementSolution,
    fixed: ExpertPlacementFixed,
) -> list[str]:
    """Every fixed expert that ``solution`` placed on another GPU."""
    del instance
    broken = []
    for f in fixed.root:
        row = solution.placement[f.layer] if f.layer < len(solution.placement) else ()
        found = row[f.expert] if f.expert < len(row) else None
        if found != f.gpu:
            broken.append(
                f"expert {f.expert} of layer {f.layer} is fixed on GPU {f.gpu}, found {found}"
            )
    return broken


def deviation(
    instance: ExpertPlacementInstance,
    solution: ExpertPlacementSolution,
    reference: ExpertPlacementSolution,
) -> int:
    """The number of experts on another GPU than in the reference.

    Raises:
        InstanceError: the reference is not a placement of the instance's shape.
    """
    _check_reference_shape(instance, reference)
    moved = 0
    for layer, before in enumerate(reference.placement):
        after = solution.placement[layer] if layer < len(solution.placement) else ()
        for expert, gpu in enumerate(before):
            moved += expert >= len(after) or after[expert] != gpu
    return moved


def _check_reference_shape(
    instance: ExpertPlacementInstance, reference: ExpertPlacementSolution
) -> None:
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
