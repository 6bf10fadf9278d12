"""Turning what a user names (a file, a benchmark name, posted text) into a typed instance."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from makespan.models.errors import InstanceError
from makespan.models.expert_placement import formats as expert_formats
from makespan.models.registry import MODELS, get_model, infer_kind
from makespan.models.spec import CapacityQuestion, NamedBenchmarks, ProblemModel


@dataclass(frozen=True)
class LoadedInstance:
    """A validated instance with its model, a display name and its best-known value."""

    model: ProblemModel[Any, Any]
    instance: Any
    name: str

    @property
    def best_known(self) -> float | None:
        """The published best objective, when the instance carries one."""
        return self.model.best_known(self.instance)


def load_instance(
    target: str, *, problem: str | None = None, format: str | None = None
) -> LoadedInstance:
    """Read the file ``target``, or load the benchmark instance of that name.

    The problem kind is ``problem`` when given, else inferred from the file (a JSON document's
    ``problem`` field, the extension, then the content).
    """
    path = Path(target)
    if not path.exists():
        return _load_named(target, problem)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InstanceError(f"cannot read file: {error}", source=target) from None
    return load_text(text, problem=problem, format=format, source=target)


def load_with_layout(target: str, layout: str) -> LoadedInstance:
    """An expert-placement file (a plain EPLB weight matrix, or an instance object) with the
    counts of ``layout`` (``num_gpus=32,num_replicas=320,...``) set before validation.

    Raises:
        InstanceError: an unreadable file, a malformed layout (naming ``layout``) or an
            invalid instance.
    """
    counts: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in layout.split(","))):
        key, _, value = part.partition("=")
        if not value.strip().isdigit() or len(value.strip()) > 12:
            raise InstanceError(f"{part!r} is not NAME=COUNT", field="layout")
        counts[key.strip()] = int(value)
    path = Path(target)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise InstanceError(f"cannot read file: {error}", source=target) from None
    except json.JSONDecodeError as error:
        raise InstanceError(error.msg, source=target, line=error.lineno) from None
    if not isinstance(document, list | dict):
        raise InstanceError("not a weight matrix or an instance object", source=target)
    merged = expert_formats.with_layout(document, counts)
    return load_text(json.dumps(merged), problem="expert_placement", format="json", source=target)


def load_text(
    text: str, *, problem: str | None, format: str | None, source: str = "<instance>"
) -> LoadedInstance:
    """Parse instance text; JSON documents may wrap it as ``{"problem", "instance"}``."""
    kind = problem or infer_kind(text, source)
    model = get_model(kind)
    envelope = _json_envelope(text)
    if envelope is not None:
        instance = model.parse_instance(envelope)
    else:
        instance = model.read_text(text, format, source)
    name = getattr(instance, "name", None) or Path(source).stem
    return LoadedInstance(model, instance, name)


def with_capacity(loaded: LoadedInstance, capacity: int | None) -> LoadedInstance:
    """The instance under the capacity the user gave (``--capacity``), for the kinds that have
    one."""
    if capacity is None:
        return loaded
    if not isinstance(loaded.model, CapacityQuestion):
        kinds = ", ".join(
            sorted(m.kind for m in MODELS.values() if isinstance(m, CapacityQuestion))
        )
        raise InstanceError(
            f"--capacity applies to {kinds} instances, not {loaded.model.kind}", field="capacity"
        )
    instance = loaded.model.with_capacity(loaded.instance, capacity)
    return LoadedInstance(loaded.model, instance, loaded.name)


def _json_envelope(text: str) -> dict[str, Any] | None:
    if not text.lstrip().startswith("{"):
        return None
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return None  # the format's own reader reports the line
    if isinstance(document, dict) and isinstance(document.get("instance"), dict):
        inner: dict[str, Any] = document["instance"]
        return inner
    return None


def _load_named(name: str, problem: str | None) -> LoadedInstance:
    models = [get_model(problem)] if problem else list(MODELS.values())
    for model in models:
        named = model.load_named(name) if isinstance(model, NamedBenchmarks) else None
        if named is not None:
            return LoadedInstance(model, named, name)
    raise InstanceError("no such file, and no benchmark instance of that name", source=name)
