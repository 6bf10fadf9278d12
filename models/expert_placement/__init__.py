"""Expert placement (``expert_placement``): place the experts of every layer of a
mixture-of-experts model on GPUs, ``experts_per_gpu`` per GPU and layer, minimising

.. math::
    \\beta \\sum_l \\max_g load_{l,g} + \\gamma \\sum_r t_r c_{g(src_r), g(dst_r)},

the weighted sum of the per-layer largest GPU loads and the link-cost-weighted tokens routed
between consecutive layers."""

from __future__ import annotations

from makespan.models.expert_placement import check, compile, formats, heuristics
from makespan.models.expert_placement import generate as generator
from makespan.models.expert_placement.instance import (
    DEFAULT_SIZE_LIMIT,
    ExpertPlacementInstance,
    ExpertPlacementSolution,
    Route,
)
from makespan.models.plotting import lazy_draw
from makespan.models.spec import KindParts, ProblemModel

__all__ = ["MODEL", "ExpertPlacementInstance", "ExpertPlacementSolution", "Route"]


class ExpertPlacement(ProblemModel[ExpertPlacementInstance, ExpertPlacementSolution]):
    """Expert placement: see :class:`ExpertPlacementInstance` for the objective."""

    kind = "expert_placement"
    summary = "MoE expert placement on GPUs: weighted max per-GPU load plus routed link cost"
    size_unit = "expert-GPU pairs"
    default_size_limit = DEFAULT_SIZE_LIMIT
    instance_type = ExpertPlacementInstance
    solution_type = ExpertPlacementSolution
    parts = KindParts(formats, compile, check, heuristics.warm_start)
    plot = staticmethod(lazy_draw(f"{__name__}.plot"))
    generator_options = generator.GeneratorOptions
    generate = staticmethod(generator.from_options)

    def size(self, instance: ExpertPlacementInstance) -> int:
        """Layers x experts x GPUs: the placement booleans of the model."""
        return instance.size

    def lower_bound(self, instance: ExpertPlacementInstance) -> float | None:
        """Per layer the balanced load, and every route at the cheapest link."""
        return instance.lower_bound


MODEL = ExpertPlacement()
