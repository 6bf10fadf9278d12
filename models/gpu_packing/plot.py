"""The picture of a GPU-packing solution: the chosen fleet, and its cost against one-type fleets.

Left, per GPU type the GPUs chosen (light bar) and the work they carry in GPUs' worth of load
(dark bar inside: how full the type's GPUs are). Right, the hourly cost of the chosen mix,
stacked by type, above the cheapest fleet of each single type that serves every slice under
the instance's pooling rule and ``max_count`` (Mélange's baseline), the cheapest one outlined,
with the instance's lower bound as a dashed line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from matplotlib.ticker import MaxNLocator

from makespan.models.gpu_packing.heuristics import cheapest_single_type, fleet_cost, greedy
from makespan.models.gpu_packing.instance import (
    CheapestSingleType,
    GpuPackingInstance,
    GpuPackingSolution,
)
from makespan.models.plotting import colours, new_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class SingleTypeFleet:
    """The fleet of one GPU type alone: ``count`` GPUs at ``cost_per_hour``, both None when the
    type cannot serve every slice (a bucket it cannot serve, or more than ``max_count``)."""

    gpu_type: str
    count: int | None
    cost_per_hour: float | None


def single_type_fleets(instance: GpuPackingInstance) -> list[SingleTypeFleet]:
    """For every GPU type, the greedy fleet of that type only (type pooling: the pooled load
    rounded up, which is the fewest GPUs; instance pooling: first-fit decreasing)."""
    fleets = []
    for k, gpu in enumerate(instance.gpu_types):
        packing = greedy(instance, [k])
        if packing is None:
            fleets.append(SingleTypeFleet(gpu.name, None, None))
        else:
            cost = fleet_cost(instance, packing.counts)
            fleets.append(SingleTypeFleet(gpu.name, packing.counts[k], cost))
    return fleets


def type_loads(instance: GpuPackingInstance, solution: GpuPackingSolution) -> list[float]:
    """Per GPU type, the summed load of the slices the solution assigns to it, in GPUs."""
    names = {t.name: k for k, t in enumerate(instance.gpu_types)}
    loads = [0.0] * len(instance.gpu_types)
    for a in solution.assignment:
        s = instance.slice_of(a.bucket, a.slice)
        k = names.get(a.gpu_type)
        if s is None or k is None:
            continue
        load = instance.load(instance.slices[s], k)
        loads[k] += load or 0.0
    return loads


def draw(instance: GpuPackingInstance, solution: GpuPackingSolution) -> Figure:
    """GPUs and load per type beside the cost of the mix against single-type fleets."""
    types = len(instance.gpu_types)
    figure = new_figure(10, max(3.8, 1.6 + 0.42 * (types + 1)))
    fleet_ax, cost_ax = figure.subplots(1, 2, width_ratios=(1, 1.35))
    pairs = colours(2 * types)  # tab20: a dark colour, then its light partner
    palette = [(pairs[2 * k], pairs[2 * k + 1]) for k in range(types)]
    _draw_fleet(fleet_ax, instance, solution, palette)
    _draw_costs(cost_ax, instance, solution, palette)
    return figure


Colour = tuple[float, float, float, float]
Palette = list[tuple[Colour, Colour]]
"""Per GPU type a dark colour (load, cost) and a light one (GPUs bought, single-type fleet)."""


def _draw_fleet(
    ax: Axes,
    instance: GpuPackingInstance,
    solution: GpuPackingSolution,
    palette: Palette,
) -> None:
    ax.set_gid("fleet")
    names = [t.name for t in instance.gpu_types]
    counts = [solution.gpus.get(name, 0) for name in names]
    loads = type_loads(instance, solution)
    positions = range(len(names))
    dark = [d for d, _ in palette]
    ax.bar(positions, counts, width=0.7, color=[light for _, light in palette], edgecolor=dark)
    ax.bar(positions, loads, width=0.4, color=dark)
    top = max(max(counts, default=0), 1)
    for x, (count, load) in enumerate(zip(counts, loads, strict=True)):
        label = (
            f"{count} GPU{'s' if count != 1 else ''}\n{load / count:.0%} full" if count else "none"
        )
        ax.text(x, count + top * 0.02, label, ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(positions), names, fontsize=8, rotation=30 if len(names) > 6 else 0)
    ax.set_ylim(0, top * 1.25)
    ax.set_ylabel("GPUs")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    total = sum(counts)
    pooling = "pooled per type" if instance.pooling == "type" else "packed per GPU"
    ax.set_title(
        f"chosen fleet: {total} GPU{'s' if total != 1 else ''}, load {pooling}\n"
        "light: GPUs bought, dark: the load they carry",
        fontsize=9,
        loc="left",
    )


def _draw_costs(
    ax: Axes,
    instance: GpuPackingInstance,
    solution: GpuPackingSolution,
    palette: Palette,
) -> None:
    names = [t.name for t in instance.gpu_types]
    fleets = single_type_fleets(instance)
    cheapest = cheapest_single_type(instance)
    rows = ["chosen mix", *(f"{f.gpu_type} only" for f in fleets)]
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    costs = [f.cost_per_hour for f in fleets if f.cost_per_hour is not None]
    right = max([solution.cost_per_hour, instance.fractional_lower_bound, *costs, 1e-9])
    left = 0.0
    for k, name in enumerate(names):
        count = solution.gpus.get(name, 0)
        cost = instance.gpu_types[k].cost_per_hour * count
        if cost > 0:
            ax.barh(0, cost, left=left, height=0.6, color=palette[k][0], edgecolor="white")
            if cost >= right * 0.12:
                ax.text(
                    left + cost / 2,
                    0,
                    f"{count}×{name}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white",
                    clip_on=True,
                )
            left += cost
    _cost_label(ax, 0, solution.cost_per_hour, right, bold=True)
    for row, (k, fleet) in enumerate(enumerate(fleets), start=1):
        if fleet.cost_per_hour is None or fleet.count is None:
            why = f"cannot serve every slice: {_why_not(instance, k)}"
            ax.text(
                right * 0.01,
                row,
                why,
                va="center",
                fontsize=8,
                color="dimgrey",
                zorder=3,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
            )
            continue
        best = cheapest is not None and fleet.gpu_type == cheapest.gpu_type
        (bar,) = ax.barh(
            row,
            fleet.cost_per_hour,
            height=0.6,
            color=palette[k][1],
            edgecolor="black" if best else palette[k][0],
            linewidth=1.6 if best else 0.8,
        )
        if best:
            bar.set_gid("cheapest-single-type")
        note = f"{fleet.count} GPU{'s' if fleet.count != 1 else ''}"
        _cost_label(ax, row, fleet.cost_per_hour, right, note=note, bold=best)
    bound = instance.fractional_lower_bound
    ax.axvline(bound, color="black", linestyle="--", linewidth=1)
    ax.text(bound, -0.55, f"lower bound {bound:.4g}", ha="center", va="bottom", fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.95)
    ax.set_xlim(0, right * 1.3)
    packed = "" if instance.pooling == "type" else " (single types packed first-fit decreasing)"
    ax.set_xlabel(f"cost per hour{packed}")
    title = ax.set_title(_cost_title(solution.cost_per_hour, cheapest), fontsize=9, loc="left")
    if cheapest is None:
        title.set_gid("cheapest-single-type")


def _cost_title(mix: float, cheapest: CheapestSingleType | None) -> str:
    if cheapest is None:
        return f"hourly cost {_money(mix)}; no single GPU type can serve every slice"
    saving = 1 - mix / cheapest.cost_per_hour if cheapest.cost_per_hour > 0 else 0.0
    if saving < 0.005:
        return (
            f"hourly cost {_money(mix)}, as much as the cheapest single type "
            f"({cheapest.count} × {cheapest.gpu_type})"
        )
    return (
        f"hourly cost {_money(mix)} vs {_money(cheapest.cost_per_hour)} for the cheapest "
        f"single type ({cheapest.gpu_type}): {saving:.0%} saved"
    )


def _cost_label(
    ax: Axes, row: int, cost: float, right: float, note: str = "", bold: bool = False
) -> None:
    text = _money(cost) + (f" ({note})" if note else "")
    ax.text(
        cost + right * 0.01,
        row,
        text,
        va="center",
        fontsize=8,
        fontweight="bold" if bold else "normal",
    )


def _money(cost: float) -> str:
    """``5.05``, ``12.3456``: two decimals unless more are needed (costs carry at most four)."""
    return f"{cost:,.2f}" if abs(cost * 100 - round(cost * 100)) < 1e-6 else f"{cost:,.4f}"


def _why_not(instance: GpuPackingInstance, k: int) -> str:
    """Why type ``k`` alone cannot serve everything: a bucket it cannot serve, a slice larger
    than one GPU (instance pooling) or its ``max_count``."""
    gpu = instance.gpu_types[k]
    for i, row in enumerate(instance.workload):
        for j, share in enumerate(row):
            if share > 0 and gpu.throughput[i][j] <= 0:
                return f"no throughput for bucket [{i}, {j}]"
    for s, loads in enumerate(instance.int_loads):
        if loads[k] is None:
            i, j = instance.slices[s].bucket
            return f"a slice of bucket [{i}, {j}] exceeds one GPU"
    return f"more than max_count {gpu.max_count} GPUs"
