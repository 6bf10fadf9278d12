"""The parts every problem model provides, so ``solve`` and every interface treat them alike."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Generic, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, Field

from makespan.models.bounds import published_best
from makespan.models.check import CheckReport
from makespan.models.errors import InstanceError
from makespan.models.textfile import validate_document
from makespan.solvers.frozen import Frozen
from makespan.solvers.ir import Model

if TYPE_CHECKING:
    from matplotlib.figure import Figure

InstanceT = TypeVar("InstanceT", bound=BaseModel)
SolutionT = TypeVar("SolutionT", bound=BaseModel)
IndexT = TypeVar("IndexT")
OptionsT = TypeVar("OptionsT", bound=BaseModel)

ShouldStop = Callable[[], bool]
"""What a search asks often: True once it must stop (out of time, or the job cancelled)."""
# The variances the module protocols below need: a module reads instances it is given
# (contravariant) and makes the instances or solutions it returns (covariant).
_InstanceIn = TypeVar("_InstanceIn", bound=BaseModel, contravariant=True)
_InstanceOut = TypeVar("_InstanceOut", bound=BaseModel, covariant=True)
_SolutionIn = TypeVar("_SolutionIn", bound=BaseModel, contravariant=True)


@dataclass(frozen=True)
class Compiled(Generic[IndexT]):
    """An instance compiled to IR, with the index that maps IR variables back to the solution."""

    ir: Model
    index: IndexT


@dataclass(frozen=True)
class Steering(Generic[SolutionT]):
    """What a caller asks a solve to keep: ``fixed`` parts (the kind's partial solution, every
    value kept) and a ``reference`` to stay close to, at ``weight`` w. The objective becomes

    .. math::
        f(x) + w \\cdot \\operatorname{deviation}(x, \\text{reference})

    with the deviation the kind's (``check.deviation``); without a reference, ``f(x)``.
    """

    fixed: BaseModel | None = None
    reference: SolutionT | None = None
    weight: Fraction = Fraction(0)


@dataclass(frozen=True)
class WarmStart(Generic[SolutionT]):
    """A heuristic solution: what produced it and its objective."""

    method: str
    solution: SolutionT
    objective: float


@dataclass(frozen=True)
class SearchAnswer(Generic[SolutionT]):
    """What a model's own complete search concluded.

    ``solution`` (with its ``objective``) when it found one; ``proven_infeasible`` when it
    exhausted its space without one; ``proven_optimal`` when no better solution exists.
    """

    method: str
    solution: SolutionT | None = None
    objective: float | None = None
    proven_infeasible: bool = False
    proven_optimal: bool = False
    bound: float | None = None
    """A lower bound on the objective that the search proved, when it has one."""


@dataclass(frozen=True)
class SearchContext(Generic[SolutionT]):
    """What a :class:`CooperativeSearch` may use besides its budget: the solve's worker
    threads (None: as many as the cores) and seed, ``on_solution(method, solution,
    objective)``, which takes each improving solution while the search runs (checked, reported
    and kept as the solve's checkpoint), and the solve's best solution so far (the warm start's,
    or None), for a search that improves a schedule rather than builds one."""

    workers: int | None
    seed: int
    on_solution: Callable[[str, SolutionT, float], None]
    incumbent: SolutionT | None = None


class SeededOptions(Frozen):
    """The base of a generator's parameters (``makespan generate KIND``): the seed every
    generator takes; one seed and one set of parameters give one instance."""

    seed: Annotated[int, Field(description="Random seed.")] = 0


def generator_options_of(options_type: type[OptionsT], options: BaseModel) -> OptionsT:
    """``options`` as ``options_type``, a generator's own parameters; a TypeError for another
    generator's (their fields would not mean the same)."""
    if not isinstance(options, options_type):
        raise TypeError(f"expected {options_type.__name__}, got {type(options).__name__}")
    return options


@dataclass(frozen=True)
class KindAbout:
    """What a kind is called and how big its instances may be."""

    kind: str
    """The name users write (``jssp``)."""
    summary: str
    """One line for ``makespan problems``."""
    size_unit: str
    """What the kind's size counts (``operations``)."""
    default_size_limit: int
    """The largest size a service accepts by default."""
    default_backend: str = "cpsat"
    """What ``backend="auto"`` means for this kind."""


class ProblemModel(Generic[InstanceT, SolutionT]):
    """What every problem kind provides, so that ``solve`` and every interface treat the kinds
    alike: its name and limits (:class:`KindAbout`) and its standard modules
    (:class:`KindParts`). What a kind *may* provide besides is a capability
    (:class:`Searchable`, :class:`NamedBenchmarks`, :class:`Generative`,
    :class:`CapacityQuestion`), given by a subclass and asked with ``isinstance``.
    """

    def __init__(self, about: KindAbout, parts: KindParts[InstanceT, SolutionT]) -> None:
        self.about = about
        self.parts = parts

    def __repr__(self) -> str:
        return f"<ProblemModel {self.kind}>"

    @property
    def kind(self) -> str:
        """The name users write (``jssp``)."""
        return self.about.kind

    @property
    def instance_type(self) -> type[InstanceT]:
        """The validated instance (frozen pydantic; its JSON schema is the kind's)."""
        return self.parts.instance_type

    @property
    def solution_type(self) -> type[SolutionT]:
        """The validated solution."""
        return self.parts.solution_type

    def size(self, instance: InstanceT) -> int:
        """How big the instance is, in ``about.size_unit`` (for service limits)."""
        return self.parts.measures.size(instance)

    def lower_bound(self, instance: InstanceT) -> float | None:
        """A cheap lower bound on the objective that is proven (never a published claim)."""
        return self.parts.measures.lower_bound(instance)

    def best_known(self, instance: InstanceT) -> float | None:
        """A published best objective the instance carries (for gap-to-best reports)."""
        return published_best(instance)

    def infeasibility_reason(self, instance: InstanceT) -> str | None:
        """A short reason when a cheap test proves the instance has no solution (``solve``
        then answers ``infeasible`` at once), else None."""
        return self.parts.check.infeasibility_reason(instance)

    def prepare(self) -> None:
        """Load what the kind's solves need before the first one (compiled code), so that
        processes forked afterwards start ready; nothing by default."""

    def plot(self, instance: InstanceT, solution: SolutionT) -> Figure:
        """The picture of ``solution``, drawn by the ``plot`` module of the kind's package
        (imported, and matplotlib with it, on the first call: solving never pays for it)."""
        package = self.instance_type.__module__.rpartition(".")[0]
        draw: Callable[[InstanceT, SolutionT], Figure]
        draw = importlib.import_module(f"{package}.plot").draw
        return draw(instance, solution)

    # -- the standard modules -------------------------------------------------------------

    @property
    def formats(self) -> tuple[str, ...]:
        """The file formats :meth:`read_text` understands."""
        return self.parts.formats.FORMATS

    @property
    def file_extensions(self) -> tuple[str, ...]:
        """File extensions that identify the kind, lower case."""
        return self.parts.formats.FILE_EXTENSIONS

    def read_text(self, text: str, format: str | None, source: str) -> InstanceT:
        """Parse file text (``format`` inferred when None); InstanceError as
        ``SOURCE:LINE: message``."""
        return self.parts.formats.read_text(text, format, source)

    def document_size(self, data: Any) -> int:
        """:meth:`size` of an instance given as parsed JSON, read from a few lengths and
        numbers before validation; never raises (what it cannot read counts as 0)."""
        return self.parts.formats.document_size(data)

    def text_size(self, text: str, format: str | None) -> int:
        """:meth:`size` of file text, counted before parsing; never raises."""
        return self.parts.formats.text_size(text, format)

    def sniff(self, text: str) -> bool:
        """Whether text looks like one of the kind's files."""
        return self.parts.formats.sniff(text)

    def warm_start(
        self, instance: InstanceT, budget_s: float, seed: int, should_stop: Callable[[], bool]
    ) -> WarmStart[SolutionT] | None:
        """A heuristic solution within ``budget_s`` seconds, returning early once
        ``should_stop()`` is true."""
        return self.parts.heuristics.warm_start(instance, budget_s, seed, should_stop)

    def compile(
        self,
        instance: InstanceT,
        upper_bound: float | None,
        steering: Steering[SolutionT] | None = None,
    ) -> Compiled[Any]:
        """The instance as IR (objective capped by ``upper_bound`` when given), keeping
        ``steering``'s fixed parts as labelled constraints and adding its deviation; pure."""
        return self.parts.compile.compile_instance(instance, upper_bound, steering)

    def decode(
        self, instance: InstanceT, compiled: Compiled[Any], values: Sequence[int]
    ) -> SolutionT:
        """The solution that IR variable ``values`` describe."""
        return self.parts.compile.decode(instance, compiled, values)

    def hint(
        self, instance: InstanceT, compiled: Compiled[Any], solution: SolutionT, backend: str
    ) -> Mapping[int, int]:
        """IR variable values of ``solution``: the hint (CP-SAT) or the MIP start that the
        backend named ``backend`` (``cpsat``, ``highs``, ``pyomo:NAME``) gets."""
        return self.parts.compile.hint(instance, compiled, solution, backend)

    def check(self, instance: InstanceT, solution: SolutionT) -> CheckReport:
        """Feasibility and objective of ``solution``, recomputed from the instance alone."""
        return self.parts.check.check(instance, solution)

    def kept(self, instance: InstanceT, solution: SolutionT, fixed: BaseModel) -> list[str]:
        """Every value of ``fixed`` that ``solution`` does not keep, named."""
        return self.parts.check.kept(instance, solution, fixed)

    def deviation(self, instance: InstanceT, solution: SolutionT, reference: SolutionT) -> int:
        """How far ``solution`` is from ``reference`` (the contract's measure for the kind)."""
        return self.parts.check.deviation(instance, solution, reference)

    def parse_fixed(self, instance: InstanceT, fixed: Any) -> BaseModel:
        """The caller's fixed parts (the kind's partial solution), validated against
        ``instance``; InstanceError naming the field within them."""
        typed = validate_document(self.parts.fixed_type, fixed, None)
        self.parts.check.validate_fixed(instance, typed)
        return typed

    def dump_solution(self, solution: SolutionT) -> dict[str, Any]:
        """The solution's JSON form."""
        dumped: dict[str, Any] = solution.model_dump(mode="json")
        return dumped

    # -- shared helpers -------------------------------------------------------------------

    def parse_instance(self, instance: InstanceT | Mapping[str, Any]) -> InstanceT:
        """Accept the typed instance or its JSON form (a dict); errors name the field."""
        return validate_document(self.instance_type, instance, None)

    def parse_solution(self, solution: SolutionT | Mapping[str, Any]) -> SolutionT:
        """Accept the typed solution or its JSON form (a ``deviation`` that a steered solve
        added is left out: it depends on the reference, not on the solution)."""
        if isinstance(solution, Mapping) and "deviation" in solution:
            solution = {k: v for k, v in solution.items() if k != "deviation"}
        return validate_document(self.solution_type, solution, "solution")

    def read_file(self, path: str | Path, format: str | None = None) -> InstanceT:
        """Read an instance file; errors as ``FILE:LINE: message``."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise InstanceError(f"cannot read file: {error}", source=str(path)) from None
        return self.read_text(text, format, str(path))

    def json_schema(self) -> dict[str, Any]:
        """The generated JSON schema of the instance."""
        return self.instance_type.model_json_schema()


@runtime_checkable
class Searchable(Protocol[_InstanceIn, SolutionT]):
    """A kind with a complete search of its own, which ``backend="auto"`` runs between the
    warm start and the generic backend (memory mapping's canonical capacity search)."""

    auto_backend_limit: int | None
    """Above this size ``backend="auto"`` leaves the generic backend out (its model would not
    load in time) and gives the heuristics its time; a backend named explicitly still runs."""

    def search(
        self, instance: _InstanceIn, budget_s: float, should_stop: ShouldStop, best: float | None
    ) -> SearchAnswer[SolutionT]:
        """Search within ``budget_s`` for a solution better than ``best``."""

    def goal(self, instance: _InstanceIn) -> float | None:
        """An objective value that settles the instance's question (a capacity to fit under):
        the first solution at or below it ends the solve; None to search on."""


@runtime_checkable
class CooperativeSearch(Protocol[_InstanceIn, SolutionT]):
    """A :class:`Searchable` kind whose search shares the solve: ``backend="auto"`` calls
    :meth:`search_with` instead of ``search``, with ``search_share`` of the time the warm start
    leaves (instead of the pipeline's default share)."""

    search_share: float
    """Share of the time left after the warm start that the search may use."""

    def search_with(
        self,
        instance: _InstanceIn,
        budget_s: float,
        should_stop: Callable[[], bool],
        best: float | None,
        context: SearchContext[SolutionT],
    ) -> SearchAnswer[SolutionT]:
        """``search``, on the context's workers, handing over improvements as it finds them."""


@runtime_checkable
class Repairable(Protocol[_InstanceIn, SolutionT]):
    """A kind that can turn a reference solution (which may no longer fit: a machine went
    down) into a feasible one that keeps the fixed parts and changes little, the steered
    solve's first candidate."""

    def repair(self, instance: _InstanceIn, steering: Steering[SolutionT]) -> SolutionT | None:
        """A feasible solution near ``steering.reference`` keeping ``steering.fixed``, or
        None when the repair finds none."""


@runtime_checkable
class SteerableStart(Protocol[_InstanceIn, SolutionT]):
    """A kind whose heuristic can search near a reference under the steered objective (moving
    only what pays), a steered solve's candidate beside the repaired reference."""

    def steered_start(
        self,
        instance: _InstanceIn,
        steering: Steering[SolutionT],
        budget_s: float,
        seed: int,
        should_stop: Callable[[], bool],
    ) -> SolutionT | None:
        """A feasible solution found within ``budget_s`` seconds that keeps the fixings, or
        None."""


@runtime_checkable
class ReferenceLimited(Protocol[_InstanceIn, _SolutionIn]):
    """A kind whose instance can limit how far an answer strays from ``options.reference``
    (expert placement's ``max_moves``): the limit is a hard constraint, checked here."""

    def reference_violations(
        self, instance: _InstanceIn, solution: _SolutionIn, reference: _SolutionIn
    ) -> list[str]:
        """What breaks the instance's limit on the distance from ``reference``."""

    def reference_required(self, instance: _InstanceIn) -> str | None:
        """Why ``instance`` needs a reference (it sets a limit on the distance from one), or
        None."""


@runtime_checkable
class Explainable(Protocol[_InstanceIn, SolutionT]):
    """A kind that states its instance constraints (windows, lags, capacities, downtime) as
    labelled groups for naming a conflict; without it, a conflict names fixings only."""

    def explained(self, instance: _InstanceIn, steering: Steering[SolutionT] | None) -> Model:
        """The instance (and the steering's fixings) as IR with every constraint a conflict
        may name a labelled group, domains that assume none of them, and no objective."""


@runtime_checkable
class FixBefore(Protocol[_SolutionIn]):
    """A scheduling kind whose solutions have start times, so that "everything that started
    before t" can be fixed (re-planning after a disruption at t)."""

    def fixed_before(self, solution: _SolutionIn, time: int) -> BaseModel:
        """The kind's fixings keeping every part of ``solution`` that starts before ``time``."""


@runtime_checkable
class NamedBenchmarks(Protocol[_InstanceOut]):
    """A kind whose published benchmark instances can be loaded by name (``ta41``)."""

    def load_named(self, name: str) -> _InstanceOut | None:
        """The benchmark instance called ``name`` (with its published bounds), or None."""


@runtime_checkable
class Generative(Protocol[_InstanceOut]):
    """A kind with an instance generator, whose parameters a command line can offer."""

    generator_options: type[BaseModel]
    """The generator's parameters: a frozen pydantic model (names, defaults, bounds,
    descriptions)."""

    def generate(self, options: BaseModel) -> _InstanceOut:
        """A synthetic instance, deterministic for its options (their ``seed``); ValueError
        for options that fit their bounds but not each other."""


@runtime_checkable
class CapacityQuestion(Protocol[_InstanceOut]):
    """A kind that can be asked its question at another capacity (``--capacity``)."""

    def with_capacity(self, instance: Any, capacity: int) -> _InstanceOut:
        """The instance at ``capacity``; InstanceError naming ``capacity`` when out of range."""


class KindFormats(Protocol[_InstanceOut]):
    """What every kind's ``formats`` module provides: its file formats, readers and sizing."""

    FORMATS: tuple[str, ...]
    """The formats ``read_text`` understands."""
    FILE_EXTENSIONS: tuple[str, ...]
    """File extensions that identify the kind, lower case."""

    def read_text(self, text: str, format: str | None, source: str) -> _InstanceOut:
        """:meth:`ProblemModel.read_text`."""

    def document_size(self, data: Any) -> int:
        """:meth:`ProblemModel.document_size`."""

    def text_size(self, text: str, format: str | None) -> int:
        """:meth:`ProblemModel.text_size`."""

    def sniff(self, text: str) -> bool:
        """:meth:`ProblemModel.sniff`."""


class KindCompile(Protocol[_InstanceIn, SolutionT]):
    """What every kind's ``compile`` module provides: instance to IR and back."""

    def compile_instance(
        self,
        instance: _InstanceIn,
        upper_bound: float | None,
        steering: Steering[SolutionT] | None,
    ) -> Compiled[Any]:
        """:meth:`ProblemModel.compile`."""

    def decode(
        self, instance: _InstanceIn, compiled: Compiled[Any], values: Sequence[int]
    ) -> SolutionT:
        """:meth:`ProblemModel.decode`."""

    def hint(
        self, instance: _InstanceIn, compiled: Compiled[Any], solution: SolutionT, backend: str
    ) -> Mapping[int, int]:
        """:meth:`ProblemModel.hint`."""


class KindCheck(Protocol[_InstanceIn, _SolutionIn]):
    """What every kind's ``check`` module provides: the independent checker, and the cheap
    proof of infeasibility (a function answering None where the kind has none)."""

    def check(self, instance: _InstanceIn, solution: _SolutionIn) -> CheckReport:
        """:meth:`ProblemModel.check`."""

    def kept(self, instance: _InstanceIn, solution: _SolutionIn, fixed: Any) -> list[str]:
        """:meth:`ProblemModel.kept`."""

    def deviation(
        self, instance: _InstanceIn, solution: _SolutionIn, reference: _SolutionIn
    ) -> int:
        """:meth:`ProblemModel.deviation`; InstanceError naming ``options.reference`` when the
        reference does not cover the instance."""

    def validate_fixed(self, instance: _InstanceIn, fixed: Any) -> None:
        """InstanceError naming the entry of ``fixed`` that does not fit ``instance``."""

    def infeasibility_reason(self, instance: _InstanceIn) -> str | None:
        """:meth:`ProblemModel.infeasibility_reason`."""


class KindMeasures(Protocol[_InstanceIn]):
    """What a kind's ``instance`` module (rcpsp: ``bounds``) provides: how big an instance is
    and its cheap proven bound."""

    def size(self, instance: _InstanceIn) -> int:
        """:meth:`ProblemModel.size`."""

    def lower_bound(self, instance: _InstanceIn) -> float | None:
        """:meth:`ProblemModel.lower_bound`."""


class KindHeuristics(Protocol[_InstanceIn, SolutionT]):
    """What every kind's ``heuristics`` module provides: its warm start."""

    def warm_start(
        self,
        instance: _InstanceIn,
        budget_s: float,
        seed: int,
        should_stop: Callable[[], bool],
    ) -> WarmStart[SolutionT] | None:
        """:meth:`ProblemModel.warm_start`."""


@dataclass(frozen=True)
class KindParts(Generic[InstanceT, SolutionT]):
    """A kind's types and standard modules, by their standard names: mypy checks that each
    module has every name with its signature."""

    instance_type: type[InstanceT]
    solution_type: type[SolutionT]
    measures: KindMeasures[InstanceT]
    formats: KindFormats[InstanceT]
    compile: KindCompile[InstanceT, SolutionT]
    check: KindCheck[InstanceT, SolutionT]
    heuristics: KindHeuristics[InstanceT, SolutionT]
    fixed_type: type[BaseModel]
    """The kind's partial solution, as ``options.fixed`` gives it."""
