"""Expert placement (``expert_placement``): place the experts of every layer of a
mixture-of-experts model on GPUs, ``experts_per_gpu`` per GPU and layer, minimising

.. math::
    \\beta \\sum_l \\max_g load_{l,g} + \\gamma \\sum_r t_r c_{g(src_r), g(dst_r)},

the weighted sum of the per-layer largest GPU loads and the link-cost-weighted tokens routed
between consecutive layers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from makespan.models.errors import InstanceError
from makespan.models.expert_placement import check, compile, heuristics
from makespan.models.expert_placement.instance import (
    DEFAULT_SIZE_LIMIT,
    ExpertPlacementInstance,
    ExpertPlacementSolution,
    Route,
)
from makespan.models.plotting import lazy_draw
from makespan.models.sizing import count, json_text_size, length, member
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


def document_size(data: Any) -> int:
    """Layers x experts x GPUs of a JSON document, from the declared ``num_gpus`` and
    ``experts_per_gpu`` (the first row's length when they cannot be read) and the number of
    ``loads`` rows, never from the rows' contents."""
    layers = length(member(data, "loads"))
    gpus = count(member(data, "num_gpus"))
    experts = gpus * count(member(data, "experts_per_gpu"))
    if not experts and layers:
        experts = length(data["loads"][0])
    return layers * experts * gpus


def text_size(text: str, format: str | None = None) -> int:
    """The size of JSON text: its document's (0 when it does not parse)."""
    del format  # JSON is the only format
    return json_text_size(text, document_size)


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
    size=lambda instance: instance.size,
    size_unit="expert-GPU pairs",
    default_size_limit=DEFAULT_SIZE_LIMIT,
    document_size=document_size,
    text_size=text_size,
    sniff=looks_like_expert_placement,
    plot=lazy_draw("makespan.models.expert_placement.plot"),
)
