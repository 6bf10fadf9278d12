"""The validated expert-placement instance and solution, and the exact objective arithmetic."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from decimal import Decimal
from fractions import Fraction
from functools import cached_property
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    RootModel,
    model_validator,
)
from pydantic.config import JsonDict

from makespan.models.limits import INT64_SAFE

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


class Route(BaseModel):
    """``tokens`` tokens sent from expert ``src`` of layer ``layer`` to expert ``dst`` of layer
    ``layer + 1``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    layer: NonNegativeInt
    src: NonNegativeInt
    dst: NonNegativeInt
    tokens: Tokens


class ExpertPlacementInstance(BaseModel):
    """Placement of the experts of a mixture-of-experts model on GPUs.

    Every GPU holds exactly ``experts_per_gpu`` experts of every layer. With
    :math:`\\pi_l(e)` the GPU of expert e of layer l, :math:`w_{l,e}` its load and
    :math:`c_{g,h}` the link cost (default 1 for :math:`g \\ne h`, 0 on the diagonal), the
    objective (minimised) is

    .. math::
        \\beta \\sum_l \\max_g \\sum_{e : \\pi_l(e) = g} w_{l,e}
        \\; + \\; \\gamma \\sum_{r \\in routing} t_r \\, c_{\\pi_{l_r}(src_r),\\,
        \\pi_{l_r+1}(dst_r)}

    with :math:`\\beta` = ``balance_weight`` and :math:`\\gamma` = ``communication_weight``.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", json_schema_extra={"examples": [_EXAMPLE]}
    )

    name: str | None = None
    num_gpus: Annotated[int, Field(ge=1, le=MAX_GPUS)]
    experts_per_gpu: Annotated[int, Field(ge=1, le=MAX_EXPERTS_PER_GPU)]
    loads: Annotated[tuple[tuple[Tokens, ...], ...], Field(min_length=1)]
    routing: tuple[Route, ...] = ()
    link_cost: tuple[tuple[Coefficient, ...], ...] | None = None
    balance_weight: Coefficient = 1.0
    communication_weight: Coefficient = 1.0

    @model_validator(mode="after")
    def _consistent(self) -> ExpertPlacementInstance:
        experts = self.num_gpus * self.experts_per_gpu
        for layer, row in enumerate(self.loads):
            if len(row) != experts:
                raise ValueError(
                    f"loads.{layer}: {len(row)} experts, but num_gpus * experts_per_gpu = {experts}"
                )
        self._check_routing(experts)
        self._check_link_cost()
        self._check_objective_fits()
        return self

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
        if self.link_cost is None:
            return
        if len(self.link_cost) != self.num_gpus:
            raise ValueError(f"link_cost: {len(self.link_cost)} rows, expected {self.num_gpus}")
        for g, row in enumerate(self.link_cost):
            if len(row) != self.num_gpus:
                raise ValueError(f"link_cost.{g}: {len(row)} columns, expected {self.num_gpus}")

    @property
    def size(self) -> int:
        """Layers x experts x GPUs: the compiled model's booleans, one per expert and GPU in
        every layer."""
        return self.num_layers * self.num_experts * self.num_gpus

    @property
    def num_layers(self) -> int:
        """Number of layers."""
        return len(self.loads)

    @property
    def num_experts(self) -> int:
        """Experts per layer."""
        return self.num_gpus * self.experts_per_gpu

    @cached_property
    def costs(self) -> tuple[tuple[float, ...], ...]:
        """The link-cost matrix, the default (1 off the diagonal, 0 on it) when none is given."""
        if self.link_cost is not None:
            return self.link_cost
        n = self.num_gpus
        return tuple(tuple(0.0 if g == h else 1.0 for h in range(n)) for g in range(n))

    @cached_property
    def exact_costs(self) -> tuple[tuple[Fraction, ...], ...]:
        """:attr:`costs` as exact fractions."""
        return tuple(tuple(exact(c) for c in row) for row in self.costs)

    @cached_property
    def uniform_costs(self) -> tuple[float, float] | None:
        """``(diagonal, off-diagonal)`` when all diagonal entries are equal, all off-diagonal
        entries are equal and the off-diagonal one is not smaller; else None. GPUs are then
        interchangeable and a route costs the diagonal value plus the difference when split."""
        n = self.num_gpus
        diagonal = {self.costs[g][g] for g in range(n)}
        off = {self.costs[g][h] for g in range(n) for h in range(n) if g != h}
        if len(diagonal) != 1 or len(off) > 1:
            return None
        d = diagonal.pop()
        o = off.pop() if off else d
        return (d, o) if o >= d else None

    @cached_property
    def lower_bound(self) -> float:
        """A valid bound: per layer the largest per-GPU load is at least the layer's total over
        the GPUs (rounded up) and at least its largest expert; every route costs at least the
        cheapest link."""
        balance = sum(max(-(-sum(row) // self.num_gpus), max(row, default=0)) for row in self.loads)
        cheapest = min(min(row) for row in self.costs)
        routed = sum(route.tokens for route in self.routing)
        return float(
            exact(self.balance_weight) * balance
            + exact(self.communication_weight) * exact(cheapest) * routed
        )


def objective_bound(instance: ExpertPlacementInstance) -> tuple[int, int]:
    """The largest values the two parts of the compiled objective can take, as the backend's
    overflow check sums them (every variable at its bound): ``scale * balance_weight * total
    load`` and ``scale * communication_weight * link costs * routed tokens``, where the link
    costs are the off-diagonal one (uniform matrix) or the sum of all (general, one product
    variable per pair) and ``scale`` bounds the compiler's integer scale from above."""
    beta, gamma = exact(instance.balance_weight), exact(instance.communication_weight)
    costs = _distinct_costs(instance)
    uniform = _uniform_costs(instance)
    weights = [beta, *(gamma * exact(c) for c in costs)]
    if uniform is not None:
        diagonal, off = (exact(c) for c in uniform)
        weights.append(gamma * (off - diagonal))
        links = off
    else:
        links = sum((exact(c) * n for c, n in costs.items()), Fraction(0))
    scale = _common_denominator(weights)
    total_load = sum(sum(row) for row in instance.loads)
    routed = sum(route.tokens for route in instance.routing)
    return int(scale * beta * total_load), int(scale * gamma * links * routed)


def _distinct_costs(instance: ExpertPlacementInstance) -> Counter[float]:
    """How often each link cost occurs; the default matrix is counted without building it."""
    if instance.link_cost is not None:
        return Counter(c for row in instance.link_cost for c in row)
    n = instance.num_gpus
    return Counter({0.0: n, 1.0: n * n - n}) if n > 1 else Counter({0.0: 1})


def _uniform_costs(instance: ExpertPlacementInstance) -> tuple[float, float] | None:
    """:attr:`ExpertPlacementInstance.uniform_costs`, without building the default matrix."""
    if instance.link_cost is not None:
        return instance.uniform_costs
    return (0.0, 1.0) if instance.num_gpus > 1 else (0.0, 0.0)


def _common_denominator(weights: Iterable[Fraction]) -> int:
    return math.lcm(1, *(w.denominator for w in weights))


class ExpertPlacementSolution(BaseModel):
    """A placement: ``placement[l][e]`` is the GPU of expert e of layer l.

    ``max_load_sum`` is :math:`\\sum_l \\max_g` (load of GPU g in layer l);
    ``crossing_tokens`` is :math:`\\sum_r t_r c_{\\pi(src_r), \\pi(dst_r)}`; ``objective`` is
    ``balance_weight * max_load_sum + communication_weight * crossing_tokens``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    placement: tuple[tuple[NonNegativeInt, ...], ...]
    max_load_sum: NonNegativeInt
    crossing_tokens: Annotated[float, Field(ge=0)]
    objective: Annotated[float, Field(ge=0)]

    @classmethod
    def from_placement(
        cls, instance: ExpertPlacementInstance, placement: Sequence[Sequence[int]]
    ) -> ExpertPlacementSolution:
        """The solution of a valid placement, with its objective parts computed exactly."""
        max_load_sum = 0
        for row, gpus in zip(instance.loads, placement, strict=True):
            per_gpu = [0] * instance.num_gpus
            for load, gpu in zip(row, gpus, strict=True):
                per_gpu[gpu] += load
            max_load_sum += max(per_gpu)
        crossing = sum(
            (
                route.tokens
                * instance.exact_costs[placement[route.layer][route.src]][
                    placement[route.layer + 1][route.dst]
                ]
                for route in instance.routing
            ),
            Fraction(0),
        )
        objective = (
            exact(instance.balance_weight) * max_load_sum
            + exact(instance.communication_weight) * crossing
        )
        return cls(
            placement=tuple(tuple(row) for row in placement),
            max_load_sum=max_load_sum,
            crossing_tokens=float(crossing),
            objective=float(objective),
        )


class ExpertFixing(BaseModel):
    """Expert ``expert`` of layer ``layer`` stays on GPU ``gpu``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

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
    """Per layer the balanced load, and every route at the cheapest link."""
    return instance.lower_bound
