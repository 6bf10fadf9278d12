"""IR -> OR-Tools CP-SAT: a pure compile step, then a solve that streams incumbents.

Constraint kinds are posted in the order of :class:`~makespan.solvers.ir.ConstraintKind`, one
function each, mirrored by the MILP passes in the linear backend.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import ortools
from google.protobuf import text_format
from ortools.sat import sat_parameters_pb2
from ortools.sat.python import cp_model

from makespan.solvers.backend import Backend, BackendOutcome, SolveRequest, settle
from makespan.solvers.control import SolveControl
from makespan.solvers.deadline import BuildClock
from makespan.solvers.ir import (
    ConstraintKind,
    Cumulative,
    Interval,
    Linear,
    LinearExpr,
    Literal,
    MaxEquality,
    Model,
    NoOverlap,
    NoOverlap2D,
)
from makespan.solvers.options import OptionsError
from makespan.solvers.result import Status, Termination

NAME = "cpsat"
VERSION: str = str(getattr(ortools, "__version__", "unknown"))
_STOP_POLL_S = 0.05


@dataclass(frozen=True)
class CompiledCpModel:
    """A CP-SAT model and its variables, indexed as in the IR."""

    model: cp_model.CpModel
    variables: tuple[cp_model.IntVar, ...]


def check_params(text: str) -> None:
    """Raise :class:`OptionsError` unless ``text`` is valid ``SatParameters`` text format."""
    try:
        text_format.Parse(text, sat_parameters_pb2.SatParameters())
    except text_format.ParseError as error:
        raise OptionsError("backend_params", f"invalid CP-SAT parameter: {error}") from None


def compile_model(ir: Model) -> CompiledCpModel:
    """Build the CP-SAT model of ``ir``; pure: the same IR always gives the same model."""
    model = cp_model.CpModel()
    model.name = ir.name
    variables = tuple(
        model.new_bool_var(v.name) if v.is_bool else model.new_int_var(v.lb, v.ub, v.name)
        for v in ir.variables
    )
    builder = _Builder(model, variables)
    intervals = [builder.interval(iv) for iv in ir.intervals]
    posters: dict[ConstraintKind, Callable[[Any], None]] = {
        ConstraintKind.LINEAR: builder.post_linear,
        ConstraintKind.NO_OVERLAP: lambda c: builder.post_no_overlap(c, intervals),
        ConstraintKind.CUMULATIVE: lambda c: builder.post_cumulative(c, intervals),
        ConstraintKind.NO_OVERLAP_2D: lambda c: builder.post_no_overlap_2d(c, intervals),
        ConstraintKind.MAX_EQUALITY: builder.post_max_equality,
    }
    clock = BuildClock()
    for constraint in ir.constraints:
        clock.tick()
        posters[constraint.kind](constraint)
    if ir.objective is not None:
        model.minimize(builder.expr(ir.objective))
    for var, value in ir.hints:
        model.add_hint(variables[var], value)
    return CompiledCpModel(model, variables)


class _Builder:
    """Translates IR expressions, literals and constraints onto one CpModel."""

    def __init__(self, model: cp_model.CpModel, variables: Sequence[cp_model.IntVar]) -> None:
        self.model = model
        self.variables = variables

    def expr(self, e: LinearExpr) -> Any:
        """The CP-SAT expression of an IR expression (a bare variable when it is one)."""
        if not e.terms:
            return e.constant
        if len(e.terms) == 1 and e.terms[0][1] == 1 and e.constant == 0:
            return self.variables[e.terms[0][0]]
        vars_ = [self.variables[v] for v, _ in e.terms]
        return cp_model.LinearExpr.weighted_sum(vars_, [c for _, c in e.terms]) + e.constant

    def literal(self, lit: Literal) -> Any:
        """The CP-SAT literal of an IR literal."""
        var = self.variables[lit.var]
        return ~var if lit.negated else var

    def interval(self, iv: Interval) -> cp_model.IntervalVar:
        """The CP-SAT interval (optional when the IR interval has a presence literal)."""
        start, size, end = self.expr(iv.start), self.expr(iv.size), self.expr(iv.end)
        if iv.presence is None:
            return self.model.new_interval_var(start, size, end, iv.name)
        presence = self.literal(iv.presence)
        return self.model.new_optional_interval_var(start, size, end, presence, iv.name)

    def post_linear(self, c: Linear) -> None:
        """``lb <= expr <= ub``, only enforced when the literals hold."""
        lb = cp_model.INT_MIN if c.lb is None else c.lb
        ub = cp_model.INT_MAX if c.ub is None else c.ub
        ct = self.model.add_linear_constraint(self.expr(c.expr), lb, ub)
        if c.enforce:
            ct.only_enforce_if([self.literal(lit) for lit in c.enforce])

    def post_no_overlap(self, c: NoOverlap, intervals: Sequence[cp_model.IntervalVar]) -> None:
        """A no-overlap over the listed intervals."""
        self.model.add_no_overlap([intervals[i] for i in c.intervals])

    def post_cumulative(self, c: Cumulative, intervals: Sequence[cp_model.IntervalVar]) -> None:
        """A cumulative with constant demands and capacity."""
        self.model.add_cumulative([intervals[i] for i in c.intervals], c.demands, c.capacity)

    def post_no_overlap_2d(self, c: NoOverlap2D, intervals: Sequence[cp_model.IntervalVar]) -> None:
        """Rectangles x_i * y_i pairwise disjoint."""
        self.model.add_no_overlap_2d(
            [intervals[i] for i in c.x_intervals], [intervals[i] for i in c.y_intervals]
        )

    def post_max_equality(self, c: MaxEquality) -> None:
        """``target == max(exprs)``."""
        self.model.add_max_equality(self.expr(c.target), [self.expr(e) for e in c.exprs])


class _IncumbentCallback(cp_model.CpSolverSolutionCallback):
    """Streams every improving solution's objective and bound to the control."""

    def __init__(self, control: SolveControl, has_objective: bool) -> None:
        super().__init__()
        self.control = control
        self.has_objective = has_objective

    def on_solution_callback(self) -> None:
        """Report the new solution's objective and the current bound."""
        if self.has_objective:
            self.control.report(self.objective_value, self.best_objective_bound)


def _configure(solver: cp_model.CpSolver, request: SolveRequest, time_left_s: float) -> None:
    params = solver.parameters
    params.max_time_in_seconds = max(time_left_s, 0.001)
    params.num_workers = request.workers or 0  # 0: CP-SAT picks from the cores it sees
    params.random_seed = request.seed
    params.log_search_progress = False
    if request.params:
        check_params(request.params)
        params.merge_text_format(request.params)


def solve(request: SolveRequest, control: SolveControl) -> BackendOutcome:
    """Solve ``request.model`` with CP-SAT within its time limit (building the CpModel included),
    honouring stop requests."""
    deadline = time.monotonic() + request.time_limit_s
    compiled = compile_model(request.model)
    solver = cp_model.CpSolver()
    _configure(solver, request, deadline - time.monotonic())
    has_objective = request.model.objective is not None
    if has_objective:
        solver.best_bound_callback = lambda bound: control.report(None, bound)
    callback = _IncumbentCallback(control, has_objective)
    finished = threading.Event()
    watcher = threading.Thread(target=_stop_when_asked, args=(solver, control, finished))
    watcher.start()
    try:
        code = solver.solve(compiled.model, callback)
    finally:
        finished.set()
        watcher.join()
    return _outcome(solver, code, compiled, request.model, control)


def _stop_when_asked(
    solver: cp_model.CpSolver, control: SolveControl, finished: threading.Event
) -> None:
    while not finished.is_set():
        if control.wait_for_stop(_STOP_POLL_S):
            solver.stop_search()
            return


def _outcome(
    solver: cp_model.CpSolver,
    code: Any,
    compiled: CompiledCpModel,
    ir: Model,
    control: SolveControl,
) -> BackendOutcome:
    interrupted = Termination.CANCELLED if control.stop_requested else Termination.TIME_LIMIT
    has_solution = code in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    values = tuple(solver.response_proto.solution) if has_solution else None
    if values is not None and len(values) != len(compiled.variables):
        values = tuple(solver.value(v) for v in compiled.variables)
    has_objective = ir.objective is not None
    objective = solver.objective_value if has_solution and has_objective else None
    bound = solver.best_objective_bound if has_objective else None
    status, termination, message = {
        cp_model.OPTIMAL: (Status.OPTIMAL, Termination.SOLVED, None),
        cp_model.FEASIBLE: (Status.FEASIBLE, interrupted, None),
        cp_model.INFEASIBLE: (Status.INFEASIBLE, Termination.SOLVED, None),
        cp_model.UNKNOWN: (Status.UNKNOWN, interrupted, None),
    }.get(code, (Status.UNKNOWN, Termination.ERROR, f"CP-SAT: {compiled.model.validate()}"))
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
