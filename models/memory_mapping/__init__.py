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
    DEFAULT_SIZE_LIMIT,
    Buffer,
    MemoryInstance,
    MemorySolution,
    Placement,
    max_live,
)
from makespan.models.plotting import lazy_draw
from makespan.models.spec import KindParts, ProblemModel

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
    """Memory mapping: see :mod:`makespan.models.memory_mapping.instance` for the three
    objectives."""

    kind = "memory_mapping"
    summary = "Memory mapping (MiniMalloc): buffer offsets that fit a capacity or minimise peak"
    size_unit = "buffers"
    default_size_limit = DEFAULT_SIZE_LIMIT
    instance_type = MemoryInstance
    solution_type = MemorySolution
    parts = KindParts(formats, compile, check, heuristics.warm_start)
    infeasibility_reason = staticmethod(check.infeasibility_reason)
    search = staticmethod(heuristics.capacity_search)
    goal = staticmethod(memory.goal)
    auto_backend_limit = heuristics.LARGE_INSTANCE_BUFFERS
    plot = staticmethod(lazy_draw(f"{__name__}.plot"))
    generator_options = generator.GeneratorOptions
    generate = staticmethod(generator.from_options)
    with_capacity = staticmethod(memory.with_capacity)

    def size(self, instance: MemoryInstance) -> int:
        """The number of buffers."""
        return len(instance.buffers)

    def lower_bound(self, instance: MemoryInstance) -> float | None:
        """The max-live bound (see :func:`makespan.models.memory_mapping.instance.lower_bound`)."""
        return memory.lower_bound(instance)


MODEL = MemoryMapping()
