"""Expert placement (``expert_placement``): place the experts of every layer of a
mixture-of-experts model on GPUs, ``experts_per_gpu`` per GPU and layer, minimising

.. math::
    \\beta \\sum_l \\max_g load_{l,g} + \\gamma \\sum_r t_r c_{g(src_r), g(dst_r)},

the weighted sum of the per-layer largest GPU loads and the link-cost-weighted tokens routed
between consecutive layers."""

from __future__ import annotations

from collections.abc import Callable

from makespan.models.errors import InstanceError
from makespan.models.expert_placement import check, compile, heuristics
from makespan.models.expert_placement.instance import (
    ExpertPlacementInstance,
    ExpertPlacementSolution,
    Route,
)
from makespan.models.plotting import lazy_draw
from makespan.models.spec import ProblemModel, WarmStart
from makespan.models.textfile import load_json_document, validate_document

__all__ = ["MODEL", "ExpertPlacementInstance", "ExpertPlacementSolution", "Route"]

FORMATS = ("json",)


def warm_start(
    instance: ExpertPlacementInstance, budget_s: float, seed: int, should_stop: Callable[[], bool]
) -> WarmStart[ExpertPlacementSolution] | None:
    """Per-layer LPT balance, improved by objective-reducing swaps within ``budget_s``."""
    return heuristics.warm_start(instance, budget_s, seed, should_stop)


def read_text(text: str, format: str | None, source: str) -> ExpertPlacementInstance:
    """An instance from JSON text; errors name the source, line or field."""
    if format not in (None, "json"):
        raise InstanceError(
            f"unknown expert_placement format {format!r}; expected one of json", source=source
        )
    document = load_json_document(text, source)
    if isinstance(document, dict):
        document = {k: v for k, v in document.items() if k != "problem"}
    return validate_document(ExpertPlacementInstance, document, source)


def looks_like_expert_placement(text: str) -> bool:
    """JSON text that carries an ``experts_per_gpu`` field."""
    return text.lstrip().startswith("{") and '"experts_per_gpu"' in text


def _lower_bound(instance: ExpertPlacementInstance) -> float | None:
    return instance.lower_bound


MODEL: ProblemModel[ExpertPlacementInstance, ExpertPlacementSolution] = ProblemModel(
    kind="expert_placement",
    summary="MoE expert placement on GPUs: weighted max per-GPU load plus routed link cost",
    instance_type=ExpertPlacementInstance,
    solution_type=ExpertPlacementSolution,
    formats=FORMATS,
    read_text=read_text,
    warm_start=warm_start,
    compile=compile.compile_instance,
    decode=compile.decode,
    hint=compile.hint,
    check=check.check,
    lower_bound=_lower_bound,
    size=lambda instance: instance.num_layers * instance.num_experts,
    size_unit="experts",
    sniff=looks_like_expert_placement,
    plot=lazy_draw("makespan.models.expert_placement.plot"),
)
