"""IR -> linear form -> HiGHS (highspy): bulk-loaded MILP, MIP start, incumbents, cooperative stop.

Backend parameters are HiGHS options as ``name=value`` pairs separated by spaces or new lines
(``presolve=off mip_heuristic_effort=0.1``); an unknown name or a bad value fails before the
solve, and so does an option the service owns (:data:`DENIED_OPTIONS`): those are refused by
name before any HiGHS object sees them, because setting ``log_file`` alone creates the file.
"""

from __future__ import annotations

import ctypes
import math
import re
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import highspy
import numpy as np

from makespan.solvers.backend import Backend, BackendOutcome, SolveRequest, honest
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


_DENIED_CLASSES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("file", "_write_", "_read_"), "reads or writes files, which belong to the service"),
    (
        ("_log_", "_logging_", "_output_", "_report_", "_analysis_"),
        "logging and console output belong to the service",
    ),
    (("_threads_", "_concurrency_"), "the thread count comes from options.workers"),
    (("_time_limit_",), "the time limit comes from options.time_limit_s"),
    (("_seed_",), "the random seed comes from options.seed"),
    (("_debug_",), "debug levels run costly checks and print their findings"),
)
"""Name fragments (matched on ``_name_``, lower case) of the HiGHS options ``backend_params`` may
not set, and why:

- files: every ``*file*`` option (``log_file``, ``solution_file``, ``write_model_file``,
  ``read_basis_file``, ``mip_improving_solution_file``, ...) and every ``write_*`` / ``read_*``
  switch or style reads or writes the file system, which belongs to the service;
- output: ``output_flag``, ``log_to_console``, ``log_*``, ``timeless_log``, ``*_logging*``,
  ``mip_report_level``, ``highs_analysis_level`` decide what HiGHS prints;
- threads: ``threads`` and ``simplex_min/max_concurrency`` size HiGHS's thread use, which the
  service counts as CPU slots (``options.workers``);
- time: ``time_limit`` (and ``iis_time_limit``) would override ``options.time_limit_s``;
- seed: ``random_seed`` is ``options.seed``;
- debug: ``highs_debug_level`` runs costly internal checks and reports them.
"""

_DENIED_BY_NAME: dict[str, str] = {
    "mip_improving_solution_save": "saves every improving solution for the solution file",
    "mip_improving_solution_report_sparse": "only shapes the improving-solution file",
    "glpsol_cost_row_location": "only shapes solution files, which belong to the service",
}
"""Options no name fragment catches, denied by name."""

_ALLOWED_DESPITE_NAME = frozenset({"dual_steepest_edge_weight_log_error_threshold"})
"""Options a fragment hits although they own nothing of the service's (``log`` is a logarithm
here)."""


def denial_reason(name: str) -> str | None:
    """Why ``backend_params`` may not set the HiGHS option ``name``, or None when it may."""
    lowered = name.lower()
    if lowered in _ALLOWED_DESPITE_NAME:
        return None
    if lowered in _DENIED_BY_NAME:
        return _DENIED_BY_NAME[lowered]
    wrapped = f"_{lowered}_"
    for fragments, reason in _DENIED_CLASSES:
        if any(fragment in wrapped for fragment in fragments):
            return reason
    return None


def _option_names() -> tuple[str, ...]:
    """Every option this HiGHS knows, advanced ones included.

    highspy makes only some options attributes of ``Highs().getOptions()``; HiGHS's C API,
    exported by highspy's extension module, names them all: ``Highs_getOptionName`` answers for
    every index of HiGHS's option records and fails past the last. Where the C API cannot be
    loaded, the attributes are the list.
    """
    try:
        return _c_api_option_names()
    except (OSError, AttributeError):
        options = highspy.Highs().getOptions()
        return tuple(name for name in dir(options) if not name.startswith("_"))


def _c_api_option_names() -> tuple[str, ...]:
    library_path = highspy._core.__file__
    if library_path is None:
        raise OSError("highspy's extension module has no file")
    library = ctypes.CDLL(library_path)
    libc = ctypes.CDLL(None)
    library.Highs_create.restype = ctypes.c_void_p
    library.Highs_destroy.argtypes = [ctypes.c_void_p]
    library.Highs_getSizeofHighsInt.argtypes = [ctypes.c_void_p]
    highs = ctypes.c_void_p(library.Highs_create())
    try:
        highs_int = (
            ctypes.c_int64 if library.Highs_getSizeofHighsInt(highs) == 8 else ctypes.c_int32
        )
        library.Highs_getOptionName.argtypes = [
            ctypes.c_void_p,
            highs_int,
            ctypes.POINTER(ctypes.c_void_p),
        ]
        names: list[str] = []
        while True:
            name = ctypes.c_void_p()
            if library.Highs_getOptionName(highs, len(names), ctypes.byref(name)) != 0:
                return tuple(names)
            if name.value is None:
                return tuple(names)
            names.append(ctypes.string_at(name.value).decode())
            libc.free(name)  # HiGHS allocates each name with malloc for the caller to free
    finally:
        library.Highs_destroy(highs)


KNOWN_OPTIONS: tuple[str, ...] = _option_names()
"""The name of every option of the installed HiGHS."""

DENIED_OPTIONS: dict[str, str] = {
    name: reason for name in KNOWN_OPTIONS if (reason := denial_reason(name)) is not None
}
"""Every HiGHS option ``backend_params`` may not set, with the reason."""


def allowed_params(text: str) -> dict[str, bool | int | float | str]:
    """``text`` parsed, an :class:`OptionsError` naming the first option the service owns.

    Nothing is passed to HiGHS here: a denied option is refused by its name alone.
    """
    params = parse_params(text)
    for name in params:
        reason = denial_reason(name)
        if reason is not None:
            raise OptionsError("backend_params", f"HiGHS option {name} is not allowed: {reason}")
    return params


def check_params(text: str) -> None:
    """Raise :class:`OptionsError` unless every option is allowed (:func:`allowed_params`) and
    HiGHS accepts its name and value (tried on a throwaway, silent HiGHS)."""
    _apply_params(_quiet_highs(), allowed_params(text))


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
        _apply_params(h, allowed_params(request.params))
    if request.gap_limit is not None:
        # After backend_params: an option the caller set wins over a backend parameter.
        h.setOptionValue("mip_rel_gap", request.gap_limit)


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
    bound = info.mip_dual_bound if has_objective and math.isfinite(info.mip_dual_bound) else None
    stopped = Termination.CANCELLED if control.stop_requested else Termination.TIME_LIMIT
    found = Status.FEASIBLE if has_solution else Status.UNKNOWN
    statuses = highspy.HighsModelStatus
    status, termination, message = {
        statuses.kOptimal: (Status.OPTIMAL, Termination.SOLVED, None),
        statuses.kInfeasible: (Status.INFEASIBLE, Termination.SOLVED, None),
        statuses.kTimeLimit: (found, Termination.TIME_LIMIT, None),
        statuses.kInterrupt: (found, stopped, None),
    }.get(model_status, (found, Termination.ERROR, f"HiGHS: {h.modelStatusToString(model_status)}"))
    # HiGHS also answers kOptimal when mip_rel_gap or mip_abs_gap stopped it.
    return honest(
        BackendOutcome(status, termination, values, objective, bound, NAME, VERSION, message),
        integral=form.objective_is_integral,
    )


BACKEND = Backend(
    name=NAME,
    version=VERSION,
    supported_kinds=frozenset(ConstraintKind),
    check_params=check_params,
    solve=solve,
)
