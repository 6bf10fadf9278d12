"""The problem kinds makespan knows: the only place that lists them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from makespan.models.errors import InstanceError
from makespan.models.expert_placement import MODEL as EXPERT_PLACEMENT
from makespan.models.gpu_packing import MODEL as GPU_PACKING
from makespan.models.jssp import MODEL as JSSP
from makespan.models.memory_mapping import MODEL as MEMORY_MAPPING
from makespan.models.rcpsp import MODEL as RCPSP
from makespan.models.spec import ProblemModel

MODELS: dict[str, ProblemModel[Any, Any]] = {
    model.kind: model for model in (JSSP, RCPSP, MEMORY_MAPPING, EXPERT_PLACEMENT, GPU_PACKING)
}


def get_model(kind: str) -> ProblemModel[Any, Any]:
    """The model of problem ``kind``; an :class:`InstanceError` naming the field otherwise."""
    try:
        return MODELS[kind]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise InstanceError(
            f"unknown problem {kind!r}; expected one of: {known}", field="problem"
        ) from None


def infer_kind(text: str, source: str) -> str:
    """The problem kind of instance text: a JSON ``problem`` field, else the file extension,
    else the first model whose ``sniff`` accepts the content."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            document = json.loads(stripped)
        except (ValueError, RecursionError):  # invalid, too deep, or too long a number
            document = None
        if isinstance(document, dict) and isinstance(document.get("problem"), str):
            return str(document["problem"])
    suffix = Path(source).suffix.lower()
    for model in MODELS.values():
        if suffix and suffix in model.file_extensions:
            return model.kind
    for model in MODELS.values():
        if model.sniff is not None and model.sniff(text):
            return model.kind
    raise InstanceError(
        f"cannot tell the problem kind from the file; pass --problem ({', '.join(sorted(MODELS))})",
        source=source,
    )
