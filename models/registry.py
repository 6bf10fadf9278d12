"""The problem kinds makespan knows: the only place that lists them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from makespan.models.errors import InstanceError
from makespan.models.expert_placement import MODEL as EXPERT_PLACEMENT
from makespan.models.gpu_packing import MODEL as GPU_PACKING
from makespan.models.jssp import MODEL as JSSP
from makespan.models.memory_mapping import MODEL as MEMORY_MAPPING
from makespan.models.rcpsp import MODEL as RCPSP
from makespan.models.sizing import looks_like_json
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
    else the first model whose ``sniff`` accepts the content, else the first kind that reads
    it in one of its formats.

    Raises:
        InstanceError: no kind reads it; the message says what each reader found, with its
            line (``as jssp (taillard): bad.txt:2: expected ...``).
    """
    return _claimed_kind(text, source) or _reading_kind(text, source)


def _claimed_kind(text: str, source: str) -> str | None:
    """The kind the text names, or that its extension or content marks, if any."""
    if text.lstrip().startswith("{"):
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):  # invalid, too deep, or too long a number
            document = None
        if isinstance(document, dict) and isinstance(document.get("problem"), str):
            return str(document["problem"])
    suffix = Path(source).suffix.lower()
    for model in MODELS.values():
        if suffix and suffix in model.file_extensions:
            return model.kind
    for model in MODELS.values():
        if model.sniff(text):
            return model.kind
    return None


def _reading_kind(text: str, source: str) -> str:
    """The first kind whose reader takes text that nothing claims, trying every JSON format
    for JSON and every other format for the rest; an error listing what each one found."""
    found: dict[str, list[str]] = {}  # each reader's error -> the readers that gave it
    for model, format in _candidate_formats(text):
        try:
            model.read_text(text, format, source)
        except InstanceError as error:
            found.setdefault(str(error), []).append(f"{model.kind} ({format})")
        else:
            return model.kind
    # Readers of one syntax often fail alike (invalid JSON): each error is said once.
    reasons = "; ".join(f"as {', '.join(readers)}: {error}" for error, readers in found.items())
    raise InstanceError(
        f"cannot tell the problem kind of {source}: {reasons}; "
        f"or pass --problem ({', '.join(sorted(MODELS))})"
    )


def _candidate_formats(text: str) -> Iterator[tuple[ProblemModel[Any, Any], str]]:
    """Every kind's formats of the text's syntax: ``json`` for JSON, the others otherwise."""
    json_text = looks_like_json(text)
    for model in MODELS.values():
        for format in model.formats:
            if (format == "json") == json_text:
                yield model, format
