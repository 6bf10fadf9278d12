"""Memory mapping (``memory_mapping``): offsets for ML buffers in on-chip memory.

Minimise the peak address, fit a capacity (MiniMalloc's question), or, with two levels, keep
the most valuable buffers in a fast memory of fixed size. See :mod:`.instance` for the
objectives written out.
"""

from __future__ import annotations

import json

from makespan.models.errors import InstanceError
from makespan.models.memory_mapping import check, compile, formats, heuristics
from makespan.models.memory_mapping.instance import (
    DEFAULT_SIZE_LIMIT,
    MAX_CAPACITY,
    Buffer,
    MemoryInstance,
    MemorySolution,
    Placement,
    max_live,
)
from makespan.models.plotting import lazy_draw
from makespan.models.spec import ProblemModel
from makespan.models.textfile import read_in_format

__all__ = [
    "MODEL",
    "Buffer",
    "MemoryInstance",
    "MemorySolution",
    "Placement",
    "max_live",
]

_READERS = {"minimalloc": formats.read_csv, "json": formats.read_json}


def _read_text(text: str, format: str | None, source: str) -> MemoryInstance:
    if format is None:
        format = "json" if text.lstrip().startswith("{") else "minimalloc"
    return read_in_format("memory_mapping", _READERS, text, format, source, None)


def _sniff(text: str) -> bool:
    stripped = text.lstrip()
    if not stripped.startswith("{"):
        return formats.looks_like_csv(text)
    try:
        document = json.loads(stripped)
    except (ValueError, RecursionError):  # invalid, too deep, or too long a number
        return False
    return isinstance(document, dict) and "buffers" in document


def _infeasibility_reason(instance: MemoryInstance) -> str | None:
    capacity = instance.capacity
    if capacity is None or instance.two_level:
        return None
    for buffer in instance.buffers:
        if buffer.size > capacity:
            return f"buffer {buffer.id!r} of size {buffer.size} exceeds the capacity {capacity}"
    if instance.max_live > capacity:
        return f"buffers alive at one time need {instance.max_live} > capacity {capacity}"
    return None


def _lower_bound(instance: MemoryInstance) -> float | None:
    return None if instance.two_level else instance.max_live


def _goal(instance: MemoryInstance) -> float | None:
    return None if instance.two_level else instance.capacity


def with_capacity(instance: MemoryInstance, capacity: int | None) -> MemoryInstance:
    """The instance with another capacity (the CLI's ``--capacity``); errors name the field."""
    if capacity is None:
        return instance
    if not 1 <= capacity <= MAX_CAPACITY:  # model_copy does not validate: check here
        raise InstanceError(
            f"capacity must be a positive integer up to {MAX_CAPACITY}", field="capacity"
        )
    return instance.model_copy(update={"capacity": capacity})


MODEL: ProblemModel[MemoryInstance, MemorySolution] = ProblemModel(
    kind="memory_mapping",
    summary="Memory mapping (MiniMalloc): buffer offsets that fit a capacity or minimise peak",
    instance_type=MemoryInstance,
    solution_type=MemorySolution,
    formats=("minimalloc", "json"),
    read_text=_read_text,
    warm_start=heuristics.warm_start,
    compile=compile.compile_instance,
    decode=compile.decode,
    hint=compile.hint,
    check=check.check,
    lower_bound=_lower_bound,
    size=lambda instance: len(instance.buffers),
    size_unit="buffers",
    default_size_limit=DEFAULT_SIZE_LIMIT,
    document_size=formats.document_size,
    text_size=formats.text_size,
    file_extensions=(".csv",),
    sniff=_sniff,
    infeasibility_reason=_infeasibility_reason,
    goal=_goal,
    search=heuristics.capacity_search,
    auto_backend_limit=heuristics.LARGE_INSTANCE_BUFFERS,
    plot=lazy_draw("makespan.models.memory_mapping.plot"),
)
