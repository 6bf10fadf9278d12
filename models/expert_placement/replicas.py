"""Warm starts for replicated or hierarchical expert placements: EPLB's policy, then local
search.

:func:`eplb_layer` follows DeepSeek's EPLB: with groups, the groups are packed onto the nodes
(heaviest first, onto the least-loaded node with room; the same number per node), then each
node's slots are shared among its experts; without groups, all slots among all experts. Slots
are shared by water-filling (each spare slot to the expert whose replicas carry the most,
:math:`\\lceil w / c \\rceil`), which minimises the largest replica share; the replicas are
then packed onto GPUs heaviest first, each onto the least-loaded GPU with a free slot that does
not hold the expert yet (and, with memory limits, has room for its weights).

:class:`ReplicaSearch` improves the result on the full objective

.. math::
    \\beta \\sum_l \\max_g L_{l,g} + \\gamma \\sum_r t_r \\min_{g \\ni src, h \\ni dst} c_{g,h}

by swapping two replicas of one layer between GPUs (of one node with groups) and by moving a
spare replica from one expert to another, accepting changes that lower it.
"""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import permutations

from makespan.models.expert_placement.instance import (
    ExpertPlacementInstance,
    group_packing,
    share,
)

__all__ = [
    "Migration",
    "ReplicaSearch",
    "eplb_layer",
    "eplb_placement",
    "packed_placement",
    "relabelled",
    "relabelled_per_layer",
    "water_fill",
]

_EPS = 1e-9
_POLL = 64


def water_fill(loads: Sequence[int], slots: int, cap: int) -> list[int]:
    """Replica counts summing to ``slots`` (at least one each, at most ``cap``): each spare
    slot goes to the expert whose replicas carry the largest share, the lower index on ties."""
    counts = [1] * len(loads)
    heap = [(-w, e) for e, w in enumerate(loads) if cap > 1]
    heapq.heapify(heap)
    for _ in range(slots - len(loads)):
        _, e = heapq.heappop(heap)
        counts[e] += 1
        if counts[e] < cap:
            heapq.heappush(heap, (-share(loads[e], counts[e]), e))
    return counts


def _pack_groups(instance: ExpertPlacementInstance, layer: int) -> list[list[int]]:
    """The experts of each node: groups heaviest first onto the least-loaded node with room."""
    row = instance.loads[layer]
    if instance.num_groups is None:
        return [list(range(instance.num_experts))]
    size = instance.num_experts // instance.num_groups
    per_node = instance.num_groups // instance.num_nodes
    weight = [sum(row[k * size : (k + 1) * size]) for k in range(instance.num_groups)]
    nodes: list[list[int]] = [[] for _ in range(instance.num_nodes)]
    totals = [0] * instance.num_nodes
    for k in sorted(range(instance.num_groups), key=lambda k: (-weight[k], k)):
        n = min(
            (n for n in range(instance.num_nodes) if len(nodes[n]) < per_node * size),
            key=lambda n: (totals[n], n),
        )
        nodes[n].extend(range(k * size, (k + 1) * size))
        totals[n] += weight[k]
    return nodes


def _bound_packing(instance: ExpertPlacementInstance, layer: int) -> list[list[int]] | None:
    """The experts of each node in the group assignment of the layer's proven bound
    (:func:`~makespan.models.expert_placement.instance.group_packing`), or None."""
    _, assignment = group_packing(instance, layer)
    if assignment is None:
        return None
    size = instance.num_experts // (instance.num_groups or 1)
    return [[e for k in node for e in range(k * size, (k + 1) * size)] for node in assignment]


def eplb_layer(
    instance: ExpertPlacementInstance,
    layer: int,
    used: list[int] | None = None,
    pools: list[list[int]] | None = None,
) -> list[tuple[int, ...]] | None:
    """The GPUs of each expert of ``layer`` by EPLB's policy (see the module); ``used`` (per
    GPU bytes already taken by other layers) is updated. None when memory leaves some replica
    without a GPU."""
    row = instance.loads[layer]
    sizes = instance.expert_bytes[layer] if instance.expert_bytes is not None else None
    memory = instance.gpu_memory
    pools = pools if pools is not None else _pack_groups(instance, layer)
    gpu_pools = (
        [
            list(range(n * instance.gpus_per_node, (n + 1) * instance.gpus_per_node))
            for n in range(instance.num_nodes)
        ]
        if instance.num_groups is not None
        else [list(range(instance.num_gpus))]
    )
    sets: list[list[int]] = [[] for _ in row]
    loads = [0] * instance.num_gpus
    free = [instance.slots_per_gpu] * instance.num_gpus
    for experts, gpus in zip(pools, gpu_pools, strict=True):
        counts = water_fill(
            [row[e] for e in experts],
            len(gpus) * instance.slots_per_gpu,
            min(len(gpus), instance.max_copies),
        )
        replicas = sorted(
            ((share(row[e], c), e) for e, c in zip(experts, counts, strict=True) for _ in range(c)),
            key=lambda item: (-item[0], item[1]),
        )
        for part, e in replicas:
            fits = [
                g
                for g in gpus
                if free[g]
                and g not in sets[e]
                and (
                    memory is None
                    or sizes is None
                    or used is None
                    or used[g] + sizes[e] <= memory[g]
                )
            ]
            if not fits:
                if not _make_room(sets, gpus, free, e):
                    return None
                fits = [g for g in gpus if free[g] and g not in sets[e]]
            g = min(fits, key=lambda g: (loads[g], g))
            sets[e].append(g)
            loads[g] += part
            free[g] -= 1
            if used is not None and sizes is not None:
                used[g] += sizes[e]
    return [tuple(sorted(gpus)) for gpus in sets]


def _make_room(sets: list[list[int]], gpus: list[int], free: list[int], e: int) -> bool:
    """When every GPU with a free slot holds e: move some expert f from a GPU k without e to a
    GPU h with a free slot that lacks f, freeing a slot of k for e."""
    for h in (g for g in gpus if free[g]):
        for k in (g for g in gpus if g not in sets[e] and g != h):
            for held in sets:
                if k in held and h not in held:
                    held[held.index(k)] = h
                    free[h] -= 1
                    free[k] += 1
                    return True
    return False


def eplb_placement(instance: ExpertPlacementInstance) -> list[list[tuple[int, ...]]] | None:
    """:func:`eplb_layer` for every layer (memory shared across layers), or None."""
    used = [0] * instance.num_gpus if instance.gpu_memory is not None else None
    result = []
    for layer in range(instance.num_layers):
        sets = eplb_layer(instance, layer, used)
        if sets is None:
            return None
        result.append(sets)
    return result


def packed_placement(instance: ExpertPlacementInstance) -> list[list[tuple[int, ...]]] | None:
    """:func:`eplb_placement`, where per layer the groups' nodes of the proven bound's
    assignment pack better (a smaller largest GPU load) taking their place; without memory
    limits (the layers would share them), else EPLB's."""
    sets = eplb_placement(instance)
    if sets is None or instance.num_groups is None or instance.gpu_memory is not None:
        return sets
    for layer in range(instance.num_layers):
        pools = _bound_packing(instance, layer)
        other = None if pools is None else eplb_layer(instance, layer, None, pools)
        if other is not None and _peak(instance, layer, other) < _peak(
            instance, layer, sets[layer]
        ):
            sets[layer] = other
    return sets


def _peak(instance: ExpertPlacementInstance, layer: int, row: Sequence[Sequence[int]]) -> int:
    per_gpu = [0] * instance.num_gpus
    for load, gpus in zip(instance.loads[layer], row, strict=True):
        for g in gpus:
            per_gpu[g] += share(load, len(gpus))
    return max(per_gpu)


@dataclass(frozen=True)
class Migration:
    """What a move from ``origin`` costs: ``weight`` per expert weight copied to a GPU that did
    not hold it (``sizes``: its bytes instead of 1), at most ``limit`` in all, and copies in
    ``pinned`` (layer, expert, GPU) never removed."""

    origin: Sequence[Sequence[frozenset[int]]]
    weight: float
    sizes: Sequence[Sequence[int]] | None = None
    limit: int | None = None
    pinned: frozenset[tuple[int, int, int]] = frozenset()

    def unit(self, layer: int, e: int) -> int:
        """The cost, before the weight, of one new copy of expert e of ``layer``."""
        return 1 if self.sizes is None else self.sizes[layer][e]

    def moved(self, sets: Sequence[Sequence[Sequence[int]]]) -> int:
        """The copies (or bytes) ``sets`` holds that ``origin`` does not."""
        return sum(
            self.unit(layer, e) * len(set(gpus) - self.origin[layer][e])
            for layer, row in enumerate(sets)
            for e, gpus in enumerate(row)
        )

    def change(self, layer: int, changes: Sequence[tuple[int, int, int]]) -> int | None:
        """The change of :meth:`moved` under ``(expert, gpu, +1 | -1)`` changes, or None when a
        pinned copy would go."""
        delta = 0
        for e, g, sign in changes:
            if sign < 0 and (layer, e, g) in self.pinned:
                return None
            if g not in self.origin[layer][e]:
                delta += sign * self.unit(layer, e)
        return delta


class ReplicaSearch:
    """Replica sets with per-GPU loads and members, scoring and applying changes exactly
    (integers for loads, the link costs as given for routes)."""

    def __init__(
        self,
        instance: ExpertPlacementInstance,
        sets: Sequence[Sequence[Sequence[int]]],
        migration: Migration | None = None,
    ) -> None:
        self.instance = instance
        self.migration = migration
        self.moved = 0 if migration is None else migration.moved(sets)
        self.loads = [list(row) for row in instance.loads]
        self.costs = [list(row) for row in instance.costs]
        self.beta = instance.balance_weight
        self.gamma = instance.communication_weight
        self.sets = [[list(gpus) for gpus in row] for row in sets]
        g_count = instance.num_gpus
        self.per_node = instance.gpus_per_node
        self.grouped = instance.num_groups is not None
        self.sizes = instance.expert_bytes
        self.memory = instance.gpu_memory
        self.used = [0] * g_count
        self.gpu_load = [[0] * g_count for _ in self.sets]
        self.members: list[list[set[int]]] = [[set() for _ in range(g_count)] for _ in self.sets]
        for layer, row in enumerate(self.sets):
            for e, gpus in enumerate(row):
                part = share(self.loads[layer][e], len(gpus))
                for g in gpus:
                    self.gpu_load[layer][g] += part
                    self.members[layer][g].add(e)
                    if self.sizes is not None:
                        self.used[g] += self.sizes[layer][e]
        self.routes: list[list[list[tuple[int, int, int, bool]]]] = [
            [[] for _ in row] for row in self.sets
        ]
        for route in instance.routing:
            layer = route.layer
            self.routes[layer][route.src].append((layer + 1, route.dst, route.tokens, True))
            self.routes[layer + 1][route.dst].append((layer, route.src, route.tokens, False))

    def _route_cost(self, gpus: Sequence[int], others: Sequence[int], outgoing: bool) -> float:
        costs = self.costs
        if outgoing:
            return min(costs[g][h] for g in gpus for h in others)
        return min(costs[h][g] for g in gpus for h in others)

    def comm(self, layer: int, e: int, gpus: Sequence[int], skip: int = -1) -> float:
        """The routed cost of expert e's routes were it on ``gpus`` (routes to ``skip`` of
        the same layer are not counted: they cannot exist, routes join adjacent layers)."""
        del skip
        total = 0.0
        for other_layer, other, tokens, outgoing in self.routes[layer][e]:
            total += tokens * self._route_cost(gpus, self.sets[other_layer][other], outgoing)
        return total

    def _balance(self, layer: int, changes: dict[int, int]) -> float:
        loads = self.gpu_load[layer]
        new_max = max(
            max((loads[g] + d for g, d in changes.items()), default=0),
            max((x for g, x in enumerate(loads) if g not in changes), default=0),
        )
        return self.beta * (new_max - max(loads))

    def _memory_ok(self, layer: int, changes: Sequence[tuple[int, int, int]]) -> bool:
        """Whether GPUs stay within memory after ``(gpu, expert, +1 | -1)`` changes."""
        if self.memory is None or self.sizes is None:
            return True
        delta: dict[int, int] = {}
        for g, e, sign in changes:
            delta[g] = delta.get(g, 0) + sign * self.sizes[layer][e]
        return all(self.used[g] + d <= self.memory[g] for g, d in delta.items())

    def _migration_delta(self, layer: int, changes: Sequence[tuple[int, int, int]]) -> float | None:
        """The weighted migration change of ``(expert, gpu, +1 | -1)`` changes (0 without a
        reference), None when they break ``max_moves`` or remove a pinned copy."""
        if self.migration is None:
            return 0.0
        moved = self.migration.change(layer, changes)
        if moved is None:
            return None
        limit = self.migration.limit
        if limit is not None and moved > 0 and self.moved + moved > limit:
            return None
        return self.migration.weight * moved

    def swap_delta(self, layer: int, a: int, ga: int, b: int, gb: int) -> float | None:
        """Objective change when the replica of a on ga and that of b on gb trade GPUs, or
        None when not allowed (a duplicate on one GPU, a group leaving its node, memory)."""
        if ga == gb or gb in self.sets[layer][a] or ga in self.sets[layer][b]:
            return None
        if self.grouped and ga // self.per_node != gb // self.per_node:
            return None
        if not self._memory_ok(layer, [(ga, a, -1), (gb, a, 1), (gb, b, -1), (ga, b, 1)]):
            return None
        moving = self._migration_delta(layer, [(a, ga, -1), (a, gb, 1), (b, gb, -1), (b, ga, 1)])
        if moving is None:
            return None
        sa = share(self.loads[layer][a], len(self.sets[layer][a]))
        sb = share(self.loads[layer][b], len(self.sets[layer][b]))
        delta = moving + (self._balance(layer, {ga: sb - sa, gb: sa - sb}) if sa != sb else 0.0)
        if self.gamma and (self.routes[layer][a] or self.routes[layer][b]):
            new_a = [gb if g == ga else g for g in self.sets[layer][a]]
            new_b = [ga if g == gb else g for g in self.sets[layer][b]]
            delta += self.gamma * (
                self.comm(layer, a, new_a)
                - self.comm(layer, a, self.sets[layer][a])
                + self.comm(layer, b, new_b)
                - self.comm(layer, b, self.sets[layer][b])
            )
        return delta

    def swap(self, layer: int, a: int, ga: int, b: int, gb: int) -> None:
        """Trade the GPUs of a's replica on ga and b's on gb."""
        if self.migration is not None:
            changes = [(a, ga, -1), (a, gb, 1), (b, gb, -1), (b, ga, 1)]
            self.moved += self.migration.change(layer, changes) or 0
        sa = share(self.loads[layer][a], len(self.sets[layer][a]))
        sb = share(self.loads[layer][b], len(self.sets[layer][b]))
        loads = self.gpu_load[layer]
        loads[ga] += sb - sa
        loads[gb] += sa - sb
        self.sets[layer][a][self.sets[layer][a].index(ga)] = gb
        self.sets[layer][b][self.sets[layer][b].index(gb)] = ga
        members = self.members[layer]
        members[ga].discard(a)
        members[ga].add(b)
        members[gb].discard(b)
        members[gb].add(a)
        if self.sizes is not None:
            sizes = self.sizes[layer]
            self.used[ga] += sizes[b] - sizes[a]
            self.used[gb] += sizes[a] - sizes[b]

    def _shares_change(self, layer: int, e: int, copies: int) -> dict[int, int]:
        old = share(self.loads[layer][e], len(self.sets[layer][e]))
        new = share(self.loads[layer][e], copies)
        return dict.fromkeys(self.sets[layer][e], new - old)

    def transfer_delta(self, layer: int, f: int, g: int, e: int) -> float | None:
        """Objective change when f's replica on GPU g becomes one of e (balance only:
        the routed cost can only change where replicas change, counted as well)."""
        row = self.sets[layer]
        if len(row[f]) < 2 or g in row[e] or len(row[e]) >= self.instance.max_copies:
            return None
        if self.grouped and row[e][0] // self.per_node != g // self.per_node:
            return None
        if not self._memory_ok(layer, [(g, f, -1), (g, e, 1)]):
            return None
        moving = self._migration_delta(layer, [(f, g, -1), (e, g, 1)])
        if moving is None:
            return None
        changes = self._shares_change(layer, f, len(row[f]) - 1)
        changes[g] = -share(self.loads[layer][f], len(row[f]))
        for h, d in self._shares_change(layer, e, len(row[e]) + 1).items():
            changes[h] = changes.get(h, 0) + d
        changes[g] += share(self.loads[layer][e], len(row[e]) + 1)
        delta = moving + self._balance(layer, changes)
        if self.gamma and (self.routes[layer][e] or self.routes[layer][f]):
            new_f = [h for h in row[f] if h != g]
            delta += self.gamma * (
                self.comm(layer, f, new_f)
                - self.comm(layer, f, row[f])
                + self.comm(layer, e, [*row[e], g])
                - self.comm(layer, e, row[e])
            )
        return delta

    def transfer(self, layer: int, f: int, g: int, e: int) -> None:
        """Give f's replica on GPU g to e."""
        if self.migration is not None:
            self.moved += self.migration.change(layer, [(f, g, -1), (e, g, 1)]) or 0
        row = self.sets[layer]
        loads = self.gpu_load[layer]
        for h, d in self._shares_change(layer, f, len(row[f]) - 1).items():
            loads[h] += d
        loads[g] -= share(self.loads[layer][f], len(row[f]) - 1)
        for h, d in self._shares_change(layer, e, len(row[e]) + 1).items():
            loads[h] += d
        loads[g] += share(self.loads[layer][e], len(row[e]) + 1)
        row[f].remove(g)
        row[e].append(g)
        self.members[layer][g].discard(f)
        self.members[layer][g].add(e)
        if self.sizes is not None:
            self.used[g] += self.sizes[layer][e] - self.sizes[layer][f]

    def balance_layer(self, layer: int, deadline: float) -> bool:
        """Lower the layer's largest load while a swap or transfer from its most-loaded GPU
        does; on a plateau (several GPUs at the maximum) a swap that changes nothing else
        but takes the most-loaded GPU below the maximum, so that the next step can lower it
        (each such swap leaves one GPU fewer at the maximum). True when anything changed."""
        changed = False
        loads = self.gpu_load[layer]
        while time.monotonic() < deadline:
            top = max(range(len(loads)), key=loads.__getitem__)
            peak = loads[top]
            best: tuple[float, tuple[str, int, int, int, int]] | None = None
            level: tuple[int, tuple[str, int, int, int, int]] | None = None
            for a in self.members[layer][top]:
                sa = share(self.loads[layer][a], len(self.sets[layer][a]))
                for h in sorted(range(len(loads)), key=loads.__getitem__):
                    if loads[h] >= peak:
                        break
                    for b in self.members[layer][h]:
                        d = self.swap_delta(layer, a, top, b, h)
                        if d is None:
                            continue
                        if d < -_EPS and (best is None or d < best[0]):
                            best = (d, ("swap", a, top, b, h))
                        elif d <= _EPS and best is None:
                            sb = share(self.loads[layer][b], len(self.sets[layer][b]))
                            after = max(peak - sa + sb, loads[h] + sa - sb)
                            if after < peak and (level is None or after < level[0]):
                                level = (after, ("swap", a, top, b, h))
            for f, gpus in enumerate(self.sets[layer]):
                if len(gpus) < 2:
                    continue
                for g in gpus:
                    for e in self.members[layer][top]:
                        d = self.transfer_delta(layer, f, g, e)
                        if d is not None and d < -_EPS and (best is None or d < best[0]):
                            best = (d, ("transfer", f, g, e, 0))
            chosen = best[1] if best is not None else level[1] if level is not None else None
            if chosen is None:
                return changed
            kind, p, q, r, s = chosen
            if kind == "swap":
                self.swap(layer, p, q, r, s)
            else:
                self.transfer(layer, p, q, r)
            changed = True
        return changed

    def route_pass(
        self, deadline: float, should_stop: Callable[[], bool], rng: random.Random
    ) -> bool:
        """One pass over the replicas of experts with routes, in random order: the best
        improving swap with a replica on a GPU of a routing neighbour; True when any."""
        items = [
            (layer, e)
            for layer, row in enumerate(self.routes)
            for e, links in enumerate(row)
            if links
        ]
        rng.shuffle(items)
        improved = False
        for i, (layer, a) in enumerate(items):
            if i % _POLL == 0 and (time.monotonic() >= deadline or should_stop()):
                return improved
            targets = {
                h
                for other_layer, other, _, _ in self.routes[layer][a]
                for h in self.sets[other_layer][other]
            }
            best: tuple[float, int, int, int] | None = None
            for ga in list(self.sets[layer][a]):
                for gb in targets:
                    for b in self.members[layer][gb]:
                        d = self.swap_delta(layer, a, ga, b, gb)
                        if d is not None and d < -_EPS and (best is None or d < best[0]):
                            best = (d, ga, b, gb)
            if best is not None:
                _, ga, b, gb = best
                self.swap(layer, a, ga, b, gb)
                improved = True
        return improved

    def objective(self) -> float:
        """The objective of the current sets (floating point)."""
        balance = sum(max(loads) for loads in self.gpu_load)
        crossing = sum(
            tokens * self._route_cost(self.sets[layer][e], self.sets[other_layer][other], True)
            for layer, row in enumerate(self.routes)
            for e, links in enumerate(row)
            for other_layer, other, tokens, outgoing in links
            if outgoing
        )
        weight = 0.0 if self.migration is None else self.migration.weight
        return self.beta * balance + self.gamma * crossing + weight * self.moved

    def improve(self, deadline: float, should_stop: Callable[[], bool], rng: random.Random) -> None:
        """Balance every layer, then alternate routing passes and re-balancing until neither
        helps or time is up."""
        for layer in range(len(self.sets)):
            if time.monotonic() >= deadline or should_stop():
                return
            self.balance_layer(layer, deadline)
        if not self.gamma or not self.instance.routing:
            return
        while time.monotonic() < deadline and not should_stop():
            if not self.route_pass(deadline, should_stop, rng):
                return
            for layer in range(len(self.sets)):
                self.balance_layer(layer, deadline)


def relabelled(
    instance: ExpertPlacementInstance,
    sets: Sequence[Sequence[Sequence[int]]],
    reference: Sequence[Sequence[Sequence[int]]],
) -> list[list[tuple[int, ...]]]:
    """``sets`` with nodes and GPUs renumbered to keep as many replicas where ``reference``
    has them: nodes by the permutation of most overlap (all of them up to 6 nodes, else greedy),
    then each node's GPUs greedily by overlap. Callers use it only where labels carry no cost
    (tiered or uniform links, no per-GPU memory)."""
    return _relabel(instance, sets, reference)


def relabelled_per_layer(
    instance: ExpertPlacementInstance,
    sets: Sequence[Sequence[Sequence[int]]],
    reference: Sequence[Sequence[Sequence[int]]],
) -> list[list[tuple[int, ...]]]:
    """:func:`relabelled` layer by layer: where no route joins the layers, each layer's labels
    are free."""
    return [_relabel(instance, [row], [old])[0] for row, old in zip(sets, reference, strict=True)]


def _relabel(
    instance: ExpertPlacementInstance,
    sets: Sequence[Sequence[Sequence[int]]],
    reference: Sequence[Sequence[Sequence[int]]],
) -> list[list[tuple[int, ...]]]:
    per_node = instance.gpus_per_node
    overlap = [[0] * instance.num_gpus for _ in range(instance.num_gpus)]  # [new][old]
    for row, old_row in zip(sets, reference, strict=True):
        for gpus, old in zip(row, old_row, strict=True):
            for g in gpus:
                for h in old:
                    overlap[g][h] += 1
    nodes = range(instance.num_nodes)

    def node_overlap(n: int, m: int) -> int:
        return sum(
            overlap[g][h]
            for g in range(n * per_node, (n + 1) * per_node)
            for h in range(m * per_node, (m + 1) * per_node)
        )

    node_map = _best_matching(list(nodes), node_overlap, exhaustive=instance.num_nodes <= 6)
    new = [0] * instance.num_gpus
    for n, m in node_map.items():
        gpus = list(range(n * per_node, (n + 1) * per_node))
        olds = list(range(m * per_node, (m + 1) * per_node))
        pairs = sorted(((overlap[g][h], g, h) for g in gpus for h in olds), reverse=True)
        taken_g: set[int] = set()
        taken_h: set[int] = set()
        for _, g, h in pairs:
            if g not in taken_g and h not in taken_h:
                new[g] = h
                taken_g.add(g)
                taken_h.add(h)
    return [[tuple(sorted(new[g] for g in gpus)) for gpus in row] for row in sets]


def _best_matching(
    items: list[int], score: Callable[[int, int], int], exhaustive: bool
) -> dict[int, int]:
    """A permutation of ``items`` (``item -> image``) of large total ``score``: the best one
    when ``exhaustive``, else greedy by score."""
    if exhaustive:
        best = max(
            permutations(items),
            key=lambda p: sum(score(a, b) for a, b in zip(items, p, strict=True)),
        )
        return dict(zip(items, best, strict=True))
    pairs = sorted(((score(a, b), a, b) for a in items for b in items), reverse=True)
    result: dict[int, int] = {}
    used: set[int] = set()
    for _, a, b in pairs:
        if a not in result and b not in used:
            result[a] = b
            used.add(b)
    return result
