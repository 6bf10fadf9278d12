"""The RCPSP picture: a Gantt chart of the activities above one usage profile per resource.

SVG group ids (``<g id="...">``) for tests and for styling: ``gantt`` (the Gantt axes),
``activities`` (every bar, one collection), ``milestones`` (zero-duration activities, one row
per activity only), ``releases`` and ``deadlines`` (their markers), ``makespan``, and per
resource, by :func:`resource_ids` name: ``resource-{name}`` (its axes), ``profile-{name}`` (the
usage), ``capacity-{name}`` and, when it has downtime, ``downtime-{name}``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from matplotlib.collections import PolyCollection

from makespan.models import plotting
from makespan.models.rcpsp.instance import (
    Activity,
    RcpspInstance,
    RcpspSolution,
    Resource,
    ScheduledActivity,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_WIDTH_IN = 10.0
_ROW_IN = 0.17
_GANTT_MIN_IN = 1.6
_GANTT_MAX_IN = 7.5
_RESOURCE_IN = 1.0
_RESOURCES_MAX_IN = 5.0
_MAX_ROWS = 60
"""Up to this many activities get a row each; more are packed into shared rows."""
_MAX_TICK_LABELS = 40
_BAR = 0.8
_DOWNTIME = "#d62728"


def resource_ids(resources: Sequence[Resource]) -> list[str]:
    """The name used in SVG ids for each resource: characters outside ``[A-Za-z0-9_-]``
    become ``_``, and a name already taken gets ``-{position}`` appended, so ids are unique."""
    taken: set[str] = set()
    names: list[str] = []
    for k, resource in enumerate(resources):
        name = re.sub(r"[^A-Za-z0-9_-]", "_", resource.name)
        if name in taken:
            name = f"{name}-{k}"
        taken.add(name)
        names.append(name)
    return names


def pack_rows(spans: Sequence[tuple[int, int]]) -> list[int]:
    """A row for each ``(start, end)`` span so that spans in one row do not overlap: spans taken
    by start, each into the lowest-numbered row free by then (as few rows as the deepest
    overlap needs)."""
    rows = [0] * len(spans)
    free_at: list[int] = []  # free_at[r]: when row r is free again
    for i in sorted(range(len(spans)), key=lambda i: (spans[i][0], spans[i][1], i)):
        start, end = spans[i]
        row = next((r for r, t in enumerate(free_at) if t <= start), len(free_at))
        if row == len(free_at):
            free_at.append(end)
        else:
            free_at[row] = end
        rows[i] = row
    return rows


def usage(
    instance: RcpspInstance, solution: RcpspSolution, resource: str
) -> tuple[list[int], list[int]]:
    """The usage of ``resource`` over time as a step function: ``times`` and ``levels``, with
    ``levels[i]`` used on ``[times[i], times[i + 1])``; it starts at time 0 and ends at 0."""
    demand = {a.id: a.demands.get(resource, 0) for a in instance.activities}
    change: dict[int, int] = {0: 0}
    for s in solution.activities:
        amount = demand.get(s.id, 0)
        if amount and s.end > s.start:
            change[s.start] = change.get(s.start, 0) + amount
            change[s.end] = change.get(s.end, 0) - amount
    times = sorted(change)
    levels: list[int] = []
    level = 0
    for t in times:
        level += change[t]
        levels.append(level)
    return times, levels


def draw(instance: RcpspInstance, solution: RcpspSolution) -> Figure:
    """The schedule: on top a Gantt chart (one row per activity with zero-duration activities as
    diamonds, or, above 60 activities, bars packed into shared rows labelled with their ids and
    zero-duration activities left out), releases and deadlines as triangles; below it, per
    resource, the usage profile (filled steps), the capacity (line) and downtime (shaded)."""
    activities = {a.id: a for a in instance.activities}
    position = instance.position
    scheduled = sorted(
        (s for s in solution.activities if s.id in activities), key=lambda s: position[s.id]
    )
    one_row_each = len(scheduled) <= _MAX_ROWS
    if one_row_each:
        shown = scheduled
        rows = list(range(len(shown)))
    else:
        shown = [s for s in scheduled if s.end > s.start]
        rows = pack_rows([(s.start, s.end) for s in shown])
    num_rows = max(rows, default=0) + 1
    resources = instance.resources

    gantt_in = min(_GANTT_MAX_IN, max(_GANTT_MIN_IN, 0.6 + _ROW_IN * num_rows))
    resource_in = min(_RESOURCE_IN, _RESOURCES_MAX_IN / len(resources)) if resources else 0.0
    figure = plotting.new_figure(_WIDTH_IN, 0.5 + gantt_in + resource_in * len(resources))
    grid = figure.add_gridspec(
        1 + len(resources), 1, height_ratios=[gantt_in] + [resource_in] * len(resources)
    )
    gantt = figure.add_subplot(grid[0])
    gantt.set_gid("gantt")
    span = max(solution.makespan, max((s.end for s in scheduled), default=0), 1)

    _bars(gantt, shown, rows, one_row_each, span)
    end = _time_limit(instance, span)
    _windows(gantt, [activities[s.id] for s in shown], rows, end)
    gantt.axvline(solution.makespan, color="0.25", linestyle="--", linewidth=1, gid="makespan")
    gantt.set_xlim(-0.01 * span, end)
    gantt.set_ylim(num_rows - 0.5, -0.5)
    if one_row_each:
        ticks = list(plotting.label_every(len(shown), _MAX_TICK_LABELS))
        gantt.set_yticks(ticks, [str(shown[r].id) for r in ticks])
        gantt.set_ylabel("activity")
    else:
        gantt.set_yticks([])
        gantt.set_ylabel(f"{len(shown)} activities")
    gantt.grid(axis="x", color="0.88", linewidth=0.6)
    gantt.set_axisbelow(True)
    gantt.tick_params(labelsize=8)
    plotting.legend_outside(gantt)

    names = resource_ids(resources)
    for k, (resource, name) in enumerate(zip(resources, names, strict=True)):
        ax = figure.add_subplot(grid[k + 1], sharex=gantt)
        _profile(ax, instance, solution, resource, name, span)
    axes = figure.axes
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    axes[-1].set_xlabel("time")
    return figure


def _time_limit(instance: RcpspInstance, span: int) -> float:
    """The right end of the time axis: past the makespan, and past releases and deadlines that
    lie not far beyond it (farther ones would squeeze the schedule; their markers are left out).
    """
    end = span
    for a in instance.activities:
        for t in (a.release, a.deadline):
            if t is not None and end < t <= 1.5 * span:
                end = t
    return end * 1.02


def _box(start: float, end: float, row: int) -> list[tuple[float, float]]:
    """The corners of a bar from ``start`` to ``end`` in row ``row``."""
    low, high = row - _BAR / 2, row + _BAR / 2
    return [(start, low), (end, low), (end, high), (start, high)]


def _bars(
    ax: Axes, shown: Sequence[ScheduledActivity], rows: Sequence[int], ids: bool, span: int
) -> None:
    """Bars for the activities with a duration, diamonds for the others (``ids``: one row per
    activity, so rows are labelled on the axis; otherwise ids go inside wide enough bars)."""
    palette = plotting.colours(len(shown))
    bars = [(k, s) for k, s in enumerate(shown) if s.end > s.start]
    ax.add_collection(
        PolyCollection(
            [_box(s.start, s.end, rows[k]) for k, s in bars],
            facecolors=[palette[k] for k, _ in bars],
            edgecolors="white",
            linewidths=0.4,
            gid="activities",
            zorder=2,
        ),
        autolim=False,
    )
    points = [(s.start, rows[k]) for k, s in enumerate(shown) if s.end == s.start]
    if points:
        ax.plot(
            [x for x, _ in points],
            [y for _, y in points],
            linestyle="none",
            marker="D",
            markersize=4,
            color="0.3",
            label="zero duration",
            gid="milestones",
            zorder=3,
        )
    if ids:
        return
    inches_per_unit = 0.85 * _WIDTH_IN / span
    for k, s in bars:
        text = str(s.id)
        if (s.end - s.start) * inches_per_unit < 0.06 + 0.055 * len(text):
            continue
        ax.text(
            (s.start + s.end) / 2,
            rows[k],
            text,
            ha="center",
            va="center",
            fontsize=6,
            color="black",
            zorder=4,
            clip_on=True,
        )


def _windows(ax: Axes, activities: Sequence[Activity], rows: Sequence[int], end: float) -> None:
    """A right-pointing triangle at each positive release, a left-pointing one at each deadline,
    on the activity's row (those after ``end``, the right end of the time axis, left out)."""
    releases = [(a.release, rows[k]) for k, a in enumerate(activities) if 0 < a.release <= end]
    deadlines = [
        (a.deadline, rows[k])
        for k, a in enumerate(activities)
        if a.deadline is not None and a.deadline <= end
    ]
    for points, marker, colour, label, gid in (
        (releases, ">", "#2ca02c", "release", "releases"),
        (deadlines, "<", _DOWNTIME, "deadline", "deadlines"),
    ):
        if points:
            ax.plot(
                [x for x, _ in points],
                [y for _, y in points],
                linestyle="none",
                marker=marker,
                markersize=5,
                markeredgecolor="black",
                markeredgewidth=0.5,
                color=colour,
                label=label,
                gid=gid,
                zorder=5,
            )


def _profile(
    ax: Axes,
    instance: RcpspInstance,
    solution: RcpspSolution,
    resource: Resource,
    name: str,
    span: int,
) -> None:
    """One resource: usage as filled steps, capacity as a line, downtime shaded."""
    ax.set_gid(f"resource-{name}")
    times, levels = usage(instance, solution, resource.name)
    times = [*times, max(span, times[-1])]
    levels = [*levels, levels[-1]]
    ax.fill_between(
        times,
        levels,
        step="post",
        color="#4c72b0",
        alpha=0.55,
        linewidth=0.8,
        label="usage",
        gid=f"profile-{name}",
    )
    ax.axhline(
        resource.capacity,
        color="black",
        linewidth=1.1,
        linestyle="-",
        label=f"capacity {resource.capacity}",
        gid=f"capacity-{name}",
    )
    if resource.downtime:
        shade = PolyCollection(
            [[(a, 0.0), (b, 0.0), (b, 1.0), (a, 1.0)] for a, b in resource.downtime],
            transform=ax.get_xaxis_transform(),
            facecolors=_DOWNTIME,
            alpha=0.22,
            edgecolors="none",
            hatch="//",
            label="downtime",
            gid=f"downtime-{name}",
            zorder=1,
        )
        ax.add_collection(shade, autolim=False)
    top = max(resource.capacity, max(levels), 1)
    ax.set_ylim(0, top * 1.2)
    label = resource.name if len(resource.name) <= 14 else resource.name[:13] + "…"
    ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    ax.grid(axis="x", color="0.88", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.tick_params(labelsize=7)
    peak = max(levels)  # above the capacity only in an infeasible schedule
    ax.set_yticks(sorted({0, resource.capacity, peak if peak > resource.capacity else 0}))
    plotting.legend_outside(ax)
