"""Expert placement (``expert_placement``): place the experts of every layer of a
mixture-of-experts model on GPUs, ``experts_per_gpu`` per GPU and layer, minimising

.. math::
    \\beta \\sum_l \\max_g load_{l,g} + \\gamma \\sum_r t_r c_{g(src_r), g(dst_r)},

the weighted sum of the per-layer largest GPU loads and the link-cost-weighted tokens routed
between consecutive layers."""

from __future__ import annotations

from makespan.models.expert_placement import check, compile, formats, generate, heuristics
from makespan.models.expert_placement.instance import (
    DEFAULT_SIZE_LIMIT,
    ExpertPlacementInstance,
    ExpertPlacementSolution,
    Route,
)
from makespan.models.plotting import lazy_draw
from makespan.models.spec import ProblemModel, module_parts

__all__ = ["MODEL", "ExpertPlacementInstance", "ExpertPlacementSolution", "Route"]

MODEL: ProblemModel[ExpertPlacementInstance, ExpertPlacementSolution] = ProblemModel(
    kind="expert_placement",
    summary="MoE expert placement on GPUs: weighted max per-GPU load plus routed link cost",
    instance_type=ExpertPlacementInstance,
    solution_type=ExpertPlacementSolution,
    **module_parts(formats, compile, check),
    warm_start=heuristics.warm_start,
    lower_bound=lambda instance: instance.lower_bound,
    size=lambda instance: instance.size,
    size_unit="expert-GPU pairs",
    default_size_limit=DEFAULT_SIZE_LIMIT,
    plot=lazy_draw(f"{__name__}.plot"),
    generator_options=generate.GeneratorOptions,
    generate=generate.from_options,
)
