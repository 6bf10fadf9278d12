"""The validated GPU-packing instance and solution (after Mélange, Griggs et al. 2024)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, model_validator

COST_SCALE = 10**4
"""Costs carry at most 4 decimals, so ``cost * COST_SCALE`` is an exact integer objective."""

LOAD_SCALE = 10**6
"""Capacity of one GPU in the IR: a slice's load ``rate / throughput`` becomes
``max(1, ceil(load * LOAD_SCALE))``, rounded *up* so that every packing the IR admits is
feasible with exact float loads. The price: a packing that is tight to within 1e-6 GPU per slice
(three slices of exactly 1/3 GPU on one GPU) counts as over capacity, so ``optimal`` means
optimal for loads rounded up to 1e-6 GPU."""

LOAD_TOLERANCE = 1e-9
"""Relative slack the checker grants a load against its capacity (float rounding only)."""


MAX_COST_PER_HOUR = 1e6
MAX_RATE = 1e9
MAX_COUNT = 1_000_000
MAX_SLICE_FACTOR = 10_000
"""Upper limits on the numbers of an instance: scaled to integer units they stay far inside the
64-bit integers the solvers compute with (and slices stay countable)."""


class GpuType(BaseModel):
    """One GPU type: hourly cost, optional cap on its count and its throughput per bucket."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(min_length=1)]
    cost_per_hour: Annotated[float, Field(ge=0, le=MAX_COST_PER_HOUR, allow_inf_nan=False)]
    max_count: Annotated[int, Field(ge=0, le=MAX_COUNT)] | None = None
    throughput: tuple[
        tuple[Annotated[float, Field(ge=0, le=MAX_RATE, allow_inf_nan=False)], ...], ...
    ]

    @model_validator(mode="after")
    def _four_decimals(self) -> GpuType:
        scaled = self.cost_per_hour * COST_SCALE
        if abs(scaled - round(scaled)) > 1e-7 * max(1.0, scaled):
            raise ValueError("cost_per_hour: at most 4 decimals are supported")
        return self

    @property
    def cost_units(self) -> int:
        """The cost in units of ``1 / COST_SCALE`` per hour (exact)."""
        return round(self.cost_per_hour * COST_SCALE)


@dataclass(frozen=True)
class Slice:
    """One equal share of a bucket's rate, served by one GPU type (or one GPU)."""

    bucket: tuple[int, int]
    index: int
    rate: float


class GpuPackingInstance(BaseModel):
    """Serve a request workload split into (input, output) length buckets at least cost.

    Each bucket's rate :math:`r_b = R \\cdot w_b` is cut into ``slice_factor`` slices of rate
    :math:`r_b / f`. A slice goes to one type :math:`k` with :math:`T_{k,b} > 0`; its load is
    :math:`\\ell_{s,k} = r_s / T_{k,b}` GPUs. ``pooling="type"``: the loads of a type share its
    :math:`n_k` GPUs, :math:`\\sum_{s \\to k} \\ell_{s,k} \\le n_k`; ``pooling="instance"``:
    every GPU holds at most load 1. Objective (minimised): the hourly cost
    :math:`\\sum_k c_k n_k`, with :math:`n_k \\le` ``max_count``.

    A bucket with a positive share that no type can serve is rejected as invalid input.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "gpu_types": [
                        {
                            "name": "L4",
                            "cost_per_hour": 0.7,
                            "max_count": None,
                            "throughput": [[4.1, 2.0], [1.2, 0.0]],
                        }
                    ],
                    "workload": [[0.5, 0.2], [0.3, 0.0]],
                    "total_request_rate": 30.0,
                    "slice_factor": 4,
                    "pooling": "type",
                }
            ]
        },
    )

    name: str | None = None
    gpu_types: Annotated[tuple[GpuType, ...], Field(min_length=1)]
    workload: Annotated[
        tuple[tuple[Annotated[float, Field(ge=0, allow_inf_nan=False)], ...], ...],
        Field(min_length=1),
    ]
    total_request_rate: Annotated[float, Field(gt=0, le=MAX_RATE, allow_inf_nan=False)]
    slice_factor: Annotated[int, Field(ge=1, le=MAX_SLICE_FACTOR)] = 1
    pooling: Literal["type", "instance"] = "type"

    @model_validator(mode="after")
    def _consistent(self) -> GpuPackingInstance:
        shape = [len(row) for row in self.workload]
        if not shape[0] or any(n != shape[0] for n in shape):
            raise ValueError("workload: rows must be non-empty and of equal length")
        total = sum(sum(row) for row in self.workload)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"workload: shares sum to {total}, not 1")
        names = [t.name for t in self.gpu_types]
        for k, gpu in enumerate(self.gpu_types):
            if names.index(gpu.name) != k:
                raise ValueError(f"gpu_types.{k}.name: duplicate name {gpu.name!r}")
            if [len(row) for row in gpu.throughput] != shape:
                raise ValueError(f"gpu_types.{k}.throughput: shape differs from workload")
        for i, row in enumerate(self.workload):
            for j, share in enumerate(row):
                if share > 0 and all(t.throughput[i][j] == 0 for t in self.gpu_types):
                    raise ValueError(f"workload.{i}.{j}: no GPU type can serve this bucket")
        return self

    @cached_property
    def slices(self) -> tuple[Slice, ...]:
        """Every slice of every bucket with a positive share, bucket by bucket."""
        f = self.slice_factor
        return tuple(
            Slice((i, j), s, self.total_request_rate * share / f)
            for i, row in enumerate(self.workload)
            for j, share in enumerate(row)
            if share > 0
            for s in range(f)
        )

    def load(self, slice_: Slice, k: int) -> float | None:
        """GPUs of type ``k`` that ``slice_`` needs, None when the type cannot serve it."""
        i, j = slice_.bucket
        throughput = self.gpu_types[k].throughput[i][j]
        return None if throughput <= 0 else slice_.rate / throughput

    @cached_property
    def int_loads(self) -> tuple[tuple[int | None, ...], ...]:
        """``int_loads[s][k]``: the load rounded up to ``1 / LOAD_SCALE`` GPU, None when type
        ``k`` cannot serve slice ``s`` (or, for instance pooling, when it exceeds one GPU)."""
        rows = []
        for slice_ in self.slices:
            row: list[int | None] = []
            for k in range(len(self.gpu_types)):
                load = self.load(slice_, k)
                units = None if load is None else max(1, math.ceil(load * LOAD_SCALE))
                if units is not None and self.pooling == "instance" and units > LOAD_SCALE:
                    units = None
                row.append(units)
            rows.append(tuple(row))
        return tuple(rows)

    @cached_property
    def fractional_lower_bound(self) -> float:
        """:math:`\\sum_b r_b \\min_k c_k / T_{k,b}`: fractional GPUs of the cheapest type per
        request, a valid bound for both poolings."""
        bound = 0.0
        for i, row in enumerate(self.workload):
            for j, share in enumerate(row):
                if share > 0:
                    bound += self.total_request_rate * share * self._cheapest_unit(i, j)
        return bound

    def _cheapest_unit(self, i: int, j: int) -> float:
        return min(
            t.cost_per_hour / t.throughput[i][j] for t in self.gpu_types if t.throughput[i][j] > 0
        )

    def slice_of(self, bucket: tuple[int, int], index: int) -> int | None:
        """The position in :attr:`slices` of slice ``index`` of ``bucket``, None if absent."""
        return self._slice_positions.get((bucket, index))

    @cached_property
    def _slice_positions(self) -> dict[tuple[tuple[int, int], int], int]:
        return {(s.bucket, s.index): p for p, s in enumerate(self.slices)}


class CheapestSingleType(BaseModel):
    """The cheapest fleet of one GPU type serving everything (Mélange's baseline)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    gpu_type: str
    count: NonNegativeInt
    cost_per_hour: float


class Assignment(BaseModel):
    """Where one slice runs: its type and, for instance pooling, the GPU index of that type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bucket: tuple[NonNegativeInt, NonNegativeInt]
    slice: NonNegativeInt
    gpu_type: str
    gpu: NonNegativeInt | None = None
    rate: float


class GpuPackingSolution(BaseModel):
    """A fleet (``gpus`` per type), the slice assignment and its hourly cost."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cost_per_hour: float
    gpus: dict[str, NonNegativeInt]
    assignment: tuple[Assignment, ...]
    cheapest_single_type: CheapestSingleType | None = None
