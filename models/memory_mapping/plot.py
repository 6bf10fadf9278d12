"""The picture of a memory-mapping solution: buffers as rectangles in time x address.

Every placed buffer is a rectangle ``[lower, upper) x [offset, offset + size)``, coloured by its
size (log scale). Horizontal lines mark the capacity and the solution's peak; a step line shows
the bytes alive at each time, whose maximum is the max-live lower bound, so the gap between the
line and the top of the rectangles is the fragmentation the placement pays. Two-level
solutions get a strip below with the lifetimes of the buffers left in slow memory.

All rectangles are one collection (traces have tens of thousands of buffers); above
:data:`RASTER_BUFFERS` it is rasterized so that SVG files stay small.
"""

from __future__ import annotations

import heapq
import math
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.colors import LogNorm, Normalize
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, MultipleLocator
from numpy.typing import NDArray

from makespan.models.memory_mapping.instance import Ints, MemoryInstance, MemorySolution
from makespan.models.plotting import new_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.backend_bases import RendererBase
    from matplotlib.figure import Figure

RASTER_BUFFERS = 5000
"""Above this many rectangles in one collection, the collection is drawn as an image."""

LIVE_POINTS = 4000
"""The live-bytes line keeps at most about this many steps: longer ones are reduced to the
maximum over equal time bins, so the line still touches the max-live bound."""

LABELLED_BUFFERS = 60
"""Up to this many buffers, the ones whose rectangle is large enough carry their id."""

CMAP = "viridis"
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


class _Rectangles(PolyCollection):
    """A PolyCollection whose gid survives rasterization.

    A rasterized artist draws into the raster renderer, which drops groups; this one opens its
    group on the vector renderer first, so the SVG still has ``<g id=gid>`` around the image.
    """

    def draw(self, renderer: RendererBase) -> None:
        """Draw, inside a group named by the gid when rasterized."""
        gid = self.get_gid()
        if not self.get_rasterized() or gid is None:
            super().draw(renderer)
            return
        renderer.open_group("buffers", gid=gid)
        super().draw(renderer)
        renderer.close_group("buffers")

    draw._supports_rasterization = True  # type: ignore[attr-defined]


def format_bytes(value: float) -> str:
    """A byte count in binary units: ``512 B``, ``1.5 KiB``, ``463.1 GiB``."""
    k = 0
    while abs(value) >= 1024 and k < len(_UNITS) - 1:
        value /= 1024
        k += 1
    if k == 0:
        return f"{value:.0f} B"
    return f"{value:.4g} {_UNITS[k]}"


def live_bytes(lower: Ints, upper: Ints, size: Ints) -> tuple[Ints, Ints]:
    """``(times, live)``: the bytes alive on ``[times[i], times[i + 1])`` are ``live[i]``.

    Buffers are alive on half-open ``[lower, upper)``; the last step is 0 (all freed).
    """
    if lower.shape[0] == 0:
        return np.zeros(1, np.int64), np.zeros(1, np.int64)
    times = np.concatenate([lower, upper])
    delta = np.concatenate([size, -size])
    order = np.argsort(times, kind="stable")
    times = times[order]
    live = np.cumsum(delta[order])
    last = np.append(np.flatnonzero(np.diff(times)), times.shape[0] - 1)
    return times[last], live[last]


def draw(instance: MemoryInstance, solution: MemorySolution) -> Figure:
    """Buffers in time x address, with capacity, peak and live bytes; slow buffers below."""
    index = {b.id: k for k, b in enumerate(instance.buffers)}
    placed = np.array([index[p.id] for p in solution.buffers], dtype=np.int64)
    offsets = np.array([p.offset for p in solution.buffers], dtype=np.int64)
    slow = np.array([index[i] for i in solution.slow], dtype=np.int64)
    a = instance.arrays
    norm = _size_norm(a.size)

    if instance.two_level:
        figure = new_figure(10, 6.8)
        grid = figure.add_gridspec(2, 1, height_ratios=(4, 1.2))
        ax = figure.add_subplot(grid[0])
        slow_ax: Axes | None = figure.add_subplot(grid[1], sharex=ax)
    else:
        figure = new_figure(10, 5.6)
        ax = figure.add_subplot()
        slow_ax = None

    lower, upper, size = a.lower[placed], a.upper[placed], a.size[placed]
    rectangles = _rectangles(lower, upper, offsets, offsets + size, a.size[placed], norm)
    rectangles.set_gid("buffers")
    ax.add_collection(rectangles)

    times, live = live_bytes(lower, upper, size)
    max_live = int(live.max())
    times, live = _reduce_steps(times, live)
    top = max(solution.peak, max_live, instance.capacity or 0, 1)
    if instance.two_level:
        live_label = f"live bytes in fast memory (max {format_bytes(max_live)})"
    else:
        live_label = f"live bytes = lower bound (max {format_bytes(max_live)})"
    (line,) = ax.step(times, live, where="post", color="tab:red", linewidth=1.3, label=live_label)
    line.set_gid("live")
    peak = ax.axhline(
        solution.peak,
        color="black",
        linewidth=1.2,
        label=f"peak {format_bytes(solution.peak)}",
    )
    peak.set_gid("peak")
    if instance.capacity is not None:
        capacity = ax.axhline(
            instance.capacity,
            color="darkorange",
            linestyle="--",
            linewidth=1.5,
            label=f"capacity {format_bytes(instance.capacity)}",
        )
        capacity.set_gid("capacity")

    start, end = int(a.lower.min()), int(a.upper.max())
    ax.set_xlim(start, end)
    ax.set_ylim(0, top * 1.04)
    _byte_axis(ax, top)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=10, integer=True))
    ax.set_ylabel("address")
    what = "fast memory" if instance.two_level else "memory"
    ax.set_title(f"{len(placed):,} buffers in {what}", fontsize=9, loc="left")
    ax.legend(loc="lower right", bbox_to_anchor=(1, 1), ncols=3, frameon=False, fontsize=8)
    ax.grid(axis="y", linewidth=0.4, alpha=0.4)
    if len(instance.buffers) <= LABELLED_BUFFERS:
        _label_buffers(ax, instance, placed, offsets, rectangles, (end - start, top))

    if slow_ax is not None:
        _draw_slow(slow_ax, instance, slow, norm)
        ax.tick_params(labelbottom=False)
        slow_ax.set_xlabel("time")
    else:
        ax.set_xlabel("time")
    if isinstance(norm, LogNorm):
        sizes = (int(a.size.min()), int(a.size.max()))
        _colour_bar(figure, rectangles, [ax] if slow_ax is None else [ax, slow_ax], sizes)
    return figure


def _size_norm(sizes: Ints) -> Normalize:
    smallest, largest = int(sizes.min()), int(sizes.max())
    if largest > smallest:
        return LogNorm(vmin=smallest, vmax=largest)
    return Normalize(vmin=smallest - 1, vmax=smallest + 1)


def _rectangles(
    lower: Ints, upper: Ints, bottom: NDArray[Any], top: NDArray[Any], sizes: Ints, norm: Normalize
) -> PolyCollection:
    """One collection of rectangles ``[lower, upper) x [bottom, top)`` coloured by size."""
    x0, x1 = lower.astype(float), upper.astype(float)
    y0, y1 = bottom.astype(float), top.astype(float)
    verts = np.stack(
        [
            np.stack([x0, y0], 1),
            np.stack([x1, y0], 1),
            np.stack([x1, y1], 1),
            np.stack([x0, y1], 1),
        ],
        axis=1,
    )
    many = lower.shape[0] > RASTER_BUFFERS
    collection = _Rectangles(
        list(verts),
        cmap=CMAP,
        norm=norm,
        edgecolors="none" if many else "white",
        linewidths=0.0 if many else 0.4,
        antialiaseds=not many,
    )
    collection.set_array(sizes.astype(float))
    collection.set_rasterized(many)
    return collection


def _reduce_steps(times: Ints, live: Ints) -> tuple[Ints, Ints]:
    """At most about :data:`LIVE_POINTS` steps: the maximum of each equal time bin."""
    if times.shape[0] <= LIVE_POINTS:
        return times, live
    edges = np.linspace(times[0], times[-1], LIVE_POINTS + 1)
    starts = np.unique(np.searchsorted(times, edges[:-1], side="right") - 1)
    starts = starts[starts >= 0]
    return times[starts], np.maximum.reduceat(live, starts)


def _byte_axis(ax: Axes, top: float) -> None:
    """Address ticks at power-of-two multiples of a binary unit, labelled in that unit."""
    k = max(0, int(math.log(top, 1024)))
    if k > 0 and top / 1024**k < 4:
        k -= 1
    unit = 1024**k
    step = 2 ** max(0, math.ceil(math.log2(top / unit / 8)))
    name = _UNITS[k]

    def label(value: float, _: int | None) -> str:
        return "0" if value == 0 else f"{value / unit:g} {name}"

    ax.yaxis.set_major_locator(MultipleLocator(step * unit))
    ax.yaxis.set_major_formatter(FuncFormatter(label))


def _label_buffers(
    ax: Axes,
    instance: MemoryInstance,
    placed: Ints,
    offsets: Ints,
    rectangles: PolyCollection,
    extent: tuple[float, float],
) -> None:
    """Buffer ids inside rectangles wide and tall enough to hold them."""
    width, height = extent
    fills = rectangles.to_rgba(instance.arrays.size[placed].astype(float))
    for k, offset, fill in zip(placed.tolist(), offsets.tolist(), fills, strict=True):
        b = instance.buffers[k]
        chars = max(2, len(b.id))
        if (b.upper - b.lower) >= width * 0.012 * chars and b.size >= height * 0.05:
            ax.text(
                (b.lower + b.upper) / 2,
                offset + b.size / 2,
                b.id,
                ha="center",
                va="center",
                fontsize=7,
                color=_ink(fill),
                clip_on=True,
            )


def _ink(fill: NDArray[np.float64]) -> str:
    """Black on light fills, white on dark ones."""
    luminance = 0.299 * fill[0] + 0.587 * fill[1] + 0.114 * fill[2]
    return "black" if luminance > 0.5 else "white"


def _draw_slow(ax: Axes, instance: MemoryInstance, slow: Ints, norm: Normalize) -> None:
    """The slow buffers' lifetimes as bars, packed into as few lanes as overlap allows."""
    a = instance.arrays
    lower, upper = a.lower[slow], a.upper[slow]
    lanes = _lanes(lower, upper)
    count = int(lanes.max()) + 1 if lanes.shape[0] else 1
    bars = _rectangles(lower, upper, lanes, lanes + 0.8, a.size[slow], norm)
    bars.set_gid("slow")
    ax.add_collection(bars)
    ax.set_ylim(count, -0.2)
    ax.set_yticks([])
    benefit = int(a.worth[slow].sum())
    ax.set_title(
        f"{slow.shape[0]:,} buffers left in slow memory "
        f"({format_bytes(int(a.size[slow].sum()))}, benefit {benefit:,})",
        fontsize=9,
        loc="left",
    )
    if slow.shape[0] == 0:
        ax.text(0.5, 0.5, "none", transform=ax.transAxes, ha="center", va="center")
    elif slow.shape[0] <= LABELLED_BUFFERS:
        fills = bars.to_rgba(a.size[slow].astype(float))
        for k, lane, fill in zip(slow.tolist(), lanes.tolist(), fills, strict=True):
            b = instance.buffers[k]
            ax.text(b.lower, lane + 0.4, f" {b.id}", va="center", fontsize=7, color=_ink(fill))


def _lanes(lower: Ints, upper: Ints) -> Ints:
    """Interval colouring: each lifetime on the lowest lane free at its start."""
    lanes = np.zeros(lower.shape[0], dtype=np.int64)
    busy: list[tuple[int, int]] = []
    free: list[int] = []
    for k in np.argsort(lower, kind="stable").tolist():
        while busy and busy[0][0] <= lower[k]:
            heapq.heappush(free, heapq.heappop(busy)[1])
        lane = heapq.heappop(free) if free else len(busy)
        lanes[k] = lane
        heapq.heappush(busy, (int(upper[k]), lane))
    return lanes


def _colour_bar(
    figure: Figure, mappable: PolyCollection, axes: list[Axes], sizes: tuple[int, int]
) -> None:
    """A size colour bar with ticks at powers of two, in binary units."""
    low, high = math.ceil(math.log2(sizes[0])), math.floor(math.log2(sizes[1]))
    step = max(1, math.ceil((high - low + 1) / 7))
    bar = figure.colorbar(mappable, ax=axes, pad=0.01, aspect=30)
    bar.set_label("buffer size", fontsize=9)
    bar.ax.yaxis.set_major_locator(FixedLocator([2.0**e for e in range(low, high + 1, step)]))
    bar.ax.yaxis.set_minor_locator(FixedLocator([]))
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_bytes(v)))
    bar.ax.tick_params(labelsize=8)
