"""Expert-placement instance files: JSON (the instance schema), read, sized and recognised."""

from __future__ import annotations

from typing import Any

from makespan.models.expert_placement.instance import ExpertPlacementInstance
from makespan.models.sizing import count, json_text_size, length, member
from makespan.models.textfile import JSON_ONLY, json_object_with_key, read_json_only

FORMATS = JSON_ONLY
"""The file formats :func:`read_text` understands."""

FILE_EXTENSIONS: tuple[str, ...] = ()
"""None: a ``.json`` file may be of any kind."""

JSON_KEYS = ("experts_per_gpu",)
"""Top-level keys of an expert-placement JSON document."""


def read_text(
    text: str, format: str | None = None, source: str = "<instance>"
) -> ExpertPlacementInstance:
    """An instance from JSON text (a ``problem`` key is tolerated); errors name the source,
    line or field."""
    return read_json_only("expert_placement", ExpertPlacementInstance, text, format, source)


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


def sniff(text: str) -> bool:
    """Whether ``text`` is a JSON document with an ``experts_per_gpu`` key."""
    return json_object_with_key(text, JSON_KEYS)
