"""Expert-placement instance -> IR: a binary per (layer, expert, GPU).

Variables: :math:`x_{l,e,g} = 1` when expert e of layer l is on GPU g; :math:`M_l`, the
largest per-GPU load of layer l; per route r, either :math:`y_r` (the two experts are on
different GPUs) or :math:`z_{r,g,h}` (source on g, destination on h).

.. math::
    \\min\\; \\beta \\sum_l M_l + \\gamma \\sum_r t_r\\, cost_r
    \\quad\\text{s.t.}\\quad
    \\sum_g x_{l,e,g} = 1,\\quad
    \\sum_e x_{l,e,g} = k,\\quad
    M_l = \\max_g \\sum_e w_{l,e} x_{l,e,g}.

Route cost, by the shape of the link-cost matrix:

- *uniform* (every diagonal entry d, every off-diagonal entry o >= d; the default matrix is
  d = 0, o = 1): :math:`cost_r = d + (o - d) y_r` with
  :math:`x_{l,src,g} - x_{l+1,dst,g} \\le y_r \\le 2 - x_{l,src,g} - x_{l+1,dst,g}` for
  every g: :math:`y_r = 0` exactly when both experts share a GPU. When these
  :math:`2 G |routing|` rows would pass :data:`COMPACT_ROWS`, the compact form is used
  instead: GPU numbers :math:`p_{l,e} = \\sum_g g\\, x_{l,e,g}` and, per route, three
  enforced rows :math:`\\neg y_r \\Rightarrow p_{src} = p_{dst}`,
  :math:`y_r \\wedge u_r \\Rightarrow p_{src} \\ge p_{dst} + 1`,
  :math:`y_r \\wedge \\neg u_r \\Rightarrow p_{src} \\le p_{dst} - 1` (a weaker LP
  relaxation, but three rows instead of 2G);
- *general*: :math:`cost_r = \\sum_{g,h} c_{g,h} z_{r,g,h}` with
  :math:`z_{r,g,h} = x_{l,src,g} \\wedge x_{l+1,dst,h}` (three linear rows) for every pair
  with :math:`c_{g,h} > 0`.
  This takes :math:`|routing| \\cdot G^2` variables: meant for small GPU counts.

Every auxiliary variable is pinned to its meaning (the maximum, not an upper bound of it;
the products exactly), so that the objective of any solution a backend reports, optimal or
not, equals the objective the checker recomputes from the placement alone.

Symmetry: with uniform costs, relabelling the GPUs changes nothing, so only placements whose
GPUs are numbered in the order of the smallest layer-0 expert they hold are kept:
:math:`x_{0,e,g} = 0` for g > e and :math:`x_{0,e,g} \\le \\sum_{e' < e} x_{0,e',g-1}`.
Hints are relabelled the same way. With a general matrix no symmetry is assumed, nor when
fixings or a reference give the GPU labels a meaning.

Fixings (``options.fixed``) set :math:`x_{l,e,g} = 1`, each a labelled group. With a
reference placement :math:`g^r`, the deviation counts the moved experts,
:math:`\\sum_{l,e} (1 - x_{l,e,g^r_{l,e}})`.

Node tiers (several nodes, ``intra_node_cost`` < ``inter_node_cost``): a route costs
:math:`c_{intra} y_r + (c_{inter} - c_{intra}) v_r`, with :math:`v_r` the split form above on
the node sums :math:`X_{l,e,n} = \\sum_{g \\in n} x_{l,e,g}`. Groups and memory are as in
:mod:`~makespan.models.expert_placement.replica_model`, which also holds the model of
replicated instances (more slots than experts). ``max_moves`` bounds the migration expression
from the reference as a row.

The objective is scaled to integers exactly: weights and link costs have at most four decimal
places, so the least common denominator of :math:`\\beta` and every :math:`\\gamma c_{g,h}`
divides :math:`10^8`; the IR objective is the objective times that scale.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from makespan.models.expert_placement import replica_model
from makespan.models.expert_placement.instance import (
    ExpertPlacementFixed,
    ExpertPlacementInstance,
    ExpertPlacementSolution,
    balance_bound,
    exact,
)
from makespan.models.expert_placement.replica_model import Grid
from makespan.models.spec import Compiled, Steering
from makespan.solvers.ir import DeviationTerm, Label, LinearExpr, Measure, ModelBuilder, Var

COMPACT_ROWS = 1_000_000
"""Above this many rows of the per-GPU route form, uniform-cost routes take the compact form."""

Pair = tuple[Var, int, int]
"""A product variable :math:`z_{r,g,h}` with its GPUs g and h."""


@dataclass(frozen=True)
class ExpertPlacementIndex:
    """IR variables: ``x[l][e][g]``, ``max_load[l]``, per route ``split[r]`` (uniform costs) or
    ``pairs[r]`` (general costs), and whether GPU labels are canonical (symmetry broken); in
    the compact route form also ``position[l][e]`` (the GPU number) and ``above[r]``."""

    x: Grid
    max_load: tuple[Var, ...]
    split: tuple[Var, ...]
    pairs: tuple[tuple[Pair, ...], ...]
    canonical: bool
    position: tuple[tuple[Var, ...], ...] = ()
    above: tuple[Var, ...] = ()
    node_split: tuple[Var, ...] = ()
    group_node: replica_model.Grid = ()
    replicas: replica_model.ReplicaVars | None = None


def compile_instance(
    instance: ExpertPlacementInstance,
    upper_bound: float | None = None,
    steering: Steering[ExpertPlacementSolution] | None = None,
) -> Compiled[ExpertPlacementIndex]:
    """The module's model of ``instance`` (the replica model when it has replicas or nodes).
    No ``upper_bound`` cap (the warm start's hint carries it); with ``steering``, fixed experts
    hold and the migration from the reference (experts or bytes moved) joins the objective."""
    del upper_bound
    b = ModelBuilder(name=instance.name or "expert_placement")
    if instance.replicated:
        index, terms = _replicated(b, instance, steering is None and instance.gpu_memory is None)
    else:
        index, terms = _single(b, instance, steering)
    scale = _scale(weight for weight, _ in terms)
    objective = LinearExpr.sum(expr * int(weight * scale) for weight, expr in terms)
    b.minimize(objective, scale=scale)
    if steering is not None and isinstance(steering.fixed, ExpertPlacementFixed):
        _fix(b, index.x, steering.fixed)
    moved = _moved(instance, index.x, steering)
    if moved is not None and instance.max_moves is not None:
        b.add_linear(_migration(moved), ub=instance.max_moves)
    model = b.build()
    if steering is not None and moved is not None:
        model = model.with_deviation(moved, steering.weight)
    return Compiled(model, index)


Terms = list[tuple[Fraction, LinearExpr]]
"""The objective as (weight, expression) parts, before scaling."""


def _single(
    b: ModelBuilder,
    instance: ExpertPlacementInstance,
    steering: Steering[ExpertPlacementSolution] | None,
) -> tuple[ExpertPlacementIndex, Terms]:
    """One replica per expert: the assignment model."""
    x = _assignment(b, instance)
    max_load = _max_loads(b, instance, x)
    canonical = (
        instance.uniform_costs is not None
        and steering is None
        and instance.num_groups is None
        and instance.gpu_memory is None
    )
    if canonical:
        _break_symmetry(b, x[0])
    group_node = replica_model._groups(b, instance, x)
    replica_model._memory(b, instance, x)
    terms: Terms = [(exact(instance.balance_weight), LinearExpr.sum(max_load))]
    split: tuple[Var, ...] = ()
    node_split: tuple[Var, ...] = ()
    pairs: tuple[tuple[Pair, ...], ...] = ()
    position: tuple[tuple[Var, ...], ...] = ()
    above: tuple[Var, ...] = ()
    if instance.uniform_costs is not None:
        if 2 * instance.num_gpus * len(instance.routing) > COMPACT_ROWS:
            position = _positions(b, instance, x)
            split, above = _compact_routes(b, instance, position)
        else:
            split = _split_routes(b, instance, x)
        terms += _uniform_terms(instance, split)
    elif instance.hierarchical:
        split = _split_routes(b, instance, x)
        node_split = _split_routes(b, instance, _node_sums(instance, x), "node_split")
        terms += _tier_terms(instance, split, node_split)
    else:
        pairs = _pair_routes(b, instance, x)
        terms += _general_terms(instance, pairs)
    index = ExpertPlacementIndex(
        x, max_load, split, pairs, canonical, position, above, node_split, group_node
    )
    return index, terms


def _replicated(
    b: ModelBuilder, instance: ExpertPlacementInstance, canonical: bool
) -> tuple[ExpertPlacementIndex, Terms]:
    """More slots than experts: :mod:`~makespan.models.expert_placement.replica_model`
    (GPU and node labels canonical when nothing gives them a meaning)."""
    v = replica_model.build(b, instance, canonical)
    terms: Terms = [(exact(instance.balance_weight), LinearExpr.sum(v.max_load))]
    if instance.hierarchical:
        terms += _tier_terms(instance, v.split, v.node_split)
    else:
        terms += _uniform_terms(instance, v.split)
    index = ExpertPlacementIndex(
        v.x,
        v.max_load,
        v.split,
        (),
        False,
        node_split=v.node_split,
        group_node=v.group_node,
        replicas=v,
    )
    return index, terms


def _moved(
    instance: ExpertPlacementInstance,
    x: Grid,
    steering: Steering[ExpertPlacementSolution] | None,
) -> list[DeviationTerm] | None:
    """The migration from the reference as deviation terms: a replica the reference had and
    the answer lacks (counted: as many weights arrive as leave, slots being fixed), or, in
    bytes with replicas, a replica the answer has and the reference lacks."""
    if steering is None or steering.reference is None:
        return None
    before = steering.reference.replica_sets(instance)
    sizes = instance.expert_bytes if instance.migration == "bytes" else None
    if sizes is not None and instance.replicated:
        return [
            DeviationTerm(var.expr(), 0, sizes[layer][e], Measure.ABSOLUTE)
            for layer, row in enumerate(x)
            for e, expert in enumerate(row)
            for g, var in enumerate(expert)
            if g not in before[layer][e]
        ]
    return [
        DeviationTerm(
            x[layer][e][g].expr(), 1, 1 if sizes is None else sizes[layer][e], Measure.SHORTFALL
        )
        for layer, row in enumerate(before)
        for e, gpus in enumerate(row)
        for g in gpus
    ]


def _migration(terms: Sequence[DeviationTerm]) -> LinearExpr:
    """The migration the terms measure, as one expression: a shortfall term of a 0/1 variable
    from 1 is ``cost * (1 - x)``, an absolute one from 0 is ``cost * x``."""
    parts = [
        t.cost - t.expr * t.cost if t.measure is Measure.SHORTFALL else t.expr * t.cost
        for t in terms
    ]
    return LinearExpr.sum(parts)


def _fix(b: ModelBuilder, x: Grid, fixed: ExpertPlacementFixed) -> None:
    for f in fixed.root:
        label: Label = {
            "constraint": "fixed",
            "message": f"expert {f.expert} of layer {f.layer} on GPU {f.gpu}",
            "layer": f.layer,
            "expert": f.expert,
            "gpu": f.gpu,
        }
        b.fix(x[f.layer][f.expert][f.gpu], 1, label)


def _assignment(b: ModelBuilder, instance: ExpertPlacementInstance) -> Grid:
    gpus = range(instance.num_gpus)
    x = tuple(
        tuple(tuple(b.bool_var(f"x_{layer}_{e}_{g}") for g in gpus) for e in range(len(row)))
        for layer, row in enumerate(instance.loads)
    )
    for layer in x:
        for expert in layer:
            b.add_linear(LinearExpr.sum(expert), lb=1, ub=1)
        for g in gpus:
            k = instance.experts_per_gpu
            b.add_linear(LinearExpr.sum(expert[g] for expert in layer), lb=k, ub=k)
    return x


def _max_loads(
    b: ModelBuilder,
    instance: ExpertPlacementInstance,
    x: Grid,
) -> tuple[Var, ...]:
    result = []
    for layer, row in enumerate(instance.loads):
        lower = balance_bound(instance, layer)
        m = b.int_var(lower, max(lower, sum(row)), f"max_load_{layer}")
        gpu_loads = [
            LinearExpr.weighted([expert[g] for expert in x[layer]], row)
            for g in range(instance.num_gpus)
        ]
        b.add_max_equality(m, gpu_loads)
        result.append(m)
    return tuple(result)


def _break_symmetry(b: ModelBuilder, layer: tuple[tuple[Var, ...], ...]) -> None:
    for e, expert in enumerate(layer):
        for g in range(1, len(expert)):
            if g > e:
                b.add_linear(expert[g], ub=0)
            else:
                opened = LinearExpr.sum(layer[f][g - 1] for f in range(e))
                b.add_linear(opened - expert[g], lb=0)


def _split_routes(
    b: ModelBuilder,
    instance: ExpertPlacementInstance,
    units: Sequence[Sequence[Sequence[LinearExpr | Var]]],
    name: str = "split",
) -> tuple[Var, ...]:
    r"""Per route, :math:`y_r = 1` exactly when its experts are on different units (GPUs, or
    nodes given their 0/1 node sums): :math:`s_u - d_u \le y \le 2 - s_u - d_u`."""
    split = []
    for r, route in enumerate(instance.routing):
        y = b.bool_var(f"{name}_{r}")
        src, dst = units[route.layer][route.src], units[route.layer + 1][route.dst]
        for s, d in zip(src, dst, strict=True):
            b.add_linear(y - s + d, lb=0)
            b.add_linear(y + s + d, ub=2)
        split.append(y)
    return tuple(split)


def _node_sums(instance: ExpertPlacementInstance, x: Grid) -> list[list[list[LinearExpr]]]:
    r""":math:`X_{l,e,n} = \sum_{g \in n} x_{l,e,g}`: 1 exactly on the expert's node."""
    per_node = instance.gpus_per_node
    return [
        [
            [
                LinearExpr.sum(expert[n * per_node : (n + 1) * per_node])
                for n in range(instance.num_nodes)
            ]
            for expert in layer
        ]
        for layer in x
    ]


def _route_weights(instance: ExpertPlacementInstance) -> tuple[Fraction, list[int]]:
    """The communication weight :math:`\\gamma` and each route's tokens :math:`t_r`, the
    factors of every routing term."""
    return exact(instance.communication_weight), [route.tokens for route in instance.routing]


def _tier_terms(
    instance: ExpertPlacementInstance, split: Sequence[Var], node_split: Sequence[Var]
) -> Terms:
    intra, inter = (exact(c) for c in instance.tiers)
    gamma, tokens = _route_weights(instance)
    return [
        (gamma * intra, LinearExpr.weighted(list(split), tokens)),
        (gamma * (inter - intra), LinearExpr.weighted(list(node_split), tokens)),
    ]


def _positions(
    b: ModelBuilder, instance: ExpertPlacementInstance, x: Grid
) -> tuple[tuple[Var, ...], ...]:
    gpus = list(range(instance.num_gpus))
    result = []
    for layer, experts in enumerate(x):
        row = []
        for e, expert in enumerate(experts):
            p = b.int_var(0, instance.num_gpus - 1, f"gpu_{layer}_{e}")
            b.add_linear(LinearExpr.weighted([p, *expert], [1, *(-g for g in gpus)]), lb=0, ub=0)
            row.append(p)
        result.append(tuple(row))
    return tuple(result)


def _compact_routes(
    b: ModelBuilder, instance: ExpertPlacementInstance, position: tuple[tuple[Var, ...], ...]
) -> tuple[tuple[Var, ...], tuple[Var, ...]]:
    split, above = [], []
    for r, route in enumerate(instance.routing):
        y, u = b.bool_var(f"split_{r}"), b.bool_var(f"above_{r}")
        diff = position[route.layer][route.src] - position[route.layer + 1][route.dst]
        b.add_linear(diff, lb=0, ub=0, enforce=[~y.lit()])
        b.add_linear(diff, lb=1, enforce=[y.lit(), u.lit()])
        b.add_linear(diff, ub=-1, enforce=[y.lit(), ~u.lit()])
        split.append(y)
        above.append(u)
    return tuple(split), tuple(above)


def _uniform_terms(
    instance: ExpertPlacementInstance, split: Sequence[Var]
) -> list[tuple[Fraction, LinearExpr]]:
    assert instance.uniform_costs is not None
    diagonal, off = (exact(c) for c in instance.uniform_costs)
    gamma, tokens = _route_weights(instance)
    return [
        (gamma * diagonal, LinearExpr((), sum(tokens))),
        (gamma * (off - diagonal), LinearExpr.weighted(list(split), tokens)),
    ]


def _pair_routes(
    b: ModelBuilder, instance: ExpertPlacementInstance, x: Grid
) -> tuple[tuple[Pair, ...], ...]:
    result = []
    for r, route in enumerate(instance.routing):
        src, dst = x[route.layer][route.src], x[route.layer + 1][route.dst]
        pairs = []
        for g, row in enumerate(instance.costs):
            for h, cost in enumerate(row):
                if cost > 0:
                    z = b.bool_var(f"link_{r}_{g}_{h}")
                    b.add_linear(z - src[g] - dst[h], lb=-1)
                    b.add_linear(src[g] - z, lb=0)
                    b.add_linear(dst[h] - z, lb=0)
                    pairs.append((z, g, h))
        result.append(tuple(pairs))
    return tuple(result)


def _general_terms(
    instance: ExpertPlacementInstance, pairs: Sequence[Sequence[Pair]]
) -> list[tuple[Fraction, LinearExpr]]:
    gamma = exact(instance.communication_weight)
    by_cost: dict[Fraction, list[tuple[Var, int]]] = {}
    for route, links in zip(instance.routing, pairs, strict=True):
        for z, g, h in links:
            by_cost.setdefault(instance.exact_costs[g][h], []).append((z, route.tokens))
    return [
        (gamma * cost, LinearExpr.weighted([z for z, _ in ts], [t for _, t in ts]))
        for cost, ts in by_cost.items()
    ]


def _scale(weights: Iterable[Fraction]) -> int:
    return math.lcm(1, *(w.denominator for w in weights))


def decode(
    instance: ExpertPlacementInstance,
    compiled: Compiled[ExpertPlacementIndex],
    values: Sequence[int],
) -> ExpertPlacementSolution:
    """The placement held in the backend's variable values."""
    sets = [
        [tuple(g for g, var in enumerate(expert) if values[var.index]) for expert in layer]
        for layer in compiled.index.x
    ]
    return ExpertPlacementSolution.from_replicas(instance, sets)


def canonical_labels(placement: Sequence[Sequence[int]], num_gpus: int) -> list[int]:
    """``new[g]``: GPUs renumbered in the order of the smallest layer-0 expert they hold."""
    new = [-1] * num_gpus
    seen = 0
    for g in placement[0]:
        if new[g] < 0:
            new[g] = seen
            seen += 1
    return new


def hint(
    instance: ExpertPlacementInstance,
    compiled: Compiled[ExpertPlacementIndex],
    solution: ExpertPlacementSolution,
    backend: str,
) -> Mapping[int, int]:
    """Hint values for every variable, from a solution (GPUs relabelled when canonical), for
    every backend alike."""
    index = compiled.index
    if index.replicas is not None:
        sets = solution.replica_sets(instance)
        if index.canonical:
            sets = replica_model.canonical_order(instance, sets)
        return replica_model.hint_values(instance, index.replicas, sets)
    placement = [list(row) for row in solution.placement]
    if index.canonical:
        new = canonical_labels(placement, instance.num_gpus)
        placement = [[new[g] for g in row] for row in placement]
    values: dict[int, int] = {}
    for layer, gpus in zip(index.x, placement, strict=True):
        for expert, gpu in zip(layer, gpus, strict=True):
            values.update((var.index, int(g == gpu)) for g, var in enumerate(expert))
    for variables, gpus in zip(index.position, placement, strict=False):  # empty: not compact
        values.update((p.index, gpu) for p, gpu in zip(variables, gpus, strict=True))
    for m, row, gpus in zip(index.max_load, instance.loads, placement, strict=True):
        per_gpu = [0] * instance.num_gpus
        for load, gpu in zip(row, gpus, strict=True):
            per_gpu[gpu] += load
        values[m.index] = max(per_gpu)
    for layer_index, group_vars in enumerate(index.group_node):
        size = instance.num_experts // (instance.num_groups or 1)
        for k, node_vars in enumerate(group_vars):
            node = instance.node_of(placement[layer_index][k * size])
            values.update((var.index, int(n == node)) for n, var in enumerate(node_vars))
    for r, route in enumerate(instance.routing):
        g, h = placement[route.layer][route.src], placement[route.layer + 1][route.dst]
        if index.above:
            values[index.above[r].index] = int(g > h)
        if index.node_split:
            values[index.node_split[r].index] = int(instance.node_of(g) != instance.node_of(h))
        if index.split:
            values[index.split[r].index] = int(g != h)
        else:
            values.update((z.index, int((a, c) == (g, h))) for z, a, c in index.pairs[r])
    return values
