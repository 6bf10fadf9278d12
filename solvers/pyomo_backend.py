"""IR -> linear form -> a Pyomo model, solved by any solver Pyomo knows (``pyomo:SOLVER``).

``pyomo:highs`` uses Pyomo's HiGHS interface; ``pyomo:cbc``, ``pyomo:gurobi``, ``pyomo:cplex``,
``pyomo:scip``, ... work where the user has that solver. A solver that is not installed fails
before the solve with an error naming it. Backend parameters are solver options as
``name=value`` pairs, passed through unchecked (each solver has its own names).

Each solve runs in a child process (Pyomo's in-process solver interfaces cannot be interrupted,
and HiGHS keeps process-wide state), so a stop request ends it at once; the warm start then
stays the answer. Pyomo reports no incumbents while it runs: the final solution and bound are
reported at the end.
"""

from __future__ import annotations

import inspect
import multiprocessing
import time
from functools import cache, partial
from typing import Any

import numpy as np

from makespan.solvers.backend import Backend, BackendOutcome, SolveRequest, settle
from makespan.solvers.control import SolveControl
from makespan.solvers.highs import parse_params
from makespan.solvers.ir import ConstraintKind
from makespan.solvers.linear import LinearForm, linearize
from makespan.solvers.options import OptionsError
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

_STOP_POLL_S = 0.05


@cache
def _pyomo_version() -> str:
    import pyomo.version

    return str(pyomo.version.version)


def _check_available(solver: str) -> None:
    import pyomo.environ as pyo

    try:
        available = bool(pyo.SolverFactory(solver).available(exception_flag=False))
    except Exception:
        available = False
    if not available:
        raise OptionsError(
            "backend", f"Pyomo solver {solver!r} is not installed (or not licensed) here"
        )


def backend(solver: str) -> Backend:
    """The ``pyomo:SOLVER`` backend; an :class:`OptionsError` naming the solver when Pyomo cannot
    find it."""
    _check_available(solver)
    return Backend(
        name=f"pyomo:{solver}",
        version=f"pyomo {_pyomo_version()}",
        supported_kinds=frozenset(ConstraintKind),
        check_params=_check_params,
        solve=partial(solve, solver),
    )


def _check_params(text: str) -> None:
    parse_params(text)  # names are the solver's own: only the name=value form is checked


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


def solve(solver: str, request: SolveRequest, control: SolveControl) -> BackendOutcome:
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
        args=(solver, form, request.params, request.workers, deadline - time.monotonic(), sender),
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
    return _outcome(solver, answer, control, request.model.objective is not None)


_KILL_GRACE_S = 30.0


def _await_answer(
    child: Any, receiver: Any, control: SolveControl, kill_at: float
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


def _solve_in_child(
    solver: str,
    form: LinearForm,
    params: str | None,
    workers: int | None,
    time_left_s: float,
    sender: Any,
) -> None:
    """Runs in the child process: build, solve, send back a plain dict."""
    import pyomo.environ as pyo

    deadline = time.monotonic() + time_left_s
    try:
        model = build(form)
        if form.start is not None:
            for column, start in zip(*form.start, strict=True):
                model.x[column].set_value(start, skip_validation=True)
        opt = pyo.SolverFactory(solver)
        if params:
            for name, value in parse_params(params).items():
                opt.options[name] = value
        if workers and solver in THREADS_OPTION:
            opt.options[THREADS_OPTION[solver]] = workers
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
    solver: str, answer: dict[str, Any], control: SolveControl, has_objective: bool
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
    outcome = settle(
        BackendOutcome(
            status,
            termination,
            values,
            objective,
            bound,
            f"pyomo:{solver}",
            f"pyomo {_pyomo_version()}",
            message,
        )
    )
    if outcome.objective is not None:
        control.report(outcome.objective, outcome.bound)
    return outcome
