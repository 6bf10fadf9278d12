"""GPU packing (``gpu_packing``, after Mélange): the cheapest fleet of GPU types serving a
request workload split into length buckets, pooled per type or packed per GPU."""

from __future__ import annotations

from makespan.models.gpu_packing import check, compile, formats, heuristics, instance
from makespan.models.gpu_packing.formats import from_melange
from makespan.models.gpu_packing.instance import (
    DEFAULT_SIZE_LIMIT as SIZE_LIMIT,
)
from makespan.models.gpu_packing.instance import (
    Assignment,
    CheapestSingleType,
    GpuPackingFixed,
    GpuPackingInstance,
    GpuPackingSolution,
    GpuType,
)
from makespan.models.spec import KindAbout, KindParts, ProblemModel

__all__ = [
    "MODEL",
    "Assignment",
    "CheapestSingleType",
    "GpuPackingInstance",
    "GpuPackingSolution",
    "GpuType",
    "from_melange",
]


class GpuPacking(ProblemModel[GpuPackingInstance, GpuPackingSolution]):
    """GPU packing, with a repair of a reference packing."""

    repair = staticmethod(heuristics.repair)


MODEL = GpuPacking(
    KindAbout(
        "gpu_packing",
        "GPU packing (Melange): cheapest GPU fleet serving a bucketed request workload",
        "slices",
        SIZE_LIMIT,
        default_backend="highs",
    ),
    KindParts(
        GpuPackingInstance,
        GpuPackingSolution,
        instance,
        formats,
        compile,
        check,
        heuristics,
        GpuPackingFixed,
    ),
)
