"""The picture of an expert placement: per-GPU load by layer, and the traffic between GPUs.

Left, a heat map of the tokens each GPU processes in each layer (replicas carry their equal
share); the most loaded GPU of every layer (the one the objective's balance term counts) is
outlined, dashed lines separate the nodes, and a dot marks each GPU holding a redundant replica
in that layer (its size: how many). Right, the tokens routed from
one layer to the next, summed over layers, by sending GPU (row) and receiving GPU (column):
the off-diagonal cells cross GPUs (the communication term), the grey diagonal stays local.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Colormap, Normalize
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator
from numpy.typing import NDArray

from makespan.models.expert_placement.instance import (
    ExpertPlacementInstance,
    ExpertPlacementSolution,
)
from makespan.models.plotting import label_every, new_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.image import AxesImage

Grid = NDArray[np.int64]

ANNOTATED_CELLS = 16
"""Cell values are written when both sides of a grid have at most this many cells."""

OUTLINED_LAYERS = 64
"""Up to this many layers, each layer's most loaded GPU is outlined."""


def gpu_loads(instance: ExpertPlacementInstance, solution: ExpertPlacementSolution) -> Grid:
    """``loads[g, l]``: tokens processed by GPU g in layer l under the solution's placement
    (a replica carrying its expert's equal share, rounded up)."""
    grid = np.zeros((instance.num_gpus, instance.num_layers), dtype=np.int64)
    for layer, (row, sets) in enumerate(
        zip(instance.loads, solution.replica_sets(instance), strict=True)
    ):
        for load, gpus in zip(row, sets, strict=True):
            for g in gpus:
                grid[g, layer] += -(-load // len(gpus))
    return grid


def redundant_replicas(
    instance: ExpertPlacementInstance, solution: ExpertPlacementSolution
) -> Grid:
    """``extra[g, l]``: replicas on GPU g in layer l of experts that have more than one."""
    grid = np.zeros((instance.num_gpus, instance.num_layers), dtype=np.int64)
    for layer, sets in enumerate(solution.replica_sets(instance)):
        for gpus in sets:
            if len(gpus) > 1:
                for g in gpus:
                    grid[g, layer] += 1
    return grid


def gpu_traffic(instance: ExpertPlacementInstance, solution: ExpertPlacementSolution) -> Grid:
    """``traffic[g, h]``: tokens routed from an expert on GPU g to an expert of the next layer
    on GPU h (the cheapest pair of their replicas), summed over layers; the diagonal is traffic
    that stays on one GPU."""
    grid = np.zeros((instance.num_gpus, instance.num_gpus), dtype=np.int64)
    sets = solution.replica_sets(instance)
    costs = instance.costs
    for route in instance.routing:
        pairs = (
            (g, h) for g in sets[route.layer][route.src] for h in sets[route.layer + 1][route.dst]
        )
        g, h = min(pairs, key=lambda pair: (costs[pair[0]][pair[1]], pair))
        grid[g, h] += route.tokens
    return grid


def draw(instance: ExpertPlacementInstance, solution: ExpertPlacementSolution) -> Figure:
    """The load heat map (GPU x layer) beside the GPU x GPU traffic matrix."""
    figure = new_figure(10, 4.8)
    load_ax, traffic_ax = figure.subplots(1, 2, width_ratios=(1.25, 1))
    _draw_loads(figure, load_ax, instance, gpu_loads(instance, solution), solution)
    _draw_traffic(figure, traffic_ax, instance, gpu_traffic(instance, solution), solution)
    return figure


def _draw_loads(
    figure: Figure,
    ax: Axes,
    instance: ExpertPlacementInstance,
    loads: Grid,
    solution: ExpertPlacementSolution,
) -> None:
    ax.set_gid("load-heatmap")
    image = ax.imshow(loads, cmap="YlOrRd", aspect="auto", interpolation="nearest")
    image.set_norm(Normalize(vmin=0, vmax=max(1, int(loads.max()))))
    bar = figure.colorbar(image, ax=ax, pad=0.02, aspect=30)
    bar.set_label("tokens", fontsize=9)
    bar.ax.tick_params(labelsize=8)
    gpus, layers = loads.shape
    _ticks(ax, layers, gpus)
    ax.set_xlabel("layer")
    ax.set_ylabel("GPU")
    outlined = " (outlined: each layer's maximum)" if layers <= OUTLINED_LAYERS else ""
    balanced = sum(-(-sum(row) // instance.num_gpus) for row in instance.loads)
    hierarchy = ""
    if instance.num_nodes > 1 or instance.replicated:
        hierarchy = (
            f"\n{instance.num_nodes} nodes (dashed lines), {instance.slots} slots, "
            "dots: redundant replicas"
        )
    balance = f", balancedness {solution.balancedness:.3f}" if solution.balancedness else ""
    ax.set_title(
        f"tokens per GPU and layer{outlined}{hierarchy}\n"
        f"sum of layer maxima {solution.max_load_sum:,}, even split {balanced:,}{balance}",
        fontsize=9,
        loc="left",
    )
    busiest = loads.argmax(axis=0)
    if layers <= OUTLINED_LAYERS:
        for layer, gpu in enumerate(busiest.tolist()):
            ax.add_patch(
                Rectangle(
                    (layer - 0.5, gpu - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=1.6
                )
            )
    if max(gpus, layers) <= ANNOTATED_CELLS:
        _annotate(ax, image, loads, bold={(int(g), layer) for layer, g in enumerate(busiest)})
    _draw_hierarchy(ax, instance, solution, layers)


def _draw_hierarchy(
    ax: Axes, instance: ExpertPlacementInstance, solution: ExpertPlacementSolution, layers: int
) -> None:
    """Node boundaries as dashed lines; redundant replicas as dots in the cells' corners."""
    for node in range(1, instance.num_nodes):
        ax.axhline(node * instance.gpus_per_node - 0.5, color="navy", linestyle="--", linewidth=1.2)
    if not instance.replicated:
        return
    extra = redundant_replicas(instance, solution)
    gpu, layer = np.nonzero(extra)
    ax.scatter(
        layer + 0.32,
        gpu - 0.3,
        s=6 + 10 * extra[gpu, layer],
        c="navy",
        marker="o",
        linewidths=0,
        gid="replicas",
    )


def _draw_traffic(
    figure: Figure,
    ax: Axes,
    instance: ExpertPlacementInstance,
    traffic: Grid,
    solution: ExpertPlacementSolution,
) -> None:
    ax.set_gid("traffic-matrix")
    n = instance.num_gpus
    local = np.eye(n, dtype=bool)
    crossing = np.ma.masked_array(traffic, mask=local)
    cmap = _with_grey_bad("Blues")
    image = ax.imshow(crossing, cmap=cmap, aspect="auto", interpolation="nearest")
    image.set_norm(Normalize(vmin=0, vmax=max(1, int(traffic[~local].max(initial=0)))))
    bar = figure.colorbar(image, ax=ax, pad=0.02, aspect=30)
    bar.set_label("tokens crossing GPUs", fontsize=9)
    bar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    bar.ax.tick_params(labelsize=8)
    _ticks(ax, n, n)
    ax.set_xlabel("receiving GPU (layer l + 1)")
    ax.set_ylabel("sending GPU (layer l)")
    total = int(traffic.sum())
    across = int(traffic[~local].sum())
    share = f" ({across / total:.0%})" if total else ""
    weighted = ""
    if instance.link_cost is not None or instance.hierarchical:
        weighted = f", link-cost weighted {solution.crossing_tokens:,.6g}"
    ax.set_title(
        f"tokens routed to the next layer (grey: kept on one GPU)\n"
        f"{across:,} of {total:,} cross GPUs{share}{weighted}",
        fontsize=9,
        loc="left",
    )
    if n <= ANNOTATED_CELLS:
        _annotate(ax, image, traffic, local=True)


def _ticks(ax: Axes, columns: int, rows: int) -> None:
    """Integer ticks on both axes, thinned so that labels never collide."""
    xs = list(label_every(columns, 16))
    ys = list(label_every(rows, 16))
    ax.set_xticks(xs, [str(x) for x in xs], fontsize=8)
    ax.set_yticks(ys, [str(y) for y in ys], fontsize=8)
    ax.tick_params(length=2)


def _annotate(
    ax: Axes,
    image: AxesImage,
    values: Grid,
    bold: set[tuple[int, int]] | None = None,
    local: bool = False,
) -> None:
    """Each cell's value, black on light and white on dark cells; the diagonal in grey."""
    rows, columns = values.shape
    size = 8 if max(rows, columns) <= 8 else 6.5
    fills = image.to_rgba(values.astype(float))
    for r in range(rows):
        for c in range(columns):
            value = int(values[r, c])
            if local and r == c:
                ink = "dimgrey"
            else:
                red, green, blue, _ = fills[r, c]
                ink = "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"
            ax.text(
                c,
                r,
                _compact(value),
                ha="center",
                va="center",
                fontsize=size,
                color=ink,
                fontweight="bold" if bold and (r, c) in bold else "normal",
                fontstyle="italic" if local and r == c else "normal",
            )


def _compact(value: int) -> str:
    """``950``, ``12.3k``, ``4.57M``: at most four characters of digits."""
    if abs(value) < 10_000:
        return str(value)
    if abs(value) < 1_000_000:
        return f"{value / 1000:.3g}k"
    if abs(value) < 1_000_000_000:
        return f"{value / 1_000_000:.3g}M"
    return f"{value / 1_000_000_000:.3g}G"


def _with_grey_bad(name: str) -> Colormap:
    """The named colour map with masked cells drawn light grey."""
    return colormaps[name].with_extremes(bad="#d9d9d9")
