"""GPU-packing instance files: JSON, ours or Mélange's input, read, sized and recognised."""

from __future__ import annotations

from typing import Any

from makespan.models.gpu_packing.instance import GpuPackingInstance
from makespan.models.sizing import count, json_text_size, lengths_sum, member
from makespan.models.textfile import JSON_ONLY, json_object_with_key, read_json_only

FORMATS = JSON_ONLY
"""The file formats :func:`read_text` understands."""

FILE_EXTENSIONS: tuple[str, ...] = ()
"""None: a ``.json`` file may be of any kind."""

JSON_KEYS = ("gpu_types", "gpu_info")
"""Top-level keys of a GPU-packing JSON document (ours, or Mélange's)."""


def read_text(
    text: str, format: str | None = None, source: str = "<instance>"
) -> GpuPackingInstance:
    """An instance from JSON text, ours or Mélange's (a ``problem`` key is tolerated); errors
    name the source, line or field."""
    return read_json_only("gpu_packing", GpuPackingInstance, text, format, source, as_ours)


def as_ours(document: Any) -> Any:
    """A JSON document in this kind's form: Mélange's converted, any other as it is."""
    return from_melange(document) if is_melange(document) else document


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


def sniff(text: str) -> bool:
    """Whether ``text`` is a JSON document with a ``gpu_types`` (ours) or ``gpu_info``
    (Mélange's) key."""
    return json_object_with_key(text, JSON_KEYS)
