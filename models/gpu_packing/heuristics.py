"""Greedy GPU packing: cheapest type per served request, first-fit decreasing into GPUs.

Loads are the rounded-up integers of :attr:`GpuPackingInstance.int_loads`, so a greedy packing
is feasible for the IR as well as for the checker.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from makespan.models.gpu_packing.instance import (
    COST_SCALE,
    LOAD_SCALE,
    Assignment,
    CheapestSingleType,
    GpuPackingFixed,
    GpuPackingInstance,
    GpuPackingSolution,
)
from makespan.models.spec import Steering, WarmStart


@dataclass(frozen=True)
class Packing:
    """``placements[s] = (type, gpu of that type)`` per slice and ``counts[k]`` GPUs per type."""

    placements: tuple[tuple[int, int], ...]
    counts: tuple[int, ...]


def _preference(instance: GpuPackingInstance, s: int, allowed: Sequence[int]) -> list[int]:
    """Types able to serve slice ``s``, cheapest per served request first."""
    loads = instance.int_loads[s]
    costs = [(instance.gpu_types[k].cost_units * (loads[k] or 0), k) for k in allowed]
    return [k for _, k in sorted(costs) if loads[k] is not None]


def first_fit(instance: GpuPackingInstance, allowed: Sequence[int]) -> Packing | None:
    """First-fit decreasing over GPUs of the ``allowed`` types: a slice joins the first open GPU
    with room (preferred types first), else opens a GPU of the cheapest type below its
    ``max_count``; None when some slice fits nowhere."""
    free: list[list[int]] = [[] for _ in instance.gpu_types]
    placements: dict[int, tuple[int, int]] = {}
    for s in _decreasing(instance):
        types = _preference(instance, s, allowed)
        place = _existing(instance, s, types, free) or _opened(instance, s, types, free)
        if place is None:
            return None
        placements[s] = place
    return Packing(tuple(placements[s] for s in sorted(placements)), tuple(map(len, free)))


def _decreasing(instance: GpuPackingInstance) -> list[int]:
    """Slices by decreasing largest load."""
    return sorted(
        range(len(instance.slices)),
        key=lambda s: -max((x for x in instance.int_loads[s] if x is not None), default=0),
    )


def pooled(instance: GpuPackingInstance, allowed: Sequence[int]) -> Packing | None:
    """Type pooling: each slice to its cheapest type per served request whose ``max_count``
    still holds the pooled load rounded up; None when some slice fits nowhere."""
    return _pooled_by(instance, lambda s: _preference(instance, s, allowed))


def _existing(
    instance: GpuPackingInstance, s: int, types: list[int], free: list[list[int]]
) -> tuple[int, int] | None:
    for k in types:
        load = instance.int_loads[s][k] or 0
        for u, room in enumerate(free[k]):
            if room >= load:
                free[k][u] -= load
                return k, u
    return None


def _opened(
    instance: GpuPackingInstance, s: int, types: list[int], free: list[list[int]]
) -> tuple[int, int] | None:
    for k in types:
        cap = instance.gpu_types[k].max_count
        load = instance.int_loads[s][k] or 0
        if (cap is None or len(free[k]) < cap) and load <= LOAD_SCALE:
            free[k].append(LOAD_SCALE - load)
            return k, len(free[k]) - 1
    return None


def fleet_cost(instance: GpuPackingInstance, counts: Sequence[int]) -> float:
    """:math:`\\sum_k c_k n_k`, the hourly cost of a fleet."""
    units = sum(t.cost_units * n for t, n in zip(instance.gpu_types, counts, strict=True))
    return units / COST_SCALE


def greedy(instance: GpuPackingInstance, allowed: Sequence[int] | None = None) -> Packing | None:
    """The greedy packing of the instance's pooling over the ``allowed`` types (default all)."""
    types = range(len(instance.gpu_types)) if allowed is None else allowed
    return first_fit(instance, types) if instance.pooling == "instance" else pooled(instance, types)


def cheapest_single_type(instance: GpuPackingInstance) -> CheapestSingleType | None:
    """The cheapest fleet of a single type that serves every slice, None when no type can."""
    best: CheapestSingleType | None = None
    for k, gpu in enumerate(instance.gpu_types):
        packing = greedy(instance, [k])
        if packing is None:
            continue
        cost = fleet_cost(instance, packing.counts)
        if best is None or cost < best.cost_per_hour:
            best = CheapestSingleType(
                gpu_type=gpu.name, count=packing.counts[k], cost_per_hour=cost
            )
    return best


def to_solution(instance: GpuPackingInstance, packing: Packing) -> GpuPackingSolution:
    """The contract's solution of a packing (GPU indices only for instance pooling)."""
    types = instance.gpu_types
    assignment = tuple(
        Assignment(
            bucket=sl.bucket,
            slice=sl.index,
            gpu_type=types[k].name,
            gpu=u if instance.pooling == "instance" else None,
            rate=sl.rate,
        )
        for sl, (k, u) in zip(instance.slices, packing.placements, strict=True)
    )
    return GpuPackingSolution(
        cost_per_hour=fleet_cost(instance, packing.counts),
        gpus={t.name: n for t, n in zip(types, packing.counts, strict=True)},
        assignment=assignment,
        cheapest_single_type=cheapest_single_type(instance),
    )


def warm_start(
    instance: GpuPackingInstance, budget_s: float, seed: int, should_stop: Callable[[], bool]
) -> WarmStart[GpuPackingSolution] | None:
    """Greedy: each slice to the type with the least cost per served request, respecting
    ``max_count``; counts rounded up (type pooling) or first-fit decreasing GPUs (instance).
    One deterministic pass: the budget, seed and stop go unused. None when some slice fits
    nowhere."""
    del budget_s, seed, should_stop
    packing = greedy(instance)
    if packing is None:
        return None
    solution = to_solution(instance, packing)
    return WarmStart("greedy_cost_per_request", solution, solution.cost_per_hour)


@dataclass(frozen=True)
class SliceNaming:
    """What :func:`decode` needs to name slices under a steering: ``fixed[s] = (type, GPU or
    None)`` and ``reference[s]``, the reference's type of slice s (where it names a type of
    the instance)."""

    fixed: dict[int, tuple[int, int | None]]
    reference: dict[int, int]

    @property
    def preferred(self) -> dict[int, int]:
        """The reference's type of each unfixed slice."""
        return {s: k for s, k in self.reference.items() if s not in self.fixed}


def slice_naming(
    instance: GpuPackingInstance, steering: Steering[GpuPackingSolution]
) -> SliceNaming:
    """The steering's fixed slices and reference types, by slice position."""
    names = {t.name: k for k, t in enumerate(instance.gpu_types)}
    fixed: dict[int, tuple[int, int | None]] = {}
    if isinstance(steering.fixed, GpuPackingFixed):
        for f in steering.fixed.assignment:
            s = instance.slice_of(f.bucket, f.slice)
            if s is not None:  # validated with the options: it is there
                fixed[s] = (names[f.gpu_type], f.gpu)
    reference: dict[int, int] = {}
    for a in steering.reference.assignment if steering.reference else ():
        s = instance.slice_of(a.bucket, a.slice)
        if s is not None and a.gpu_type in names:
            reference[s] = names[a.gpu_type]
    return SliceNaming(fixed, reference)


def repair(
    instance: GpuPackingInstance, steering: Steering[GpuPackingSolution]
) -> GpuPackingSolution | None:
    """A packing that keeps the fixed slices and, where it can, the reference's type of every
    other slice: the greedy of the instance's pooling with each slice's own type tried first
    (fixed slices only on theirs; numbered GPUs opened for them). None when a fixed slice
    does not fit or some slice fits nowhere."""
    naming = slice_naming(instance, steering)
    fixed, before = naming.fixed, naming.reference
    everything = range(len(instance.gpu_types))

    def types_for(s: int) -> list[int]:
        if s in fixed:
            return [fixed[s][0]] if instance.int_loads[s][fixed[s][0]] is not None else []
        own = [before[s]] if s in before else []
        return own + [k for k in _preference(instance, s, everything) if k not in own]

    if instance.pooling == "type":
        packing = _pooled_by(instance, types_for)
    else:
        packing = _first_fit_by(instance, types_for, fixed)
    return None if packing is None else to_solution(instance, packing)


def _pooled_by(
    instance: GpuPackingInstance, types_for: Callable[[int], list[int]]
) -> Packing | None:
    """:func:`pooled` with each slice's types in the given order."""
    pool = [0] * len(instance.gpu_types)
    placements: dict[int, tuple[int, int]] = {}
    for s in _decreasing(instance):
        for k in types_for(s):
            cap = instance.gpu_types[k].max_count
            load = instance.int_loads[s][k] or 0
            if cap is None or math.ceil((pool[k] + load) / LOAD_SCALE) <= cap:
                pool[k] += load
                placements[s] = (k, 0)
                break
        else:
            return None
    counts = tuple(math.ceil(p / LOAD_SCALE) for p in pool)
    return Packing(tuple(placements[s] for s in sorted(placements)), counts)


def _first_fit_by(
    instance: GpuPackingInstance,
    types_for: Callable[[int], list[int]],
    fixed: dict[int, tuple[int, int | None]],
) -> Packing | None:
    """:func:`first_fit` with each slice's types in the given order, after the slices fixed
    on a numbered GPU went there (opening the GPUs up to that number)."""
    free: list[list[int]] = [[] for _ in instance.gpu_types]
    placements: dict[int, tuple[int, int]] = {}
    for s, (k, u) in fixed.items():
        if u is None:
            continue
        cap = instance.gpu_types[k].max_count
        load = instance.int_loads[s][k]
        if load is None or (cap is not None and u >= cap):
            return None
        free[k] += [LOAD_SCALE] * (u + 1 - len(free[k]))
        if free[k][u] < load:
            return None
        free[k][u] -= load
        placements[s] = (k, u)
    for s in _decreasing(instance):
        if s in placements:
            continue
        types = types_for(s)
        place = _existing(instance, s, types, free) or _opened(instance, s, types, free)
        if place is None:
            return None
        placements[s] = place
    return Packing(tuple(placements[s] for s in sorted(placements)), tuple(map(len, free)))
