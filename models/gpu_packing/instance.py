"""The validated GPU-packing instance and solution (after Mélange, Griggs et al. 2024)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, NonNegativeInt, model_validator

from makespan.models.limits import FLOAT_EXACT
from makespan.solvers.frozen import Frozen

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
"""Largest hourly cost of a GPU type: at most 10^10 cost units."""

MAX_RATE = 1e9
"""Largest throughput or total request rate (requests/s)."""

MIN_RATE = 1e-6
"""Smallest positive throughput or total request rate: no denormals, so that a slice's load
``rate / throughput`` and ``cost / throughput`` stay finite (see :data:`MAX_BUCKET_GPUS`)."""

MIN_SHARE = 1e-9
"""Smallest positive workload share: no denormals, whose products with the request rate
underflow and lose the bucket."""

MAX_COUNT = 1_000_000
"""Largest ``max_count`` of a GPU type."""

MAX_SLICE_FACTOR = 10_000
"""Largest ``slice_factor``."""

MAX_SLICES = 1_000_000
"""Most slices, counted as workload buckets x ``slice_factor``: the slices, their loads per type
and the compiled rows are all built, so this bounds the memory an instance takes."""

MAX_BUCKET_GPUS = 10**7
"""Most GPUs of one type one bucket may need (its rate ``total_request_rate x share`` over the
type's throughput): a slice's load in IR units (x ``LOAD_SCALE``) stays below 10^13."""

MAX_TYPE_GPUS = 10**9
"""Most GPUs of one type that serving every bucket it can serve may take (rounded-up IR
loads): the IR's capacity row of a type, ``sum L z <= LOAD_SCALE n``, stays below 10^15, exact
in a double."""

MAX_COST_UNITS = FLOAT_EXACT
"""Largest hourly cost of the largest fleet the IR admits (every type at its GPU cap), in units
of ``1 / COST_SCALE``: the objective stays exact as a double (HiGHS, the Result)."""

DEFAULT_SIZE_LIMIT = 100_000
"""Slices (buckets x ``slice_factor``) a service accepts by default."""


def _zero_or_at_least(minimum: float) -> AfterValidator:
    """A validator refusing values strictly between 0 and ``minimum``."""

    def check(value: float) -> float:
        if 0 < value < minimum:
            raise ValueError(f"{value!r} is neither 0 nor at least {minimum}")
        return value

    return AfterValidator(check)


Throughput = Annotated[
    float, Field(ge=0, le=MAX_RATE, allow_inf_nan=False), _zero_or_at_least(MIN_RATE)
]
"""Requests/s one GPU serves for a bucket; 0 when it cannot serve it."""

Share = Annotated[float, Field(ge=0, allow_inf_nan=False), _zero_or_at_least(MIN_SHARE)]
"""A bucket's share of the total request rate."""


def unit_load(rate: float, throughput: float, pooling: str) -> int | None:
    """The load of a slice of ``rate`` on one GPU of ``throughput`` in units of ``1 /
    LOAD_SCALE`` GPU, rounded up (at least 1); None when the GPU cannot serve it (throughput
    0, or over one GPU with instance pooling)."""
    if throughput <= 0:
        return None
    units = max(1, math.ceil(rate / throughput * LOAD_SCALE))
    return None if pooling == "instance" and units > LOAD_SCALE else units


class GpuType(Frozen):
    """One GPU type: hourly cost, optional cap on its count and its throughput per bucket."""

    name: Annotated[str, Field(min_length=1)]
    cost_per_hour: Annotated[float, Field(ge=0, le=MAX_COST_PER_HOUR, allow_inf_nan=False)]
    max_count: Annotated[int, Field(ge=0, le=MAX_COUNT)] | None = None
    throughput: tuple[tuple[Throughput, ...], ...]

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
    workload: Annotated[tuple[tuple[Share, ...], ...], Field(min_length=1)]
    total_request_rate: Annotated[float, Field(ge=MIN_RATE, le=MAX_RATE, allow_inf_nan=False)]
    slice_factor: Annotated[int, Field(ge=1, le=MAX_SLICE_FACTOR)] = 1
    pooling: Literal["type", "instance"] = "type"

    @model_validator(mode="after")
    def _consistent(self) -> GpuPackingInstance:
        shape = [len(row) for row in self.workload]
        if not shape[0] or any(n != shape[0] for n in shape):
            raise ValueError("workload: rows must be non-empty and of equal length")
        if self.size > MAX_SLICES:
            raise ValueError(
                f"slice_factor: {self.num_buckets} buckets x {self.slice_factor} is {self.size} "
                f"slices, more than {MAX_SLICES}"
            )
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
        self._check_bucket_gpus()
        self._check_fleet_sums()
        return self

    def _check_bucket_gpus(self) -> None:
        for (i, j), share in self.served_buckets:
            rate = self.total_request_rate * share
            for k, gpu in enumerate(self.gpu_types):
                throughput = gpu.throughput[i][j]
                if throughput > 0 and rate / throughput > MAX_BUCKET_GPUS:
                    raise ValueError(
                        f"gpu_types.{k}.throughput.{i}.{j}: {gpu.name} needs "
                        f"{rate / throughput:.4g} GPUs for bucket [{i}, {j}] "
                        f"(total_request_rate x share / throughput), more than "
                        f"{MAX_BUCKET_GPUS}; set the throughput to 0 if it cannot serve it"
                    )

    def _check_fleet_sums(self) -> None:
        for k, units in enumerate(self.pooled_units):
            if units > MAX_TYPE_GPUS * LOAD_SCALE:
                name = self.gpu_types[k].name
                raise ValueError(
                    f"gpu_types.{k}.throughput: serving every bucket on {name} takes "
                    f"{units / LOAD_SCALE:.4g} GPUs, more than {MAX_TYPE_GPUS}"
                )
        cost = sum(t.cost_units * n for t, n in zip(self.gpu_types, self.gpu_caps, strict=True))
        if cost > MAX_COST_UNITS:
            raise ValueError(
                f"gpu_types: the largest fleet the model admits costs {cost / COST_SCALE:.6g} "
                f"per hour, more than {MAX_COST_UNITS / COST_SCALE:.6g} (exact to 1e-4); "
                "lower cost_per_hour, max_count or the request rate"
            )

    @property
    def num_buckets(self) -> int:
        """Workload buckets (input x output length classes), served or not."""
        return len(self.workload) * len(self.workload[0])

    @property
    def size(self) -> int:
        """Buckets x ``slice_factor``: at least the number of slices."""
        return self.num_buckets * self.slice_factor

    @cached_property
    def served_buckets(self) -> tuple[tuple[tuple[int, int], float], ...]:
        """Every bucket with a positive share, with its share."""
        return tuple(
            ((i, j), share)
            for i, row in enumerate(self.workload)
            for j, share in enumerate(row)
            if share > 0
        )

    @cached_property
    def pooled_units(self) -> tuple[int, ...]:
        """Per type, the load in IR units of every slice it can serve: ``sum_s int_loads[s][k]``,
        counted per bucket (the slices of a bucket are equal)."""
        f = self.slice_factor
        totals = [0] * len(self.gpu_types)
        for (i, j), share in self.served_buckets:
            rate = self.total_request_rate * share / f
            for k, gpu in enumerate(self.gpu_types):
                units = unit_load(rate, gpu.throughput[i][j], self.pooling)
                totals[k] += f * (units or 0)
        return tuple(totals)

    @cached_property
    def gpu_caps(self) -> tuple[int, ...]:
        """Per type, the most GPUs an optimal solution needs: all the load it can serve pooled
        (type pooling) or packed with at most one GPU at most half full (instance pooling),
        within ``max_count``."""
        factor = 1 if self.pooling == "type" else 2
        caps = []
        for gpu, units in zip(self.gpu_types, self.pooled_units, strict=True):
            cap = -(-factor * units // LOAD_SCALE)  # exact ceiling of the pooled GPUs
            caps.append(cap if gpu.max_count is None else min(cap, gpu.max_count))
        return tuple(caps)

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
        return tuple(
            tuple(
                unit_load(slice_.rate, gpu.throughput[i][j], self.pooling) for gpu in self.gpu_types
            )
            for slice_ in self.slices
            for i, j in (slice_.bucket,)
        )

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


def lower_bound(instance: GpuPackingInstance) -> float:
    """:attr:`GpuPackingInstance.fractional_lower_bound` rounded up to a whole cost unit: every
    fleet costs a multiple of ``1 / COST_SCALE`` (costs have 4 decimals); less a margin for
    float noise."""
    return math.ceil(instance.fractional_lower_bound * COST_SCALE - 1e-6) / COST_SCALE


class CheapestSingleType(Frozen):
    """The cheapest fleet of one GPU type serving everything (Mélange's baseline)."""

    gpu_type: str
    count: NonNegativeInt
    cost_per_hour: float


class Assignment(Frozen):
    """Where one slice runs: its type and, for instance pooling, the GPU index of that type."""

    bucket: tuple[NonNegativeInt, NonNegativeInt]
    slice: NonNegativeInt
    gpu_type: str
    gpu: NonNegativeInt | None = None
    rate: float


class SliceFixing(Frozen):
    """Slice ``slice`` of ``bucket`` stays on ``gpu_type`` (instance pooling: on GPU ``gpu`` of
    that type, when given). ``rate``, when given (an answer's entry pasted back), must be the
    slice's."""

    bucket: tuple[
        Annotated[int, Field(ge=0, le=MAX_COUNT)], Annotated[int, Field(ge=0, le=MAX_COUNT)]
    ]
    slice: Annotated[int, Field(ge=0, le=MAX_SLICE_FACTOR)]
    gpu_type: str
    gpu: Annotated[int, Field(ge=0, le=MAX_COUNT)] | None = None
    rate: float | None = None


class GpuPackingFixed(Frozen):
    """The fixed parts of a packing (``options.fixed``): ``assignment`` entries."""

    assignment: tuple[SliceFixing, ...] = ()


class GpuPackingSolution(Frozen):
    """A fleet (``gpus`` per type), the slice assignment and its hourly cost."""

    cost_per_hour: float
    gpus: dict[str, NonNegativeInt]
    assignment: tuple[Assignment, ...]
    cheapest_single_type: CheapestSingleType | None = None


def size(instance: GpuPackingInstance) -> int:
    """Buckets x slice factor: the slices to assign."""
    return instance.size
