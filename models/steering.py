"""A kind's model seen through a caller's :class:`~makespan.models.spec.Steering`: fixed parts
kept and, with a reference, the objective

.. math::
    f(x) + w \\cdot \\operatorname{deviation}(x, \\text{reference}).

:class:`SteeredModel` is what ``solve`` works with when options fix parts or name a reference:
its checker adds every fixing not kept to the kind's violations and the weighted deviation to
its objective; its compile passes the steering to the kind's; its warm start is the best of the
repaired reference (a :class:`~makespan.models.spec.Repairable` kind) and the kind's heuristic
answer, whichever keeps the fixings. It is not :class:`~makespan.models.spec.Searchable` (nor
a :class:`~makespan.models.spec.CooperativeSearch`): a kind's own search knows nothing of
fixings, so ``solve``, which asks the model it solves, runs none on a steered solve.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

from pydantic import BaseModel

from makespan.models.check import CheckReport
from makespan.models.errors import InstanceError
from makespan.models.spec import (
    Compiled,
    Explainable,
    FixBefore,
    ProblemModel,
    ReferenceLimited,
    Repairable,
    SteerableStart,
    Steering,
    WarmStart,
)
from makespan.solvers.ir import Model
from makespan.solvers.options import exact_weight


def make_steering(
    model: ProblemModel[Any, Any],
    instance: Any,
    *,
    fixed: Any,
    reference: Any,
    weight: float | None,
    fix_before: int | None = None,
    source: Any = None,
) -> Steering[Any] | None:
    """The validated steering of a solve (None when nothing is fixed or referenced).
    ``fix_before`` t fixes every part of ``source`` (a solution) that starts before t.

    Raises:
        InstanceError: a fixing or the reference does not fit ``instance`` (its field under
            ``options.fixed`` or ``options.reference``), a reference without a weight, or a
            ``fix_before`` without a solution to take the parts from, for a kind without
            start times, or together with ``fixed``.
    """
    if fix_before is not None:
        fixed = _fixed_before(model, fixed, fix_before, source)
    if reference is None and isinstance(model, ReferenceLimited):
        needed = model.reference_required(instance)
        if needed is not None:
            raise InstanceError(needed, field="options.reference")
    if fixed is None and reference is None:
        return None
    typed_fixed = None if fixed is None else _parse_fixed(model, instance, fixed)
    typed_reference = None
    if reference is not None:
        if weight is None:
            raise InstanceError("a reference needs a stability_weight", field="options")
        typed_reference = _parse_reference(model, instance, reference)
    exact = Fraction(0) if weight is None else exact_weight(weight)
    return Steering(typed_fixed, typed_reference, exact)


def _fixed_before(model: ProblemModel[Any, Any], fixed: Any, time: int, source: Any) -> Any:
    """The fixings ``fix_before`` asks for, in the kind's JSON form."""
    if fixed is not None:
        raise InstanceError("give fixed or fix_before, not both", field="options.fix_before")
    if not isinstance(model, FixBefore):
        message = f"{model.kind} has no start times to fix before"
        raise InstanceError(message, field="options.fix_before")
    if source is None:
        message = "needs a reference or an initial solution to fix parts of"
        raise InstanceError(message, field="options.fix_before")
    try:
        typed = model.parse_solution(source)
    except InstanceError as error:
        raise InstanceError(error.message, field="options.reference") from None
    return model.fixed_before(typed, time).model_dump(mode="json", exclude_none=True)


def _parse_fixed(model: ProblemModel[Any, Any], instance: Any, fixed: Any) -> Any:
    try:
        return model.parse_fixed(instance, fixed)
    except InstanceError as error:
        field = "options.fixed" + (f".{error.field}" if error.field else "")
        raise InstanceError(error.message, field=field) from None


def _parse_reference(model: ProblemModel[Any, Any], instance: Any, reference: Any) -> Any:
    try:
        typed = model.parse_solution(reference)
        # The deviation of the reference from itself reads every item of the instance in it:
        # a reference that does not cover the instance fails here, naming what is missing.
        model.deviation(instance, typed, typed)
    except InstanceError as error:
        field = "options.reference" + (f".{error.field}" if error.field else "")
        raise InstanceError(error.message, field=field) from None
    return typed


class SteeredModel(ProblemModel[Any, Any]):
    """``base`` with ``steering`` applied to its checker, compile and warm start, for one
    solve of ``instance``."""

    def __init__(
        self, base: ProblemModel[Any, Any], steering: Steering[Any], instance: BaseModel
    ) -> None:
        super().__init__(base.about, base.parts)
        self.base = base
        self.steering = steering
        self.instance = instance

    def __repr__(self) -> str:
        return f"<SteeredModel {self.kind}>"

    def lower_bound(self, instance: Any) -> float | None:
        """The kind's bound: fixings only remove solutions, the deviation only adds."""
        return self.base.lower_bound(instance)

    def prepare(self) -> None:
        """As the kind's."""
        self.base.prepare()

    def check(self, instance: Any, solution: Any) -> CheckReport:
        """The kind's verdict, every fixing not kept added, and ``f + w * deviation``."""
        report = self.base.check(instance, solution)
        broken = list(report.violations)
        if self.steering.fixed is not None:
            broken += self.base.kept(instance, solution, self.steering.fixed)
        reference = self.steering.reference
        if reference is not None and isinstance(self.base, ReferenceLimited):
            broken += self.base.reference_violations(instance, solution, reference)
        if broken or report.objective is None:
            return CheckReport(False, None, tuple(broken))
        return CheckReport(True, self._objective(instance, solution, report.objective), ())

    def _objective(self, instance: Any, solution: Any, base_objective: float) -> float:
        reference = self.steering.reference
        if reference is None:
            return base_objective
        deviation = self.base.deviation(instance, solution, reference)
        return float(base_objective + self.steering.weight * deviation)

    def compile(
        self, instance: Any, upper_bound: float | None, steering: Steering[Any] | None = None
    ) -> Compiled[Any]:
        """The kind's compile under this steering (an objective cap stays valid: the kind's
        objective is at most the steered one)."""
        return self.base.compile(instance, upper_bound, steering or self.steering)

    def warm_start(
        self, instance: Any, budget_s: float, seed: int, should_stop: Callable[[], bool]
    ) -> WarmStart[Any] | None:
        """The better of the repaired reference and the kind's heuristic answer, among those
        that keep the fixings, with the steered objective."""
        candidates: list[tuple[str, Any]] = []
        if isinstance(self.base, Repairable):
            repaired = self.base.repair(instance, self.steering)
            if repaired is not None:
                candidates.append(("repair", repaired))
        if isinstance(self.base, SteerableStart) and not should_stop():
            near = self.base.steered_start(instance, self.steering, budget_s / 2, seed, should_stop)
            if near is not None:
                candidates.append(("steered", near))
        if not should_stop():
            warm = self.base.warm_start(instance, budget_s, seed, should_stop)
            if warm is not None:
                candidates.append((warm.method, warm.solution))
        best: WarmStart[Any] | None = None
        for method, solution in candidates:
            objective = self.check(instance, solution).objective
            if objective is not None and (best is None or objective < best.objective):
                best = WarmStart(method, solution, objective)
        return best

    def dump_solution(self, solution: Any) -> dict[str, Any]:
        """The solution's JSON form, with its ``deviation`` when there is a reference."""
        dumped = self.base.dump_solution(solution)
        if self.steering.reference is not None:
            reference = self.steering.reference
            dumped["deviation"] = self.base.deviation(self.instance, solution, reference)
        return dumped


def explaining_ir(model: ProblemModel[Any, Any], instance: Any) -> Model | None:
    """The IR that names a conflict of ``model`` (steered or not) on ``instance``: the kind's
    :class:`~makespan.models.spec.Explainable` form, None for a kind without one."""
    steering = model.steering if isinstance(model, SteeredModel) else None
    base = model.base if isinstance(model, SteeredModel) else model
    return base.explained(instance, steering) if isinstance(base, Explainable) else None
