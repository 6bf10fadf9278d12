"""IR -> linear form -> HiGHS (highspy): bulk-loaded MILP, MIP start, incumbents, cooperative stop.

Backend parameters are HiGHS options as ``name=value`` pairs separated by spaces or new lines
(``presolve=off mip_heuristic_effort=0.1``); an unknown name or a bad value fails before the
solve, and so does an option the service owns: those are refused by name
(:mod:`makespan.solvers.params`) before any HiGHS object sees them, because setting
``log_file`` alone creates the file.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import highspy
import numpy as np

from makespan.solvers.backend import Backend, BackendOutcome, SolveRequest, honest
from makespan.solvers.control import BackendControl
from makespan.solvers.export import highs_model
from makespan.solvers.linear import LinearForm, linearize
from makespan.solvers.params import allowed_highs_params, apply_highs_params, check_highs_params
from makespan.solvers.result import Status, Termination

NAME = "highs"
VERSION: str = highspy.Highs().version()

# HiGHS keeps one thread scheduler per process, sized by the first run; a run asking for another
# size fails unless the scheduler is reset, which is only safe while no other run uses it. So
# HiGHS runs in one process take turns (the service runs each job in its own process).
_RUN_LOCK = threading.Lock()
_scheduler_threads: list[int | None] = [None]


def solve(request: SolveRequest, control: BackendControl) -> BackendOutcome:
    """Solve ``request.model`` as a MILP with HiGHS within its time limit (building included)."""
    deadline = time.monotonic() + request.time_limit_s
    form = linearize(request.model)
    h = highs_model(form)
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
        apply_highs_params(h, allowed_highs_params(request.params))
    if request.gap_limit is not None:
        # After backend_params: an option the caller set wins over a backend parameter.
        h.setOptionValue("mip_rel_gap", request.gap_limit)


def _outcome(
    h: highspy.Highs, form: LinearForm, has_objective: bool, control: BackendControl
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


BACKEND = Backend(NAME, VERSION, check_highs_params, solve)
