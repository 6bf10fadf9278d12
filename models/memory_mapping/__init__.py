"""Memory mapping (``memory_mapping``): offsets for ML buffers in on-chip memory.

Minimise the peak address, fit a capacity (MiniMalloc's question), or, with two levels, keep
the most valuable buffers in a fast memory of fixed size. See :mod:`.instance` for the
objectives written out.
"""

from __future__ import annotations

from makespan.models.memory_mapping import check, compile, formats, generate, heuristics
from makespan.models.memory_mapping.instance import (
    DEFAULT_SIZE_LIMIT,
    Buffer,
    MemoryInstance,
    MemorySolution,
    Placement,
    goal,
    lower_bound,
    max_live,
    with_capacity,
)
from makespan.models.plotting import lazy_draw
from makespan.models.spec import ProblemModel, module_parts

__all__ = [
    "MODEL",
    "Buffer",
    "MemoryInstance",
    "MemorySolution",
    "Placement",
    "max_live",
    "with_capacity",
]

MODEL: ProblemModel[MemoryInstance, MemorySolution] = ProblemModel(
    kind="memory_mapping",
    summary="Memory mapping (MiniMalloc): buffer offsets that fit a capacity or minimise peak",
    instance_type=MemoryInstance,
    solution_type=MemorySolution,
    **module_parts(formats, compile, check),
    warm_start=heuristics.warm_start,
    lower_bound=lower_bound,
    size=lambda instance: len(instance.buffers),
    size_unit="buffers",
    default_size_limit=DEFAULT_SIZE_LIMIT,
    infeasibility_reason=check.infeasibility_reason,
    goal=goal,
    search=heuristics.capacity_search,
    auto_backend_limit=heuristics.LARGE_INSTANCE_BUFFERS,
    plot=lazy_draw(f"{__name__}.plot"),
    generator_options=generate.GeneratorOptions,
    generate=generate.from_options,
    with_capacity=with_capacity,
)
