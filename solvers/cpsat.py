"""IR -> OR-Tools CP-SAT: a pure compile step, then a solve that streams incumbents.

Constraint kinds are posted in the order of :class:`~makespan.solvers.ir.ConstraintKind`, one
function each, mirrored by the MILP passes in the linear backend.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import ortools
from google.protobuf import text_format
from google.protobuf.message import Message
from ortools.sat import sat_parameters_pb2
from ortools.sat.python import cp_model

from makespan.solvers import ir
from makespan.solvers.backend import Backend, BackendOutcome, SolveRequest, honest
from makespan.solvers.control import BackendControl
from makespan.solvers.deadline import BuildClock
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


_DENIED_CLASSES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("_file", "_dump_", "_proof_"), "reads or writes files, which belong to the service"),
    (("_log_", "_prefix_", "_stdout_"), "logging and console output belong to the service"),
    (("_workers_", "_thread"), "the thread count comes from options.workers"),
    (
        ("_time_in_seconds_", "_deterministic_time_"),
        "the time limit comes from options.time_limit_s",
    ),
    (("_seed_",), "the random seed comes from options.seed"),
    (("_debug_",), "debug switches check, stall or crash the process on purpose"),
)
"""Name fragments (matched on ``_name_``, so ``log`` does not hit ``chronological``) of the
``SatParameters`` fields that ``backend_params`` may not set, and why:

- files: ``*_file*``, ``*_dump_*`` and the DRAT/LRAT ``*_proof`` fields write proofs and models
  to disk (or check them at great cost), and the file system belongs to the service;
- output: ``log_*`` (``log_search_progress``, ``log_to_stdout``, ``log_prefix``, ...) print to
  the service's console or fill its response with logs;
- threads: ``num_workers``, ``num_search_workers``, ``shared_tree_num_workers`` start threads,
  which the service counts as CPU slots (``options.workers``);
- time: ``max_time_in_seconds``, ``max_deterministic_time``, ``max_drat_time_in_seconds``
  would override ``options.time_limit_s``;
- seed: ``random_seed`` is ``options.seed``;
- debug: ``debug_*`` switches crash the process on purpose or run the solver twice.
"""

_DENIED_BY_NAME: dict[str, str] = {
    "catch_sigint_signal": "signal handlers belong to the service process",
    "use_absl_random": "a randomly seeded generator would ignore options.seed",
}
"""Fields no name fragment catches, denied by name."""

_ALLOWED_DESPITE_NAME = frozenset(
    {
        # Effort budgets of one presolve or search phase, in deterministic time: tuning knobs
        # that the solve's own time limit still bounds, not a limit of the solve.
        "probing_deterministic_time_limit",
        "presolve_probing_deterministic_time_limit",
        "shaving_deterministic_time_in_probing_search",
        "shaving_search_deterministic_time",
        "symmetry_detection_deterministic_time_limit",
        # A threshold on the worker count, starts no thread.
        "lb_relax_num_workers_threshold",
    }
)
"""Fields a fragment of ``_DENIED_CLASSES`` hits although they own nothing of the service's."""


def _denial_reason(name: str) -> str | None:
    wrapped = f"_{name}_"
    for fragments, reason in _DENIED_CLASSES:
        if any(fragment in wrapped for fragment in fragments):
            return reason
    return None


def _denied_fields() -> dict[str, str]:
    fields = sat_parameters_pb2.SatParameters.DESCRIPTOR.fields
    denied = {
        field.name: reason
        for field in fields
        if field.name not in _ALLOWED_DESPITE_NAME
        and (reason := _denial_reason(field.name)) is not None
    }
    return denied | _DENIED_BY_NAME


DENIED_PARAMS: dict[str, str] = _denied_fields()
"""Every ``SatParameters`` field ``backend_params`` may not set, with the reason; derived from
the installed OR-Tools' descriptor so that new fields of a denied kind are denied too."""


def check_params(text: str) -> None:
    """Raise :class:`OptionsError` unless ``text`` is valid ``SatParameters`` text format that
    sets nothing of :data:`DENIED_PARAMS` (nested ``subsolver_params`` included)."""
    params = sat_parameters_pb2.SatParameters()
    try:
        text_format.Parse(text, params)
    except text_format.ParseError as error:
        raise OptionsError("backend_params", f"invalid CP-SAT parameter: {error}") from None
    _reject_denied(params, prefix="")


def _reject_denied(params: Message, prefix: str) -> None:
    for descriptor, value in params.ListFields():
        reason = DENIED_PARAMS.get(descriptor.name)
        if reason is not None:
            raise OptionsError(
                "backend_params",
                f"CP-SAT parameter {prefix}{descriptor.name} is not allowed: {reason}",
            )
        if descriptor.message_type is not None:
            nested = value if descriptor.is_repeated else [value]
            for message in nested:
                _reject_denied(message, prefix=f"{prefix}{descriptor.name}.")


def compile_model(source: ir.Model) -> CompiledCpModel:
    """Build the CP-SAT model of ``source``; pure: the same IR always gives the same model."""
    model = cp_model.CpModel()
    model.name = source.name
    variables = tuple(
        model.new_bool_var(v.name) if v.is_bool else model.new_int_var(v.lb, v.ub, v.name)
        for v in source.variables
    )
    builder = _Builder(model, variables, source)
    intervals = [builder.interval(iv) for iv in source.intervals]
    posters: dict[ir.ConstraintKind, Callable[[Any], None]] = {
        ir.ConstraintKind.LINEAR: builder.post_linear,
        ir.ConstraintKind.NO_OVERLAP: lambda c: builder.post_no_overlap(c, intervals),
        ir.ConstraintKind.NO_OVERLAP_SETUP: lambda c: builder.post_no_overlap_setup(c, intervals),
        ir.ConstraintKind.CUMULATIVE: lambda c: builder.post_cumulative(c, intervals),
        ir.ConstraintKind.NO_OVERLAP_2D: lambda c: builder.post_no_overlap_2d(c, intervals),
        ir.ConstraintKind.MAX_EQUALITY: builder.post_max_equality,
    }
    clock = BuildClock()
    for constraint in source.constraints:
        clock.tick()
        posters[constraint.kind](constraint)
    if source.objective is not None:
        model.minimize(builder.expr(source.objective))
    for var, value in source.hints:
        model.add_hint(variables[var], value)
    if source.hints and len(source.hints) == len(source.variables):
        builder.hint_sequences([value for _, value in source.hints])
    return CompiledCpModel(model, variables)


@dataclass(frozen=True)
class _SetupLiterals:
    """The literals of one no-overlap with setups (a circuit's arcs, or the pairwise form's
    order literals), for hinting them."""

    constraint: ir.NoOverlapSetup
    first: tuple[cp_model.IntVar, ...]
    last: tuple[cp_model.IntVar, ...]
    follows: dict[tuple[int, int], cp_model.IntVar]
    empty: cp_model.IntVar | None
    before: dict[tuple[int, int], cp_model.IntVar] = field(default_factory=dict)
    """The pairwise form's order literals (``a`` before ``b``), in place of the circuit's."""


class _Builder:
    """Translates IR expressions, literals and constraints onto one CpModel."""

    def __init__(
        self, model: cp_model.CpModel, variables: Sequence[cp_model.IntVar], source: ir.Model
    ) -> None:
        self.model = model
        self.variables = variables
        self.source = source
        self.setups: list[_SetupLiterals] = []

    def expr(self, e: ir.LinearExpr) -> Any:
        """The CP-SAT expression of an IR expression (a bare variable when it is one)."""
        if not e.terms:
            return e.constant
        if len(e.terms) == 1 and e.terms[0][1] == 1 and e.constant == 0:
            return self.variables[e.terms[0][0]]
        vars_ = [self.variables[v] for v, _ in e.terms]
        return cp_model.LinearExpr.weighted_sum(vars_, [c for _, c in e.terms]) + e.constant

    def literal(self, lit: ir.Literal) -> Any:
        """The CP-SAT literal of an IR literal."""
        var = self.variables[lit.var]
        return ~var if lit.negated else var

    def interval(self, iv: ir.Interval) -> cp_model.IntervalVar:
        """The CP-SAT interval (optional when the IR interval has a presence literal)."""
        start, size, end = self.expr(iv.start), self.expr(iv.size), self.expr(iv.end)
        if iv.presence is None:
            return self.model.new_interval_var(start, size, end, iv.name)
        presence = self.literal(iv.presence)
        return self.model.new_optional_interval_var(start, size, end, presence, iv.name)

    def post_linear(self, c: ir.Linear) -> None:
        """``lb <= expr <= ub``, only enforced when the literals hold."""
        lb = cp_model.INT_MIN if c.lb is None else c.lb
        ub = cp_model.INT_MAX if c.ub is None else c.ub
        ct = self.model.add_linear_constraint(self.expr(c.expr), lb, ub)
        if c.enforce:
            ct.only_enforce_if([self.literal(lit) for lit in c.enforce])

    def post_no_overlap(self, c: ir.NoOverlap, intervals: Sequence[cp_model.IntervalVar]) -> None:
        """A no-overlap over the listed intervals."""
        self.model.add_no_overlap([intervals[i] for i in c.intervals])

    def post_no_overlap_setup(
        self, c: ir.NoOverlapSetup, intervals: Sequence[cp_model.IntervalVar]
    ) -> None:
        """The no-overlap of the intervals, which propagates the disjunction, and the setups:
        with setups that obey the triangle inequality, an order literal per pair of intervals
        (the setup between every two present ones); otherwise a circuit through the present
        intervals, whose arcs say which directly follows which."""
        self.model.add_no_overlap([intervals[i] for i in c.intervals])
        sizes = [self.source.expr_bounds(self.source.intervals[i].size)[0] for i in c.intervals]
        if c.triangular(sizes):
            self._pairwise_setups(c)
        else:
            self._setup_circuit(c)

    def _pairwise_setups(self, c: ir.NoOverlapSetup) -> None:
        """Per pair with a positive setup either way, ``before``: ``start_b >= end_a + setup``
        when it holds, ``start_a >= end_b + setup`` when not (both enforced only when both are
        present). Half the literals of the circuit and no circuit constraint: measured on
        bench/fjsp.py's shops with setups, CP-SAT finds far better schedules with it."""
        ivs = [self.source.intervals[i] for i in c.intervals]
        before: dict[tuple[int, int], cp_model.IntVar] = {}
        for a, first in enumerate(ivs):
            for b in range(a + 1, len(ivs)):
                if c.gap(a, b) == 0 and c.gap(b, a) == 0:
                    continue  # the no-overlap alone orders them
                second = ivs[b]
                both = [self.literal(iv.presence) for iv in (first, second) if iv.presence]
                lit = self.model.new_bool_var(f"before[{first.name},{second.name}]")
                self.model.add(
                    self.expr(second.start) >= self.expr(first.end) + c.gap(a, b)
                ).only_enforce_if([lit, *both])
                self.model.add(
                    self.expr(first.start) >= self.expr(second.end) + c.gap(b, a)
                ).only_enforce_if([~lit, *both])
                before[(a, b)] = lit
        self.setups.append(_SetupLiterals(c, (), (), {}, None, before))

    def _setup_circuit(self, c: ir.NoOverlapSetup) -> None:
        """A circuit through a depot (node ``n``) and every present interval, an arc literal per
        ordered pair enforcing ``start_b >= end_a + setup``, an absent interval looping on
        itself."""
        model = self.model
        ivs = [self.source.intervals[i] for i in c.intervals]
        n = len(ivs)
        arcs: list[tuple[int, int, Any]] = []
        first = tuple(model.new_bool_var(f"first[{iv.name}]") for iv in ivs)
        last = tuple(model.new_bool_var(f"last[{iv.name}]") for iv in ivs)
        for a, iv in enumerate(ivs):
            arcs += [(n, a, first[a]), (a, n, last[a])]
            if iv.presence is not None:
                arcs.append((a, a, ~self.literal(iv.presence)))
        follows = {}
        for a, before in enumerate(ivs):
            end = self.expr(before.end)
            for b, after in enumerate(ivs):
                if a != b:
                    lit = model.new_bool_var(f"follows[{before.name},{after.name}]")
                    model.add(self.expr(after.start) >= end + c.gap(a, b)).only_enforce_if(lit)
                    arcs.append((a, b, lit))
                    follows[(a, b)] = lit
        empty = None
        if any(iv.presence is not None for iv in ivs):
            empty = model.new_bool_var("no interval present")
            arcs.append((n, n, empty))
        model.add_circuit(arcs)
        self.setups.append(_SetupLiterals(c, first, last, follows, empty))

    def hint_sequences(self, values: Sequence[int]) -> None:
        """Hint every sequencing literal from a full assignment of the IR variables: the present
        intervals in start order (an absent one counts as after every other)."""
        for literals in self.setups:
            order = literals.constraint.sequence(self.source, values)
            chosen = set(pairwise(order))
            for (a, b), lit in literals.follows.items():
                self.model.add_hint(lit, (a, b) in chosen)
            for a, (first, last) in enumerate(zip(literals.first, literals.last, strict=True)):
                self.model.add_hint(first, bool(order) and order[0] == a)
                self.model.add_hint(last, bool(order) and order[-1] == a)
            if literals.empty is not None:
                self.model.add_hint(literals.empty, not order)
            rank = {position: k for k, position in enumerate(order)}
            for (a, b), lit in literals.before.items():
                self.model.add_hint(lit, rank.get(a, len(order)) < rank.get(b, len(order) + 1))

    def post_cumulative(self, c: ir.Cumulative, intervals: Sequence[cp_model.IntervalVar]) -> None:
        """A cumulative with constant demands and capacity."""
        self.model.add_cumulative([intervals[i] for i in c.intervals], c.demands, c.capacity)

    def post_no_overlap_2d(
        self, c: ir.NoOverlap2D, intervals: Sequence[cp_model.IntervalVar]
    ) -> None:
        """Rectangles x_i * y_i pairwise disjoint."""
        self.model.add_no_overlap_2d(
            [intervals[i] for i in c.x_intervals], [intervals[i] for i in c.y_intervals]
        )

    def post_max_equality(self, c: ir.MaxEquality) -> None:
        """``target == max(exprs)``."""
        self.model.add_max_equality(self.expr(c.target), [self.expr(e) for e in c.exprs])


class _IncumbentCallback(cp_model.CpSolverSolutionCallback):
    """Streams every improving solution's objective and bound to the control."""

    def __init__(self, control: BackendControl, has_objective: bool) -> None:
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
    if request.gap_limit is not None:
        # After backend_params: an option the caller set wins over a backend parameter.
        params.relative_gap_limit = request.gap_limit


def solve(request: SolveRequest, control: BackendControl) -> BackendOutcome:
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
    solver: cp_model.CpSolver, control: BackendControl, finished: threading.Event
) -> None:
    while not finished.is_set():
        if control.wait_for_stop(_STOP_POLL_S):
            solver.stop_search()
            return


def _outcome(
    solver: cp_model.CpSolver,
    code: Any,
    compiled: CompiledCpModel,
    source: ir.Model,
    control: BackendControl,
) -> BackendOutcome:
    interrupted = Termination.CANCELLED if control.stop_requested else Termination.TIME_LIMIT
    has_solution = code in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    values = tuple(solver.response_proto.solution) if has_solution else None
    if values is not None and len(values) != len(compiled.variables):
        values = tuple(solver.value(v) for v in compiled.variables)
    has_objective = source.objective is not None
    objective = solver.objective_value if has_solution and has_objective else None
    bound = solver.best_objective_bound if has_objective else None
    status, termination, message = {
        cp_model.OPTIMAL: (Status.OPTIMAL, Termination.SOLVED, None),
        cp_model.FEASIBLE: (Status.FEASIBLE, interrupted, None),
        cp_model.INFEASIBLE: (Status.INFEASIBLE, Termination.SOLVED, None),
        cp_model.UNKNOWN: (Status.UNKNOWN, interrupted, None),
    }.get(code, (Status.UNKNOWN, Termination.ERROR, f"CP-SAT: {compiled.model.validate()}"))
    # CP-SAT also answers OPTIMAL when a gap limit stopped it; IR objectives are integral.
    return honest(
        BackendOutcome(status, termination, values, objective, bound, NAME, VERSION, message),
        integral=True,
    )


BACKEND = Backend(NAME, VERSION, check_params, solve)
