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
from makespan.models.spec import KindParts, ProblemModel

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
    """GPU packing: see :class:`GpuPackingInstance` for the objective."""

    kind = "gpu_packing"
    summary = "GPU packing (Melange): cheapest GPU fleet serving a bucketed request workload"
    size_unit = "slices"
    default_size_limit = DEFAULT_SIZE_LIMIT
    default_backend = "highs"
    instance_type = GpuPackingInstance
    solution_type = GpuPackingSolution
    parts = KindParts(formats, compile, check, heuristics.warm_start)
    infeasibility_reason = staticmethod(check.infeasibility_reason)
    plot = staticmethod(lazy_draw(f"{__name__}.plot"))

    def size(self, instance: GpuPackingInstance) -> int:
        """Buckets x slice factor: the slices to assign."""
        return instance.size

    def lower_bound(self, instance: GpuPackingInstance) -> float | None:
        """Fractional GPUs of the cheapest type per request."""
        return lower_bound(instance)


MODEL = GpuPacking()
