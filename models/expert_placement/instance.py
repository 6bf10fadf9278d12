"""The validated expert-placement instance and solution, and the exact objective arithmetic."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from decimal import Decimal
from fractions import Fraction
from functools import cached_property
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    RootModel,
    model_validator,
)
from pydantic.config import JsonDict

from makespan.models.limits import INT64_SAFE
from makespan.solvers.frozen import Frozen

MAX_TOKENS = 10**9
"""Largest load or routed token count: a layer's load sum (the bound of its max-load variable)
is at most ``MAX_GPUS * MAX_EXPERTS_PER_GPU * MAX_TOKENS`` < 2^55; weighted totals are checked
per instance (:func:`objective_bound`)."""

MAX_WEIGHT = 1e6
"""Largest weight or link cost."""

MAX_GPUS = 4096
"""Most GPUs: link-cost matrices and per-GPU loads are ``MAX_GPUS``-sized."""

MAX_EXPERTS_PER_GPU = 4096
"""Most experts of one layer on one GPU: a layer holds at most ``MAX_GPUS`` x this experts, so
its load sum stays below 2^55 and its per-expert rows stay countable."""

DEFAULT_SIZE_LIMIT = 2_000_000
"""Layer x expert x GPU choices (the compiled model's booleans) a service accepts by default:
8 layers of 64 experts on 8 GPUs take 4,096."""

MAX_BYTES = 10**13
"""Largest size of one expert's weights or of one GPU's expert memory, in bytes: a GPU's used
memory (at most ``MAX_EXPERTS_PER_GPU`` experts in each of at most ``MAX_LAYERS`` layers) stays
below 2^62."""

MAX_LAYERS = 4096
"""Most layers."""

DECIMALS = 4
"""Weights and link costs carry at most this many decimal places, so that the IR objective,
scaled by a power of ten, has exact integer coefficients."""


def _at_most_four_decimals(value: float) -> float:
    exponent = Decimal(repr(value)).as_tuple().exponent if math.isfinite(value) else "n"
    if not isinstance(exponent, int) or exponent < -DECIMALS:
        raise ValueError(
            f"{value!r} has more than {DECIMALS} decimal places; weights and link costs are "
            f"scaled by 10^{DECIMALS} to integers"
        )
    return value


Coefficient = Annotated[float, Field(ge=0, le=MAX_WEIGHT), AfterValidator(_at_most_four_decimals)]
"""A non-negative weight or link cost with at most four decimal places."""

Tokens = Annotated[int, Field(ge=0, le=MAX_TOKENS)]
"""A number of tokens."""

Bytes = Annotated[int, Field(ge=0, le=MAX_BYTES)]
"""A number of bytes."""

Migration = Literal["experts", "bytes"]
"""What a move from the reference costs: one per expert weight copied to a GPU, or its bytes."""

_EXAMPLE: JsonDict = {
    "num_gpus": 2,
    "experts_per_gpu": 2,
    "loads": [[120, 40, 75, 10], [60, 60, 90, 35]],
    "routing": [
        {"layer": 0, "src": 0, "dst": 2, "tokens": 80},
        {"layer": 0, "src": 2, "dst": 1, "tokens": 50},
    ],
    "link_cost": None,
    "balance_weight": 1.0,
    "communication_weight": 1.0,
}


def exact(value: float) -> Fraction:
    """The decimal value of a validated weight or link cost as an exact fraction."""
    return Fraction(Decimal(repr(value)))


class Route(Frozen):
    """``tokens`` tokens sent from expert ``src`` of layer ``layer`` to expert ``dst`` of layer
    ``layer + 1``."""

    layer: NonNegativeInt
    src: NonNegativeInt
    dst: NonNegativeInt
    tokens: Tokens


class ExpertPlacementInstance(BaseModel):
    """Placement of the experts of a mixture-of-experts model on GPUs, in EPLB's terms.

    Layer l has E logical experts with loads :math:`w_{l,e}` (``loads``, also read as EPLB's
    ``weight``) and R = ``num_replicas`` physical slots, ``experts_per_gpu`` = R / G on each of
    the G = ``num_gpus`` GPUs; GPUs are numbered node by node (``num_nodes`` nodes of G / N
    GPUs). Every expert has :math:`c_{l,e} \\ge 1` replicas on distinct GPUs and every slot holds
    one (:math:`\\sum_e c_{l,e} = R`; R = E, the default, is one replica per expert). A replica
    carries the equal share of its expert's tokens rounded up, :math:`\\lceil w_{l,e} /
    c_{l,e} \\rceil` (a dispatcher that sends an expert's tokens to its replicas in turn never
    gives one more), so GPU g of layer l carries
    :math:`L_{l,g} = \\sum_{e \\text{ on } g} \\lceil w_{l,e} / c_{l,e} \\rceil`.
    With ``num_groups`` set, the experts of a layer form that many consecutive groups and all
    replicas of a group sit on one node. A route sends :math:`t_r` tokens from expert src of
    layer l to expert dst of layer l + 1 over the cheapest link between their replicas,
    :math:`cost_r = \\min_{g \\ni src,\\, h \\ni dst} c_{g,h}`. The objective (minimised) is

    .. math::
        \\beta \\sum_l \\max_g L_{l,g} \\; + \\; \\gamma \\sum_{r \\in routing} t_r \\, cost_r

    with :math:`\\beta` = ``balance_weight`` and :math:`\\gamma` = ``communication_weight``;
    link costs :math:`c` are ``link_cost``, or 0 on one GPU, ``intra_node_cost`` within a node
    and ``inter_node_cost`` across nodes (both 1 by default). ``expert_bytes`` and
    ``gpu_memory`` bound the weights each GPU holds; ``max_moves`` bounds the migration from
    ``options.reference`` (expert weights copied, or their bytes with ``migration`` =
    ``"bytes"``), which ``options.stability_weight`` prices.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", json_schema_extra={"examples": [_EXAMPLE]}
    )

    name: str | None = None
    num_gpus: Annotated[int, Field(ge=1, le=MAX_GPUS)]
    experts_per_gpu: Annotated[
        int | None,
        Field(ge=1, le=MAX_EXPERTS_PER_GPU, description="Slots per GPU (num_replicas / num_gpus)."),
    ] = None
    num_replicas: Annotated[
        int | None,
        Field(
            ge=1,
            le=MAX_GPUS * MAX_EXPERTS_PER_GPU,
            description="Physical expert slots per layer, a multiple of num_gpus "
            "(default: num_gpus * experts_per_gpu).",
        ),
    ] = None
    num_nodes: Annotated[int, Field(ge=1, le=MAX_GPUS, description="Nodes; divides num_gpus.")] = 1
    num_groups: Annotated[
        int | None,
        Field(
            ge=1,
            le=MAX_GPUS * MAX_EXPERTS_PER_GPU,
            description="Expert groups per layer, each kept on one node; divides the experts, "
            "a multiple of num_nodes.",
        ),
    ] = None
    loads: Annotated[
        tuple[tuple[Tokens, ...], ...],
        Field(
            min_length=1,
            max_length=MAX_LAYERS,
            validation_alias=AliasChoices("loads", "weight"),
            description="Tokens per layer and logical expert (EPLB's weight; also read as "
            "'weight').",
        ),
    ]
    routing: tuple[Route, ...] = ()
    link_cost: tuple[tuple[Coefficient, ...], ...] | None = None
    intra_node_cost: Coefficient | None = None
    inter_node_cost: Coefficient | None = None
    balance_weight: Coefficient = 1.0
    communication_weight: Coefficient = 1.0
    expert_bytes: Annotated[
        tuple[tuple[Bytes, ...], ...] | None,
        Field(description="Bytes of the weights of each expert, per layer."),
    ] = None
    gpu_memory: Annotated[
        tuple[Bytes, ...] | None,
        Field(description="Bytes of expert weights each GPU holds at most, over all layers."),
    ] = None
    migration: Migration = "experts"
    max_moves: Annotated[
        int | None,
        Field(
            ge=0,
            le=INT64_SAFE,
            description="At most this many expert weights (or bytes) copied from "
            "options.reference.",
        ),
    ] = None

    @model_validator(mode="after")
    def _consistent(self) -> ExpertPlacementInstance:
        self._check_slots()
        experts = self.num_experts
        for layer, row in enumerate(self.loads):
            if len(row) != experts:
                raise ValueError(f"loads.{layer}: {len(row)} experts, but loads.0 has {experts}")
        self._check_hierarchy()
        self._check_routing(experts)
        self._check_link_cost()
        self._check_memory()
        self._check_objective_fits()
        return self

    def _check_slots(self) -> None:
        if self.experts_per_gpu is None and self.num_replicas is None:
            raise ValueError("experts_per_gpu: give experts_per_gpu or num_replicas")
        replicas = self.num_replicas
        if replicas is not None and replicas % self.num_gpus:
            raise ValueError(
                f"num_replicas: {replicas} slots is not a multiple of num_gpus {self.num_gpus}"
            )
        if replicas is not None and replicas // self.num_gpus > MAX_EXPERTS_PER_GPU:
            raise ValueError(f"num_replicas: more than {MAX_EXPERTS_PER_GPU} slots per GPU")
        per_gpu = self.experts_per_gpu
        if per_gpu is not None and replicas is not None and per_gpu * self.num_gpus != replicas:
            raise ValueError(
                f"experts_per_gpu: {per_gpu} x {self.num_gpus} GPUs is not num_replicas {replicas}"
            )
        experts = len(self.loads[0])
        if experts > self.slots:
            raise ValueError(f"loads.0: {experts} experts, more than the {self.slots} slots")
        if self.slots_per_gpu > experts:
            raise ValueError(
                f"experts_per_gpu: {self.slots_per_gpu} slots per GPU, but only {experts} experts "
                "(a GPU holds at most one replica of an expert)"
            )

    def _check_hierarchy(self) -> None:
        if self.num_gpus % self.num_nodes:
            raise ValueError(
                f"num_nodes: {self.num_nodes} does not divide num_gpus {self.num_gpus}"
            )
        groups = self.num_groups
        if groups is None:
            return
        if self.num_experts % groups:
            raise ValueError(f"num_groups: {groups} does not divide {self.num_experts} experts")
        if groups % self.num_nodes:
            raise ValueError(
                f"num_groups: {groups} is not a multiple of num_nodes {self.num_nodes}"
            )
        if self.slots_per_gpu > self.num_experts // self.num_nodes:
            raise ValueError(
                f"experts_per_gpu: {self.slots_per_gpu} slots per GPU, more than the "
                f"{self.num_experts // self.num_nodes} experts a node's groups hold"
            )

    def _check_memory(self) -> None:
        if self.expert_bytes is None:
            if self.gpu_memory is not None:
                raise ValueError("gpu_memory: needs expert_bytes")
            if self.migration == "bytes":
                raise ValueError("migration: 'bytes' needs expert_bytes")
            return
        if len(self.expert_bytes) != self.num_layers:
            raise ValueError(
                f"expert_bytes: {len(self.expert_bytes)} layers, expected {self.num_layers}"
            )
        for layer, row in enumerate(self.expert_bytes):
            if len(row) != self.num_experts:
                raise ValueError(
                    f"expert_bytes.{layer}: {len(row)} experts, expected {self.num_experts}"
                )
        if self.gpu_memory is not None and len(self.gpu_memory) != self.num_gpus:
            raise ValueError(f"gpu_memory: {len(self.gpu_memory)} GPUs, expected {self.num_gpus}")

    def _check_objective_fits(self) -> None:
        balance, communication = objective_bound(self)
        if balance + communication <= INT64_SAFE:
            return
        if balance >= communication:
            raise ValueError(
                f"balance_weight: balance_weight x total load, scaled to integers, reaches "
                f"{balance}, above {INT64_SAFE}; lower the weight, its decimals or the loads"
            )
        raise ValueError(
            f"communication_weight: communication_weight x link costs x routed tokens, scaled "
            f"to integers, reaches {communication}, above {INT64_SAFE}; lower the weight, the "
            "link costs, their decimals or the routed tokens"
        )

    def _check_routing(self, experts: int) -> None:
        for i, route in enumerate(self.routing):
            if route.layer + 1 >= len(self.loads):
                raise ValueError(
                    f"routing.{i}.layer: {route.layer} has no next layer "
                    f"(layers 0..{len(self.loads) - 1})"
                )
            for field in ("src", "dst"):
                value = getattr(route, field)
                if value >= experts:
                    raise ValueError(
                        f"routing.{i}.{field}: expert {value} is out of range 0..{experts - 1}"
                    )

    def _check_link_cost(self) -> None:
        tiers = (self.intra_node_cost, self.inter_node_cost)
        if self.link_cost is None:
            intra, inter = (1.0 if c is None else c for c in tiers)
            if intra > inter:
                raise ValueError(
                    f"inter_node_cost: {inter} is below intra_node_cost {intra}; crossing nodes "
                    "costs at least as much as staying on one"
                )
            return
        if tiers != (None, None):
            raise ValueError("link_cost: give link_cost or intra/inter_node_cost, not both")
        if self.replicated:
            raise ValueError(
                "link_cost: replicated experts take intra_node_cost and inter_node_cost, "
                "not a general matrix"
            )
        if len(self.link_cost) != self.num_gpus:
            raise ValueError(f"link_cost: {len(self.link_cost)} rows, expected {self.num_gpus}")
        for g, row in enumerate(self.link_cost):
            if len(row) != self.num_gpus:
                raise ValueError(f"link_cost.{g}: {len(row)} columns, expected {self.num_gpus}")

    @property
    def slots(self) -> int:
        """R: physical expert slots per layer."""
        if self.num_replicas is not None:
            return self.num_replicas
        assert self.experts_per_gpu is not None  # _check_slots
        return self.num_gpus * self.experts_per_gpu

    @property
    def slots_per_gpu(self) -> int:
        """R / G: the slots of one GPU in every layer."""
        return self.slots // self.num_gpus

    @property
    def gpus_per_node(self) -> int:
        """G / N."""
        return self.num_gpus // self.num_nodes

    @property
    def replicated(self) -> bool:
        """Whether some expert may have more than one replica (R > E)."""
        return self.slots > len(self.loads[0])

    @property
    def max_copies(self) -> int:
        """The most replicas one expert can have: one per GPU it may use, and all slots left
        after every other expert got one."""
        gpus = self.gpus_per_node if self.num_groups is not None else self.num_gpus
        return min(gpus, self.slots - self.num_experts + 1)

    def node_of(self, gpu: int) -> int:
        """The node of a GPU (GPUs are numbered node by node)."""
        return gpu // self.gpus_per_node

    def group_of(self, expert: int) -> int:
        """The group of an expert (consecutive experts, E / num_groups per group); 0 without
        groups."""
        if self.num_groups is None:
            return 0
        return expert // (self.num_experts // self.num_groups)

    @property
    def size(self) -> int:
        """The compiled model's decisions: layers x experts x GPUs placement booleans; with
        replicas also a count choice per expert and count, and a co-location boolean per route
        and GPU (and node)."""
        return model_size(
            self.num_layers,
            self.num_experts,
            self.num_gpus,
            self.num_nodes,
            self.max_copies if self.replicated else 0,
            len(self.routing),
        )

    @property
    def num_layers(self) -> int:
        """Number of layers."""
        return len(self.loads)

    @property
    def num_experts(self) -> int:
        """Logical experts per layer."""
        return len(self.loads[0])

    @cached_property
    def tiers(self) -> tuple[float, float]:
        """``(intra_node_cost, inter_node_cost)``, each 1 when not given."""
        intra, inter = (
            1.0 if c is None else c for c in (self.intra_node_cost, self.inter_node_cost)
        )
        return intra, inter

    @cached_property
    def costs(self) -> tuple[tuple[float, ...], ...]:
        """The link-cost matrix: ``link_cost``, else 0 on the diagonal, the intra-node cost
        between GPUs of one node and the inter-node cost across nodes."""
        if self.link_cost is not None:
            return self.link_cost
        intra, inter = self.tiers
        n = self.num_gpus
        return tuple(
            tuple(
                0.0 if g == h else intra if self.node_of(g) == self.node_of(h) else inter
                for h in range(n)
            )
            for g in range(n)
        )

    @cached_property
    def exact_costs(self) -> tuple[tuple[Fraction, ...], ...]:
        """:attr:`costs` as exact fractions."""
        return tuple(tuple(exact(c) for c in row) for row in self.costs)

    @cached_property
    def uniform_costs(self) -> tuple[float, float] | None:
        """``(diagonal, off-diagonal)`` when all diagonal entries are equal, all off-diagonal
        entries are equal and the off-diagonal one is not smaller; else None. GPUs are then
        interchangeable and a route costs the diagonal value plus the difference when split."""
        if self.link_cost is None:
            intra, inter = self.tiers
            if self.num_nodes == 1 or intra == inter:
                return (0.0, intra) if self.num_gpus > 1 else (0.0, 0.0)
            return None
        n = self.num_gpus
        diagonal = {self.costs[g][g] for g in range(n)}
        off = {self.costs[g][h] for g in range(n) for h in range(n) if g != h}
        if len(diagonal) != 1 or len(off) > 1:
            return None
        d = diagonal.pop()
        o = off.pop() if off else d
        return (d, o) if o >= d else None

    @property
    def hierarchical(self) -> bool:
        """Whether link costs are 0 on a GPU, one cost within a node and a higher one across
        nodes (several nodes, no ``link_cost``)."""
        return self.link_cost is None and self.uniform_costs is None

    @cached_property
    def lower_bound(self) -> float:
        """A proven bound: :func:`balance_bound` for the balance part and
        :func:`routing_bound` for the routed part."""
        balance = sum(balance_bound(self, layer) for layer in range(self.num_layers))
        return float(
            exact(self.balance_weight) * balance
            + exact(self.communication_weight) * routing_bound(self)
        )


def model_size(layers: int, experts: int, gpus: int, nodes: int, copies: int, routes: int) -> int:
    """:attr:`ExpertPlacementInstance.size` from the counts alone (``copies`` 0: one replica
    per expert), so that a document is sized before it is validated."""
    size = layers * experts * gpus
    if copies:
        size += layers * experts * copies + routes * (gpus + (nodes if nodes > 1 else 0))
    return size


def share(load: int, copies: int) -> int:
    """The tokens one of ``copies`` replicas of an expert with ``load`` tokens carries: the
    equal share rounded up."""
    return -(-load // copies)


def fewest_copies(load: int, cap: int) -> int:
    """The fewest replicas whose share is at most ``cap`` (``cap`` >= 1)."""
    return max(1, -(-load // cap))


def _pool_bound(loads: Sequence[int], slots: int, gpus: int, cap: int) -> int:
    """A bound on the largest GPU load of ``gpus`` GPUs with ``slots`` slots holding the
    experts with ``loads``: their tokens over the GPUs, and the least largest replica share
    (the least T with :math:`\\sum_e \\lceil w_e / T \\rceil \\le` ``slots``, no expert with
    more than ``cap`` replicas; some GPU holds that replica)."""
    if not loads:
        return 0
    heaviest = max(loads)
    if heaviest == 0:
        return 0
    low, high = 1, heaviest
    while low < high:
        mid = (low + high) // 2
        needed = [fewest_copies(w, mid) for w in loads]
        if max(needed) <= cap and sum(needed) <= slots:
            high = mid
        else:
            low = mid + 1
    return max(low, -(-sum(loads) // gpus))


def replica_bound(instance: ExpertPlacementInstance, layer: int) -> int:
    """:func:`_pool_bound` of the whole layer on all GPUs, replica counts at most
    :attr:`~ExpertPlacementInstance.max_copies`."""
    return _pool_bound(
        instance.loads[layer], instance.slots, instance.num_gpus, instance.max_copies
    )


GROUP_SEARCH_NODES = 20_000
"""Most partial group-to-node assignments :func:`group_bound` visits before it gives up."""


def group_bound(instance: ExpertPlacementInstance, layer: int) -> int:
    """With groups, the least over assignments of groups to nodes (each node's groups fitting
    its slots, at least one per expert) of the largest :func:`_pool_bound` of a node: some
    node holds its groups, whichever assignment the answer uses. Found by branch and bound over
    the groups, heaviest first (a node's bound only grows with its groups); 0 without groups
    or when the search passes :data:`GROUP_SEARCH_NODES`."""
    return group_packing(instance, layer)[0]


def group_packing(
    instance: ExpertPlacementInstance, layer: int
) -> tuple[int, tuple[tuple[int, ...], ...] | None]:
    """:func:`group_bound` and the assignment that attains it (per node, its groups), the
    best one found when the search stops early (then the bound is 0); None without groups."""
    if instance.num_groups is None or instance.num_nodes == 1:
        return 0, None
    row = instance.loads[layer]
    size = instance.num_experts // instance.num_groups
    per_node_slots = instance.slots // instance.num_nodes
    capacity = per_node_slots // size
    gpn = instance.gpus_per_node
    order = sorted(range(instance.num_groups), key=lambda k: -sum(row[k * size : (k + 1) * size]))
    groups = [row[k * size : (k + 1) * size] for k in order]
    best = [2**63]
    best_nodes: list[tuple[tuple[int, ...], ...] | None] = [None]
    visits = [0]
    cache: dict[tuple[int, ...], int] = {}

    def pool(members: list[int]) -> int:
        key = tuple(sorted(members))
        if key not in cache:
            experts = [w for k in key for w in groups[k]]
            cache[key] = _pool_bound(experts, per_node_slots, gpn, min(gpn, per_node_slots))
        return cache[key]

    def place(k: int, nodes: list[list[int]], counts: list[int], worst: int) -> bool:
        # nodes[n]: the (sorted-order) indices of the groups placed on node n
        visits[0] += 1
        if visits[0] > GROUP_SEARCH_NODES:
            return False
        if worst >= best[0]:
            return True
        if k == len(groups):
            best[0] = worst
            best_nodes[0] = tuple(tuple(sorted(order[i] for i in node)) for node in nodes)
            return True
        tried_empty = False
        for n in range(instance.num_nodes):
            if counts[n] >= capacity or (not counts[n] and tried_empty):
                continue
            tried_empty = tried_empty or not counts[n]
            nodes[n].append(k)
            counts[n] += 1
            finished = place(k + 1, nodes, counts, max(worst, pool(nodes[n])))
            counts[n] -= 1
            nodes[n].pop()
            if not finished:
                return False
        return True

    done = place(0, [[] for _ in range(instance.num_nodes)], [0] * instance.num_nodes, 0)
    return (best[0] if done and best[0] < 2**63 else 0), best_nodes[0]


def balance_bound(instance: ExpertPlacementInstance, layer: int) -> int:
    """A proven bound on the largest GPU load of ``layer``: the layer's tokens over the GPUs
    (replica shares sum to at least the expert's tokens), the heaviest replica
    (:func:`replica_bound`), the nodes' groups (:func:`group_bound`), and, with one replica
    per expert, the pigeonhole bound: some GPU holds k + 1 of the k G + 1 heaviest experts."""
    row = instance.loads[layer]
    bound = max(
        -(-sum(row) // instance.num_gpus),
        replica_bound(instance, layer),
        group_bound(instance, layer),
    )
    if not instance.replicated:
        ranked = sorted(row, reverse=True)
        for k in range(instance.slots_per_gpu):
            bound = max(bound, _smallest_sum(ranked, k, instance.num_gpus))
    return bound


def _smallest_sum(ranked: Sequence[int], k: int, g: int) -> int:
    """The k + 1 smallest of the k g + 1 heaviest loads, summed (``ranked`` descending)."""
    top = ranked[: k * g + 1]
    return sum(top[-(k + 1) :]) if len(top) == k * g + 1 else 0


def _local_cap(route_ends: Iterable[tuple[int, int]], capacity: int) -> int:
    """The most tokens ends can keep local when each end meets at most ``capacity`` of its
    routes locally: per end, its ``capacity`` heaviest routes."""
    by_end: dict[int, list[int]] = {}
    for end, tokens in route_ends:
        by_end.setdefault(end, []).append(tokens)
    return sum(sum(sorted(ts, reverse=True)[:capacity]) for ts in by_end.values())


def local_tokens_bound(instance: ExpertPlacementInstance, per_unit: int, units: int) -> int:
    """An upper bound on the routed tokens whose two experts share a unit (a GPU, or a node)
    holding ``per_unit`` slots of every layer, an expert being on at most ``units`` units:
    an expert meets at most ``per_unit * units`` experts of the next (or previous) layer
    there, so per layer pair at most the ``per_unit * units`` heaviest links of each source,
    and of each destination, are local; the smaller of the two sums (routes between the same
    two experts are merged first: they are local together)."""
    capacity = per_unit * units
    links: dict[tuple[int, int, int], int] = {}
    for r in instance.routing:
        links[(r.layer, r.src, r.dst)] = links.get((r.layer, r.src, r.dst), 0) + r.tokens
    pairs: dict[int, list[tuple[int, int, int]]] = {}
    for (layer, src, dst), tokens in links.items():
        pairs.setdefault(layer, []).append((src, dst, tokens))
    total = 0
    for routes in pairs.values():
        out = _local_cap(((src, t) for src, _, t in routes), capacity)
        into = _local_cap(((dst, t) for _, dst, t in routes), capacity)
        total += min(out, into)
    return total


def routing_bound(instance: ExpertPlacementInstance) -> Fraction:
    """A proven bound on :math:`\\sum_r t_r cost_r`: with uniform costs (d, o), every route
    pays d and those that cannot share a GPU (all but :func:`local_tokens_bound`) pay o - d
    more; with node tiers, routes pay the intra-node cost unless on one GPU and the
    inter-node cost unless on one node; with a general matrix, the cheapest link."""
    routed = sum(route.tokens for route in instance.routing)
    if not routed:
        return Fraction(0)
    copies = instance.max_copies
    per_gpu = instance.slots_per_gpu
    if instance.uniform_costs is not None:
        d, o = (exact(c) for c in instance.uniform_costs)
        local = local_tokens_bound(instance, per_gpu, copies)
        return d * routed + (o - d) * max(0, routed - local)
    if instance.hierarchical:
        intra, inter = (exact(c) for c in instance.tiers)
        gpu_local = local_tokens_bound(instance, per_gpu, copies)
        nodes = 1 if instance.num_groups is not None else min(copies, instance.num_nodes)
        node_local = local_tokens_bound(instance, per_gpu * instance.gpus_per_node, nodes)
        return intra * max(0, routed - gpu_local) + (inter - intra) * max(0, routed - node_local)
    cheapest = min(min(row) for row in instance.exact_costs)
    return cheapest * routed


def objective_bound(instance: ExpertPlacementInstance) -> tuple[int, int]:
    """The largest values the two parts of the compiled objective can take, as the backend's
    overflow check sums them (every variable at its bound): ``scale * balance_weight * total
    load`` (replica shares rounded up add at most one token per slot) and ``scale *
    communication_weight * link costs * routed tokens``, where the link costs are the
    off-diagonal one (uniform), the inter-node one (tiers) or the sum of all (general, one
    product variable per pair) and ``scale`` bounds the compiler's integer scale from above.
    Runs before the instance is complete: it builds no matrix."""
    beta, gamma = exact(instance.balance_weight), exact(instance.communication_weight)
    weights = [beta]
    if instance.link_cost is None:
        intra, inter = (exact(c) for c in instance.tiers)
        weights += [gamma * intra, gamma * (inter - intra), gamma * inter]
        links = inter
    elif instance.uniform_costs is not None:
        diagonal, off = (exact(c) for c in instance.uniform_costs)
        weights += [gamma * diagonal, gamma * off, gamma * (off - diagonal)]
        links = off
    else:
        counted = Counter(c for row in instance.link_cost for c in row)
        weights += [gamma * exact(c) for c in counted]
        links = sum((exact(c) * n for c, n in counted.items()), Fraction(0))
    scale = _common_denominator(weights)
    total_load = sum(sum(row) for row in instance.loads) + instance.num_layers * instance.slots
    routed = sum(route.tokens for route in instance.routing)
    return int(scale * beta * total_load), int(scale * gamma * links * routed)


def _common_denominator(weights: Iterable[Fraction]) -> int:
    return math.lcm(1, *(w.denominator for w in weights))


Replicas = Sequence[Sequence[Sequence[int]]]
"""``replicas[l][e]``: the GPUs holding a replica of expert e of layer l."""


class ExpertPlacementSolution(Frozen):
    """A placement, in makespan's and in EPLB's terms.

    ``phy2log[l][s]`` is the logical expert in physical slot s of layer l (slot s is on GPU
    s // ``experts_per_gpu``; a GPU's experts in increasing order); ``log2phy[l][e]`` the slots
    of expert e (increasing, padded with -1 to the largest replica count); ``logcnt[l][e]`` its
    replica count; ``placement[l][e]`` the first GPU holding it (its only one without
    replicas). ``gpu_loads[l][g]`` is :math:`L_{l,g}`, ``node_loads[l][n]`` the sum over the
    node's GPUs; ``layer_balancedness[l]`` is :math:`\\operatorname{mean}_g L_{l,g} /
    \\max_g L_{l,g}` and ``balancedness`` :math:`\\sum_l \\operatorname{mean}_g L_{l,g} /
    \\sum_l \\max_g L_{l,g}` (1 for an idle layer), as vLLM logs it.
    ``max_load_sum`` is :math:`\\sum_l \\max_g L_{l,g}`; ``crossing_tokens`` is
    :math:`\\sum_r t_r\\, cost_r`; ``objective`` is ``balance_weight * max_load_sum +
    communication_weight * crossing_tokens``. A solution given as input needs ``placement``
    (or ``phy2log`` when experts are replicated); what else it carries must be right.
    """

    placement: tuple[tuple[NonNegativeInt, ...], ...]
    max_load_sum: NonNegativeInt
    crossing_tokens: Annotated[float, Field(ge=0)]
    objective: Annotated[float, Field(ge=0)]
    phy2log: tuple[tuple[NonNegativeInt, ...], ...] | None = None
    log2phy: tuple[tuple[tuple[int, ...], ...], ...] | None = None
    logcnt: tuple[tuple[NonNegativeInt, ...], ...] | None = None
    gpu_loads: tuple[tuple[NonNegativeInt, ...], ...] | None = None
    node_loads: tuple[tuple[NonNegativeInt, ...], ...] | None = None
    balancedness: Annotated[float, Field(ge=0, le=1)] | None = None
    layer_balancedness: tuple[Annotated[float, Field(ge=0, le=1)], ...] | None = None

    @classmethod
    def from_placement(
        cls, instance: ExpertPlacementInstance, placement: Sequence[Sequence[int]]
    ) -> ExpertPlacementSolution:
        """The solution of a valid one-replica-per-expert placement (``placement[l][e]``: the
        GPU of expert e of layer l), with every figure computed exactly."""
        return cls.from_replicas(instance, [[(g,) for g in row] for row in placement])

    @classmethod
    def from_replicas(
        cls, instance: ExpertPlacementInstance, replicas: Replicas
    ) -> ExpertPlacementSolution:
        """The solution of valid replica sets (``replicas[l][e]``: the GPUs of expert e of
        layer l), with every figure computed exactly."""
        sets = [[tuple(sorted(gpus)) for gpus in row] for row in replicas]
        loads = replica_loads(instance, sets)
        per_node = instance.gpus_per_node
        node_loads = [
            [sum(row[n * per_node : (n + 1) * per_node]) for n in range(instance.num_nodes)]
            for row in loads
        ]
        crossing = routed_cost(instance, sets)
        max_load_sum = sum(max(row) for row in loads)
        objective = (
            exact(instance.balance_weight) * max_load_sum
            + exact(instance.communication_weight) * crossing
        )
        phy2log, log2phy = _slot_maps(instance, sets)
        means = [Fraction(sum(row), instance.num_gpus) for row in loads]
        return cls(
            placement=tuple(tuple(gpus[0] for gpus in row) for row in sets),
            max_load_sum=max_load_sum,
            crossing_tokens=float(crossing),
            objective=float(objective),
            phy2log=phy2log,
            log2phy=log2phy,
            logcnt=tuple(tuple(len(gpus) for gpus in row) for row in sets),
            gpu_loads=tuple(tuple(row) for row in loads),
            node_loads=tuple(tuple(row) for row in node_loads),
            balancedness=_ratio(sum(means, Fraction(0)), max_load_sum),
            layer_balancedness=tuple(
                _ratio(m, max(row)) for m, row in zip(means, loads, strict=True)
            ),
        )

    def replica_sets(self, instance: ExpertPlacementInstance) -> list[list[tuple[int, ...]]]:
        """``[l][e]``: the GPUs holding expert e of layer l, from ``phy2log`` when given, else
        from ``placement`` (assumed of the instance's shape: the checker tests it first)."""
        if self.phy2log is None:
            return [[(g,) for g in row] for row in self.placement]
        per_gpu = instance.slots_per_gpu
        sets: list[list[list[int]]] = [
            [[] for _ in range(instance.num_experts)] for _ in self.phy2log
        ]
        for layer, row in enumerate(self.phy2log):
            for slot, expert in enumerate(row):
                sets[layer][expert].append(slot // per_gpu)
        return [[tuple(gpus) for gpus in row] for row in sets]


def _ratio(mean: Fraction, largest: int) -> float:
    return float(mean / largest) if largest else 1.0


def replica_loads(instance: ExpertPlacementInstance, sets: Replicas) -> list[list[int]]:
    """:math:`L_{l,g}`: per layer and GPU the shares of the replicas it holds."""
    return [layer_loads(instance, layer, row) for layer, row in enumerate(sets)]


def layer_loads(
    instance: ExpertPlacementInstance, layer: int, row: Sequence[Sequence[int]]
) -> list[int]:
    """:math:`L_{l,g}` of one layer: per GPU the shares of the replicas ``row`` puts on it."""
    per_gpu = [0] * instance.num_gpus
    for load, gpus in zip(instance.loads[layer], row, strict=True):
        part = share(load, len(gpus))
        for g in gpus:
            per_gpu[g] += part
    return per_gpu


def routed_cost(instance: ExpertPlacementInstance, sets: Replicas) -> Fraction:
    """:math:`\\sum_r t_r \\min_{g \\ni src, h \\ni dst} c_{g,h}`, exactly."""
    costs = instance.exact_costs
    total = Fraction(0)
    for route in instance.routing:
        sources, targets = sets[route.layer][route.src], sets[route.layer + 1][route.dst]
        total += route.tokens * min(costs[g][h] for g in sources for h in targets)
    return total


def _slot_maps(
    instance: ExpertPlacementInstance, sets: Sequence[Sequence[Sequence[int]]]
) -> tuple[tuple[tuple[int, ...], ...], tuple[tuple[tuple[int, ...], ...], ...]]:
    """``phy2log`` and ``log2phy`` of replica sets: a GPU's slots in increasing expert order."""
    width = max((len(gpus) for row in sets for gpus in row), default=1)
    phy2log, log2phy = [], []
    for row in sets:
        on_gpu: list[list[int]] = [[] for _ in range(instance.num_gpus)]
        for expert, gpus in enumerate(row):
            for g in gpus:
                on_gpu[g].append(expert)
        slots = [e for experts in on_gpu for e in sorted(experts)]
        where: list[list[int]] = [[] for _ in row]
        for slot, expert in enumerate(slots):
            where[expert].append(slot)
        phy2log.append(tuple(slots))
        log2phy.append(tuple(tuple(s + [-1] * (width - len(s))) for s in where))
    return tuple(phy2log), tuple(log2phy)


class ExpertFixing(Frozen):
    """Expert ``expert`` of layer ``layer`` stays on GPU ``gpu``."""

    layer: Annotated[int, Field(ge=0, le=INT64_SAFE)]
    expert: Annotated[int, Field(ge=0, le=INT64_SAFE)]
    gpu: Annotated[int, Field(ge=0, le=INT64_SAFE)]


class ExpertPlacementFixed(RootModel[tuple[ExpertFixing, ...]]):
    """The fixed parts of a placement (``options.fixed``): ``[{"layer", "expert", "gpu"}]``."""

    model_config = ConfigDict(frozen=True)


def size(instance: ExpertPlacementInstance) -> int:
    """Layers x experts x GPUs: the placement booleans of the model."""
    return instance.size


def lower_bound(instance: ExpertPlacementInstance) -> float | None:
    """:attr:`ExpertPlacementInstance.lower_bound`."""
    return instance.lower_bound
