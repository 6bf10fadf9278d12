"""The ``makespan`` command line: solve a file or a named benchmark, list the problem kinds.

Exit codes: 0 a solution was found; 1 none was (infeasible or unknown); 2 bad input or usage.
"""

from __future__ import annotations

import inspect
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import annotated_types
import typer
from pydantic import ValidationError
from pydantic.fields import FieldInfo
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from makespan.api.inputs import LoadedInstance, load_instance, load_with_layout, with_capacity
from makespan.models.errors import InstanceError
from makespan.models.jsontext import parse_json
from makespan.models.plotting import plot_format, plot_result
from makespan.models.registry import MODELS
from makespan.models.spec import Generative
from makespan.solvers.control import SolveControl
from makespan.solvers.options import DEFAULT_TIME_LIMIT_S, OptionsError, SolveOptions
from makespan.solvers.pipeline import (
    check_solution,
    given_solution,
    make_options,
    solve_instance,
    steered,
)
from makespan.solvers.result import Incumbent, Result

EXIT_SOLVED, EXIT_NO_SOLUTION, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130

app = typer.Typer(
    name="makespan",
    help="Constraint-programming and MILP solver for scheduling and allocation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


# The options `solve` and `batch` share, each written once.
Problem = Annotated[str | None, typer.Option(help="Problem kind; inferred when omitted.")]
Backend = Annotated[str, typer.Option(help="auto|cpsat|highs|pyomo[:SOLVER]")]
Seed = Annotated[int, typer.Option(help="Random seed.")]
GapLimit = Annotated[
    float | None,
    typer.Option(
        "--gap-limit",
        help="Stop once (objective - bound) / objective is at most this; such a stop is "
        "reported as termination gap_limit, status feasible unless proven.",
    ),
]
Capacity = Annotated[
    int | None,
    typer.Option(help="memory_mapping: fit this capacity (default: from the file, if any)."),
]


def _fail(message: str) -> typer.Exit:
    # Plain text, never wrapped: scripts and editors parse ``FILE:LINE: message``.
    typer.echo(f"makespan: error: {message}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


@app.command()
def solve(
    target: Annotated[str, typer.Argument(help="Instance file, or a benchmark name such as ta41.")],
    problem: Problem = None,
    format: Annotated[str | None, typer.Option("--format", help="File format override.")] = None,
    capacity: Capacity = None,
    time_limit: Annotated[
        float, typer.Option("--time-limit", help="Seconds, all included.")
    ] = DEFAULT_TIME_LIMIT_S,
    backend: Backend = "auto",
    workers: Annotated[
        int | None, typer.Option(help="Solver threads (default: all cores).")
    ] = None,
    seed: Seed = 0,
    gap_limit: GapLimit = None,
    params: Annotated[
        str | None,
        typer.Option(
            "--params",
            help="Backend parameters: CP-SAT text format, HiGHS/Pyomo name=value (time, "
            "threads, seed, files and output are the service's and refused).",
        ),
    ] = None,
    no_warm_start: Annotated[
        bool, typer.Option("--no-warm-start", help="Skip the heuristic warm start.")
    ] = False,
    initial: Annotated[
        Path | None,
        typer.Option(
            "--initial",
            help="Start from this solution (a solution, a Result or a job document): checked, "
            "then the warm start and the incumbent to beat. With --stability-weight it is also "
            "the reference; with --fix-before its early part is fixed.",
        ),
    ] = None,
    fixed_file: Annotated[
        Path | None,
        typer.Option("--fixed", help="Keep these parts: the kind's partial solution (JSON)."),
    ] = None,
    reference_file: Annotated[
        Path | None,
        typer.Option("--reference", help="Stay close to this solution (see --stability-weight)."),
    ] = None,
    stability_weight: Annotated[
        float | None,
        typer.Option(
            "--stability-weight",
            help="Minimise objective + W * deviation from the reference (or the --initial).",
        ),
    ] = None,
    fix_before: Annotated[
        int | None,
        typer.Option(
            "--fix-before",
            min=0,
            help="jssp, rcpsp: fix every operation or activity of the --initial (or "
            "--reference) schedule that starts before this time.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print only the Result JSON.")] = False,
    out: Annotated[Path | None, typer.Option(help="Also write the Result JSON here.")] = None,
    plot_file: Annotated[
        Path | None,
        typer.Option("--plot", help="Also draw the solution here (.svg, .png or .pdf)."),
    ] = None,
    layout: Annotated[
        str | None,
        typer.Option(
            help="expert_placement: counts for a plain EPLB weight matrix file, "
            "num_gpus=G,num_replicas=R[,num_nodes=N,num_groups=K]."
        ),
    ] = None,
) -> None:
    """Solve one instance file (or named benchmark) and print the result."""
    try:
        if plot_file is not None:
            plot_format(plot_file)  # a bad suffix fails before the solve, not after
        if layout is not None:
            loaded = load_with_layout(target, layout)
        else:
            loaded = load_instance(target, problem=problem, format=format)
        loaded = with_capacity(loaded, capacity)
        options = _options(time_limit, backend, workers, seed, gap_limit, params, no_warm_start)
        plan = _Plan(initial, fixed_file, reference_file, stability_weight, fix_before)
        options = plan.applied(loaded, options, quiet=as_json)
    except (InstanceError, OptionsError) as error:
        raise _fail(str(error)) from None
    live = not as_json and sys.stdout.isatty()
    try:
        result = _solve_with_progress(loaded, options, live=live)
    except OptionsError as error:
        raise _fail(str(error)) from None
    if out is not None:
        out.write_text(result.to_json(indent=2) + "\n", encoding="utf-8")
    if as_json:
        typer.echo(result.to_json(indent=2))
    else:
        _print_summary(loaded, result)
    if plot_file is not None:
        _write_plot(loaded, result, plot_file, quiet=as_json)
    raise typer.Exit(EXIT_SOLVED if result.has_solution else EXIT_NO_SOLUTION)


@dataclass(frozen=True)
class _Plan:
    """The re-planning flags of ``solve``: where to start, what to keep, what to stay near."""

    initial: Path | None
    fixed: Path | None
    reference: Path | None
    weight: float | None
    fix_before: int | None

    def applied(
        self, loaded: LoadedInstance, options: SolveOptions, *, quiet: bool
    ) -> SolveOptions:
        """``options`` with the initial solution, fixings and reference the flags name.

        With ``--fix-before`` or ``--stability-weight``, an ``--initial`` that no longer fits
        the instance (a machine went down) is used only as the reference and the source of the
        fixings, with a note; otherwise it must fit.
        """
        start = None if self.initial is None else _solution_in(_read_json(self.initial))
        reference = None if self.reference is None else _solution_in(_read_json(self.reference))
        replanning = self.fix_before is not None or self.weight is not None
        if replanning and start is None and reference is None:
            flag = "--fix-before" if self.fix_before is not None else "--stability-weight"
            raise OptionsError(flag, "needs --initial or --reference")
        update: dict[str, Any] = {"fix_before": self.fix_before}
        if replanning:
            # Without a weight the deviation is reported, not minimised.
            update["reference"] = reference if reference is not None else start
            update["stability_weight"] = self.weight or 0
        if self.fixed is not None:
            update["fixed"] = _read_json(self.fixed)
        planned = options.model_copy(update=update)
        model = steered(loaded.model, loaded.instance, planned)
        if start is not None:
            verdict = check_solution(model, loaded.instance, start)
            if verdict.feasible or not replanning:
                given_solution(model, loaded.instance, start)  # not replanning: it must fit
                planned = planned.model_copy(update={"initial_solution": start})
            elif not quiet:
                typer.echo(
                    f"note: the initial solution no longer fits ({len(verdict.violations)} "
                    f"violations, e.g. {verdict.violations[0].message}); re-planning from it",
                    err=True,
                )
        return planned


def _options(
    time_limit: float,
    backend: str,
    workers: int | None,
    seed: int,
    gap_limit: float | None,
    params: str | None = None,
    no_warm_start: bool = False,
) -> SolveOptions:
    """The solve options the command line's flags name (an OptionsError names the bad one)."""
    return make_options(
        time_limit_s=time_limit,
        backend=backend,
        workers=workers,
        seed=seed,
        gap_limit=gap_limit,
        backend_params=params,
        warm_start=not no_warm_start,
    )


def _write_plot(loaded: LoadedInstance, result: Result, path: Path, *, quiet: bool) -> None:
    if not result.has_solution:
        typer.echo(f"makespan: no solution to draw ({result.status.value})", err=True)
        return
    picture = plot_result(loaded.model, loaded.instance, result, plot_format(path), loaded.name)
    path.write_bytes(picture)
    if not quiet:
        typer.echo(f"picture written to {path}")


@app.command()
def plot(
    result_file: Annotated[
        Path, typer.Argument(help="A Result JSON (solve --out) or a job from GET /v1/jobs/{id}.")
    ],
    target: Annotated[
        str, typer.Argument(help="The instance file (or benchmark name) that was solved.")
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="Picture file: .svg, .png or .pdf (default: RESULT_FILE with .svg)."),
    ] = None,
    problem: Annotated[
        str | None, typer.Option(help="Problem kind; inferred when omitted.")
    ] = None,
    format: Annotated[str | None, typer.Option("--format", help="File format override.")] = None,
) -> None:
    """Draw a saved result: Gantt chart, memory map, expert placement or GPU fleet.

    The solution is checked against the instance before it is drawn."""
    path = out or result_file.with_suffix(".svg")
    try:
        fmt = plot_format(path)
        result = _read_result(result_file)
        loaded = load_instance(target, problem=problem or result.problem, format=format)
        picture = plot_result(loaded.model, loaded.instance, result, fmt, loaded.name)
    except InstanceError as error:
        raise _fail(str(error)) from None
    path.write_bytes(picture)
    typer.echo(f"picture written to {path}")


def _read_result(path: Path) -> Result:
    """A Result from a file holding a Result or a job document with one."""
    document = _read_json(path)
    if isinstance(document, dict) and isinstance(document.get("result"), dict):
        document = document["result"]  # a job from GET /v1/jobs/{id}
    try:
        return Result.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "result"
        raise InstanceError(f"not a Result: {field}: {first['msg']}", source=str(path)) from None


def _read_json(path: Path) -> Any:
    """A JSON file's document; errors as ``FILE:LINE: message``."""
    try:
        return parse_json(path.read_bytes(), str(path))
    except OSError as error:
        raise InstanceError(f"cannot read file: {error}", source=str(path)) from None


def _solution_in(document: Any) -> Any:
    """The solution a file holds: itself, a Result's ``solution``, or a job document's
    result's ``solution``."""
    if isinstance(document, dict) and isinstance(document.get("result"), dict):
        document = document["result"]
    if isinstance(document, dict) and "solution" in document and "status" in document:
        document = document["solution"]
    return document


@app.command()
def check(
    target: Annotated[str, typer.Argument(help="The instance file (or benchmark name).")],
    solution_file: Annotated[
        Path, typer.Argument(help="A solution, a Result (solve --out) or a job document.")
    ],
    problem: Problem = None,
    format: Annotated[str | None, typer.Option("--format", help="File format override.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the check as JSON.")] = False,
) -> None:
    """Check a solution against an instance with the kind's independent checker (the one every
    solve passes): exit 0 when feasible, 1 when not, 2 for bad input."""
    try:
        loaded = load_instance(target, problem=problem, format=format)
        solution = _solution_in(_read_json(solution_file))
        verdict = check_solution(loaded.model, loaded.instance, solution)
    except InstanceError as error:
        raise _fail(str(error)) from None
    if as_json:
        typer.echo(verdict.model_dump_json(indent=2))
    elif verdict.feasible:
        typer.echo(f"feasible: objective {_fmt(verdict.objective)}")
    else:
        typer.echo(f"infeasible: {len(verdict.violations)} violations")
        for violation in verdict.violations:
            typer.echo(f"  {violation.message}")
    raise typer.Exit(EXIT_SOLVED if verdict.feasible else EXIT_NO_SOLUTION)


def _solve_with_progress(loaded: LoadedInstance, options: Any, *, live: bool) -> Result:
    """Solve in a worker thread so Ctrl-C can stop the solver and still print its best answer."""
    console = Console()
    line = Text("starting...")
    stop = threading.Event()
    outcome: dict[str, Any] = {}

    def on_incumbent(incumbent: Incumbent) -> None:
        line.plain = _progress_line(incumbent)

    control = SolveControl(on_incumbent if live else None, stop)

    def run() -> None:
        try:
            outcome["result"] = solve_instance(loaded.model, loaded.instance, options, control)
        except BaseException as error:  # re-raised in the main thread
            outcome["error"] = error

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    with Live(line, console=console, refresh_per_second=8, transient=True) if live else _Null():
        try:
            while worker.is_alive():
                worker.join(0.1)
        except KeyboardInterrupt:
            stop.set()
            worker.join()
    if "error" in outcome:
        raise outcome["error"]
    result: Result = outcome["result"]
    return result


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: object) -> None:
        return None


def _progress_line(incumbent: Incumbent) -> str:
    gap = ""
    if incumbent.objective and incumbent.bound is not None:
        gap = f"  gap {100 * (incumbent.objective - incumbent.bound) / incumbent.objective:.2f}%"
    return (
        f"{incumbent.time_s:7.2f}s  objective {_fmt(incumbent.objective)}  "
        f"bound {_fmt(incumbent.bound)}{gap}"
    )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _print_summary(loaded: LoadedInstance, result: Result) -> None:
    console = Console()
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_row("instance", loaded.name)
    table.add_row("problem", result.problem)
    table.add_row("status", f"{result.status.value} ({result.termination.value})")
    table.add_row("objective", _fmt(result.objective))
    table.add_row("bound", _fmt(result.bound))
    table.add_row("gap", "-" if result.gap is None else f"{100 * result.gap:.2f}%")
    if loaded.best_known is not None:
        table.add_row("best known", _fmt(loaded.best_known))
    if result.warm_start is not None:
        table.add_row(
            "warm start", f"{result.warm_start.method} = {_fmt(result.warm_start.objective)}"
        )
    table.add_row("backend", f"{result.backend} {result.backend_version or ''}".strip())
    table.add_row("time", f"{result.wall_time_s:.2f}s")
    if result.solution is not None and "deviation" in result.solution:
        table.add_row("deviation", _fmt(result.solution["deviation"]))
    if result.message:
        table.add_row("note", result.message)
    for item in result.conflict or ():
        table.add_row("conflict", item.message)
    console.print(table)


@app.command()
def batch(
    paths: Annotated[list[Path], typer.Argument(help="Instance files or folders (recursive).")],
    problem: Problem = None,
    time_limit: Annotated[
        float, typer.Option("--time-limit", help="Seconds per instance, all included.")
    ] = DEFAULT_TIME_LIMIT_S,
    jobs: Annotated[
        int | None, typer.Option(min=1, help="Instances solved at once (default: cores/workers).")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Solver threads per instance.")] = 1,
    backend: Backend = "auto",
    seed: Seed = 0,
    gap_limit: GapLimit = None,
    capacity: Capacity = None,
    executor: Annotated[
        str, typer.Option(help="local | ray (a local Ray) | ray:ADDRESS (a cluster).")
    ] = "local",
    out: Annotated[
        Path | None, typer.Option(help="Write a row per instance (.csv or .jsonl) as it ends.")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Skip the instances already in --out.")
    ] = False,
    bounds: Annotated[
        Path | None, typer.Option(help="JSON file of best known values by instance name.")
    ] = None,
) -> None:
    """Solve every instance under PATHS in parallel; a row per instance and a summary per set."""
    from makespan.api import batch as batching
    from makespan.api.executors import make_executor

    _check_batch_paths(paths, out, resume)
    folders = Path(tempfile.mkdtemp(prefix="makespan-batch-"))
    try:
        options = make_options(
            time_limit_s=time_limit,
            backend=backend,
            workers=workers,
            seed=seed,
            gap_limit=gap_limit,
        )
        known = batching.load_bounds(bounds) if bounds is not None else {}
        chosen = make_executor(executor, folders, num_cpus=os.cpu_count())
    except (InstanceError, OptionsError, ValueError) as error:
        shutil.rmtree(folders, ignore_errors=True)
        raise _fail(str(error)) from None
    items = batching.discover(paths)
    if resume and out is not None:
        done = batching.finished_files(out)
        items = [item for item in items if str(item.path) not in done]
    run = batching.BatchRun(
        items,
        problem=problem,
        options=options,
        capacity=capacity,
        bounds=known,
        executor=chosen,
        jobs=jobs or max(1, (os.cpu_count() or 1) // workers),
    )
    try:
        rows, interrupted = _rows_of(run, len(items), out)
    finally:
        shutil.rmtree(folders, ignore_errors=True)
    raise typer.Exit(_batch_exit_code(rows, interrupted))


def _check_batch_paths(paths: list[Path], out: Path | None, resume: bool) -> None:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise _fail(f"no such file or folder: {', '.join(missing)}")
    if resume and out is None:
        raise _fail("--resume needs --out, the output of the run to resume")


def _rows_of(run: Any, total: int, out: Path | None) -> tuple[list[dict[str, Any]], bool]:
    """Run the batch, writing each row to ``out`` as it comes; the rows, and whether Ctrl-C
    ended the run (finished rows are kept), after printing the summary."""
    from makespan.api.batch import RowWriter

    writer = RowWriter(out) if out is not None else None
    rows: list[dict[str, Any]] = []
    interrupted = False
    started = time.monotonic()
    try:
        _run_batch(run, total, rows, writer)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if writer is not None:
            writer.close()
    _print_batch_summary(rows, interrupted, out, time.monotonic() - started)
    return rows, interrupted


def _batch_exit_code(rows: list[dict[str, Any]], interrupted: bool) -> int:
    if interrupted:
        return EXIT_INTERRUPTED
    solved = any(r["status"] in ("optimal", "feasible") for r in rows)
    return EXIT_SOLVED if solved or not rows else EXIT_NO_SOLUTION


def _run_batch(run: Any, total: int, rows: list[dict[str, Any]], writer: Any) -> None:
    """Drive the batch under a progress bar with ETA and the running mean gap."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[gap]}"),
    )
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task("solving", total=total, gap="")
        gaps: list[float] = []
        for row in run.rows():
            rows.append(row)
            if writer is not None:
                writer.write(row)
            gap = row["gap_to_best"] if row["gap_to_best"] is not None else row["gap"]
            if gap is not None:
                gaps.append(float(gap))
            label = f"mean gap {100 * sum(gaps) / len(gaps):.2f}%" if gaps else ""
            progress.update(task, advance=1, gap=label)


def _print_batch_summary(
    rows: list[dict[str, Any]], interrupted: bool, out: Path | None, elapsed_s: float
) -> None:
    from makespan.api.batch import summarise

    table = Table(title="batch summary" + (" (interrupted)" if interrupted else ""))
    # time: the sum of the solves' wall times (the run's elapsed time is printed below)
    for header in ("set", "n", "optimal", "feasible", "none", "gap to best", "gap", "time"):
        table.add_column(header, justify="left" if header == "set" else "right")
    for name, summary in summarise(rows).items():
        table.add_row(
            name,
            str(summary.instances),
            str(summary.optimal),
            str(summary.feasible),
            str(summary.no_solution),
            _pct(summary.mean(summary.gaps_to_best)),
            _pct(summary.mean(summary.gaps)),
            f"{summary.time_s:.1f}s",
        )
    console = Console()
    console.print(table)
    console.print(
        f"{len(rows)} instances in {elapsed_s:.1f} s" + (f"; rows in {out}" if out else "")
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


@app.command()
def export(
    target: Annotated[str, typer.Argument(help="Instance file, or a benchmark name.")],
    out: Annotated[Path, typer.Option(help="Output file (.mps or .lp).")],
    problem: Annotated[
        str | None, typer.Option(help="Problem kind; inferred when omitted.")
    ] = None,
    format: Annotated[
        str | None, typer.Option("--format", help="mps or lp (default: from --out).")
    ] = None,
    input_format: Annotated[
        str | None, typer.Option("--input-format", help="Instance file format override.")
    ] = None,
) -> None:
    """Write the instance's MILP (after the linearisation passes) for any other solver."""
    from makespan.solvers.export import write_model

    kind = (format or out.suffix.removeprefix(".")).lower()
    if kind not in ("mps", "lp"):
        raise _fail(f"--format: expected mps or lp, found {kind!r}")
    try:
        loaded = load_instance(target, problem=problem, format=input_format)
    except InstanceError as error:
        raise _fail(str(error)) from None
    path = out if out.suffix.lower() == f".{kind}" else out.with_name(out.name + f".{kind}")
    write_model(loaded.model.compile(loaded.instance, None).ir, path)
    typer.echo(f"wrote {path}")


generate_app = typer.Typer(help="Generate instances.", no_args_is_help=True)
app.add_typer(generate_app, name="generate")


def generator_command(kind: str, model: Generative[Any]) -> Callable[..., None]:
    """The ``makespan generate KIND`` command of a kind with a generator: one option per field
    of its :attr:`~makespan.models.spec.Generative.generator_options` (help, default and
    bounds as the field has them), plus ``--out``."""
    options_type = model.generator_options

    def command(out: Path | None = None, **values: Any) -> None:
        try:
            instance = model.generate(options_type(**values))
        except (ValidationError, ValueError) as error:
            raise _fail(str(error).splitlines()[0]) from None
        _write_or_echo(instance.model_dump_json(exclude_none=True), out)

    fields = [_option_parameter(name, info) for name, info in options_type.model_fields.items()]
    out = inspect.Parameter(
        "out",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[Path | None, typer.Option(help="Write here instead of stdout.")],
    )
    signature = inspect.Signature([*fields, out])
    command.__signature__ = signature  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
    command.__doc__ = f"A synthetic {kind} instance as JSON, from the options below."
    return command


def _option_parameter(name: str, info: FieldInfo) -> inspect.Parameter:
    option = typer.Option(
        help=info.description,
        min=_limit(info, annotated_types.Ge),
        max=_limit(info, annotated_types.Le),
    )
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=info.default,
        annotation=Annotated[info.annotation, option],
    )


def _limit(info: FieldInfo, kind: type[annotated_types.Ge | annotated_types.Le]) -> Any:
    for item in info.metadata:
        if isinstance(item, kind):
            return item.ge if isinstance(item, annotated_types.Ge) else item.le
    return None


def _write_or_echo(text: str, out: Path | None) -> None:
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")


for _kind, _model in MODELS.items():
    if isinstance(_model, Generative):
        generate_app.command(_kind)(generator_command(_kind, _model))


@app.command()
def problems(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List the problem kinds, their file formats and the backends."""
    from makespan.api.problem_routes import problem_list

    catalogue = problem_list()
    if as_json:
        typer.echo(catalogue.model_dump_json(indent=2))
        return
    table = Table(title="makespan problem kinds")
    for column in ("kind", "formats", "default backend", "summary"):
        table.add_column(column)
    for row in catalogue.problems:
        table.add_row(row.kind, ", ".join(row.formats), row.default_backend, row.summary)
    console = Console()
    console.print(table)
    console.print("backends: " + ", ".join(catalogue.backends))


def main() -> None:
    """Entry point of the ``makespan`` command."""
    app()


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default 127.0.0.1, MAKESPAN_HOST).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to bind (default 8000, MAKESPAN_PORT).")
    ] = None,
    db: Annotated[
        str | None, typer.Option(help="Job store: a SQLite file or a postgresql:// URL.")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="CPU slots (default: all cores).")] = None,
    executor: Annotated[
        str | None, typer.Option(help="local | ray (a local Ray) | ray:ADDRESS (a cluster).")
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(help="Require 'Authorization: Bearer KEY' (prefer --api-key-file)."),
    ] = None,
    api_key_file: Annotated[
        Path | None,
        typer.Option(help="Read the API key from this file, so it never shows in ps."),
    ] = None,
    allow_unauthenticated: Annotated[
        bool, typer.Option(help="Serve a non-loopback address without an API key.")
    ] = False,
) -> None:
    """Run the REST service (settings also from MAKESPAN_* environment variables)."""

    from makespan.api.server import create_app
    from makespan.api.server import serve as serve_app
    from makespan.api.settings import Settings

    given: dict[str, Any] = {
        "host": host,
        "port": port,
        "db": db,
        "workers": workers,
        "api_key": api_key,
        "api_key_file": api_key_file,
        "executor": executor,
        "allow_unauthenticated": allow_unauthenticated or None,
    }
    try:
        settings = Settings(**{name: value for name, value in given.items() if value is not None})
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise _fail(f"{field}: {message}" if field else message) from None
    serve_app(create_app(settings), settings.host, settings.port)
