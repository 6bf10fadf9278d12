"""Expert placement (``expert_placement``): place the experts of every layer of a
mixture-of-experts model on GPUs, ``experts_per_gpu`` per GPU and layer, minimising

.. math::
    \\beta \\sum_l \\max_g load_{l,g} + \\gamma \\sum_r t_r c_{g(src_r), g(dst_r)},

the weighted sum of the per-layer largest GPU loads and the link-cost-weighted tokens routed
between consecutive layers."""

from __future__ import annotations

from makespan.models.expert_placement import (
    check,
    compile,
    decompose,
    formats,
    heuristics,
    instance,
)
from makespan.models.expert_placement import generate as generator
from makespan.models.expert_placement.instance import (
    DEFAULT_SIZE_LIMIT as SIZE_LIMIT,
)
from makespan.models.expert_placement.instance import (
    ExpertPlacementFixed,
    ExpertPlacementInstance,
    ExpertPlacementSolution,
    Route,
)
from makespan.models.spec import KindAbout, KindParts, ProblemModel

__all__ = ["MODEL", "ExpertPlacementInstance", "ExpertPlacementSolution", "Route"]


class ExpertPlacement(ProblemModel[ExpertPlacementInstance, ExpertPlacementSolution]):
    """Expert placement, with an instance generator."""

    generator_options = generator.GeneratorOptions
    generate = staticmethod(generator.from_options)
    repair = staticmethod(heuristics.repair)
    reference_violations = staticmethod(check.reference_violations)
    search = staticmethod(decompose.search)
    auto_backend_limit = SIZE_LIMIT  # the backend always runs after the search

    @staticmethod
    def goal(instance: ExpertPlacementInstance) -> float | None:
        """None: every solve searches on to the time limit or a proof."""
        del instance
        return None

    steered_start = staticmethod(heuristics.steered_start)

    @staticmethod
    def reference_required(instance: ExpertPlacementInstance) -> str | None:
        """``max_moves`` limits the moves from ``options.reference``: it needs one."""
        if instance.max_moves is None:
            return None
        return (
            "the instance's max_moves limits the moves from options.reference; give one "
            "(with options.stability_weight, 0 to only limit them)"
        )


MODEL = ExpertPlacement(
    KindAbout(
        "expert_placement",
        "MoE expert placement on GPUs: weighted max per-GPU load plus routed link cost",
        "expert-GPU pairs",
        SIZE_LIMIT,
    ),
    KindParts(
        ExpertPlacementInstance,
        ExpertPlacementSolution,
        instance,
        formats,
        compile,
        check,
        heuristics,
        ExpertPlacementFixed,
    ),
)
