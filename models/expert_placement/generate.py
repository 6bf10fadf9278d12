"""Synthetic expert-placement instances: Zipf-skewed expert popularity and routing with
affinity between consecutive layers.

Every layer has a popularity :math:`p_{l,e} \\propto 1 / rank_{l,e}^{s}` over a random ranking
(``skew`` = s; 0 is uniform). Layer 0 receives ``tokens`` tokens split by popularity. Each
expert of layer l sends all its tokens to layer l + 1: a share ``affinity`` to ``preferred``
experts chosen once per expert by popularity, the rest to ``fanout`` experts drawn by
popularity; the load of an expert of layer l + 1 is what it receives, so every layer carries
``tokens`` tokens and the routing is consistent with the loads.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import BaseModel, Field

from makespan.models.expert_placement.instance import ExpertPlacementInstance, Route
from makespan.models.spec import SeededOptions, generator_options_of

__all__ = ["GeneratorOptions", "from_options", "generate"]


class GeneratorOptions(SeededOptions):
    """The parameters of :func:`generate` as ``makespan generate expert_placement`` offers
    them."""

    layers: Annotated[int, Field(ge=1, description="MoE layers.")] = 8
    experts: Annotated[int, Field(ge=1, description="Experts per layer.")] = 64
    gpus: Annotated[int, Field(ge=1, description="GPUs (must divide --experts).")] = 8
    tokens: Annotated[int, Field(ge=1, description="Tokens routed per layer.")] = 100_000
    skew: Annotated[float, Field(ge=0.0, description="Zipf exponent of expert loads.")] = 1.0
    affinity: Annotated[
        float, Field(ge=0.0, le=1.0, description="Share of tokens kept on preferred experts.")
    ] = 0.7


_DEFAULT = GeneratorOptions()


def from_options(options: BaseModel) -> ExpertPlacementInstance:
    """:func:`generate` with :class:`GeneratorOptions`, whose fields are its parameters."""
    return generate(**generator_options_of(GeneratorOptions, options).model_dump())


def generate(
    layers: int,
    experts: int,
    gpus: int,
    tokens: int,
    skew: float = _DEFAULT.skew,
    affinity: float = _DEFAULT.affinity,
    seed: int = _DEFAULT.seed,
    *,
    preferred: int = 2,
    fanout: int = 4,
) -> ExpertPlacementInstance:
    """A deterministic instance for ``seed``: ``layers`` layers of ``experts`` experts on
    ``gpus`` GPUs (``experts`` must be a multiple of ``gpus``), default weights and link costs.

    Raises:
        ValueError: a size is not positive, ``experts % gpus != 0``, ``skew < 0`` or
            ``affinity`` outside [0, 1], or ``preferred`` or ``fanout`` below 1.
    """
    if min(layers, experts, gpus) < 1 or tokens < 0 or experts % gpus:
        raise ValueError("need layers, experts, gpus >= 1, tokens >= 0, experts % gpus == 0")
    if skew < 0 or not 0 <= affinity <= 1 or min(preferred, fanout) < 1:
        raise ValueError("need skew >= 0, 0 <= affinity <= 1, preferred >= 1, fanout >= 1")
    rng = np.random.default_rng(seed)
    popularity = [_zipf(rng, experts, skew) for _ in range(layers)]
    loads = [rng.multinomial(tokens, popularity[0]).astype(int).tolist()]
    routing: list[Route] = []
    for layer in range(layers - 1):
        flows = _flows(rng, loads[layer], popularity[layer + 1], affinity, preferred, fanout)
        incoming = [0] * experts
        for (src, dst), count in sorted(flows.items()):
            routing.append(Route(layer=layer, src=src, dst=dst, tokens=count))
            incoming[dst] += count
        loads.append(incoming)
    return ExpertPlacementInstance(
        name=f"moe_{layers}x{experts}x{gpus}_s{seed}",
        num_gpus=gpus,
        experts_per_gpu=experts // gpus,
        loads=tuple(tuple(row) for row in loads),
        routing=tuple(routing),
    )


def _zipf(rng: np.random.Generator, n: int, skew: float) -> np.ndarray:
    ranks = rng.permutation(n) + 1
    weights: np.ndarray = 1.0 / ranks.astype(float) ** skew
    normalised: np.ndarray = weights / weights.sum()
    return normalised


def _flows(
    rng: np.random.Generator,
    loads: list[int],
    popularity: np.ndarray,
    affinity: float,
    preferred: int,
    fanout: int,
) -> dict[tuple[int, int], int]:
    """Tokens per (source, destination) pair from one layer to the next."""
    n = len(popularity)
    flows: dict[tuple[int, int], int] = {}
    for src, load in enumerate(loads):
        favourites = rng.choice(n, size=min(preferred, n), replace=False, p=popularity)
        others = rng.choice(n, size=fanout, replace=True, p=popularity)
        kept = round(affinity * load)
        parts = [
            (favourites, rng.multinomial(kept, [1 / len(favourites)] * len(favourites))),
            (others, rng.multinomial(load - kept, [1 / len(others)] * len(others))),
        ]
        for targets, counts in parts:
            for dst, count in zip(targets.tolist(), counts.tolist(), strict=True):
                if count:
                    flows[(src, dst)] = flows.get((src, dst), 0) + count
    return flows
