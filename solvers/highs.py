"""IR -> linear form -> HiGHS (highspy): bulk-loaded MILP, MIP start, incumbents, cooperative stop.

Backend parameters are HiGHS options as ``name=value`` pairs separated by spaces or new lines
(``mip_rel_gap=0.01 presolve=off``); an unknown name or a bad value fails before the solve.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import highspy
import numpy as np

from makespan.solvers.backend import Backend, BackendOutcome, SolveRequest, settle
from makespan.solvers.control import SolveControl
from makespan.solvers.ir import ConstraintKind, Model
from makespan.solvers.linear import LinearForm, linearize
from makespan.solvers.options import OptionsError
from makespan.solvers.result import Status, Termination

NAME = "highs"
VERSION: str = highspy.Highs().version()

# HiGHS keeps one thread scheduler per process, sized by the first run; a run asking for another
# size fails unless the scheduler is reset, which is only safe while no other run uses it. So
# HiGHS runs in one process take turns (the service runs each job in its own process).
_RUN_LOCK = threading.Lock()
_scheduler_threads: list[int | None] = [None]


def parse_params(text: str) -> dict[str, bool | int | float | str]:
    """``name=value`` pairs to typed HiGHS option values."""
    params: dict[str, bool | int | float | str] = {}
    for token in text.replace(",", " ").split():
        name, sep, raw = token.partition("=")
        if not sep or not name or not raw:
            raise OptionsError("backend_params", f"expected name=value, found {token!r}")
        params[name] = _typed(raw)
    return params


def _typed(raw: str) -> bool | int | float | str:
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


def check_params(text: str) -> None:
    """Raise :class:`OptionsError` unless every option name and value is accepted by HiGHS."""
    _apply_params(_quiet_highs(), parse_params(text))


def _apply_params(h: highspy.Highs, params: dict[str, bool | int | float | str]) -> None:
    for name, value in params.items():
        if h.setOptionValue(name, value) != highspy.HighsStatus.kOk:
            raise OptionsError("backend_params", f"HiGHS rejects option {name}={value!r}")


def _quiet_highs() -> highspy.Highs:
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    return h


def file_safe_names(names: tuple[str, ...]) -> list[str]:
    """Column names MPS and LP files accept: ``[A-Za-z0-9_]`` only, made unique by index."""
    safe = [re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "x" for name in names]
    counts = Counter(safe)
    return [name if counts[name] == 1 else f"{name}_{j}" for j, name in enumerate(safe)]


def load(form: LinearForm) -> highspy.Highs:
    """A HiGHS instance holding ``form``, rows passed in one call."""
    h = _quiet_highs()
    lp = highspy.HighsLp()
    lp.num_col_ = form.num_cols
    lp.num_row_ = form.num_rows
    lp.col_cost_ = form.cost
    lp.col_lower_ = form.col_lb
    lp.col_upper_ = form.col_ub
    lp.row_lower_ = form.row_lb
    lp.row_upper_ = form.row_ub
    lp.offset_ = form.offset
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = form.row_start
    lp.a_matrix_.index_ = form.row_index
    lp.a_matrix_.value_ = form.row_value
    lp.col_names_ = file_safe_names(form.col_names)
    lp.integrality_ = [
        highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous
        for flag in form.integral
    ]
    if h.passModel(lp) == highspy.HighsStatus.kError:
        raise RuntimeError("HiGHS rejected the model")
    return h


def write_model(ir: Model, path: Path) -> None:
    """Write the MILP of ``ir`` as MPS or LP (by the file extension) for any other solver."""
    h = load(linearize(ir))
    if h.writeModel(str(path)) == highspy.HighsStatus.kError:
        raise OSError(f"HiGHS could not write {path}")


def solve(request: SolveRequest, control: SolveControl) -> BackendOutcome:
    """Solve ``request.model`` as a MILP with HiGHS within its time limit (building included)."""
    deadline = time.monotonic() + request.time_limit_s
    form = linearize(request.model)
    h = load(form)
    _configure(h, request, form, deadline - time.monotonic())
    if form.start is not None:
        columns, values = form.start
        h.setSolution(len(columns), np.asarray(columns, np.int32), np.asarray(values))
    has_objective = request.model.objective is not None

    def on_improving(event: Any) -> None:
        if has_objective:
            out = event.data_out
            control.report(out.objective_function_value, out.mip_dual_bound)

    def on_interrupt_check(event: Any) -> None:
        if control.stop_requested:
            event.interrupt()

    h.cbMipImprovingSolution.subscribe(on_improving)
    for callback in (h.cbMipInterrupt, h.cbSimplexInterrupt, h.cbIpmInterrupt):
        callback.subscribe(on_interrupt_check)
    with _RUN_LOCK:
        threads = request.workers or 0  # 0: HiGHS chooses the size
        if _scheduler_threads[0] not in (None, threads):
            highspy.Highs.resetGlobalScheduler(True)
        _scheduler_threads[0] = threads
        h.run()
    return _outcome(h, form, has_objective, control)


def _configure(
    h: highspy.Highs, request: SolveRequest, form: LinearForm, time_left_s: float
) -> None:
    h.setOptionValue("time_limit", max(time_left_s, 0.001))
    h.setOptionValue("random_seed", request.seed)
    if request.workers:
        h.setOptionValue("threads", request.workers)
    h.setOptionValue("mip_rel_gap", 0.0)
    # With an integral objective any gap below 1 proves optimality.
    h.setOptionValue("mip_abs_gap", 1 - 1e-6 if form.objective_is_integral else 1e-6)
    if request.params:
        _apply_params(h, parse_params(request.params))


def _outcome(
    h: highspy.Highs, form: LinearForm, has_objective: bool, control: SolveControl
) -> BackendOutcome:
    model_status = h.getModelStatus()
    info = h.getInfo()
    has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
    values = None
    if has_solution:
        column_values = np.asarray(h.getSolution().col_value[: form.num_ir_columns])
        values = tuple(int(v) for v in np.rint(column_values))
    objective = info.objective_function_value if has_solution and has_objective else None
    bound = info.mip_dual_bound if has_objective else None
    stopped = Termination.CANCELLED if control.stop_requested else Termination.TIME_LIMIT
    found = Status.FEASIBLE if has_solution else Status.UNKNOWN
    statuses = highspy.HighsModelStatus
    status, termination, message = {
        statuses.kOptimal: (Status.OPTIMAL, Termination.SOLVED, None),
        statuses.kInfeasible: (Status.INFEASIBLE, Termination.SOLVED, None),
        statuses.kTimeLimit: (found, Termination.TIME_LIMIT, None),
        statuses.kInterrupt: (found, stopped, None),
    }.get(model_status, (found, Termination.ERROR, f"HiGHS: {h.modelStatusToString(model_status)}"))
    return settle(
        BackendOutcome(status, termination, values, objective, bound, NAME, VERSION, message)
    )


BACKEND = Backend(
    name=NAME,
    version=VERSION,
    supported_kinds=frozenset(ConstraintKind),
    check_params=check_params,
    solve=solve,
)
