"""GPU packing (``gpu_packing``, after Mélange): the cheapest fleet of GPU types serving a
request workload split into length buckets, pooled per type or packed per GPU."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from makespan.models.errors import InstanceError
from makespan.models.gpu_packing import check, compile, heuristics
from makespan.models.gpu_packing.instance import (
    DEFAULT_SIZE_LIMIT,
    Assignment,
    CheapestSingleType,
    GpuPackingInstance,
    GpuPackingSolution,
    GpuType,
)
from makespan.models.plotting import lazy_draw
from makespan.models.sizing import count, json_text_size, lengths_sum, member
from makespan.models.spec import ProblemModel, WarmStart
from makespan.models.textfile import load_json_document, validate_document

__all__ = [
    "MODEL",
    "Assignment",
    "CheapestSingleType",
    "GpuPackingInstance",
    "GpuPackingSolution",
    "GpuType",
    "from_melange",
]


def warm_start(
    instance: GpuPackingInstance, budget_s: float, seed: int, should_stop: Callable[[], bool]
) -> WarmStart[GpuPackingSolution] | None:
    """Greedy: each slice to the type with the least cost per served request, respecting
    ``max_count``; counts rounded up (type pooling) or first-fit decreasing GPUs (instance)."""
    packing = heuristics.greedy(instance)
    if packing is None:
        return None
    solution = heuristics.to_solution(instance, packing)
    return WarmStart("greedy_cost_per_request", solution, solution.cost_per_hour)


def from_melange(document: dict[str, Any]) -> dict[str, Any]:
    """Mélange's input (``gpu_info``: {name: {cost, tputs}}, ``workload_distribution``,
    ``total_request_rate``, ``slice_factor``) as this kind's JSON instance."""
    info = document.get("gpu_info")
    types: Any = info
    if isinstance(info, dict):
        types = [
            {"name": name, "cost_per_hour": spec.get("cost"), "throughput": spec.get("tputs")}
            if isinstance(spec, dict)
            else spec
            for name, spec in info.items()
        ]
    return {
        "gpu_types": types,
        "workload": document.get("workload_distribution"),
        "total_request_rate": document.get("total_request_rate"),
        "slice_factor": document.get("slice_factor", 1),
        "pooling": document.get("pooling", "type"),
    }


def is_melange(document: Any) -> bool:
    """Whether a JSON document is Mélange's input (it has ``gpu_info``)."""
    return isinstance(document, dict) and "gpu_info" in document


def document_size(data: Any) -> int:
    """Workload buckets x ``slice_factor`` of a JSON document (ours or Mélange's), from the
    workload's row lengths and the declared factor; no slice is built."""
    workload = member(data, "workload_distribution" if is_melange(data) else "workload")
    return lengths_sum(workload) * count(member(data, "slice_factor", 1))


def text_size(text: str, format: str | None = None) -> int:
    """The size of JSON text: its document's (0 when it does not parse)."""
    del format  # JSON is the only format
    return json_text_size(text, document_size)


def _read_text(text: str, format: str | None, source: str) -> GpuPackingInstance:
    if format not in (None, "json"):
        raise InstanceError(f"unknown gpu_packing format {format!r}; expected json", source=source)
    document = load_json_document(text, source)
    if isinstance(document, dict):
        document.pop("problem", None)
        if is_melange(document):
            document = from_melange(document)
    return validate_document(GpuPackingInstance, document, source)


def _infeasibility_reason(instance: GpuPackingInstance) -> str | None:
    for s, loads in enumerate(instance.int_loads):
        if all(x is None for x in loads):
            sl = instance.slices[s]
            return f"bucket {list(sl.bucket)}: a slice of rate {sl.rate:g} fits no single GPU"
    return None


def _sniff(text: str) -> bool:
    stripped = text.lstrip()
    if not stripped.startswith("{"):
        return False
    try:
        document = json.loads(stripped)
    except (ValueError, RecursionError):  # invalid, too deep, or too long a number
        return False
    return isinstance(document, dict) and ("gpu_types" in document or "gpu_info" in document)


def _lower_bound(instance: GpuPackingInstance) -> float:
    # Every fleet costs a multiple of 1e-4 (costs have 4 decimals): round up to that grid,
    # less a margin for float noise.
    return math.ceil(instance.fractional_lower_bound * 10**4 - 1e-6) / 10**4


MODEL: ProblemModel[GpuPackingInstance, GpuPackingSolution] = ProblemModel(
    kind="gpu_packing",
    summary="GPU packing (Melange): cheapest GPU fleet serving a bucketed request workload",
    instance_type=GpuPackingInstance,
    solution_type=GpuPackingSolution,
    formats=("json",),
    read_text=_read_text,
    warm_start=warm_start,
    compile=compile.compile_instance,
    decode=compile.decode,
    hint=compile.hint,
    check=check.check,
    lower_bound=_lower_bound,
    size=lambda instance: instance.size,
    size_unit="slices",
    default_size_limit=DEFAULT_SIZE_LIMIT,
    document_size=document_size,
    text_size=text_size,
    default_backend="highs",
    sniff=_sniff,
    infeasibility_reason=_infeasibility_reason,
    plot=lazy_draw("makespan.models.gpu_packing.plot"),
)
