"""Memory-mapping instance -> IR: rectangles in (time, address) that may not overlap.

Per buffer b: an integer :math:`k_b` with offset :math:`o_b = a_b k_b` (``a_b`` its alignment),
a fixed time interval :math:`[lower_b, upper_b)` and an address interval
:math:`[o_b, o_b + size_b)`; two-level instances add :math:`f_b = 1` when b is in fast memory
(its address interval is then present).

.. math::
    \\text{no\\_overlap\\_2d}\\big(\\{[lower_b, upper_b) \\times [o_b, o_b + size_b)\\}_b\\big),
    \\qquad 0 \\le o_b \\le U - size_b,

    \\text{peak:}\\quad \\min P, \\quad P = \\max_b (o_b + size_b), \\quad P \\ge L

    \\text{two-level:}\\quad \\min \\sum_b w_b (1 - f_b)

``U`` is the capacity, or the warm start's peak, or the sum of sizes (plus the highest end of
a fixed buffer: the others fit above it); ``L`` is the max-live lower bound.

Fixed buffers (``options.fixed``) get :math:`k_b = o_b / a_b` (and :math:`f_b = 1`; slow ones
:math:`f_b = 0`), each a labelled group. With a reference placement :math:`o^r`, the
deviation counts the buffers with :math:`o_b \\ne o^r_b`: a "changed" term on :math:`k_b`
(two levels: on :math:`k_b + M (1 - f_b)`, :math:`M` above every slot, so that leaving fast
memory is a change too; a buffer slow in the reference changes when :math:`f_b = 1`).

A redundant cumulative over the time intervals (demands = sizes, capacity ``U``)
states that the buffers alive at once fit in ``U``; it is what prunes the two-level choice of
fast buffers, and it mirrors MiniMalloc's section inference for the search.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from makespan.models.memory_mapping.check import SLOW, whereabouts
from makespan.models.memory_mapping.instance import (
    MemoryFixed,
    MemoryInstance,
    MemorySolution,
    Placement,
)
from makespan.models.spec import Compiled, Steering
from makespan.solvers.ir import (
    DeviationTerm,
    Label,
    LinearExpr,
    Literal,
    Measure,
    Model,
    ModelBuilder,
    Var,
)


@dataclass(frozen=True)
class MemoryIndex:
    """Where each buffer's decision lives in the IR."""

    slot: tuple[Var, ...]
    """``k_b``: the offset in units of the buffer's alignment."""
    fast: tuple[Var, ...] | None
    """``f_b`` for two-level instances."""
    peak: Var | None


def upper_address(
    instance: MemoryInstance, upper_bound: float | None, fixed: MemoryFixed | None = None
) -> int:
    """The highest address any buffer may reach in the compiled model."""
    if instance.capacity is not None:
        return instance.capacity
    if upper_bound is not None:
        return int(upper_bound)
    sizes = {x.id: x.size for x in instance.buffers}
    fixed_top = max((p.offset + sizes[p.id] for p in fixed.buffers), default=0) if fixed else 0
    return int(instance.arrays.size.sum()) + fixed_top


def compile_instance(
    instance: MemoryInstance,
    upper_bound: float | None = None,
    steering: Steering[MemorySolution] | None = None,
) -> Compiled[MemoryIndex]:
    """The module's model of ``instance``: a known peak ``upper_bound`` is the address limit
    ``U`` (single level only); with ``steering``, its fixed buffers hold as labelled groups and
    the count of buffers moved from the reference joins the objective."""
    fixed = _fixed_of(steering)
    top = upper_address(instance, None if instance.two_level else upper_bound, fixed)
    b = ModelBuilder(name=instance.name or "memory_mapping")
    fast = (
        tuple(b.bool_var(f"fast[{x.id}]") for x in instance.buffers) if instance.two_level else None
    )
    slot = tuple(
        b.int_var(0, max(0, (top - x.size) // x.alignment), f"slot[{x.id}]")
        for x in instance.buffers
    )
    for k, x in enumerate(instance.buffers):
        if fast is not None and x.size > top:
            b.add_linear(fast[k], 0, 0)  # larger than fast memory: it stays slow
    buffers = instance.buffers
    offsets = [LinearExpr.weighted([k], [x.alignment]) for k, x in zip(slot, buffers, strict=True)]
    presence = [None] * len(slot) if fast is None else [Literal(f.index) for f in fast]
    times = [
        b.interval(x.lower, x.upper - x.lower, f"time[{x.id}]", presence=p)
        for x, p in zip(instance.buffers, presence, strict=True)
    ]
    addresses = [
        b.interval(o, x.size, f"address[{x.id}]", presence=p)
        for o, x, p in zip(offsets, instance.buffers, presence, strict=True)
    ]
    b.add_no_overlap_2d(times, addresses)
    b.add_cumulative(times, [x.size for x in instance.buffers], top)
    peak = None
    if fast is None:
        peak = b.int_var(min(instance.max_live, top), top, "peak")
        b.add_max_equality(peak, [o + x.size for o, x in zip(offsets, buffers, strict=True)])
        b.minimize(peak)
    else:
        worth = [x.worth for x in instance.buffers]
        b.minimize(LinearExpr.weighted(list(fast), [-w for w in worth], sum(worth)))
    index = MemoryIndex(slot, fast, peak)
    if fixed is not None:
        _fix(b, instance, index, fixed)
    model = b.build()
    if steering is not None and steering.reference is not None:
        terms = _deviation_terms(instance, model, index, steering.reference)
        model = model.with_deviation(terms, steering.weight)
    return Compiled(model, index)


def _deviation_terms(
    instance: MemoryInstance, model: Model, index: MemoryIndex, reference: MemorySolution
) -> list[DeviationTerm]:
    """One "changed" term per buffer (see the module docstring)."""
    before = whereabouts(reference)
    terms: list[DeviationTerm] = []
    for k, x in enumerate(instance.buffers):
        offset, slot = before[x.id], index.slot[k]
        if offset is SLOW:
            assert index.fast is not None
            terms.append(DeviationTerm(index.fast[k].expr(), 0, 1, Measure.ABSOLUTE))
            continue
        if offset % x.alignment:  # never reachable again: always a change
            terms.append(DeviationTerm(LinearExpr((), 1), 0, 1, Measure.CHANGED))
            continue
        expr = slot.expr()
        if index.fast is not None:
            beyond = model.variables[slot.index].ub + 1
            expr = expr - index.fast[k] * beyond + beyond
        terms.append(DeviationTerm(expr, offset // x.alignment, 1, Measure.CHANGED))
    return terms


def _fixed_of(steering: Steering[MemorySolution] | None) -> MemoryFixed | None:
    fixed = steering.fixed if steering else None
    assert fixed is None or isinstance(fixed, MemoryFixed)
    return fixed


def _fix(b: ModelBuilder, instance: MemoryInstance, index: MemoryIndex, fixed: MemoryFixed) -> None:
    """Each fixed buffer's slot (and fast memory), or its slow memory, as a labelled group."""
    position = {x.id: k for k, x in enumerate(instance.buffers)}
    for p in fixed.buffers:
        k = position[p.id]
        label: Label = {
            "constraint": "fixed",
            "message": f"buffer {p.id!r} at offset {p.offset}",
            "buffer": p.id,
        }
        with b.labeled(label):
            b.add_linear(
                index.slot[k],
                lb=p.offset // instance.buffers[k].alignment,
                ub=p.offset // instance.buffers[k].alignment,
            )
            if index.fast is not None:
                b.add_linear(index.fast[k], lb=1, ub=1)
    for buffer_id in fixed.slow:
        assert index.fast is not None
        label = {
            "constraint": "fixed",
            "message": f"buffer {buffer_id!r} in slow memory",
            "buffer": buffer_id,
        }
        with b.labeled(label):
            b.add_linear(index.fast[position[buffer_id]], lb=0, ub=0)


def decode(
    instance: MemoryInstance, compiled: Compiled[MemoryIndex], values: Sequence[int]
) -> MemorySolution:
    """The placement held in the backend's variable values."""
    index = compiled.index
    offsets: dict[int, int] = {}
    slow: list[int] = []
    for k, (x, var) in enumerate(zip(instance.buffers, index.slot, strict=True)):
        if index.fast is not None and not values[index.fast[k].index]:
            slow.append(k)
        else:
            offsets[k] = x.alignment * values[var.index]
    return solution_from_offsets(instance, offsets, slow)


def solution_from_offsets(
    instance: MemoryInstance, offsets: Mapping[int, int], slow: Sequence[int] = ()
) -> MemorySolution:
    """A solution from buffer-index -> offset (and, two-level, the buffers left slow)."""
    buffers = instance.buffers
    peak = max((o + buffers[k].size for k, o in offsets.items()), default=0)
    return MemorySolution(
        peak=peak,
        buffers=tuple(Placement(id=buffers[k].id, offset=o) for k, o in sorted(offsets.items())),
        slow=tuple(buffers[k].id for k in slow),
        slow_benefit=sum(buffers[k].worth for k in slow) if instance.two_level else None,
    )


def hint(
    instance: MemoryInstance,
    compiled: Compiled[MemoryIndex],
    solution: MemorySolution,
    backend: str,
) -> Mapping[int, int]:
    """Hint values for every variable, from a solution (every backend alike)."""
    index = compiled.index
    placed = {p.id: p.offset for p in solution.buffers}
    values: dict[int, int] = {}
    for k, x in enumerate(instance.buffers):
        offset = placed.get(x.id)
        if index.fast is not None:
            values[index.fast[k].index] = int(offset is not None)
        values[index.slot[k].index] = 0 if offset is None else offset // x.alignment
    if index.peak is not None:
        values[index.peak.index] = solution.peak
    return values
