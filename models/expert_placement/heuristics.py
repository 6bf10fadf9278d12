"""Warm-start heuristics for expert placement.

:func:`greedy` balances each layer on its own, EPLB style (longest processing time first):
experts by decreasing load, each on the least-loaded GPU that still has room for one more.
:func:`warm_start` then improves the placement by affinity-aware iterated local search: swaps
of two experts of one layer on different GPUs, accepted when they lower the full objective

.. math::
    \\beta \\sum_l \\max_g load_{l,g} + \\gamma \\sum_r t_r c_{g(src_r), g(dst_r)}.

For an expert the swaps tried are those with the experts of the GPUs that hold its routing
neighbours (the previous and next layers), and with those of the least-loaded GPU when the
expert sits on its layer's most-loaded GPU; passes over all experts in random order repeat
until one improves nothing, the time budget ends or ``should_stop()`` is true.

Instances with replicas, groups or memory limits take EPLB's policy and the replica search of
:mod:`~makespan.models.expert_placement.replicas` instead.
"""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Callable, Sequence

from makespan.models.expert_placement.instance import (
    ExpertPlacementFixed,
    ExpertPlacementInstance,
    ExpertPlacementSolution,
)
from makespan.models.expert_placement.replicas import (
    Migration,
    ReplicaSearch,
    eplb_placement,
    packed_placement,
    relabelled,
    relabelled_per_layer,
)
from makespan.models.spec import Steering, WarmStart

__all__ = ["greedy", "lpt_layer", "repair", "steered_start", "warm_start"]

_POLL = 32

STALL_ROUNDS = 200
"""Kicks in a row without improvement after which the iterated local search gives up."""
_EPS = 1e-6

Neighbour = tuple[int, int, int, bool]
"""``(layer, expert, tokens, outgoing)`` of one route touching an expert."""


def lpt_layer(loads: Sequence[int], num_gpus: int, experts_per_gpu: int) -> list[int]:
    """The GPU of every expert of one layer: heaviest first, onto the least-loaded GPU with room
    (ties to the lower GPU index)."""
    order = sorted(range(len(loads)), key=lambda e: (-loads[e], e))
    heap = [(0, g) for g in range(num_gpus)]
    counts = [0] * num_gpus
    gpus = [0] * len(loads)
    for e in order:
        load, g = heapq.heappop(heap)
        gpus[e] = g
        counts[g] += 1
        if counts[g] < experts_per_gpu:
            heapq.heappush(heap, (load + loads[e], g))
    return gpus


def plain(instance: ExpertPlacementInstance) -> bool:
    """One replica per expert, no groups, no memory limits: the swap search's ground."""
    return not instance.replicated and instance.num_groups is None and instance.gpu_memory is None


def greedy(instance: ExpertPlacementInstance) -> ExpertPlacementSolution:
    """Every layer balanced by :func:`lpt_layer`, ignoring communication; EPLB's policy
    (:func:`~makespan.models.expert_placement.replicas.eplb_placement`) when the instance is
    not :func:`plain`.

    Raises:
        ValueError: memory limits defeat EPLB's packing.
    """
    if not plain(instance):
        sets = eplb_placement(instance)
        if sets is None:
            raise ValueError("EPLB's packing finds no GPU with memory for some replica")
        return ExpertPlacementSolution.from_replicas(instance, sets)
    placement = [
        lpt_layer(row, instance.num_gpus, instance.slots_per_gpu) for row in instance.loads
    ]
    return ExpertPlacementSolution.from_placement(instance, placement)


def repair(
    instance: ExpertPlacementInstance, steering: Steering[ExpertPlacementSolution]
) -> ExpertPlacementSolution | None:
    """The reference placement (without one, :func:`greedy`'s) with the fixed experts put on
    their GPUs, then, per layer, unfixed experts moved from GPUs over ``experts_per_gpu`` to
    GPUs under it, the lightest first (the fewest moves that restore the counts). None when
    a GPU holds more fixed experts of a layer than it has room for. Instances that are not
    :func:`plain` keep the reference as it is (None when there is none)."""
    if not plain(instance):
        return steering.reference
    base = steering.reference or greedy(instance)
    placement = [list(row) for row in base.placement]
    pinned: set[tuple[int, int]] = set()
    if isinstance(steering.fixed, ExpertPlacementFixed):
        for f in steering.fixed.root:
            placement[f.layer][f.expert] = f.gpu
            pinned.add((f.layer, f.expert))
    for layer, row in enumerate(placement):
        if not _restore_counts(instance, layer, row, pinned):
            return None
    return ExpertPlacementSolution.from_placement(instance, placement)


def _restore_counts(
    instance: ExpertPlacementInstance, layer: int, row: list[int], pinned: set[tuple[int, int]]
) -> bool:
    room = instance.slots_per_gpu
    members: list[list[int]] = [[] for _ in range(instance.num_gpus)]
    for expert, gpu in enumerate(row):
        members[gpu].append(expert)
    loads = instance.loads[layer]
    under = [g for g in range(instance.num_gpus) if len(members[g]) < room]
    for experts in members:
        movable = sorted((e for e in experts if (layer, e) not in pinned), key=lambda e: loads[e])
        while len(experts) > room:
            if not movable or not under:
                return False
            expert, target = movable.pop(0), under[0]
            experts.remove(expert)
            members[target].append(expert)
            row[expert] = target
            if len(members[target]) == room:
                under.pop(0)
    return True


class _SwapSearch:
    """A placement with per-GPU loads and members, scoring and applying swaps incrementally."""

    def __init__(self, instance: ExpertPlacementInstance, placement: list[list[int]]) -> None:
        self.loads = [list(row) for row in instance.loads]
        self.costs = [list(row) for row in instance.costs]
        self.beta = instance.balance_weight
        self.gamma = instance.communication_weight
        self.place = placement
        g_count = instance.num_gpus
        self.gpu_load = [[0] * g_count for _ in placement]
        self.members: list[list[list[int]]] = [[[] for _ in range(g_count)] for _ in placement]
        for layer, gpus in enumerate(placement):
            for e, g in enumerate(gpus):
                self.gpu_load[layer][g] += self.loads[layer][e]
                self.members[layer][g].append(e)
        self.neighbours: list[list[list[Neighbour]]] = [[[] for _ in row] for row in placement]
        for route in instance.routing:
            layer = route.layer
            self.neighbours[layer][route.src].append((layer + 1, route.dst, route.tokens, True))
            self.neighbours[layer + 1][route.dst].append((layer, route.src, route.tokens, False))

    def comm_delta(self, layer: int, e: int, new: int) -> float:
        """Change of the link-cost-weighted routed tokens when expert e moves to GPU ``new``."""
        old = self.place[layer][e]
        delta = 0.0
        for other_layer, other, tokens, outgoing in self.neighbours[layer][e]:
            g = self.place[other_layer][other]
            if outgoing:
                delta += tokens * (self.costs[new][g] - self.costs[old][g])
            else:
                delta += tokens * (self.costs[g][new] - self.costs[g][old])
        return delta

    def swap_delta(self, layer: int, a: int, b: int) -> float:
        """Change of the objective when experts a and b of ``layer`` swap GPUs."""
        ga, gb = self.place[layer][a], self.place[layer][b]
        wa, wb = self.loads[layer][a], self.loads[layer][b]
        loads = self.gpu_load[layer]
        others = max((x for g, x in enumerate(loads) if g not in (ga, gb)), default=0)
        new_max = max(loads[ga] - wa + wb, loads[gb] - wb + wa, others)
        balance = self.beta * (new_max - max(loads)) if wa != wb else 0.0
        if self.gamma == 0:
            return balance
        return balance + self.gamma * (
            self.comm_delta(layer, a, gb) + self.comm_delta(layer, b, ga)
        )

    def targets(self, layer: int, e: int) -> set[int]:
        """GPUs worth swapping with: those of e's routing neighbours, and the least-loaded one
        when e sits on the most-loaded GPU of its layer."""
        found = {
            self.place[other_layer][other] for other_layer, other, _, _ in self.neighbours[layer][e]
        }
        loads = self.gpu_load[layer]
        if loads[self.place[layer][e]] == max(loads):
            found.add(loads.index(min(loads)))
        found.discard(self.place[layer][e])
        return found

    def try_improve(self, layer: int, a: int) -> bool:
        """Apply the best improving swap of expert a, if any."""
        best, best_b = -_EPS, -1
        for g in self.targets(layer, a):
            for b in self.members[layer][g]:
                delta = self.swap_delta(layer, a, b)
                if delta < best:
                    best, best_b = delta, b
        if best_b < 0:
            return False
        self.swap(layer, a, best_b)
        return True

    def swap(self, layer: int, a: int, b: int) -> None:
        """Exchange the GPUs of experts a and b of ``layer``."""
        ga, gb = self.place[layer][a], self.place[layer][b]
        wa, wb = self.loads[layer][a], self.loads[layer][b]
        self.gpu_load[layer][ga] += wb - wa
        self.gpu_load[layer][gb] += wa - wb
        self.members[layer][ga].remove(a)
        self.members[layer][gb].remove(b)
        self.members[layer][ga].append(b)
        self.members[layer][gb].append(a)
        self.place[layer][a], self.place[layer][b] = gb, ga

    def objective(self) -> float:
        """The objective of the current placement (floating point)."""
        balance = sum(max(loads) for loads in self.gpu_load)
        crossing = sum(
            tokens * self.costs[self.place[layer][e]][self.place[other_layer][other]]
            for layer, row in enumerate(self.neighbours)
            for e, links in enumerate(row)
            for other_layer, other, tokens, outgoing in links
            if outgoing
        )
        return self.beta * balance + self.gamma * crossing

    def kick(self, rng: random.Random, count: int) -> None:
        """``count`` random swaps of two experts of one layer on different GPUs."""
        for _ in range(count):
            layer = rng.randrange(len(self.place))
            a, b = rng.sample(range(len(self.place[layer])), 2)
            if self.place[layer][a] != self.place[layer][b]:
                self.swap(layer, a, b)

    def improve(self, deadline: float, should_stop: Callable[[], bool], rng: random.Random) -> bool:
        """Passes of :meth:`try_improve` over every expert until one changes nothing or time is
        up; True when any swap was applied."""
        improved_any = False
        experts = [(layer, e) for layer, row in enumerate(self.place) for e in range(len(row))]
        while True:
            rng.shuffle(experts)
            improved = False
            for i, (layer, e) in enumerate(experts):
                if i % _POLL == 0 and (time.monotonic() >= deadline or should_stop()):
                    return improved_any or improved
                improved = self.try_improve(layer, e) or improved
            improved_any = improved_any or improved
            if not improved:
                return improved_any


def warm_start(
    instance: ExpertPlacementInstance,
    budget_s: float,
    seed: int,
    should_stop: Callable[[], bool],
) -> WarmStart[ExpertPlacementSolution] | None:
    """:func:`greedy`, improved within ``budget_s`` seconds (from the call) by swap local search,
    then iterated: random swaps kick the best placement and local search repairs it, until the
    budget ends, ``should_stop()`` or :data:`STALL_ROUNDS` kicks in a row improve nothing.
    Method ``lpt`` or ``lpt+swap``; instances that are not :func:`plain` take
    :func:`_replica_start` (None when memory defeats it)."""
    deadline = time.monotonic() + budget_s
    rng = random.Random(seed)
    if not plain(instance):
        return _replica_start(instance, deadline, should_stop, rng)
    start = greedy(instance)
    search = _SwapSearch(instance, [list(row) for row in start.placement])
    search.improve(deadline, should_stop, rng)
    best = _iterate(instance, search, deadline, should_stop, rng)
    solution = ExpertPlacementSolution.from_placement(instance, best)
    if solution.objective >= start.objective:
        return WarmStart("lpt", start, start.objective)
    return WarmStart("lpt+swap", solution, solution.objective)


def _iterate(
    instance: ExpertPlacementInstance,
    search: _SwapSearch,
    deadline: float,
    should_stop: Callable[[], bool],
    rng: random.Random,
) -> list[list[int]]:
    """Iterated local search from ``search``'s placement; the best placement found."""
    best = [row[:] for row in search.place]
    best_value = search.objective()
    kicks = max(2, instance.num_layers * instance.num_experts // 100)
    stall = 0 if instance.num_gpus > 1 else STALL_ROUNDS
    while stall < STALL_ROUNDS and best_value > instance.lower_bound + _EPS:
        if time.monotonic() >= deadline or should_stop():
            break
        search.kick(rng, kicks)
        search.improve(deadline, should_stop, rng)
        value = search.objective()
        if value < best_value - _EPS:
            best, best_value, stall = [row[:] for row in search.place], value, 0
        else:
            search = _SwapSearch(instance, [row[:] for row in best])
            stall += 1
    return best


def _replica_start(
    instance: ExpertPlacementInstance,
    deadline: float,
    should_stop: Callable[[], bool],
    rng: random.Random,
) -> WarmStart[ExpertPlacementSolution] | None:
    """EPLB's placement (groups placed as the proven bound places them where that packs
    better) improved by the replica search until ``deadline``; method ``eplb`` or
    ``eplb+search``. None when memory defeats EPLB's packing."""
    sets = packed_placement(instance)
    if sets is None:
        return None
    start = ExpertPlacementSolution.from_replicas(instance, sets)
    search = ReplicaSearch(instance, sets)
    search.improve(deadline, should_stop, rng)
    solution = ExpertPlacementSolution.from_replicas(instance, search.sets)
    if solution.objective >= start.objective:
        return WarmStart("eplb", start, start.objective)
    return WarmStart("eplb+search", solution, solution.objective)


def steered_start(
    instance: ExpertPlacementInstance,
    steering: Steering[ExpertPlacementSolution],
    budget_s: float,
    seed: int,
    should_stop: Callable[[], bool],
) -> ExpertPlacementSolution | None:
    """Rebalancing: the reference (repaired to the fixings when :func:`plain`) and, where
    labels carry no cost, EPLB's fresh placement renumbered to match the reference
    (:func:`~makespan.models.expert_placement.replicas.relabelled`), each improved by the
    replica search on the steered objective, objective + ``steering.weight`` x the weights (or
    bytes) copied, within ``max_moves`` and keeping the fixed copies; the better one, None
    without a reference."""
    if steering.reference is None:
        return None
    start = repair(instance, steering) if plain(instance) else steering.reference
    if start is None:
        return None
    pinned = frozenset(
        (f.layer, f.expert, f.gpu)
        for f in (steering.fixed.root if isinstance(steering.fixed, ExpertPlacementFixed) else ())
    )
    origin_sets = steering.reference.replica_sets(instance)
    origin = [[frozenset(gpus) for gpus in row] for row in origin_sets]
    sizes = instance.expert_bytes if instance.migration == "bytes" else None
    migration = Migration(origin, float(steering.weight), sizes, instance.max_moves, pinned)
    deadline = time.monotonic() + budget_s
    starts = [start.replica_sets(instance)]
    fresh = None if plain(instance) or pinned else eplb_placement(instance)
    if fresh is not None and instance.link_cost is None and instance.gpu_memory is None:
        starts.append(relabelled(instance, fresh, origin_sets))
        if not instance.routing or instance.communication_weight == 0:
            per_layer = relabelled_per_layer(instance, fresh, origin_sets)
            starts.append(_layer_by_layer(instance, migration, starts[0], per_layer))
    best: tuple[float, list[list[list[int]]]] | None = None
    for i, sets in enumerate(starts):
        if any(g not in sets[layer][e] for layer, e, g in pinned):
            continue
        search = ReplicaSearch(instance, sets, migration)
        if instance.max_moves is not None and search.moved > instance.max_moves:
            continue
        share_of_time = (deadline - time.monotonic()) / (len(starts) - i)
        search.improve(time.monotonic() + share_of_time, should_stop, random.Random(seed))
        value = search.objective()
        if best is None or value < best[0]:
            best = (value, search.sets)
    if best is None:
        return None
    return ExpertPlacementSolution.from_replicas(instance, best[1])


def _layer_by_layer(
    instance: ExpertPlacementInstance,
    migration: Migration,
    kept: Sequence[Sequence[Sequence[int]]],
    fresh: Sequence[Sequence[Sequence[int]]],
) -> list[list[tuple[int, ...]]]:
    """Per layer (no routes join them), the kept or the fresh placement, whichever has the
    smaller largest load plus the weighted migration."""

    def cost(layer: int, row: Sequence[Sequence[int]]) -> float:
        per_gpu = [0] * instance.num_gpus
        for load, gpus in zip(instance.loads[layer], row, strict=True):
            for g in gpus:
                per_gpu[g] += -(-load // len(gpus))
        moved = sum(
            migration.unit(layer, e) * len(set(gpus) - migration.origin[layer][e])
            for e, gpus in enumerate(row)
        )
        return instance.balance_weight * max(per_gpu) + migration.weight * moved

    return [
        [tuple(g) for g in (old if cost(layer, old) <= cost(layer, new) else new)]
        for layer, (old, new) in enumerate(zip(kept, fresh, strict=True))
    ]
