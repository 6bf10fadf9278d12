"""The job-shop picture: a machine Gantt chart, operations coloured by job on the machines they
run on (the chosen ones for flexible operations), critical path marked; machine downtime,
setups, due dates and tardy jobs when the instance has them.

SVG group ids (``<g id="...">``) for tests and for styling: ``gantt`` (the axes), ``job-{j}``
(every operation of job ``j``, one collection per job), ``critical-path`` (the line linking the
critical operations), ``critical-operations`` (their outlines), ``makespan`` (its line),
``downtime`` (hatched breaks), ``setups`` (small grey bars before the operations that wait for
one), ``due-dates`` (a marker per job at its due date, on the row of its last operation) and
``tardy`` (red outlines on the operations of the jobs that end after their due date).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from itertools import pairwise
from typing import TYPE_CHECKING

from matplotlib.collections import PolyCollection
from matplotlib.lines import Line2D

from makespan.models import plotting
from makespan.models.jssp.instance import JobShopInstance, JobShopSolution, ScheduledOperation

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

OpKey = tuple[int, int]
"""An operation: (job, index of the operation within its job)."""

_WIDTH_IN = 10.0
_ROW_IN = 0.32
"""Height of one machine row; the figure is capped at ``_MAX_HEIGHT_IN``."""
_MAX_HEIGHT_IN = 10.0
_MAX_LABELLED_JOBS = 20
"""Up to this many jobs get a legend and job numbers inside wide enough bars."""
_MAX_TICK_LABELS = 40
_BAR = 0.8
"""Bar height as a share of a machine row."""
_PATH_OFFSET = 0.24
"""The critical-path line runs this far below the middle of a row, clear of the job numbers."""
_MANY_CRITICAL = 60
"""Longer critical paths get thinner outlines and no dots at operation starts."""
_SETUP_BAR = 0.22
"""Height of a setup bar, at the bottom of a machine row."""


def critical_path(instance: JobShopInstance, solution: JobShopSolution) -> list[OpKey]:
    """A critical path of the schedule as ``(job, index)`` pairs, first operation first.

    Computed from the solution's own start and end times. The last operation ends at the
    latest end (the makespan); each earlier one ends exactly when the next starts and is either
    its job predecessor or an operation on the same machine (its machine predecessor). The
    path is traced backwards from the end, preferring steps that lead back to time 0, then the
    machine predecessor, then the job predecessor; among operations ending at the makespan the
    lowest ``(job, index)`` with such a chain wins. In a semi-active schedule (as the heuristics
    give) and in an optimal one such a chain exists, so the first operation starts at 0; in a
    schedule that could be shifted left the path may stop where no predecessor is tight.

    With the shop extensions a machine predecessor is also tight when the operation starts
    exactly its setup after it, and a chain also leads back to its start when it reaches a
    job's release or the end of a downtime period of the machine.
    """
    ops = {(o.job, o.index): o for o in solution.operations}
    if not ops:
        return []

    def order(key: OpKey) -> tuple[int, int, int, int]:
        op = ops[key]
        return op.start, op.end, key[0], key[1]

    ending: dict[tuple[int, int], list[OpKey]] = defaultdict(list)  # (machine, end) -> ops
    sequences: dict[int, list[OpKey]] = defaultdict(list)
    for key, op in ops.items():
        ending[(_machine(instance, op), op.end)].append(key)
        if op.end > op.start:
            sequences[_machine(instance, op)].append(key)
    after_setup: dict[OpKey, OpKey] = {}  # an operation -> the one it waits a setup after
    for machine, keys in sequences.items():
        keys.sort(key=order)
        for a, b in pairwise(keys):
            gap = instance.setup(machine, a[0], b[0]) if b[0] < instance.num_jobs else 0
            if gap and ops[a].end + gap == ops[b].start:
                after_setup[b] = a
    starts_at = {
        (m, end) for m, periods in enumerate(instance.downtime) for _, end in periods
    }  # where a chain may begin besides time 0

    def tight(key: OpKey) -> list[OpKey]:
        """Tight predecessors of ``key``: machine first (nearest in order), then job."""
        op = ops[key]
        here = order(key)
        on_machine = [
            other
            for other in ending.get((_machine(instance, op), op.start), ())
            if order(other) < here
        ]
        found = sorted(on_machine, key=order, reverse=True)[:1]
        if not found and key in after_setup:
            found.append(after_setup[key])
        before = (key[0], key[1] - 1)
        if before in ops and ops[before].end == op.start and before not in found:
            found.append(before)
        return found

    # Every step goes to a strictly smaller (start, end, job, index), so this order settles
    # each operation after all of its tight predecessors, and the walk below cannot loop.
    grounded: dict[OpKey, bool] = {}
    releases = instance.releases
    for key in sorted(ops, key=order):
        op = ops[key]
        grounded[key] = (
            op.start == 0
            or (key[1] == 0 and key[0] < instance.num_jobs and op.start == releases[key[0]])
            or (_machine(instance, op), op.start) in starts_at
            or any(grounded[p] for p in tight(key))
        )

    makespan = max(op.end for op in ops.values())
    last = min(
        (key for key, op in ops.items() if op.end == makespan),
        key=lambda key: (not grounded[key], key),
    )
    path = [last]
    while True:
        candidates = tight(path[-1])
        if not candidates:
            break
        path.append(next((p for p in candidates if grounded[p]), candidates[0]))
    path.reverse()
    return path


def draw(instance: JobShopInstance, solution: JobShopSolution) -> Figure:
    """The schedule as a Gantt chart: one row per machine (machine 0 on top), each operation a
    bar coloured by its job, the critical path outlined and linked by a black line, the makespan
    a dashed line. Up to 20 jobs get a legend and job numbers in the bars wide enough for them.
    """
    num_machines = instance.num_machines
    num_jobs = instance.num_jobs
    labelled = num_jobs <= _MAX_LABELLED_JOBS
    height = min(_MAX_HEIGHT_IN, 1.5 + _ROW_IN * num_machines)
    figure = plotting.new_figure(_WIDTH_IN, height)
    ax = figure.add_subplot()
    ax.set_gid("gantt")

    by_job: list[list[ScheduledOperation]] = [[] for _ in range(num_jobs)]
    for op in solution.operations:
        if op.job < num_jobs:
            by_job[op.job].append(op)
    dues = _drawn_dues(instance)
    span = max(
        solution.makespan,
        max((op.end for op in solution.operations), default=0),
        max(dues, default=0),
        1,
    )
    palette = plotting.colours(num_jobs)
    for j, ops in enumerate(by_job):
        bars = PolyCollection(
            [_box(op.start, op.end, _machine(instance, op)) for op in ops],
            facecolors=[palette[j]],
            edgecolors="white",
            linewidths=0.4,
            label=f"job {j}",
            gid=f"job-{j}",
            zorder=2,
        )
        ax.add_collection(bars, autolim=False)
    if labelled:
        _job_numbers(ax, instance, by_job, span, palette)

    _downtime(ax, instance, span)
    _setups(ax, instance, solution)
    if dues:
        _due_dates(ax, instance, by_job, dues, palette)
    path = critical_path(instance, solution)
    _critical_path(ax, instance, solution, path)
    ax.axvline(solution.makespan, color="0.25", linestyle="--", linewidth=1, gid="makespan")

    ax.set_xlim(0, span * 1.01)
    ax.set_ylim(num_machines - 0.5, -0.5)
    ticks = list(plotting.label_every(num_machines, _MAX_TICK_LABELS))
    ax.set_yticks(ticks, [f"M{m}" for m in ticks])
    ax.set_ylabel("machine")
    ax.set_xlabel("time")
    ax.grid(axis="x", color="0.88", linewidth=0.6, zorder=0)
    ax.set_axisbelow(True)
    ax.tick_params(labelsize=8)
    _legend(ax, num_jobs, labelled)
    return figure


def _machine(instance: JobShopInstance, op: ScheduledOperation) -> int:
    """The machine ``op`` runs on: the solution's (chosen among the alternatives of a flexible
    operation), clipped to the instance's rows."""
    return min(op.machine, instance.num_machines - 1)


def _drawn_dues(instance: JobShopInstance) -> tuple[int, ...]:
    """The due dates to mark: the instance's when its objective reads them."""
    if instance.due is None or not instance.shop_objective.uses_due_dates:
        return ()
    return instance.due


def _downtime(ax: Axes, instance: JobShopInstance, span: int) -> None:
    """Every downtime period (up to the right edge) as a hatched grey bar across its row."""
    boxes = [
        _box(start, min(end, span * 1.01), m)
        for m, periods in enumerate(instance.downtime)
        for start, end in periods
        if start < span * 1.01
    ]
    if not boxes:
        return
    breaks = PolyCollection(
        boxes,
        facecolors="0.92",
        edgecolors="0.45",
        hatch="////",
        linewidths=0.4,
        label="downtime",
        gid="downtime",
        zorder=1,
    )
    ax.add_collection(breaks, autolim=False)


def _setups(ax: Axes, instance: JobShopInstance, solution: JobShopSolution) -> None:
    """A small grey bar at the bottom of the row from each operation's end over the setup the
    next operation on its machine waits for."""
    if not instance.has_setups:
        return
    by_machine: dict[int, list[ScheduledOperation]] = defaultdict(list)
    for op in solution.operations:
        if op.end > op.start and op.job < instance.num_jobs:
            by_machine[_machine(instance, op)].append(op)
    boxes = []
    for machine, ops in sorted(by_machine.items()):
        ops.sort(key=lambda o: (o.start, o.end))
        for before, after in pairwise(ops):
            gap = instance.setup(machine, before.job, after.job)
            if gap:
                low = machine + _BAR / 2 - _SETUP_BAR
                high = machine + _BAR / 2
                end = before.end + gap
                boxes.append([(before.end, low), (end, low), (end, high), (before.end, high)])
    if boxes:
        bars = PolyCollection(
            boxes, facecolors="0.5", edgecolors="none", label="setup", gid="setups", zorder=3
        )
        ax.add_collection(bars, autolim=False)


def _due_dates(
    ax: Axes,
    instance: JobShopInstance,
    by_job: Sequence[Sequence[ScheduledOperation]],
    dues: Sequence[int],
    palette: Sequence[tuple[float, float, float, float]],
) -> None:
    """A marker in the job's colour at its due date on the row of its last operation, and red
    outlines on every operation of the jobs that end after it."""
    xs, ys, colours, tardy = [], [], [], []
    for j, ops in enumerate(by_job):
        if not ops:
            continue
        last = max(ops, key=lambda o: (o.end, o.index))
        xs.append(dues[j])
        ys.append(_machine(instance, last) - _BAR / 2)
        colours.append(palette[j])
        if last.end > dues[j]:
            tardy += [_box(op.start, op.end, _machine(instance, op)) for op in ops]
    ax.scatter(
        xs,
        ys,
        marker="v",
        s=28,
        c=colours,
        edgecolors="black",
        linewidths=0.5,
        label="due date",
        gid="due-dates",
        zorder=6,
    )
    if tardy:
        _outline(ax, tardy, "#d62728", 1.4, gid="tardy", label="tardy job", dashed=True)


def _box(start: float, end: float, row: int) -> list[tuple[float, float]]:
    """The corners of a bar from ``start`` to ``end`` in machine row ``row``."""
    low, high = row - _BAR / 2, row + _BAR / 2
    return [(start, low), (end, low), (end, high), (start, high)]


def _job_numbers(
    ax: Axes,
    instance: JobShopInstance,
    by_job: Sequence[Sequence[ScheduledOperation]],
    span: int,
    palette: Sequence[tuple[float, float, float, float]],
) -> None:
    """The job number inside every bar wide enough to hold it."""
    inches_per_unit = 0.85 * _WIDTH_IN / span
    for j, ops in enumerate(by_job):
        text = str(j)
        red, green, blue, _ = palette[j]
        ink = "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"
        for op in ops:
            if (op.end - op.start) * inches_per_unit < 0.08 + 0.07 * len(text):
                continue
            ax.text(
                (op.start + op.end) / 2,
                _machine(instance, op),
                text,
                ha="center",
                va="center",
                fontsize=7,
                color=ink,
                zorder=4,
                clip_on=True,
            )


def _critical_path(
    ax: Axes, instance: JobShopInstance, solution: JobShopSolution, path: Sequence[OpKey]
) -> None:
    """Thick outlines on the critical operations and a line through them in path order."""
    if not path:
        return
    ops = {(o.job, o.index): o for o in solution.operations}
    chain = [ops[key] for key in path]
    few = len(chain) <= _MANY_CRITICAL
    boxes = [_box(op.start, op.end, _machine(instance, op)) for op in chain]
    _outline(ax, boxes, "black", 1.6 if few else 0.9, gid="critical-operations")
    xs: list[float] = []
    ys: list[float] = []
    for op in chain:
        row = _machine(instance, op) + _PATH_OFFSET
        xs += [op.start, op.end]
        ys += [row, row]
    line = Line2D(
        xs,
        ys,
        color="black",
        linewidth=1.2,
        alpha=0.85,
        marker="o" if few else "",
        markersize=2.5,
        markevery=list(range(0, len(xs), 2)),
        label="critical path",
        gid="critical-path",
        zorder=5,
    )
    ax.add_line(line)


def _outline(
    ax: Axes,
    boxes: list[list[tuple[float, float]]],
    colour: str,
    width: float,
    *,
    gid: str,
    label: str | None = None,
    dashed: bool = False,
) -> None:
    """Outlines around ``boxes``, over the bars (dashed ones over the solid ones)."""
    outlines = PolyCollection(
        boxes,
        facecolors="none",
        edgecolors=colour,
        linewidths=width,
        linestyles="--" if dashed else "-",
        label=label,
        gid=gid,
        zorder=4 if dashed else 3,
    )
    ax.add_collection(outlines, autolim=False)


def _legend(ax: Axes, num_jobs: int, labelled: bool) -> None:
    """Jobs (when few), the critical path and the marks of downtime, setups, due dates and
    tardy jobs, outside the plot on the right."""
    handles, labels = ax.get_legend_handles_labels()
    if not labelled:
        keep = [k for k, label in enumerate(labels) if not label.startswith("job ")]
        handles = [handles[k] for k in keep]
        labels = [labels[k] for k in keep]
    if not handles:
        return
    plotting.legend_outside(ax, handles, labels, ncols=2 if labelled and num_jobs > 12 else 1)
