"""Synthetic memory-mapping instances shaped like a compiled model's activations.

Buffers are produced by a straight-line program of ``steps`` operations: each step creates a
few tensors whose lifetime runs from their producer to a last consumer a short, long-tailed
distance later (most activations die within a few steps; skip connections live long). Sizes
are multiples of 256 bytes drawn log-uniformly over three orders of magnitude. The benefit of
keeping a buffer fast is its bytes times its accesses (its consumers), so small, hot buffers
are worth more per byte. The capacity is ``fast_share`` of the max-live lower bound.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import BaseModel, Field

from makespan.models.memory_mapping.instance import MemoryInstance, max_live
from makespan.models.spec import SeededOptions, generator_options_of

__all__ = ["GeneratorOptions", "from_options", "generate"]


class GeneratorOptions(SeededOptions):
    """The parameters of :func:`generate` as ``makespan generate memory_mapping`` offers them."""

    buffers: Annotated[int, Field(ge=1, description="Number of buffers.")] = 200
    two_level: Annotated[bool, Field(description="Fast memory of --fast-share x max-live.")] = False
    fast_share: Annotated[
        float, Field(ge=0.01, le=1.0, description="Fast capacity / max-live bound.")
    ] = 0.5
    alignment: Annotated[int, Field(ge=1, description="Alignment of every buffer.")] = 1


_DEFAULT = GeneratorOptions()


def from_options(options: BaseModel) -> MemoryInstance:
    """:func:`generate` with :class:`GeneratorOptions`, whose fields are its parameters."""
    return generate(**generator_options_of(GeneratorOptions, options).model_dump())


def generate(
    buffers: int,
    *,
    steps: int | None = None,
    two_level: bool = _DEFAULT.two_level,
    fast_share: float = _DEFAULT.fast_share,
    alignment: int = _DEFAULT.alignment,
    seed: int = _DEFAULT.seed,
) -> MemoryInstance:
    """A deterministic instance for ``seed`` with ``buffers`` buffers.

    Without ``two_level`` there is no capacity (minimise the peak); with it, the fast memory
    holds ``fast_share`` of the max-live bound and every buffer carries its benefit.

    Raises:
        ValueError: ``buffers`` or ``alignment`` below 1, or ``fast_share`` outside (0, 1].
    """
    if buffers < 1 or alignment < 1 or not 0 < fast_share <= 1:
        raise ValueError("buffers and alignment must be >= 1 and fast_share in (0, 1]")
    rng = np.random.default_rng(seed)
    steps = steps or max(2, buffers // 3)
    lower = np.sort(rng.integers(0, steps, buffers))
    reach = 1 + np.floor(rng.pareto(1.5, buffers) * 2).astype(np.int64)
    upper = np.minimum(lower + reach, steps + 1)
    size = 256 * np.round(np.exp(rng.uniform(0, np.log(1000), buffers))).astype(np.int64)
    accesses = 1 + rng.poisson(2, buffers)
    capacity = None
    if two_level:
        capacity = max(int(size.max()) // 2, int(fast_share * max_live(lower, upper, size)))
    return MemoryInstance.model_validate(
        {
            "name": f"generated_{buffers}_{seed}",
            "capacity": capacity,
            "two_level": two_level,
            "buffers": [
                {
                    "id": f"t{k}",
                    "lower": int(lower[k]),
                    "upper": int(upper[k]),
                    "size": int(size[k]),
                    "alignment": alignment,
                    **({"benefit": int(size[k] * accesses[k])} if two_level else {}),
                }
                for k in range(buffers)
            ],
        }
    )
