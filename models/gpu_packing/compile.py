"""GPU-packing instance -> IR (Mélange's ILP for type pooling; bin packing for instances).

Loads are integers :math:`L_{s,k} = \\lceil \\ell_{s,k} \\cdot 10^6 \\rceil` (rounded *up*), so
every packing the IR admits holds with exact float loads too; a GPU's capacity is
:math:`C = 10^6`. Costs are integers :math:`10^4 c_k`, the objective scale is :math:`10^4`.

The slices of a bucket are identical, so the model counts them instead of naming them (no
symmetry between slices): :math:`z_{b,k,u}` slices of bucket b on GPU u of type k (u = 0 for
type pooling), :math:`f` = ``slice_factor``, :math:`L_{b,k}` the load of one slice.

``type`` (Mélange's ILP, slices aggregated): integers :math:`n_k`,

.. math::
    \\min \\sum_k 10^4 c_k n_k \\quad\\text{s.t.}\\quad \\sum_k z_{b,k} = f,\\qquad
    \\sum_b L_{b,k} z_{b,k} \\le C n_k.

``instance``: binaries :math:`y_{k,u}` (GPU u of type k is used),
:math:`\\sum_{k,u} z_{b,k,u} = f`, :math:`\\sum_b L_{b,k} z_{b,k,u} \\le C y_{k,u}`,
:math:`z_{b,k,u} \\le \\min(f, \\lfloor C / L_{b,k} \\rfloor) y_{k,u}` and, breaking
symmetry, :math:`y_{k,u} \\ge y_{k,u+1}`; :math:`n_k = \\sum_u y_{k,u}`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from makespan.models.gpu_packing.heuristics import Packing, to_solution
from makespan.models.gpu_packing.instance import (
    COST_SCALE,
    LOAD_SCALE,
    GpuPackingInstance,
    GpuPackingSolution,
)
from makespan.models.spec import Compiled
from makespan.solvers.ir import LinearExpr, ModelBuilder, Var


@dataclass(frozen=True)
class GpuPackingIndex:
    """IR variables: ``assign[g][(k, u)]`` slices of the g-th served bucket on GPU u of type k
    (u = 0 for type pooling) and ``gpus[k][u]`` (one integer count per type for type pooling,
    one used-binary per GPU for instance pooling)."""

    assign: tuple[dict[tuple[int, int], Var], ...]
    gpus: tuple[tuple[Var, ...], ...]


def _cap(instance: GpuPackingInstance, k: int, upper_bound: float | None) -> int:
    """Most GPUs of type k an optimal solution needs (see ``gpu_caps``), within the bound."""
    gpu = instance.gpu_types[k]
    cap = instance.gpu_caps[k]
    if upper_bound is not None and gpu.cost_per_hour > 0:
        cap = min(cap, math.floor(upper_bound / gpu.cost_per_hour + 1e-9))
    return max(cap, 0)


def compile_instance(
    instance: GpuPackingInstance, upper_bound: float | None = None
) -> Compiled[GpuPackingIndex]:
    """The IR of ``instance``; ``upper_bound`` (a known cost) caps the GPU counts."""
    b = ModelBuilder(name=instance.name or "gpu_packing")
    caps = [_cap(instance, k, upper_bound) for k in range(len(instance.gpu_types))]
    gpus: tuple[tuple[Var, ...], ...]
    if instance.pooling == "type":
        gpus = tuple((b.int_var(0, c, f"n_{k}"),) for k, c in enumerate(caps))
    else:
        gpus = tuple(tuple(b.bool_var(f"y_{k}_{u}") for u in range(c)) for k, c in enumerate(caps))
    groups = len(instance.slices) // instance.slice_factor
    assign = tuple(_bucket_vars(b, instance, g, gpus) for g in range(groups))
    _capacity_rows(b, instance, assign, gpus)
    costs = [t.cost_units for t in instance.gpu_types]
    b.minimize(
        LinearExpr.sum(costs[k] * v for k, row in enumerate(gpus) for v in row), scale=COST_SCALE
    )
    return Compiled(b.build(), GpuPackingIndex(assign, gpus))


def _bucket_vars(
    b: ModelBuilder, instance: GpuPackingInstance, g: int, gpus: tuple[tuple[Var, ...], ...]
) -> dict[tuple[int, int], Var]:
    """How many slices of the g-th served bucket each GPU (or type) takes; they sum to f."""
    f = instance.slice_factor
    loads = instance.int_loads[g * f]
    found: dict[tuple[int, int], Var] = {}
    for k, row in enumerate(gpus):
        load = loads[k]
        if load is None:
            continue
        most = f if instance.pooling == "type" else min(f, LOAD_SCALE // load)
        for u in range(len(row) if instance.pooling == "instance" else 1):
            found[(k, u)] = b.int_var(0, most, f"z_{g}_{k}_{u}")
            if instance.pooling == "instance":
                b.add_linear(found[(k, u)] - row[u] * most, ub=0)
    b.add_linear(LinearExpr.sum(found.values()), lb=f, ub=f)
    return found


def _capacity_rows(
    b: ModelBuilder,
    instance: GpuPackingInstance,
    assign: tuple[dict[tuple[int, int], Var], ...],
    gpus: tuple[tuple[Var, ...], ...],
) -> None:
    """Load within capacity per type (pooled) or per GPU; used GPUs first (instance)."""
    terms: dict[tuple[int, int], list[LinearExpr]] = {}
    for g, places in enumerate(assign):
        loads = instance.int_loads[g * instance.slice_factor]
        for (k, u), var in places.items():
            terms.setdefault((k, u), []).append(var * (loads[k] or 0))
    for k, row in enumerate(gpus):
        for u, count in enumerate(row):
            load = LinearExpr.sum(terms.get((k, u), []))
            b.add_linear(load - count * LOAD_SCALE, ub=0)
            if u:
                b.add_linear(row[u - 1] - count, lb=0)


def decode(
    instance: GpuPackingInstance, compiled: Compiled[GpuPackingIndex], values: Sequence[int]
) -> GpuPackingSolution:
    """The fleet and assignment held in the backend's values (GPU indices renumbered densely)."""
    index = compiled.index
    placements = [
        place
        for places in index.assign
        for place, var in sorted(places.items())
        for _ in range(values[var.index])
    ]
    counts = tuple(sum(values[v.index] for v in row) for row in index.gpus)
    dense: dict[tuple[int, int], int] = {}
    for k, u in sorted(set(placements)):
        dense[(k, u)] = sum(1 for key in dense if key[0] == k)
    renumbered = tuple((k, dense[(k, u)]) for k, u in placements)
    return to_solution(instance, Packing(renumbered, counts))


def hint(
    instance: GpuPackingInstance, compiled: Compiled[GpuPackingIndex], solution: GpuPackingSolution
) -> Mapping[int, int]:
    """Hint values from a solution; GPUs past a type's cap in the IR are left unhinted."""
    values: dict[int, int] = {}
    for k, row in enumerate(compiled.index.gpus):
        count = solution.gpus.get(instance.gpu_types[k].name, 0)
        if instance.pooling == "type" and count <= compiled.ir.variables[row[0].index].ub:
            values[row[0].index] = count
        elif instance.pooling == "instance" and count <= len(row):
            values.update((v.index, int(u < count)) for u, v in enumerate(row))
    taken = _slices_per_place(instance, solution)
    for g, places in enumerate(compiled.index.assign):
        if sum(taken.get((g, p), 0) for p in places) == instance.slice_factor:
            values.update((v.index, taken.get((g, p), 0)) for p, v in places.items())
    return values


def _slices_per_place(
    instance: GpuPackingInstance, solution: GpuPackingSolution
) -> dict[tuple[int, tuple[int, int]], int]:
    """Slices of each served bucket per (type, GPU) in a solution."""
    names = {t.name: k for k, t in enumerate(instance.gpu_types)}
    taken: dict[tuple[int, tuple[int, int]], int] = {}
    for a in solution.assignment:
        s = instance.slice_of(a.bucket, a.slice)
        if s is not None and a.gpu_type in names:
            key = (s // instance.slice_factor, (names[a.gpu_type], a.gpu or 0))
            taken[key] = taken.get(key, 0) + 1
    return taken
