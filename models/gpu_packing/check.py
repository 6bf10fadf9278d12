"""Independent GPU-packing checker: recomputes loads, counts and cost from exact float loads;
and the cheap proof that an instance has no packing at all."""

from __future__ import annotations

import math

from makespan.models.check import CheckReport, ViolationLog
from makespan.models.errors import InstanceError
from makespan.models.gpu_packing.instance import (
    COST_SCALE,
    LOAD_TOLERANCE,
    Assignment,
    GpuPackingFixed,
    GpuPackingInstance,
    GpuPackingSolution,
)


def infeasibility_reason(instance: GpuPackingInstance) -> str | None:
    """A slice that no single GPU can hold (instance pooling: a load over one GPU for every
    type), else None."""
    for s, loads in enumerate(instance.int_loads):
        if all(x is None for x in loads):
            sl = instance.slices[s]
            return f"bucket {list(sl.bucket)}: a slice of rate {sl.rate:g} fits no single GPU"
    return None


def check(instance: GpuPackingInstance, solution: GpuPackingSolution) -> CheckReport:
    """Every slice assigned once, at its rate, to a type that serves its bucket; counts within
    ``max_count``; pooled load per type (``type``) or load per GPU (``instance``) within
    capacity; objective :math:`\\sum_k c_k n_k`, equal to the claimed ``cost_per_hour``."""
    log = ViolationLog()
    names = {t.name: k for k, t in enumerate(instance.gpu_types)}
    counts = _counts(instance, solution, names, log)
    loads: dict[tuple[int, int | None], float] = {}
    seen: set[int] = set()
    for a in solution.assignment:
        placed = _placed(instance, a, names, counts, log)
        if placed is None:
            continue
        s, k, load = placed
        if s in seen:
            log.add(f"slice {a.slice} of bucket {list(a.bucket)} is assigned twice")
        seen.add(s)
        key = (k, a.gpu if instance.pooling == "instance" else None)
        loads[key] = loads.get(key, 0.0) + load
    if len(seen) < len(instance.slices):
        log.add(f"{len(instance.slices) - len(seen)} slices are not assigned")
    for (k, gpu), load in loads.items():
        capacity = counts[k] if gpu is None else 1
        if load > capacity * (1 + LOAD_TOLERANCE) + LOAD_TOLERANCE:
            where = instance.gpu_types[k].name + ("" if gpu is None else f" GPU {gpu}")
            log.add(f"{where} carries load {load:.9g} > capacity {capacity}")
    # In exact cost units (costs carry at most four decimals): no float noise in the objective.
    units = sum(t.cost_units * n for t, n in zip(instance.gpu_types, counts, strict=True))
    cost = units / COST_SCALE
    if not math.isclose(cost, solution.cost_per_hour, rel_tol=1e-9, abs_tol=1e-9):
        log.add(f"claimed cost {solution.cost_per_hour} differs from the fleet's {cost}")
    return log.report(cost)


def _counts(
    instance: GpuPackingInstance,
    solution: GpuPackingSolution,
    names: dict[str, int],
    log: ViolationLog,
) -> list[int]:
    counts = [0] * len(instance.gpu_types)
    for name, count in solution.gpus.items():
        if name not in names:
            log.add(f"gpus: unknown GPU type {name!r}")
            continue
        cap = instance.gpu_types[names[name]].max_count
        if cap is not None and count > cap:
            log.add(f"gpus: {count} GPUs of {name} exceed its max_count {cap}")
        counts[names[name]] = count
    return counts


def _placed(
    instance: GpuPackingInstance,
    a: Assignment,
    names: dict[str, int],
    counts: list[int],
    log: ViolationLog,
) -> tuple[int, int, float] | None:
    """(slice position, type, load) of a valid assignment; None after logging why not."""
    what = f"slice {a.slice} of bucket {list(a.bucket)}"
    s = instance.slice_of(a.bucket, a.slice)
    k = names.get(a.gpu_type)
    if s is None or k is None:
        log.add(f"{what}: no such slice or GPU type {a.gpu_type!r}")
        return None
    load = instance.load(instance.slices[s], k)
    if load is None:
        log.add(f"{what}: {a.gpu_type} cannot serve this bucket")
        return None
    if not math.isclose(a.rate, instance.slices[s].rate, rel_tol=1e-9, abs_tol=1e-12):
        log.add(f"{what}: rate {a.rate} is not {instance.slices[s].rate}")
    if instance.pooling == "type" and a.gpu is not None:
        log.add(f"{what}: pooling by type assigns no individual GPU")
    if instance.pooling == "instance" and (a.gpu is None or a.gpu >= counts[k]):
        log.add(f"{what}: GPU {a.gpu} is not one of the {counts[k]} GPUs of {a.gpu_type}")
    return s, k, load


def validate_fixed(instance: GpuPackingInstance, fixed: GpuPackingFixed) -> None:
    """Every fixing names a slice of the instance (once), a known GPU type, the slice's rate
    when it gives one, and a GPU only for instance pooling. (A type that cannot serve the
    slice is a fixing that cannot hold: the solve answers infeasible and names it.)"""
    names = {t.name for t in instance.gpu_types}
    seen: set[int] = set()
    for k, f in enumerate(fixed.assignment):
        where = f"assignment.{k}"
        s = instance.slice_of(f.bucket, f.slice)
        if s is None:
            raise InstanceError(f"no slice {f.slice} of bucket {list(f.bucket)}", field=where)
        if s in seen:
            raise InstanceError(
                f"slice {f.slice} of bucket {list(f.bucket)} fixed twice", field=where
            )
        seen.add(s)
        if f.gpu_type not in names:
            raise InstanceError(f"unknown GPU type {f.gpu_type!r}", field=f"{where}.gpu_type")
        if f.gpu is not None and instance.pooling == "type":
            raise InstanceError("pooling by type assigns no individual GPU", field=f"{where}.gpu")
        rate = instance.slices[s].rate
        if f.rate is not None and not math.isclose(f.rate, rate, rel_tol=1e-9, abs_tol=1e-12):
            raise InstanceError(f"the slice's rate is {rate}, not {f.rate}", field=f"{where}.rate")


def _types(solution: GpuPackingSolution) -> dict[tuple[tuple[int, int], int], Assignment]:
    return {(a.bucket, a.slice): a for a in solution.assignment}


def kept(
    instance: GpuPackingInstance, solution: GpuPackingSolution, fixed: GpuPackingFixed
) -> list[str]:
    """Every fixed slice that ``solution`` put on another type (or GPU)."""
    del instance
    found = _types(solution)
    broken = []
    for f in fixed.assignment:
        a = found.get((f.bucket, f.slice))
        wanted = _place(f.gpu_type, f.gpu)
        actual = (
            "nowhere" if a is None else _place(a.gpu_type, a.gpu if f.gpu is not None else None)
        )
        if actual != wanted:
            what = f"slice {f.slice} of bucket {list(f.bucket)}"
            broken.append(f"{what} is fixed on {wanted}, found on {actual}")
    return broken


def _place(gpu_type: str, gpu: int | None) -> str:
    return gpu_type if gpu is None else f"{gpu_type} GPU {gpu}"


def deviation(
    instance: GpuPackingInstance, solution: GpuPackingSolution, reference: GpuPackingSolution
) -> int:
    """The number of slices on another GPU type than in the reference.

    Raises:
        InstanceError: the reference leaves a slice of the instance out.
    """
    before, after = _types(reference), _types(solution)
    changed = 0
    for sl in instance.slices:
        key = (sl.bucket, sl.index)
        if key not in before:
            raise InstanceError(
                f"slice {sl.index} of bucket {list(sl.bucket)} is missing", field="assignment"
            )
        now = after.get(key)
        changed += now is None or now.gpu_type != before[key].gpu_type
    return changed
