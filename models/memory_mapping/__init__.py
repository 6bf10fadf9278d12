"""Memory mapping (``memory_mapping``): offsets for ML buffers in on-chip memory.

Minimise the peak address, fit a capacity (MiniMalloc's question), or, with two levels, keep
the most valuable buffers in a fast memory of fixed size. See :mod:`.instance` for the
objectives written out.
"""

from __future__ import annotations

from makespan.models.memory_mapping import check, compile, formats, heuristics
from makespan.models.memory_mapping import generate as generator
from makespan.models.memory_mapping import instance as memory
from makespan.models.memory_mapping.instance import (
    DEFAULT_SIZE_LIMIT as SIZE_LIMIT,
)
from makespan.models.memory_mapping.instance import (
    Buffer,
    MemoryFixed,
    MemoryInstance,
    MemorySolution,
    Placement,
    max_live,
)
from makespan.models.spec import KindAbout, KindParts, ProblemModel

__all__ = [
    "MODEL",
    "Buffer",
    "MemoryInstance",
    "MemorySolution",
    "Placement",
    "max_live",
    "with_capacity",
]


class MemoryMapping(ProblemModel[MemoryInstance, MemorySolution]):
    """Memory mapping, with the canonical capacity search, a generator and ``--capacity``."""

    search = staticmethod(heuristics.capacity_search)
    goal = staticmethod(memory.goal)
    auto_backend_limit = heuristics.LARGE_INSTANCE_BUFFERS
    generator_options = generator.GeneratorOptions
    generate = staticmethod(generator.from_options)
    with_capacity = staticmethod(memory.with_capacity)
    repair = staticmethod(heuristics.repair)


MODEL = MemoryMapping(
    KindAbout(
        "memory_mapping",
        "Memory mapping (MiniMalloc): buffer offsets that fit a capacity or minimise peak",
        "buffers",
        SIZE_LIMIT,
    ),
    KindParts(
        MemoryInstance, MemorySolution, memory, formats, compile, check, heuristics, MemoryFixed
    ),
)
