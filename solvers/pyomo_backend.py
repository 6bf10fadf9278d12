"""IR -> linear form -> a Pyomo model, solved by any solver Pyomo knows (``pyomo:SOLVER``).

``pyomo:highs`` uses Pyomo's HiGHS interface; ``pyomo:cbc``, ``pyomo:gurobi``, ``pyomo:cplex``,
``pyomo:scip``, ... work where the user has that solver. A solver that is not installed fails
before the solve with an error naming it.

Backend parameters are solver options as ``name=value`` pairs. For ``pyomo:highs`` and
``pyomo:appsi_highs`` they are HiGHS options under exactly the rules of the ``highs`` backend
(names and values checked by HiGHS, the service's options refused). The names of any other
solver cannot be checked for spelling here (each solver has its own, and its library is not
ours to load); what is checked is that no name matches :data:`DENIED_NAME_PATTERNS` (files,
output, threads, time, seed, remote solving; case-insensitive, erring on the side of refusing)
and that no value looks like a file name or path.

Each solve runs in a child process (Pyomo's in-process solver interfaces cannot be interrupted,
and HiGHS keeps process-wide state), so a stop request ends it at once; the warm start then
stays the answer. Pyomo reports no incumbents while it runs: the final solution and bound are
reported at the end.
"""

from __future__ import annotations

import ctypes
import inspect
import multiprocessing
import os
import re
import signal
import time
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

import numpy as np

from makespan.solvers.backend import Backend, BackendOutcome, SolveRequest, honest
from makespan.solvers.control import BackendControl
from makespan.solvers.linear import LinearForm, linearize
from makespan.solvers.options import KILL_GRACE_S, OptionsError
from makespan.solvers.params import (
    ParamValue,
    allowed_highs_params,
    check_highs_params,
    parse_params,
)
from makespan.solvers.result import Status, Termination

THREADS_OPTION = {
    "highs": "threads",
    "appsi_highs": "threads",
    "cbc": "threads",
    "gurobi": "Threads",
    "gurobi_direct": "Threads",
    "cplex": "threads",
    "cplex_direct": "threads",
    "scip": "parallel/maxnthreads",
}
"""How each solver names its thread count."""

GAP_OPTION = {
    "highs": "mip_rel_gap",
    "appsi_highs": "mip_rel_gap",
    "cbc": "ratioGap",
    "gurobi": "MIPGap",
    "gurobi_direct": "MIPGap",
    "cplex": "mipgap",
    "cplex_direct": "mipgap",
    "scip": "limits/gap",
    "glpk": "mipgap",
}
"""How each solver names its relative MIP gap limit (``options.gap_limit``)."""

HIGHS_SOLVERS = frozenset({"highs", "appsi_highs"})
"""Pyomo solvers that are HiGHS: their options follow the ``highs`` backend's rules."""

DENIED_NAME_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"thread|parallel|concurren|distributed", "the thread count comes from options.workers"),
    (
        r"file|dir|path|write|read|save|restore|import|export|dump|debug",
        "reads or writes files, which belong to the service",
    ),
    (r"log|output|print|verbos|display", "logging and console output belong to the service"),
    (r"time|tmlim|^sec$|^seconds$", "the time limit comes from options.time_limit_s"),
    (r"seed", "the random seed comes from options.seed"),
    (r"server|cloud|token|wls", "solving elsewhere and licences belong to the service"),
)
"""Case-insensitive patterns of option names refused for solvers other than HiGHS, and why; the
first that matches gives the reason (``Threads`` is about threads, not about reading).

Without the solver's list of names these are patterns, not a list: they refuse some harmless
names (``BranchDir``) rather than miss one that writes a file (cbc ``saveSolution``, Gurobi
``LogFile``, CPLEX ``workdir``), prints (SCIP ``display/verblevel``), starts threads (Gurobi
``ConcurrentMIP``), limits time (cbc ``sec``, glpk ``tmlim``, SCIP ``limits/time``), seeds
(cbc ``randomSeed``) or sends the model to a compute server (Gurobi ``ComputeServer``).
"""

_FILE_LIKE_VALUE = re.compile(r"[/\\]|\.[A-Za-z][A-Za-z0-9]*$")
"""A value with a path separator or a file extension (``out.sol``) names a file."""

_STOP_POLL_S = 0.05


@cache
def _pyomo_version() -> str:
    import pyomo.version

    return str(pyomo.version.version)


@cache
def available(solver: str) -> bool:
    """Whether Pyomo finds ``solver`` installed and licensed here (asked once per process)."""
    import pyomo.environ as pyo

    try:
        return bool(pyo.SolverFactory(solver).available(exception_flag=False))
    except Exception:  # a solver plugin that cannot even ask counts as absent
        return False


def _check_available(solver: str) -> None:
    if not available(solver):
        raise OptionsError(
            "backend", f"Pyomo solver {solver!r} is not installed (or not licensed) here"
        )


def backend(solver: str) -> Backend:
    """The ``pyomo:SOLVER`` backend; an :class:`OptionsError` naming the solver when Pyomo cannot
    find it."""
    _check_available(solver)
    return Backend(
        f"pyomo:{solver}",
        f"pyomo {_pyomo_version()}",
        partial(check_params, solver),
        partial(solve, solver),
    )


def check_params(solver: str, text: str) -> None:
    """Raise :class:`OptionsError` unless ``text`` is options ``solver`` may be given: HiGHS's
    rules for HiGHS; otherwise no name the service owns and no file-like value."""
    allowed_params(solver, text)
    if solver in HIGHS_SOLVERS:
        check_highs_params(text)


def allowed_params(solver: str, text: str) -> dict[str, ParamValue]:
    """``text`` parsed, an :class:`OptionsError` naming the first option the service owns."""
    if solver in HIGHS_SOLVERS:
        return allowed_highs_params(text)
    params = parse_params(text)
    for name, value in params.items():
        _reject_denied(name, value)
    return params


def _reject_denied(name: str, value: ParamValue) -> None:
    for pattern, reason in DENIED_NAME_PATTERNS:
        if re.search(pattern, name, re.IGNORECASE):
            raise OptionsError("backend_params", f"option {name} is not allowed: {reason}")
    if isinstance(value, str) and _FILE_LIKE_VALUE.search(value):
        raise OptionsError(
            "backend_params",
            f"option {name}={value!r} is not allowed: a value naming a file or path "
            "(files belong to the service)",
        )


def build(form: LinearForm) -> Any:
    """The Pyomo model of a linear form: ``x[j]`` columns, ``rows[i]`` constraints, ``cost``."""
    import pyomo.environ as pyo

    model = pyo.ConcreteModel(name=form.name)
    columns = range(form.num_cols)

    def bounds(_: Any, j: int) -> tuple[float | None, float | None]:
        return _finite(form.col_lb[j]), _finite(form.col_ub[j])

    def domain(_: Any, j: int) -> Any:
        return pyo.Integers if form.integral[j] else pyo.Reals

    model.x = pyo.Var(columns, bounds=bounds, within=domain)

    def row(m: Any, i: int) -> Any:
        lo, hi = form.row_start[i], form.row_start[i + 1]
        expr = pyo.quicksum(
            float(c) * m.x[int(j)]
            for j, c in zip(form.row_index[lo:hi], form.row_value[lo:hi], strict=True)
        )
        return (_finite(form.row_lb[i]), expr, _finite(form.row_ub[i]))

    model.rows = pyo.Constraint(range(form.num_rows), rule=row)
    used = np.flatnonzero(form.cost)
    model.cost = pyo.Objective(
        expr=pyo.quicksum(float(form.cost[j]) * model.x[int(j)] for j in used) + form.offset,
        sense=pyo.minimize,
    )
    return model


def _finite(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def solve(solver: str, request: SolveRequest, control: BackendControl) -> BackendOutcome:
    """Solve ``request.model`` with the Pyomo solver ``solver`` in a child process.

    The child builds the Pyomo model and runs the solver within what is left of the time limit;
    a stop request, or the limit plus a grace period, ends the child.
    """
    deadline = time.monotonic() + request.time_limit_s
    form = linearize(request.model)
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=_solve_in_child,
        args=(
            solver,
            form,
            _ChildOptions.of(request),
            deadline - time.monotonic(),
            sender,
            os.getpid(),
        ),
        name=f"pyomo-{solver}",
    )
    child.start()
    sender.close()
    try:
        answer = _await_answer(child, receiver, control, deadline + _KILL_GRACE_S)
    finally:
        if child.is_alive():
            child.kill()
        child.join(timeout=10)
    if answer is None:
        return _no_answer(solver, Termination.CANCELLED, "stopped before the solver returned")
    if "error" in answer:
        return _no_answer(solver, Termination.ERROR, f"pyomo:{solver}: {answer['error']}")
    integral = form.objective_is_integral
    return _outcome(solver, answer, control, request.model.objective is not None, integral)


_KILL_GRACE_S = KILL_GRACE_S / 2
"""The child gets half the executor's grace, so it is stopped (and its answer read) before the
executor would kill the whole job."""


def _await_answer(
    child: Any, receiver: Any, control: BackendControl, kill_at: float
) -> dict[str, Any] | None:
    """The child's answer; None when a stop was requested first."""
    while True:
        if control.stop_requested:
            return None
        if receiver.poll(_STOP_POLL_S):
            try:
                answer: dict[str, Any] = receiver.recv()
            except EOFError:
                answer = {"error": f"the solver process exited with code {child.exitcode}"}
            return answer
        if not child.is_alive() and not receiver.poll(0):
            return {"error": f"the solver process exited with code {child.exitcode}"}
        if time.monotonic() > kill_at:
            return {"error": "the solver ignored its time limit and was stopped"}


@dataclass(frozen=True)
class _ChildOptions:
    """What the child needs of a request besides the model (which it gets as a linear form)."""

    params: str | None
    workers: int | None
    gap_limit: float | None

    @classmethod
    def of(cls, request: SolveRequest) -> _ChildOptions:
        """The options of ``request``."""
        return cls(request.params, request.workers, request.gap_limit)


def _solve_in_child(
    solver: str,
    form: LinearForm,
    request: _ChildOptions,
    time_left_s: float,
    sender: Any,
    parent: int,
) -> None:
    """Runs in the child process: build, solve, send back a plain dict."""
    import pyomo.environ as pyo

    _die_with_parent(parent)
    deadline = time.monotonic() + time_left_s
    try:
        model = build(form)
        if form.start is not None:
            for column, start in zip(*form.start, strict=True):
                model.x[column].set_value(start, skip_validation=True)
        opt = pyo.SolverFactory(solver)
        _set_options(opt.options, solver, request)
        arguments: dict[str, Any] = {
            "load_solutions": False,
            "timelimit": max(deadline - time.monotonic(), 0.01),
        }
        if form.start is not None and _supports_warmstart(opt):
            arguments["warmstart"] = True
        sender.send(_answer(model, form, opt.solve(model, **arguments)))
    except Exception as error:  # sent to the parent as the backend's message
        sender.send({"error": f"{type(error).__name__}: {error}"})
    finally:
        sender.close()


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this process when the job process that started it dies (Linux), so
    that a killed job leaves no solver running."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return  # not Linux: the parent kills us on its way out, as long as it lives to
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGKILL)


_PR_SET_PDEATHSIG = 1


def _set_options(options: Any, solver: str, request: _ChildOptions) -> None:
    """The allowed backend parameters, then what the service owns (so that it wins)."""
    if request.params:
        for name, value in allowed_params(solver, request.params).items():
            options[name] = value
    if request.workers and solver in THREADS_OPTION:
        options[THREADS_OPTION[solver]] = request.workers
    if request.gap_limit is not None and solver in GAP_OPTION:
        options[GAP_OPTION[solver]] = request.gap_limit


def _supports_warmstart(opt: Any) -> bool:
    """True when the solver takes a MIP start through ``solve(..., warmstart=True)``."""
    try:
        accepts = "warmstart" in inspect.signature(opt.solve).parameters
        return accepts and bool(opt.warm_start_capable())
    except (AttributeError, TypeError, ValueError):
        return False


def _answer(model: Any, form: LinearForm, results: Any) -> dict[str, Any]:
    """The solver's verdict, values of the IR columns, objective and bound, as plain data."""
    import pyomo.environ as pyo
    from pyomo.opt import TerminationCondition

    condition = results.solver.termination_condition
    values = None
    objective = None
    infeasible = (TerminationCondition.infeasible, TerminationCondition.infeasibleOrUnbounded)
    if len(results.solution) > 0 and condition not in infeasible:
        model.solutions.load_from(results)
        raw = [pyo.value(model.x[j], exception=False) for j in range(form.num_ir_columns)]
        if all(v is not None for v in raw):
            values = [round(v) for v in raw]
            objective = float(pyo.value(model.cost))
    return {
        "condition": str(condition),
        "values": values,
        "objective": objective,
        "bound": _finite(float(results.problem.lower_bound)),
    }


def _no_answer(solver: str, termination: Termination, message: str) -> BackendOutcome:
    return BackendOutcome(
        Status.UNKNOWN,
        termination,
        None,
        None,
        None,
        f"pyomo:{solver}",
        f"pyomo {_pyomo_version()}",
        message,
    )


def _outcome(
    solver: str,
    answer: dict[str, Any],
    control: BackendControl,
    has_objective: bool,
    integral: bool,
) -> BackendOutcome:
    condition = answer["condition"]
    values = None if answer["values"] is None else tuple(answer["values"])
    objective = answer["objective"] if has_objective else None
    bound = answer["bound"] if has_objective else None
    found = Status.FEASIBLE if values is not None else Status.UNKNOWN
    if condition == "optimal" and values is not None:
        status, termination = Status.OPTIMAL, Termination.SOLVED
    elif condition == "infeasible":
        status, termination = Status.INFEASIBLE, Termination.SOLVED
    elif condition in ("maxTimeLimit", "maxIterations", "maxEvaluations"):
        status, termination = found, Termination.TIME_LIMIT
    else:
        status, termination = found, Termination.ERROR
    message = None if termination is not Termination.ERROR else f"{solver}: {condition}"
    # Solvers also answer "optimal" when their own (default) gap limit stopped them.
    outcome = honest(
        BackendOutcome(
            status,
            termination,
            values,
            objective,
            bound,
            f"pyomo:{solver}",
            f"pyomo {_pyomo_version()}",
            message,
        ),
        integral=integral,
    )
    if outcome.objective is not None:
        control.report(outcome.objective, outcome.bound)
    return outcome
