"""The IR of a replicated expert placement (more slots than experts).

Per layer l, expert e, GPU g and count c (1 <= c <= C = ``max_copies``):
:math:`x_{l,e,g} = 1` when g holds a replica of e, :math:`u_{l,e,c} = 1` when e has c
replicas, :math:`p_{l,e,g}` the tokens g carries for e, and :math:`M_l` the layer's largest
GPU load. With :math:`s_{l,e} = \\sum_c \\lceil w_{l,e} / c \\rceil u_{l,e,c}` (the share):

.. math::
    \\sum_e x_{l,e,g} = R / G,\\quad
    \\sum_c u_{l,e,c} = 1,\\quad
    \\sum_g x_{l,e,g} = \\sum_c c\\, u_{l,e,c},\\quad
    p_{l,e,g} = s_{l,e}\\, x_{l,e,g},\\quad
    M_l = \\max_g \\sum_e p_{l,e,g}

where the product is three rows: :math:`p \\le w x`, :math:`p \\le s`,
:math:`p \\ge s - w (1 - x)`. :math:`M_l` starts at the layer's proven bound
(:func:`~makespan.models.expert_placement.instance.balance_bound`).

A route r from a to b is on one GPU when some :math:`k_{r,g} = x_{a,g} \\wedge x_{b,g}`
holds; :math:`y_r = 1 - \\max_g k_{r,g}` (rows :math:`y + k_g \\le 1`,
:math:`y + \\sum_g k_g \\ge 1`). With node tiers the same on node presences
:math:`X_{e,n} = \\max_{g \\in n} x_{e,g}` gives :math:`v_r`; the route costs
:math:`d + (o - d) y_r` (uniform costs d, o) or :math:`c_{intra} y_r + (c_{inter} -
c_{intra}) v_r` (tiers). Every auxiliary is pinned both ways, so a backend's objective is the
checker's. Groups: :math:`q_{l,k,n}` picks the node of group k, :math:`x_{l,e,g} \\le
q_{l,k(e),n(g)}`. Memory: :math:`\\sum_{l,e} bytes_{l,e} x_{l,e,g} \\le mem_g`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from makespan.models.expert_placement.instance import (
    ExpertPlacementInstance,
    balance_bound,
    share,
)
from makespan.solvers.ir import LinearExpr, ModelBuilder, Var

Grid = tuple[tuple[tuple[Var, ...], ...], ...]
"""``[l][e][i]`` variables."""


@dataclass(frozen=True)
class ReplicaVars:
    """The variables of the replicated model: ``x``, ``count`` (u), ``portion`` (p),
    ``max_load``, per route ``together`` (k, per GPU), ``split`` (y) and, with tiers,
    ``present`` (X, per node), ``node_together`` and ``node_split`` (v); ``group_node`` (q)."""

    x: Grid
    count: Grid
    portion: Grid
    max_load: tuple[Var, ...]
    together: tuple[tuple[Var, ...], ...]
    split: tuple[Var, ...]
    present: Grid = ()
    node_together: tuple[tuple[Var, ...], ...] = ()
    node_split: tuple[Var, ...] = ()
    group_node: Grid = ()


def build(b: ModelBuilder, instance: ExpertPlacementInstance, canonical: bool) -> ReplicaVars:
    """Add the replicated placement's variables and rows to ``b`` (no objective); with
    ``canonical``, only placements whose layer-0 loads do not increase along the GPUs of a node
    and along the nodes (:func:`canonical_order` relabels a hint so)."""
    x = _slots(b, instance)
    count = _counts(b, instance, x)
    portion = _portions(b, instance, x, count)
    loads = _portion_loads(portion, instance.num_gpus)
    max_load = _max_loads(b, instance, loads)
    if canonical:
        _order_loads(b, instance, loads[0])
    together, split = _colocation(b, instance, x, "gpu")
    present: Grid = ()
    node_together: tuple[tuple[Var, ...], ...] = ()
    node_split: tuple[Var, ...] = ()
    if instance.hierarchical:
        present = _presence(b, instance, x)
        node_together, node_split = _colocation(b, instance, present, "node")
    group_node = _groups(b, instance, x)
    _memory(b, instance, x)
    return ReplicaVars(
        x,
        count,
        portion,
        max_load,
        together,
        split,
        present,
        node_together,
        node_split,
        group_node,
    )


def _slots(b: ModelBuilder, instance: ExpertPlacementInstance) -> Grid:
    gpus = range(instance.num_gpus)
    x = tuple(
        tuple(tuple(b.bool_var(f"x_{layer}_{e}_{g}") for g in gpus) for e in range(len(row)))
        for layer, row in enumerate(instance.loads)
    )
    k = instance.slots_per_gpu
    for layer in x:
        for g in gpus:
            b.add_linear(LinearExpr.sum(expert[g] for expert in layer), lb=k, ub=k)
    return x


def _counts(b: ModelBuilder, instance: ExpertPlacementInstance, x: Grid) -> Grid:
    copies = range(1, instance.max_copies + 1)
    result = []
    for layer, experts in enumerate(x):
        row = []
        for e, expert in enumerate(experts):
            u = tuple(b.bool_var(f"count_{layer}_{e}_{c}") for c in copies)
            b.add_linear(LinearExpr.sum(u), lb=1, ub=1)
            b.add_linear(
                LinearExpr.weighted([*expert, *u], [1] * len(expert) + [-c for c in copies]),
                lb=0,
                ub=0,
            )
            row.append(u)
        result.append(tuple(row))
    return tuple(result)


def _share_expr(instance: ExpertPlacementInstance, load: int, u: Sequence[Var]) -> LinearExpr:
    return LinearExpr.weighted(list(u), [share(load, c) for c in range(1, len(u) + 1)])


def _portions(b: ModelBuilder, instance: ExpertPlacementInstance, x: Grid, count: Grid) -> Grid:
    result = []
    for layer, (experts, row) in enumerate(zip(x, instance.loads, strict=True)):
        layer_vars = []
        for e, (expert, load) in enumerate(zip(experts, row, strict=True)):
            s = _share_expr(instance, load, count[layer][e])
            ps = []
            for g, on in enumerate(expert):
                p = b.int_var(0, load, f"portion_{layer}_{e}_{g}")
                b.add_linear(p - on * load, ub=0)
                b.add_linear(p - s, ub=0)
                b.add_linear(p - s - on * load, lb=-load)
                ps.append(p)
            layer_vars.append(tuple(ps))
        result.append(tuple(layer_vars))
    return tuple(result)


def _portion_loads(portion: Grid, num_gpus: int) -> list[list[LinearExpr]]:
    return [
        [LinearExpr.sum(expert[g] for expert in experts) for g in range(num_gpus)]
        for experts in portion
    ]


def _max_loads(
    b: ModelBuilder, instance: ExpertPlacementInstance, loads: Sequence[Sequence[LinearExpr]]
) -> tuple[Var, ...]:
    result = []
    for layer, gpu_loads in enumerate(loads):
        lower = balance_bound(instance, layer)
        upper = max(lower, sum(instance.loads[layer]) + instance.slots)
        m = b.int_var(lower, upper, f"max_load_{layer}")
        b.add_max_equality(m, list(gpu_loads))
        result.append(m)
    return tuple(result)


def _order_loads(
    b: ModelBuilder, instance: ExpertPlacementInstance, loads: Sequence[LinearExpr]
) -> None:
    """GPUs of a node are interchangeable, and so are nodes: layer 0's loads in order."""
    per_node = instance.gpus_per_node
    for g in range(instance.num_gpus - 1):
        if instance.node_of(g) == instance.node_of(g + 1):
            b.add_linear(loads[g] - loads[g + 1], lb=0)
    node_loads = [
        LinearExpr.sum(loads[n * per_node : (n + 1) * per_node]) for n in range(instance.num_nodes)
    ]
    for n in range(instance.num_nodes - 1):
        b.add_linear(node_loads[n] - node_loads[n + 1], lb=0)


def canonical_order(
    instance: ExpertPlacementInstance, sets: Sequence[Sequence[Sequence[int]]]
) -> list[list[tuple[int, ...]]]:
    """``sets`` with nodes renumbered by decreasing layer-0 node load and each node's GPUs by
    decreasing layer-0 GPU load: the same placement up to labels, in :func:`build`'s order."""
    per_node = instance.gpus_per_node
    loads = [0] * instance.num_gpus
    for load, gpus in zip(instance.loads[0], sets[0], strict=True):
        for g in gpus:
            loads[g] += share(load, len(gpus))
    nodes = sorted(
        range(instance.num_nodes),
        key=lambda n: -sum(loads[n * per_node : (n + 1) * per_node]),
    )
    new = [0] * instance.num_gpus
    for rank, n in enumerate(nodes):
        gpus = sorted(range(n * per_node, (n + 1) * per_node), key=lambda g: -loads[g])
        for i, g in enumerate(gpus):
            new[g] = rank * per_node + i
    return [[tuple(sorted(new[g] for g in gpus)) for gpus in row] for row in sets]


def _presence(b: ModelBuilder, instance: ExpertPlacementInstance, x: Grid) -> Grid:
    per_node = instance.gpus_per_node
    result = []
    for layer, experts in enumerate(x):
        row = []
        for e, expert in enumerate(experts):
            nodes = []
            for n in range(instance.num_nodes):
                gpus = expert[n * per_node : (n + 1) * per_node]
                present = b.bool_var(f"present_{layer}_{e}_{n}")
                for on in gpus:
                    b.add_linear(present - on, lb=0)
                b.add_linear(present - LinearExpr.sum(gpus), ub=0)
                nodes.append(present)
            row.append(tuple(nodes))
        result.append(tuple(row))
    return tuple(result)


def _colocation(
    b: ModelBuilder, instance: ExpertPlacementInstance, units: Grid, name: str
) -> tuple[tuple[tuple[Var, ...], ...], tuple[Var, ...]]:
    """Per route, ``k[u] = a on u and b on u`` for every unit u (GPU or node), and the split
    ``y = 1 - max_u k[u]``."""
    together, split = [], []
    for r, route in enumerate(instance.routing):
        src, dst = units[route.layer][route.src], units[route.layer + 1][route.dst]
        y = b.bool_var(f"{name}_split_{r}")
        ks = []
        for i, (s, d) in enumerate(zip(src, dst, strict=True)):
            k = b.bool_var(f"{name}_together_{r}_{i}")
            b.add_linear(k - s, ub=0)
            b.add_linear(k - d, ub=0)
            b.add_linear(k - s - d, lb=-1)
            b.add_linear(y + k, ub=1)
            ks.append(k)
        b.add_linear(y + LinearExpr.sum(ks), lb=1)
        together.append(tuple(ks))
        split.append(y)
    return tuple(together), tuple(split)


def _groups(b: ModelBuilder, instance: ExpertPlacementInstance, x: Grid) -> Grid:
    if instance.num_groups is None:
        return ()
    result = []
    for layer, experts in enumerate(x):
        q = tuple(
            tuple(b.bool_var(f"group_{layer}_{k}_{n}") for n in range(instance.num_nodes))
            for k in range(instance.num_groups)
        )
        for nodes in q:
            b.add_linear(LinearExpr.sum(nodes), lb=1, ub=1)
        for e, expert in enumerate(experts):
            nodes = q[instance.group_of(e)]
            for g, on in enumerate(expert):
                b.add_linear(on - nodes[instance.node_of(g)], ub=0)
        result.append(q)
    return tuple(result)


def _memory(b: ModelBuilder, instance: ExpertPlacementInstance, x: Grid) -> None:
    if instance.gpu_memory is None or instance.expert_bytes is None:
        return
    for g, cap in enumerate(instance.gpu_memory):
        held = [expert[g] for layer in x for expert in layer]
        sizes = [size for row in instance.expert_bytes for size in row]
        b.add_linear(LinearExpr.weighted(held, sizes), ub=cap)


def hint_values(
    instance: ExpertPlacementInstance, v: ReplicaVars, sets: Sequence[Sequence[Sequence[int]]]
) -> dict[int, int]:
    """A value for every variable of :func:`build`, from replica sets."""
    values: dict[int, int] = {}
    per_node = instance.gpus_per_node
    for layer, row in enumerate(sets):
        per_gpu = [0] * instance.num_gpus
        for e, gpus in enumerate(row):
            held = set(gpus)
            part = share(instance.loads[layer][e], len(held))
            for g, var in enumerate(v.x[layer][e]):
                values[var.index] = int(g in held)
                values[v.portion[layer][e][g].index] = part if g in held else 0
            for c, var in enumerate(v.count[layer][e], start=1):
                values[var.index] = int(c == len(held))
            for g in held:
                per_gpu[g] += part
            if v.present:
                nodes = {g // per_node for g in held}
                for n, var in enumerate(v.present[layer][e]):
                    values[var.index] = int(n in nodes)
        values[v.max_load[layer].index] = max(per_gpu)
        if v.group_node:
            size = instance.num_experts // (instance.num_groups or 1)
            for k, nodes_vars in enumerate(v.group_node[layer]):
                node = min(row[k * size]) // per_node
                for n, var in enumerate(nodes_vars):
                    values[var.index] = int(n == node)
    for r, route in enumerate(instance.routing):
        src, dst = set(sets[route.layer][route.src]), set(sets[route.layer + 1][route.dst])
        for g, var in enumerate(v.together[r]):
            values[var.index] = int(g in src and g in dst)
        values[v.split[r].index] = int(not src & dst)
        if v.node_split:
            src_nodes = {g // per_node for g in src}
            dst_nodes = {g // per_node for g in dst}
            for n, var in enumerate(v.node_together[r]):
                values[var.index] = int(n in src_nodes and n in dst_nodes)
            values[v.node_split[r].index] = int(not src_nodes & dst_nodes)
    return values
