"""Independent checker for memory-mapping solutions.

It recomputes everything from the instance and the solution alone: every buffer placed exactly
once (or, two-level only, left in slow memory), offsets aligned, no two buffers alive at the
same time sharing an address, the peak within the capacity, and the objective (the peak, or
the benefit left in slow memory). :func:`infeasibility_reason` is the cheap proof that no
placement fits a capacity at all.
"""

from __future__ import annotations

import numpy as np

from makespan.models.check import CheckReport, ViolationLog
from makespan.models.errors import InstanceError
from makespan.models.memory_mapping.instance import MemoryFixed, MemoryInstance, MemorySolution

SLOW = None
"""Where a buffer left in slow memory is, in :func:`whereabouts`."""


def infeasibility_reason(instance: MemoryInstance) -> str | None:
    """Why nothing fits the capacity, when a cheap test proves it: a buffer larger than the
    capacity, or buffers alive together that need more. None without a capacity, and for two
    levels, where any buffer may stay slow."""
    capacity = instance.capacity
    if capacity is None or instance.two_level:
        return None
    for buffer in instance.buffers:
        if buffer.size > capacity:
            return f"buffer {buffer.id!r} of size {buffer.size} exceeds the capacity {capacity}"
    if instance.max_live > capacity:
        return f"buffers alive at one time need {instance.max_live} > capacity {capacity}"
    return None


def check(instance: MemoryInstance, solution: MemorySolution) -> CheckReport:
    """Verdict and recomputed objective of ``solution`` for ``instance``."""
    log = ViolationLog()
    index = {b.id: k for k, b in enumerate(instance.buffers)}
    fast = _fast_buffers(instance, solution, index, log)
    slow = _slow_buffers(instance, solution, index, fast, log)
    for k in range(len(instance.buffers)):
        if k not in fast and k not in slow:
            log.add(f"buffer {instance.buffers[k].id!r} is not placed")
    if log.count:
        return log.report(None)
    offsets = np.array(list(fast.values()), dtype=np.int64)
    placed = np.array(list(fast.keys()), dtype=np.int64)
    _aligned(instance, placed, offsets, log)
    _disjoint(instance, placed, offsets, log)
    peak = _peak(instance, placed, offsets)
    if peak != solution.peak:
        log.add(f"stated peak {solution.peak} differs from the placement's peak {peak}")
    if instance.capacity is not None and peak > instance.capacity:
        log.add(f"peak {peak} exceeds the capacity {instance.capacity}")
    if not instance.two_level:
        return log.report(peak)
    slow_benefit = sum(instance.buffers[k].worth for k in slow)
    if solution.slow_benefit != slow_benefit:
        log.add(f"stated slow_benefit {solution.slow_benefit} differs from {slow_benefit}")
    return log.report(slow_benefit)


def _fast_buffers(
    instance: MemoryInstance, solution: MemorySolution, index: dict[str, int], log: ViolationLog
) -> dict[int, int]:
    fast: dict[int, int] = {}
    for placement in solution.buffers:
        k = index.get(placement.id)
        if k is None:
            log.add(f"unknown buffer {placement.id!r}")
        elif k in fast:
            log.add(f"buffer {placement.id!r} placed twice")
        else:
            fast[k] = placement.offset
    return fast


def _slow_buffers(
    instance: MemoryInstance,
    solution: MemorySolution,
    index: dict[str, int],
    fast: dict[int, int],
    log: ViolationLog,
) -> set[int]:
    if solution.slow and not instance.two_level:
        log.add("only two-level instances may leave buffers in slow memory")
    slow: set[int] = set()
    for buffer_id in solution.slow:
        k = index.get(buffer_id)
        if k is None:
            log.add(f"unknown buffer {buffer_id!r} in slow")
        elif k in fast or k in slow:
            log.add(f"buffer {buffer_id!r} listed twice")
        else:
            slow.add(k)
    return slow


def _aligned(
    instance: MemoryInstance, placed: np.ndarray, offsets: np.ndarray, log: ViolationLog
) -> None:
    alignment = np.array([instance.buffers[k].alignment for k in placed], dtype=np.int64)
    for k in np.flatnonzero(offsets % alignment):
        b = instance.buffers[int(placed[k])]
        log.add(f"buffer {b.id!r}: offset {int(offsets[k])} is not a multiple of {b.alignment}")


def _disjoint(
    instance: MemoryInstance, placed: np.ndarray, offsets: np.ndarray, log: ViolationLog
) -> None:
    """Two buffers alive together overlap in time iff one starts during the other's lifetime,
    so each pair is met once: from the earlier-starting buffer (or the first of equal starts)."""
    buffers = instance.buffers
    lower = np.array([buffers[k].lower for k in placed], dtype=np.int64)
    upper = np.array([buffers[k].upper for k in placed], dtype=np.int64)
    size = np.array([buffers[k].size for k in placed], dtype=np.int64)
    order = np.argsort(lower, kind="stable")
    lower, upper, size, offsets, placed = (a[order] for a in (lower, upper, size, offsets, placed))
    ends = offsets + size
    stops = np.searchsorted(lower, upper, side="left")
    for i in range(lower.shape[0]):
        j = np.arange(i + 1, stops[i])
        if j.shape[0] == 0:
            continue
        clash = j[(offsets[j] < ends[i]) & (offsets[i] < ends[j])]
        for other in clash[:3]:
            a, b = buffers[int(placed[i])], buffers[int(placed[other])]
            log.add(
                f"buffers {a.id!r} and {b.id!r} are alive together and share addresses "
                f"[{max(int(offsets[i]), int(offsets[other]))}, "
                f"{min(int(ends[i]), int(ends[other]))})"
            )
        if log.count > log.keep:
            return


def _peak(instance: MemoryInstance, placed: np.ndarray, offsets: np.ndarray) -> int:
    if placed.shape[0] == 0:
        return 0
    size = np.array([instance.buffers[k].size for k in placed], dtype=np.int64)
    return int((offsets + size).max())


def validate_fixed(instance: MemoryInstance, fixed: MemoryFixed) -> None:
    """Every fixed buffer exists, once, at an aligned offset; slow ones only for two levels."""
    index = {b.id: b for b in instance.buffers}
    seen: set[str] = set()
    for k, placement in enumerate(fixed.buffers):
        buffer = index.get(placement.id)
        if buffer is None:
            raise InstanceError(f"unknown buffer {placement.id!r}", field=f"buffers.{k}.id")
        if placement.id in seen:
            raise InstanceError(f"buffer {placement.id!r} fixed twice", field=f"buffers.{k}.id")
        if placement.offset % buffer.alignment:
            raise InstanceError(
                f"offset {placement.offset} is not a multiple of the alignment "
                f"{buffer.alignment} of buffer {placement.id!r}",
                field=f"buffers.{k}.offset",
            )
        seen.add(placement.id)
    if fixed.slow and not instance.two_level:
        raise InstanceError("only two-level instances keep buffers in slow memory", field="slow")
    for k, buffer_id in enumerate(fixed.slow):
        if buffer_id not in index:
            raise InstanceError(f"unknown buffer {buffer_id!r}", field=f"slow.{k}")
        if buffer_id in seen:
            raise InstanceError(f"buffer {buffer_id!r} fixed twice", field=f"slow.{k}")
        seen.add(buffer_id)


def whereabouts(solution: MemorySolution) -> dict[str, int | None]:
    """Each buffer's offset, or :data:`SLOW`."""
    where: dict[str, int | None] = dict.fromkeys(solution.slow, SLOW)
    where.update((p.id, p.offset) for p in solution.buffers)
    return where


def kept(instance: MemoryInstance, solution: MemorySolution, fixed: MemoryFixed) -> list[str]:
    """Every fixed offset or slow buffer that ``solution`` moved."""
    del instance
    where = whereabouts(solution)
    broken = [
        f"buffer {p.id!r} is fixed at offset {p.offset}, found {_told(where, p.id)}"
        for p in fixed.buffers
        if where.get(p.id, -1) != p.offset
    ]
    broken += [
        f"buffer {buffer_id!r} is fixed in slow memory, found {_told(where, buffer_id)}"
        for buffer_id in fixed.slow
        if where.get(buffer_id, -1) is not SLOW
    ]
    return broken


def _told(where: dict[str, int | None], buffer_id: str) -> str:
    if buffer_id not in where:
        return "not placed"
    offset = where[buffer_id]
    return "in slow memory" if offset is SLOW else f"at offset {offset}"


def deviation(instance: MemoryInstance, solution: MemorySolution, reference: MemorySolution) -> int:
    """The number of buffers whose offset differs from the reference's (moving between fast
    and slow memory counts as a change).

    Raises:
        InstanceError: the reference leaves a buffer out.
    """
    before, after = whereabouts(reference), whereabouts(solution)
    changed = 0
    for buffer in instance.buffers:
        if buffer.id not in before:
            raise InstanceError(f"buffer {buffer.id!r} is missing", field="buffers")
        changed += after.get(buffer.id, -1) != before[buffer.id]
    return changed
