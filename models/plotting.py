"""Pictures of solutions: the shared parts every kind's ``plot`` module uses.

Each kind has a module ``makespan.models.<kind>.plot`` with ``draw(instance, solution) ->
Figure``. Figures are built with the object API (``matplotlib.figure.Figure``), never pyplot, so
no GUI backend is needed and concurrent requests in the service do not share global state.
matplotlib is imported only when a picture is asked for: solving never pays for it.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from makespan.models.errors import InstanceError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from makespan.models.spec import ProblemModel
    from makespan.solvers.result import Result

PlotFormat = Literal["svg", "png", "pdf"]
PLOT_FORMATS: tuple[PlotFormat, ...] = ("svg", "png", "pdf")
MEDIA_TYPES: dict[PlotFormat, str] = {
    "svg": "image/svg+xml",
    "png": "image/png",
    "pdf": "application/pdf",
}

Draw = Callable[[Any, Any], "Figure"]


def new_figure(width_in: float, height_in: float) -> Figure:
    """An empty figure with constrained layout (room is kept for the title ``render`` adds)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), layout="constrained")


def colours(count: int) -> list[tuple[float, float, float, float]]:
    """``count`` distinguishable colours (tab20, cycled), one per job, GPU or buffer group."""
    from matplotlib import colormaps

    palette = colormaps["tab20"]
    return [palette(i % 20) for i in range(count)]


def plot_format(path: str | Path) -> PlotFormat:
    """The picture format a file name asks for; an error naming the accepted suffixes."""
    suffix = Path(path).suffix.lower().lstrip(".")
    for known in PLOT_FORMATS:
        if suffix == known:
            return known
    accepted = ", ".join(f".{name}" for name in PLOT_FORMATS)
    raise InstanceError(f"cannot tell the picture format from {str(path)!r}; use {accepted}")


def render(figure: Figure, fmt: PlotFormat) -> bytes:
    """The figure as file bytes. SVG keeps text as text and carries no date, so the same
    solution always gives the same bytes."""
    from matplotlib import rc_context

    buffer = io.BytesIO()
    metadata: dict[str, Any] = {"Date": None} if fmt in ("svg", "pdf") else {}
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "makespan"}):
        figure.savefig(buffer, format=fmt, dpi=110, metadata=metadata)
    return buffer.getvalue()


def title(result: Result, name: str | None = None) -> str:
    """One line above every picture: what was solved and what is known about the answer."""
    parts = [name or result.problem, result.status.value, f"objective {_number(result.objective)}"]
    if result.bound is not None:
        parts.append(f"bound {_number(result.bound)}")
    if result.gap is not None:
        parts.append(f"gap {result.gap:.2%}")
    parts.append(f"{result.backend}, {result.wall_time_s:.1f} s")
    return " · ".join(parts)


def draw_result(
    model: ProblemModel[Any, Any], instance: Any, result: Result, name: str | None = None
) -> Figure:
    """The picture of a result's solution, titled with its status, objective, bound and gap.

    The solution is checked against the instance first, so a result paired with the wrong
    instance is an error naming the first violation, not a misleading picture. Raises
    :class:`InstanceError` when the result carries no solution, does not fit the instance, or
    the kind has no picture.
    """
    if result.problem != model.kind:
        raise InstanceError(f"the result is of problem {result.problem!r}, not {model.kind!r}")
    if result.solution is None:
        raise InstanceError(f"the result has no solution to draw (status {result.status.value})")
    solution = model.parse_solution(result.solution)
    report = model.check(instance, solution)
    if not report.feasible:
        reason = "; ".join(report.violations[:3])
        raise InstanceError(f"the result's solution does not fit this instance: {reason}")
    figure = model.plot(instance, solution)
    figure.suptitle(title(result, name), fontsize=10)
    return figure


def plot_result(
    model: ProblemModel[Any, Any],
    instance: Any,
    result: Result,
    fmt: PlotFormat,
    name: str | None = None,
) -> bytes:
    """:func:`draw_result` rendered as ``fmt`` bytes."""
    return render(draw_result(model, instance, result, name), fmt)


def legend_outside(
    ax: Axes,
    handles: Sequence[Any] | None = None,
    labels: Sequence[str] | None = None,
    ncols: int = 1,
) -> None:
    """The legend outside the axes on the right, so it never hides a bar; by default the axes'
    own labelled artists, and nothing when there are none."""
    if handles is None or labels is None:
        handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    ax.legend(
        handles,
        labels,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=7,
        ncols=ncols,
        frameon=False,
        borderaxespad=0.0,
        handlelength=1.4,
    )


def label_every(count: int, most: int) -> Sequence[int]:
    """Which of ``count`` ticks to label so that at most about ``most`` labels are drawn."""
    step = max(1, -(-count // most))
    return range(0, count, step)


def _number(value: float | int | None) -> str:
    if value is None:
        return "none"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.6g}"
    return f"{int(value):,}"
