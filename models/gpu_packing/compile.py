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

Fixings (``options.fixed``): the j-th slice of bucket b fixed on type k (GPU u) is
:math:`\\sum_u z_{b,k,u} \\ge j` (:math:`z_{b,k,u} \\ge j`), one labelled group per
slice; a type that cannot serve it, or a GPU past ``max_count``, is a group that cannot hold.
GPU numbers are kept as the IR's (the used GPUs of a type are its first ones), and the caps
grow by the highest fixed GPU number. With a reference, :math:`r_{b,k}` of the unfixed slices
of b were on type k; the fewest slices that change type are
:math:`\\sum_{b,k} \\max(0, r_{b,k} - (\\sum_u z_{b,k,u} - F_{b,k}))` (F: the fixed
slices of b on k) plus the fixed slices the reference had elsewhere, and :func:`decode` names
the slices so that exactly these change.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from makespan.models.gpu_packing.heuristics import Packing, SliceNaming, slice_naming, to_solution
from makespan.models.gpu_packing.instance import (
    COST_SCALE,
    LOAD_SCALE,
    GpuPackingInstance,
    GpuPackingSolution,
)
from makespan.models.spec import Compiled, Steering
from makespan.solvers.ir import DeviationTerm, Label, LinearExpr, Measure, ModelBuilder, Var


@dataclass(frozen=True)
class GpuPackingIndex:
    """IR variables: ``assign[g][(k, u)]`` slices of the g-th served bucket on GPU u of type k
    (u = 0 for type pooling) and ``gpus[k][u]`` (one integer count per type for type pooling,
    one used-binary per GPU for instance pooling)."""

    assign: tuple[dict[tuple[int, int], Var], ...]
    gpus: tuple[tuple[Var, ...], ...]
    naming: SliceNaming | None = None


def _cap(instance: GpuPackingInstance, k: int, upper_bound: float | None, extra: int = 0) -> int:
    """Most GPUs of type k an optimal solution needs (see ``gpu_caps``; ``extra`` more for the
    fixed GPU numbers), within the bound."""
    gpu = instance.gpu_types[k]
    cap = instance.gpu_caps[k] + extra
    if gpu.max_count is not None:
        cap = min(cap, gpu.max_count)
    if upper_bound is not None and gpu.cost_per_hour > 0:
        cap = min(cap, math.floor(upper_bound / gpu.cost_per_hour + 1e-9))
    return max(cap, 0)


def compile_instance(
    instance: GpuPackingInstance,
    upper_bound: float | None = None,
    steering: Steering[GpuPackingSolution] | None = None,
) -> Compiled[GpuPackingIndex]:
    """The module's model of ``instance``: a known cost ``upper_bound`` limits each type to
    :math:`n_k \\le \\lfloor upper / c_k \\rfloor` GPUs; with ``steering``, fixed slices hold as
    labelled groups and the slices moved from the reference join the objective."""
    b = ModelBuilder(name=instance.name or "gpu_packing")
    naming = None if steering is None else slice_naming(instance, steering)
    extra = _extra_gpus(instance, naming)
    caps = [_cap(instance, k, upper_bound, extra[k]) for k in range(len(instance.gpu_types))]
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
    if naming is not None:
        _fix(b, instance, assign, naming)
    model = b.build()
    if steering is not None and steering.reference is not None and naming is not None:
        model = model.with_deviation(_deviation_terms(instance, assign, naming), steering.weight)
    return Compiled(model, GpuPackingIndex(assign, gpus, naming))


def _extra_gpus(instance: GpuPackingInstance, naming: SliceNaming | None) -> list[int]:
    extra = [0] * len(instance.gpu_types)
    for k, u in naming.fixed.values() if naming else ():
        if u is not None:
            extra[k] = max(extra[k], u + 1)
    return extra


def _fix(
    b: ModelBuilder,
    instance: GpuPackingInstance,
    assign: tuple[dict[tuple[int, int], Var], ...],
    naming: SliceNaming,
) -> None:
    """One labelled group per fixed slice: the j-th of its bucket on the same place makes
    that place take at least j slices."""
    seen: dict[tuple[int, int, int | None], int] = {}
    for s, (k, u) in sorted(naming.fixed.items()):
        g = s // instance.slice_factor
        seen[(g, k, u)] = rank = seen.get((g, k, u), 0) + 1
        sl = instance.slices[s]
        where = instance.gpu_types[k].name + ("" if u is None else f" GPU {u}")
        label: Label = {
            "constraint": "fixed",
            "message": f"slice {sl.index} of bucket {list(sl.bucket)} on {where}",
            "bucket": str(list(sl.bucket)),
            "slice": sl.index,
        }
        places = [var for (kk, uu), var in assign[g].items() if kk == k and u in (None, uu)]
        with b.labeled(label):
            if places:
                b.add_linear(LinearExpr.sum(places), lb=rank)
            else:  # the type cannot serve the slice, or the GPU is past max_count
                b.add_linear(LinearExpr((), 0), lb=1)


def _deviation_terms(
    instance: GpuPackingInstance,
    assign: tuple[dict[tuple[int, int], Var], ...],
    naming: SliceNaming,
) -> list[DeviationTerm]:
    """Per bucket and type, the reference's unfixed slices on it that cannot stay; plus the
    slices that change whatever happens."""
    f = instance.slice_factor
    wanted: dict[tuple[int, int], int] = {}
    pinned: dict[tuple[int, int], int] = {}
    for s, k in naming.preferred.items():
        wanted[(s // f, k)] = wanted.get((s // f, k), 0) + 1
    for s, (k, _) in naming.fixed.items():
        pinned[(s // f, k)] = pinned.get((s // f, k), 0) + 1
    terms = []
    for (g, k), count in sorted(wanted.items()):
        places = [var for (kk, _), var in assign[g].items() if kk == k]
        taken = LinearExpr.sum(places) - pinned.get((g, k), 0)
        terms.append(DeviationTerm(taken, count, 1, Measure.SHORTFALL))
    fixed_elsewhere = sum(1 for s, (k, _) in naming.fixed.items() if naming.reference.get(s) != k)
    unknown = len(instance.slices) - len(naming.fixed) - len(naming.preferred)
    constant = LinearExpr((), fixed_elsewhere + unknown)
    terms.append(DeviationTerm(constant, 0, 1, Measure.ABSOLUTE))
    return terms


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
    """The fleet and assignment held in the backend's values (GPU indices renumbered densely;
    under a steering, the IR's GPU numbers and the slices named as the module docstring says)."""
    index = compiled.index
    counts = tuple(sum(values[v.index] for v in row) for row in index.gpus)
    if index.naming is not None:
        named = _named_placements(instance, index, values, index.naming)
        return to_solution(instance, Packing(named, counts))
    placements = [
        place
        for places in index.assign
        for place, var in sorted(places.items())
        for _ in range(values[var.index])
    ]
    dense: dict[tuple[int, int], int] = {}
    for k, u in sorted(set(placements)):
        dense[(k, u)] = sum(1 for key in dense if key[0] == k)
    renumbered = tuple((k, dense[(k, u)]) for k, u in placements)
    return to_solution(instance, Packing(renumbered, counts))


def _named_placements(
    instance: GpuPackingInstance,
    index: GpuPackingIndex,
    values: Sequence[int],
    naming: SliceNaming,
) -> tuple[tuple[int, int], ...]:
    """Per bucket, the places the values hold, given first to its fixed slices (their place),
    then to unfixed slices on their reference's type, then to the rest in order."""
    f = instance.slice_factor
    named: dict[int, tuple[int, int]] = {}
    for g, places in enumerate(index.assign):
        pool = [p for p, var in sorted(places.items()) for _ in range(values[var.index])]
        slices = range(g * f, (g + 1) * f)
        # Fixings on a numbered GPU first: a type-only fixing must not take their place.
        for s in sorted(
            (s for s in slices if s in naming.fixed), key=lambda s: naming.fixed[s][1] is None
        ):
            k, u = naming.fixed[s]
            named[s] = _take(pool, k, u)
        for s in (s for s in slices if s not in named and s in naming.reference):
            k = naming.reference[s]
            if any(p[0] == k for p in pool):
                named[s] = _take(pool, k, None)
        for s in (s for s in slices if s not in named):
            named[s] = pool.pop(0)
    return tuple(named[s] for s in range(len(instance.slices)))


def _take(pool: list[tuple[int, int]], k: int, u: int | None) -> tuple[int, int]:
    """Remove and return the first place of ``pool`` on type k (and GPU u, when given)."""
    position = next(i for i, (kk, uu) in enumerate(pool) if kk == k and u in (None, uu))
    return pool.pop(position)


def hint(
    instance: GpuPackingInstance,
    compiled: Compiled[GpuPackingIndex],
    solution: GpuPackingSolution,
    backend: str,
) -> Mapping[int, int]:
    """Hint values from a solution, for every backend alike; GPUs past a type's cap in the IR are
    left unhinted."""
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
