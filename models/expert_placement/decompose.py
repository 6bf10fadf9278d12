"""The expert-placement search: layer and node decomposition of the balance objective.

Without routes (or with ``communication_weight`` 0) and without memory limits, the layers of
a placement are independent, and with groups so are the nodes of a layer: the objective
:math:`\\beta \\sum_l \\max_g L_{l,g}` is a sum of per-layer maxima, each the largest over
the nodes. The search starts from the warm start and, layer by layer (the largest gap to the
layer's bound first), re-solves the node holding the layer's most-loaded GPU exactly (CP-SAT,
one layer, that node's experts, slots and GPUs, the current node placement as the initial
solution) while that lowers the layer's maximum and time is left. The whole model at
DeepSeek-V3 scale is too large for CP-SAT to improve in seconds; one node of one layer
(64 experts on 8 GPUs) it solves to within a token or two of its bound in a fraction of one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from makespan.models.expert_placement.heuristics import plain, warm_start
from makespan.models.expert_placement.instance import (
    ExpertPlacementInstance,
    ExpertPlacementSolution,
    balance_bound,
    layer_loads,
)
from makespan.models.spec import SearchAnswer, ShouldStop

METHOD = "decompose"

SUBPROBLEM_LIMIT_S = 2.0
"""Most seconds one node of one layer is given (a cancel waits at most this long)."""

SUBPROBLEM_FLOOR_S = 0.3
"""Fewest seconds worth starting a node solve with."""


def decomposable(instance: ExpertPlacementInstance) -> bool:
    """Whether layers (and, with groups, nodes) are independent and there is more than one."""
    independent = not instance.routing or instance.communication_weight == 0
    pieces = instance.num_layers * (instance.num_nodes if instance.num_groups else 1)
    return independent and instance.gpu_memory is None and not plain(instance) and pieces > 1


def search(
    instance: ExpertPlacementInstance, budget_s: float, should_stop: ShouldStop, best: float | None
) -> SearchAnswer[ExpertPlacementSolution]:
    """The decomposition search within ``budget_s`` (see the module); no answer when the
    instance does not decompose or nothing beats ``best``."""
    if not decomposable(instance):
        return SearchAnswer(METHOD)
    deadline = time.monotonic() + budget_s
    start = warm_start(instance, min(1.0, budget_s / 10), 0, should_stop)
    if start is None:
        return SearchAnswer(METHOD)
    sets = [[list(g) for g in row] for row in start.solution.replica_sets(instance)]
    layers = sorted(range(instance.num_layers), key=lambda k: -_gap(instance, k, sets[k]))
    for i, layer in enumerate(layers):
        if should_stop():
            break
        share_s = (deadline - time.monotonic()) / (len(layers) - i)
        _improve_layer(instance, layer, sets, time.monotonic() + share_s, should_stop)
    solution = ExpertPlacementSolution.from_replicas(instance, sets)
    if best is not None and solution.objective >= best:
        return SearchAnswer(METHOD)
    return SearchAnswer(METHOD, solution, solution.objective)


def _gap(instance: ExpertPlacementInstance, layer: int, row: Sequence[Sequence[int]]) -> int:
    return max(layer_loads(instance, layer, row)) - balance_bound(instance, layer)


def _improve_layer(
    instance: ExpertPlacementInstance,
    layer: int,
    sets: list[list[list[int]]],
    deadline: float,
    should_stop: Callable[[], bool],
) -> None:
    """Re-solve the node of the layer's most-loaded GPU while that lowers the maximum."""
    bound = balance_bound(instance, layer)
    tried: set[int] = set()
    while not should_stop():
        loads = layer_loads(instance, layer, sets[layer])
        peak = max(loads)
        left = deadline - time.monotonic()
        if peak <= bound or left < SUBPROBLEM_FLOOR_S:
            return
        gpus = _pool_gpus(instance, loads.index(peak))
        if gpus[0] in tried:
            return
        tried.add(gpus[0])
        better = _solve_pool(instance, layer, sets[layer], gpus, min(left, SUBPROBLEM_LIMIT_S))
        if better is not None:
            sets[layer] = better
            tried.clear()


def _pool_gpus(instance: ExpertPlacementInstance, gpu: int) -> list[int]:
    """The GPUs re-solved together with ``gpu``: its node with groups, else all."""
    if instance.num_groups is None:
        return list(range(instance.num_gpus))
    node = instance.node_of(gpu)
    per_node = instance.gpus_per_node
    return list(range(node * per_node, (node + 1) * per_node))


def _solve_pool(
    instance: ExpertPlacementInstance,
    layer: int,
    row: list[list[int]],
    gpus: list[int],
    limit_s: float,
) -> list[list[int]] | None:
    """The layer's row with the experts on ``gpus`` placed anew by an exact solve, or None
    when it lowers nothing."""
    from makespan.solvers import solve  # the pipeline imports the models

    local = {g: i for i, g in enumerate(gpus)}
    experts = [e for e, held in enumerate(row) if held[0] in local]
    sub = ExpertPlacementInstance(
        num_gpus=len(gpus),
        num_replicas=len(gpus) * instance.slots_per_gpu,
        loads=(tuple(instance.loads[layer][e] for e in experts),),
        communication_weight=0,
    )
    current = ExpertPlacementSolution.from_replicas(
        sub, [[tuple(local[g] for g in row[e]) for e in experts]]
    )
    result = solve(
        "expert_placement",
        sub,
        time_limit_s=limit_s,
        backend="cpsat",
        workers=2,
        initial_solution=current.model_dump(),
    )
    if result.solution is None or result.objective is None:
        return None
    if result.objective >= current.objective:
        return None
    placed = ExpertPlacementSolution.model_validate(result.solution).replica_sets(sub)[0]
    new = [list(held) for held in row]
    for e, held in zip(experts, placed, strict=True):
        new[e] = [gpus[i] for i in held]
    return new
