"""Expert-placement instance files: JSON (the instance schema), read, sized and recognised."""

from __future__ import annotations

from typing import Any

from makespan.models.errors import InstanceError
from makespan.models.expert_placement.instance import ExpertPlacementInstance, model_size
from makespan.models.sizing import count, json_text_size, length, member
from makespan.models.textfile import JSON_ONLY, json_object_with_key, read_json_only

FORMATS = JSON_ONLY
"""The file formats :func:`read_text` understands."""

FILE_EXTENSIONS: tuple[str, ...] = ()
"""None: a ``.json`` file may be of any kind."""

JSON_KEYS = ("experts_per_gpu", "num_replicas")
"""Top-level keys of an expert-placement JSON document (one of them is required)."""


LAYOUT_KEYS = ("num_gpus", "num_replicas", "num_nodes", "num_groups", "experts_per_gpu")
"""The counts a plain weight matrix needs beside it (``makespan solve FILE --layout ...``)."""


def read_text(
    text: str, format: str | None = None, source: str = "<instance>"
) -> ExpertPlacementInstance:
    """An instance from JSON text (a ``problem`` key is tolerated; EPLB's ``weight`` is read as
    ``loads``); errors name the source, line or field. A plain matrix (EPLB's ``weight`` alone)
    is refused with the way to give its layout (:func:`with_layout`)."""
    return read_json_only(
        "expert_placement", ExpertPlacementInstance, text, format, source, _not_a_bare_matrix
    )


def _not_a_bare_matrix(document: Any) -> Any:
    if isinstance(document, list):
        raise InstanceError(
            "a plain weight matrix needs its layout: makespan solve FILE --layout "
            "num_gpus=G,num_replicas=R[,num_nodes=N,num_groups=K], or a JSON object "
            '{"weight": [...], "num_gpus": G, "num_replicas": R}',
            field="num_gpus",
        )
    return document


def with_layout(document: Any, layout: dict[str, int]) -> dict[str, Any]:
    """A JSON document for a weight matrix (or an instance object) with the counts of
    ``layout`` (keys among :data:`LAYOUT_KEYS`) set.

    Raises:
        InstanceError: a key that is not a layout count, naming ``layout``.
    """
    unknown = sorted(set(layout) - set(LAYOUT_KEYS))
    if unknown:
        raise InstanceError(f"{unknown[0]} is not one of {', '.join(LAYOUT_KEYS)}", field="layout")
    base = {"weight": document} if isinstance(document, list) else dict(document)
    return {**base, **layout}


def document_size(data: Any) -> int:
    """:attr:`~ExpertPlacementInstance.size` of a JSON document, from its declared counts
    (``num_gpus``, ``num_replicas`` or ``experts_per_gpu``, ``num_nodes``), the number of
    ``loads`` (or ``weight``) rows, the length of the first one and the number of routes, never
    from the rows' contents."""
    rows = member(data, "loads") if member(data, "loads") is not None else member(data, "weight")
    layers = length(rows)
    gpus = count(member(data, "num_gpus"))
    experts = length(rows[0]) if layers and isinstance(rows, list) else 0
    slots = count(member(data, "num_replicas")) or gpus * count(member(data, "experts_per_gpu"))
    if not experts:
        experts = slots
    nodes = max(1, count(member(data, "num_nodes")))
    per_node = gpus // nodes if member(data, "num_groups") is not None and nodes <= gpus else gpus
    copies = max(0, min(per_node, slots - experts + 1)) if slots > experts else 0
    return model_size(layers, experts, gpus, nodes, copies, length(member(data, "routing")))


def text_size(text: str, format: str | None = None) -> int:
    """The size of JSON text: its document's (0 when it does not parse)."""
    del format  # JSON is the only format
    return json_text_size(text, document_size)


def sniff(text: str) -> bool:
    """Whether ``text`` is a JSON document with an ``experts_per_gpu`` or ``num_replicas``
    key."""
    return json_object_with_key(text, JSON_KEYS)
