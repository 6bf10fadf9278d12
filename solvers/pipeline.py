"""``solve()``: the one path every solve takes, whatever the interface.

heuristic warm start -> compile to IR (hinted, capped by the warm start) -> backend -> decode ->
independent check -> :class:`Result`. The better of the backend's solution and the warm start is
returned, and only after the model's checker accepted it.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from makespan.models.check import CheckReport
from makespan.models.errors import InstanceError
from makespan.models.registry import get_model
from makespan.models.spec import (
    CooperativeSearch,
    ProblemModel,
    Searchable,
    SearchContext,
    WarmStart,
)
from makespan.models.steering import SteeredModel, explaining_ir, make_steering
from makespan.solvers.backend import Backend, BackendOutcome, SolveRequest
from makespan.solvers.backends import get_backend
from makespan.solvers.conflict import find_conflict
from makespan.solvers.control import IncumbentListener, SolveControl, SolveRun
from makespan.solvers.deadline import BuildTimeoutError, build_deadline
from makespan.solvers.ir import Model, ObjectiveTooLargeError
from makespan.solvers.options import DEFAULT_TIME_LIMIT_S, OptionsError, SolveOptions
from makespan.solvers.result import (
    CheckResult,
    ConflictItem,
    Result,
    Status,
    Termination,
    Violation,
    WarmStartInfo,
    as_number,
    relative_gap,
)

HEURISTIC_SHARE = 0.15
"""Share of the time limit the warm-start heuristic may use before the exact backend starts."""

SEARCH_SHARE = 0.75
"""Share of the remaining time a model's own search may use before the generic backend."""

HEURISTIC_SHARE_ALONE = 0.6
"""The warm start's share when ``backend="auto"`` leaves the generic backend out (too large)."""

_MIN_BACKEND_TIME_S = 0.01

CONFLICT_MIN_TIME_S = 0.5
"""The least time a solve that proved infeasibility spends naming a conflict, past its time
limit if need be."""


def solve(
    problem: str,
    instance: Any,
    *,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    backend: str = "auto",
    workers: int | None = None,
    seed: int = 0,
    gap_limit: float | None = None,
    backend_params: str | None = None,
    warm_start: bool = True,
    initial_solution: Any = None,
    fixed: Any = None,
    reference: Any = None,
    stability_weight: float | None = None,
    fix_before: int | None = None,
    on_incumbent: IncumbentListener | None = None,
    stop_event: threading.Event | None = None,
) -> Result:
    """Solve one instance of ``problem`` and return the checked :class:`Result`.

    ``instance`` is the problem's typed instance or its JSON form (a dict). The solve ends by
    ``time_limit_s`` (heuristic included) or when ``stop_event`` is set, returning the best
    solution found, or once the relative gap is at most ``gap_limit`` (then ``termination`` is
    ``gap_limit``). ``initial_solution`` (the kind's solution or its JSON form) is checked and
    becomes the warm start, the hint and the incumbent to beat. ``fixed`` (the kind's partial
    solution) is kept in the answer; with ``reference`` (or, without one, the initial solution)
    and ``stability_weight`` w the solve minimises objective + w * deviation; ``fix_before`` t
    fixes what the reference (else the initial solution) starts before t. ``on_incumbent``
    hears every improvement of objective or bound.

    Raises:
        InstanceError: the instance does not validate.
        OptionsError: an option is out of range or names an unknown backend or parameter.
    """
    model = get_model(problem)
    typed = model.parse_instance(instance)
    options = make_options(
        time_limit_s=time_limit_s,
        backend=backend,
        workers=workers,
        seed=seed,
        gap_limit=gap_limit,
        backend_params=backend_params,
        warm_start=warm_start,
        initial_solution=_json_form(initial_solution),
        fixed=_json_form(fixed),
        reference=_json_form(reference),
        stability_weight=stability_weight,
        fix_before=fix_before,
    )
    return solve_instance(model, typed, options, SolveControl(on_incumbent, stop_event))


def _json_form(solution: Any) -> Any:
    """A solution given as the kind's model, in its JSON form (options carry JSON)."""
    return solution.model_dump(mode="json") if isinstance(solution, BaseModel) else solution


def check(problem: str, instance: Any, solution: Any) -> CheckResult:
    """Check ``solution`` (the kind's solution, or its JSON form) against ``instance`` with the
    same checker every solve's answer passes.

    Raises:
        InstanceError: the instance, or the solution's shape, does not validate (naming the
            field; a solution that validates but breaks constraints is not an error).
    """
    model = get_model(problem)
    return check_solution(model, model.parse_instance(instance), solution)


def check_solution(model: ProblemModel[Any, Any], instance: Any, solution: Any) -> CheckResult:
    """:func:`check` for a validated instance."""
    try:
        typed = model.parse_solution(solution)
    except InstanceError as error:  # its field is relative to the solution: name it
        field = "solution" + (f".{error.field}" if error.field else "")
        raise InstanceError(error.message, field=field) from None
    report = model.check(instance, typed)
    return CheckResult(
        feasible=report.feasible,
        objective=as_number(report.objective),
        violations=[Violation(message=text) for text in report.violations],
    )


def make_options(**fields: Any) -> SolveOptions:
    """Validated options; an :class:`OptionsError` naming the first bad field."""
    try:
        return SolveOptions(**fields)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "options"
        raise OptionsError(field, str(first["msg"]).removeprefix("Value error, ")) from None


def resolve_backend(model: ProblemModel[Any, Any], options: SolveOptions) -> Backend:
    """The backend the options name (``auto``: the model's default), parameters checked."""
    name = model.about.default_backend if options.backend == "auto" else options.backend
    backend = get_backend(name)
    if options.backend_params:
        backend.check_params(options.backend_params)
    return backend


@dataclass(frozen=True)
class _Candidate:
    solution: Any
    objective: float


@dataclass
class _Findings:
    """What one solve gathered on its way to the result."""

    backend: Backend
    lower: float | None
    warm: WarmStartInfo | None = None
    best: _Candidate | None = None
    found_by: str | None = None
    """The model search that found ``best``, when it did."""
    infeasible: bool = False
    outcome: BackendOutcome | None = None
    messages: list[str] = field(default_factory=list)
    compiled: Model | None = None
    """The IR the backend solved, kept to explain an infeasible answer."""
    conflict: list[ConflictItem] | None = None


def solve_instance(
    model: ProblemModel[Any, Any],
    instance: Any,
    options: SolveOptions,
    control: SolveControl,
) -> Result:
    """:func:`solve` for a validated instance and options, under the caller's ``control``."""
    model = steered(model, instance, options)
    found = _Findings(resolve_backend(model, options), model.lower_bound(instance))
    search = model if isinstance(model, Searchable) else None
    progress = SolveRun(
        control,
        goal=search.goal(instance) if search else None,
        gap_limit=options.gap_limit,
    )
    reason = model.infeasibility_reason(instance)
    if reason is not None:
        found.infeasible = True
        found.messages.append(reason)
        return _explained(model, instance, options, progress, found)
    limit = search.auto_backend_limit if search else None
    backend_left_out = (
        options.backend == "auto" and limit is not None and model.size(instance) > limit
    )
    share = HEURISTIC_SHARE_ALONE if backend_left_out else HEURISTIC_SHARE
    if options.initial_solution is not None:
        _start_from(model, instance, options.initial_solution, progress, found)
    else:
        _run_warm_start(model, instance, options, progress, found, share)
    if search and options.backend == "auto" and not _settled(found, progress):
        _run_search(search, model, instance, options, progress, found)
    if backend_left_out and not _settled(found, progress):
        found.messages.append(
            f"{found.backend.name} left out: {model.size(instance)} {model.about.size_unit} exceed "
            f"the {limit} its model loads in time (name a backend to run it anyway)"
        )
    elif not _settled(found, progress):
        _run_backend_in_time(model, instance, options, progress, found)
    return _explained(model, instance, options, progress, found)


def steered(
    model: ProblemModel[Any, Any], instance: Any, options: SolveOptions
) -> ProblemModel[Any, Any]:
    """``model`` under the options' fixings and reference, or as it is without them.

    Raises:
        OptionsError: a fixing or the reference does not fit the instance (naming it).
    """
    try:
        steering = make_steering(
            model,
            instance,
            fixed=options.fixed,
            reference=options.steering_reference,
            weight=options.stability_weight,
            fix_before=options.fix_before,
            source=options.steering_reference or options.initial_solution,
        )
    except InstanceError as error:
        raise OptionsError(error.field or "options", error.message) from None
    return model if steering is None else SteeredModel(model, steering, instance)


def _explained(
    model: ProblemModel[Any, Any],
    instance: Any,
    options: SolveOptions,
    progress: SolveRun,
    found: _Findings,
) -> Result:
    """The result; when it proves infeasibility, with a small set of the instance's
    constraints (and fixings) that cannot all hold."""
    result = _result(model, progress, found)
    if result.status is not Status.INFEASIBLE:
        return result
    labelled = explaining_ir(model, instance) or found.compiled
    if labelled is None or not labelled.groups:
        return result
    budget = max(options.time_limit_s - progress.elapsed(), CONFLICT_MIN_TIME_S)
    conflict = find_conflict(labelled, budget, lambda: progress.cancelled)
    if conflict is None:
        return result
    found.conflict = [ConflictItem.model_validate(dict(label)) for label in conflict.labels]
    found.messages.append(_conflict_note(len(conflict.labels), conflict.minimal))
    return _result(model, progress, found)


def _conflict_note(size: int, minimal: bool) -> str:
    these = (
        "this constraint cannot hold" if size == 1 else f"these {size} constraints cannot all hold"
    )
    if not minimal:
        return f"conflict: {these} with the rest of the instance (not shown minimal in time)"
    dropping = "dropping it" if size == 1 else "dropping any one of them"
    return f"conflict: {these} with the rest of the instance; {dropping} lifts the conflict"


def _settled(found: _Findings, progress: SolveRun) -> bool:
    """Nothing is left to search for: proven, answered, infeasible, or asked to stop."""
    return _proven(found.best, found.lower) or found.infeasible or progress.stop_requested


def _run_search(
    search: Searchable[Any, Any],
    model: ProblemModel[Any, Any],
    instance: Any,
    options: SolveOptions,
    progress: SolveRun,
    run: _Findings,
) -> None:
    """The model's own search, with most of the remaining time; its answers are checked. A
    :class:`CooperativeSearch` gets the solve's workers and seed and hands over improvements
    while it runs; a bound it proved becomes the solve's."""
    remaining = options.time_limit_s - progress.elapsed()
    best = run.best.objective if run.best else None

    def stop() -> bool:
        return progress.stop_requested

    if isinstance(search, CooperativeSearch):
        context: SearchContext[Any] = SearchContext(
            options.workers,
            options.seed,
            lambda method, solution, objective: _offer(
                model, instance, progress, run, method, solution, objective
            ),
            run.best.solution if run.best else None,
        )
        answer = search.search_with(instance, search.search_share * remaining, stop, best, context)
    else:
        answer = search.search(instance, SEARCH_SHARE * remaining, stop, best)
    if answer.bound is not None and (run.lower is None or answer.bound > run.lower):
        run.lower = answer.bound
        progress.report(None, answer.bound)
    if answer.solution is not None and answer.objective is not None:
        _offer(model, instance, progress, run, answer.method, answer.solution, answer.objective)
    if answer.proven_optimal and run.best is not None and run.found_by == answer.method:
        run.lower = run.best.objective
    if answer.proven_infeasible and run.best is None:
        run.infeasible = True
        run.messages.append(f"{answer.method} exhausted every placement: none fits")


def _offer(
    model: ProblemModel[Any, Any],
    instance: Any,
    progress: SolveRun,
    run: _Findings,
    method: str,
    solution: Any,
    objective: float,
) -> None:
    """A model search's solution: checked, and the best so far (reported, checkpointed) when
    it is better."""
    report = _checked(model, instance, solution, objective)
    if not report.feasible:
        note = f"{method} solution rejected by the checker"
        run.messages.append(f"{note}: {'; '.join(report.violations)}")
    elif run.best is None or objective < run.best.objective:
        run.best = _Candidate(solution, objective)
        run.found_by = method
        progress.report(objective, run.lower)
        progress.checkpoint(lambda: _result(model, progress, run))


def given_solution(model: ProblemModel[Any, Any], instance: Any, solution: Any) -> WarmStart[Any]:
    """A caller's solution, checked, as a warm start (``method == "given"``).

    Raises:
        OptionsError: it does not fit the instance, naming ``options.initial_solution`` and
            listing its violations.
    """
    try:
        verdict = check_solution(model, instance, solution)
    except InstanceError as error:
        raise OptionsError("options.initial_solution", error.message) from None
    if not verdict.feasible or verdict.objective is None:
        broken = "; ".join(v.message for v in verdict.violations[:10])
        more = len(verdict.violations) - 10
        listing = broken + (f"; and {more} more" if more > 0 else "")
        raise OptionsError("options.initial_solution", f"infeasible: {listing}")
    return WarmStart("given", model.parse_solution(solution), float(verdict.objective))


def _start_from(
    model: ProblemModel[Any, Any],
    instance: Any,
    solution: Any,
    progress: SolveRun,
    found: _Findings,
) -> None:
    """The caller's solution as the warm start, the hint and the incumbent to beat."""
    _adopt_start(model, progress, found, given_solution(model, instance, solution), 0.0)


def _run_warm_start(
    model: ProblemModel[Any, Any],
    instance: Any,
    options: SolveOptions,
    progress: SolveRun,
    found: _Findings,
    share: float,
) -> None:
    """The kind's heuristic within ``share`` of the time limit; its checked answer becomes the
    best so far and the first checkpoint."""
    if not options.warm_start:
        return
    started = progress.elapsed()
    budget = share * options.time_limit_s
    warm = model.warm_start(instance, budget, options.seed, lambda: progress.stop_requested)
    if warm is None or not _checked(model, instance, warm.solution, warm.objective).feasible:
        return
    _adopt_start(model, progress, found, warm, round(progress.elapsed() - started, 4))


def _adopt_start(
    model: ProblemModel[Any, Any],
    progress: SolveRun,
    found: _Findings,
    start: WarmStart[Any],
    time_s: float,
) -> None:
    """A checked start (the caller's or the heuristic's, found in ``time_s``) becomes the
    incumbent to beat, its progress point and the first checkpoint."""
    progress.report(start.objective, found.lower)
    found.best = _Candidate(start.solution, start.objective)
    found.warm = WarmStartInfo(
        method=start.method, objective=as_number(start.objective), time_s=time_s
    )
    progress.checkpoint(lambda: _result(model, progress, found))


def _checked(
    model: ProblemModel[Any, Any],
    instance: Any,
    solution: Any,
    objective: float,
    *,
    may_be_better: bool = False,
) -> CheckReport:
    """The checker's verdict, infeasible when the objective is not the one claimed.

    ``may_be_better``: a checked objective below the claim is accepted. A backend stopped short
    of optimality may leave slack in the objective's own variables (the makespan above every
    job's end), so its value is only an upper bound on the solution's true objective.
    """
    report = model.check(instance, solution)
    if not report.feasible or _same(report.objective, objective):
        return report
    if may_be_better and report.objective is not None and report.objective < objective:
        return report
    return CheckReport(False, None, (f"objective {objective} != checked {report.objective}",))


def _run_backend_in_time(
    model: ProblemModel[Any, Any],
    instance: Any,
    options: SolveOptions,
    progress: SolveRun,
    found: _Findings,
) -> None:
    """:func:`_run_backend`, with model building held to the time limit (a build that runs
    past it gives up, and the answer is what the solve had: the warm start); its checked
    answer replaces the best when it is better."""
    deadline = time.monotonic() + options.time_limit_s - progress.elapsed()
    backend = found.backend
    try:
        with build_deadline(deadline):
            outcome, candidate, note = _run_backend(model, instance, options, progress, found)
    except BuildTimeoutError:
        outcome, candidate = None, None
        note = f"building the {backend.name} model took the whole time limit"
    found.outcome = outcome
    if note:
        found.messages.append(note)
    if candidate is not None and (found.best is None or candidate.objective < found.best.objective):
        found.best = candidate


def _run_backend(
    model: ProblemModel[Any, Any],
    instance: Any,
    options: SolveOptions,
    progress: SolveRun,
    found: _Findings,
) -> tuple[BackendOutcome | None, _Candidate | None, str | None]:
    backend, best = found.backend, found.best
    try:
        compiled = model.compile(instance, best.objective if best else None)
    except ObjectiveTooLargeError as error:
        raise OptionsError("options.stability_weight", str(error)) from None
    found.compiled = compiled.ir
    unsupported = compiled.ir.kinds - backend.supported_kinds
    if unsupported:
        kinds = ", ".join(sorted(unsupported))
        raise OptionsError("backend", f"backend {backend.name!r} cannot handle {kinds}")
    ir = compiled.ir
    if best is not None:
        ir = ir.with_hints(model.hint(instance, compiled, best.solution, backend.name))
    remaining = options.time_limit_s - progress.elapsed()
    if remaining < _MIN_BACKEND_TIME_S:
        return None, None, "the heuristic used the whole time limit"
    request = SolveRequest(
        ir, remaining, options.workers, options.seed, options.backend_params, options.gap_limit
    )
    scale = ir.objective_scale
    outcome = _in_problem_units(backend.solve(request, progress.in_ir_units(scale)), scale)
    if outcome.values is None or outcome.objective is None:
        return outcome, None, outcome.message
    solution = model.decode(instance, compiled, outcome.values)
    report = _checked(model, instance, solution, outcome.objective, may_be_better=True)
    if not report.feasible or report.objective is None:
        # A backend answer the checker rejects is a bug of ours; never pass it on.
        note = f"{backend.name} solution rejected by the checker: {'; '.join(report.violations)}"
        return outcome, None, note
    if report.objective < outcome.objective:
        progress.report(report.objective, None)
    return outcome, _Candidate(solution, report.objective), outcome.message


def _in_problem_units(outcome: BackendOutcome, scale: int) -> BackendOutcome:
    """The outcome with objective and bound divided by the IR's objective scale."""
    if scale == 1:
        return outcome
    return dataclasses.replace(
        outcome,
        objective=None if outcome.objective is None else outcome.objective / scale,
        bound=None if outcome.bound is None else outcome.bound / scale,
    )


def _proven(best: _Candidate | None, lower: float | None) -> bool:
    return best is not None and lower is not None and best.objective <= lower + 1e-9


def _same(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def _result(model: ProblemModel[Any, Any], progress: SolveRun, run: _Findings) -> Result:
    best, outcome = run.best, run.outcome
    bound = _best_bound(outcome, run.lower, best)
    objective = best.objective if best else None
    status = Status.INFEASIBLE if run.infeasible else _status(best, bound, outcome)
    if status is Status.INFEASIBLE:
        bound = None
    return Result(
        problem=model.kind,
        status=status,
        termination=_termination(status, outcome, progress),
        objective=as_number(objective),
        bound=as_number(bound),
        gap=relative_gap(objective, bound),
        wall_time_s=round(progress.elapsed(), 4),
        backend=outcome.backend if outcome else run.found_by or run.backend.name,
        backend_version=outcome.version if outcome else _version(run),
        warm_start=run.warm,
        incumbents=progress.incumbents,
        solution=model.dump_solution(best.solution) if best else None,
        message="; ".join(run.messages) or None,
        conflict=run.conflict,
    )


def _best_bound(
    outcome: BackendOutcome | None, lower: float | None, best: _Candidate | None
) -> float | None:
    bounds = [b for b in (lower, outcome.bound if outcome else None) if b is not None]
    if not bounds:
        return None
    bound = max(bounds)
    # A bound past the best objective proves it optimal: models compile with the warm start's
    # objective as a non-strict cap, so a backend's bound (CP-SAT's on that capped domain, or
    # HiGHS's dual bound with float noise) says that nothing better than the best exists.
    return min(bound, best.objective) if best is not None else bound


def _status(best: _Candidate | None, bound: float | None, outcome: BackendOutcome | None) -> Status:
    if best is None:
        proven_infeasible = outcome is not None and outcome.status is Status.INFEASIBLE
        return Status.INFEASIBLE if proven_infeasible else Status.UNKNOWN
    backend_proved = (
        outcome is not None
        and outcome.status is Status.OPTIMAL
        and _same(best.objective, outcome.objective)
    )
    if backend_proved or _same(best.objective, bound):
        return Status.OPTIMAL
    return Status.FEASIBLE


def _termination(status: Status, outcome: BackendOutcome | None, progress: SolveRun) -> Termination:
    if status in (Status.OPTIMAL, Status.INFEASIBLE) or progress.goal_reached:
        return Termination.SOLVED
    if progress.gap_limit_reached:
        return Termination.GAP_LIMIT
    if progress.cancelled:
        return Termination.CANCELLED
    if outcome is not None:
        return outcome.termination
    return Termination.TIME_LIMIT


def _version(run: _Findings) -> str | None:
    if run.found_by is not None:
        return _makespan_version()
    return run.backend.version


def _makespan_version() -> str | None:
    try:
        return importlib.metadata.version("makespan")
    except importlib.metadata.PackageNotFoundError:
        return None
