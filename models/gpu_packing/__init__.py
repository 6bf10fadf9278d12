"""GPU packing (``gpu_packing``, after Mélange): the cheapest fleet of GPU types serving a
request workload split into length buckets, pooled per type or packed per GPU."""

from __future__ import annotations

from makespan.models.gpu_packing import check, compile, formats, heuristics
from makespan.models.gpu_packing.formats import from_melange
from makespan.models.gpu_packing.instance import (
    DEFAULT_SIZE_LIMIT,
    Assignment,
    CheapestSingleType,
    GpuPackingInstance,
    GpuPackingSolution,
    GpuType,
    lower_bound,
)
from makespan.models.plotting import lazy_draw
from makespan.models.spec import ProblemModel, module_parts

__all__ = [
    "MODEL",
    "Assignment",
    "CheapestSingleType",
    "GpuPackingInstance",
    "GpuPackingSolution",
    "GpuType",
    "from_melange",
]

MODEL: ProblemModel[GpuPackingInstance, GpuPackingSolution] = ProblemModel(
    kind="gpu_packing",
    summary="GPU packing (Melange): cheapest GPU fleet serving a bucketed request workload",
    instance_type=GpuPackingInstance,
    solution_type=GpuPackingSolution,
    **module_parts(formats, compile, check),
    warm_start=heuristics.warm_start,
    lower_bound=lower_bound,
    size=lambda instance: instance.size,
    size_unit="slices",
    default_size_limit=DEFAULT_SIZE_LIMIT,
    default_backend="highs",
    infeasibility_reason=check.infeasibility_reason,
    plot=lazy_draw(f"{__name__}.plot"),
)
