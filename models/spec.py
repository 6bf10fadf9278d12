"""The parts every problem model provides, so ``solve`` and every interface treat them alike."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypedDict, TypeVar

from pydantic import BaseModel

from makespan.models.bounds import no_published_best
from makespan.models.check import CheckReport
from makespan.models.errors import InstanceError
from makespan.models.textfile import validate_document
from makespan.solvers.ir import Model

if TYPE_CHECKING:
    from matplotlib.figure import Figure

InstanceT = TypeVar("InstanceT", bound=BaseModel)
SolutionT = TypeVar("SolutionT", bound=BaseModel)
IndexT = TypeVar("IndexT")
OptionsT = TypeVar("OptionsT", bound=BaseModel)
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


def generator_options_of(options_type: type[OptionsT], options: BaseModel) -> OptionsT:
    """``options`` as ``options_type``, a generator's own parameters; a TypeError for another
    generator's (their fields would not mean the same)."""
    if not isinstance(options, options_type):
        raise TypeError(f"expected {options_type.__name__}, got {type(options).__name__}")
    return options


def no_goal(instance: Any) -> float | None:
    """Models without a goal search until optimality is proven or time runs out."""
    del instance
    return None


@dataclass(frozen=True)
class ProblemModel(Generic[InstanceT, SolutionT]):
    """One problem kind: its types, file formats, heuristics, compile/decode and checker.

    Attributes:
        kind: the name users write (``jssp``).
        summary: one line for ``makespan problems``.
        instance_type / solution_type: the validated pydantic representations.
        formats: the file formats ``read_text`` understands.
        read_text: ``(text, format or None, source name) -> instance``; raises InstanceError.
        warm_start: ``(instance, time budget s, seed, should_stop) -> WarmStart | None``; it
            returns early once ``should_stop()`` is true.
        compile: ``(instance, upper bound or None) -> Compiled``; pure.
        decode: ``(instance, compiled, values by IR variable) -> solution``.
        hint: ``(instance, compiled, solution) -> {IR variable: value}``.
        check: ``(instance, solution) -> CheckReport``; independent of compile and decode.
        lower_bound: a cheap valid lower bound on the objective, or None.
        best_known: a published best value carried by the instance, or None.
        size / size_unit: how big an instance is, for service limits (``operations``).
        default_size_limit: the largest ``size`` a service accepts by default, in ``size_unit``.
        document_size: ``(parsed JSON value) -> int``: the ``size`` of an instance given as
            JSON, read before validation from a few lengths and numbers (never building the
            instance, never raising: what it cannot read counts as 0, and validation reports
            it), so that an oversize instance is refused before any work proportional to it.
        text_size: ``(file text, format or None) -> int``: the same for file text, counted
            before parsing (header numbers, line counts); at least the size of a valid
            instance's text, never raising.
        load_named: benchmark instances by name (``ta41``), or None when the kind has none.
        default_backend: what ``backend="auto"`` means for this kind.
        file_extensions: extensions that identify the kind (``.sm``), lower case.
        sniff: whether text looks like one of the kind's non-JSON formats.
        infeasibility_reason: a short reason when a cheap test proves that the instance has
            no solution, else None; ``solve`` then answers ``infeasible`` without searching.
        goal: an objective value that settles the instance's question (a capacity to fit
            under); the first solution at or below it ends the solve, status ``optimal`` only
            if it also meets the bound.
        search: ``(instance, time budget s, should_stop, best objective or None) ->
            SearchAnswer``: a problem-specific complete search that ``backend="auto"`` runs
            between the warm start and the generic backend.
        plot: ``(instance, solution) -> matplotlib Figure``: the kind's picture of a solution
            (see :mod:`makespan.models.plotting`), or None.
        auto_backend_limit: above this size ``backend="auto"`` leaves the generic backend out
            (its model would not load within a time limit) and gives the heuristics its time;
            a backend named explicitly still runs.
        generator_options: the parameters of the kind's instance generator, a frozen pydantic
            model (names, defaults, bounds and descriptions, as a command line shows them), or
            None when the kind has no generator.
        generate: ``(generator_options instance) -> instance``: a synthetic instance,
            deterministic for its options (their ``seed``); None without a generator. Raises
            ValueError for options that fit their bounds but not each other.
        with_capacity: ``(instance, capacity) -> instance``: the instance asked at another
            capacity (the command line's ``--capacity``), or None when the kind has no
            capacity; raises :class:`InstanceError` naming ``capacity`` when it is out of range.
    """

    kind: str
    summary: str
    instance_type: type[InstanceT]
    solution_type: type[SolutionT]
    formats: tuple[str, ...]
    read_text: Callable[[str, str | None, str], InstanceT]
    warm_start: Callable[[InstanceT, float, int, Callable[[], bool]], WarmStart[SolutionT] | None]
    compile: Callable[[InstanceT, float | None], Compiled[Any]]
    decode: Callable[[InstanceT, Compiled[Any], Sequence[int]], SolutionT]
    hint: Callable[[InstanceT, Compiled[Any], SolutionT], Mapping[int, int]]
    check: Callable[[InstanceT, SolutionT], CheckReport]
    lower_bound: Callable[[InstanceT], float | None]
    size: Callable[[InstanceT], int]
    size_unit: str
    default_size_limit: int
    document_size: Callable[[Any], int]
    text_size: Callable[[str, str | None], int]
    best_known: Callable[[InstanceT], float | None] = no_published_best
    load_named: Callable[[str], InstanceT | None] | None = None
    default_backend: str = "cpsat"
    file_extensions: tuple[str, ...] = ()
    sniff: Callable[[str], bool] | None = None
    infeasibility_reason: Callable[[InstanceT], str | None] | None = None
    goal: Callable[[InstanceT], float | None] = no_goal
    search: (
        Callable[[InstanceT, float, Callable[[], bool], float | None], SearchAnswer[SolutionT]]
        | None
    ) = None
    auto_backend_limit: int | None = None
    plot: Callable[[InstanceT, SolutionT], Figure] | None = None
    generator_options: type[BaseModel] | None = None
    generate: Callable[[BaseModel], InstanceT] | None = None
    with_capacity: Callable[[InstanceT, int], InstanceT] | None = None

    def parse_instance(self, instance: InstanceT | Mapping[str, Any]) -> InstanceT:
        """Accept the typed instance or its JSON form (a dict); errors name the field."""
        return validate_document(self.instance_type, instance, None)

    def parse_solution(self, solution: SolutionT | Mapping[str, Any]) -> SolutionT:
        """Accept the typed solution or its JSON form."""
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


class KindFormats(Protocol[_InstanceOut]):
    """What every kind's ``formats`` module provides: its file formats, readers and sizing."""

    FORMATS: tuple[str, ...]
    """The formats ``read_text`` understands."""
    FILE_EXTENSIONS: tuple[str, ...]
    """File extensions that identify the kind, lower case."""

    def read_text(self, text: str, format: str | None, source: str) -> _InstanceOut:
        """:attr:`ProblemModel.read_text`."""

    def document_size(self, data: Any) -> int:
        """:attr:`ProblemModel.document_size`."""

    def text_size(self, text: str, format: str | None) -> int:
        """:attr:`ProblemModel.text_size`."""

    def sniff(self, text: str) -> bool:
        """:attr:`ProblemModel.sniff`."""


class KindCompile(Protocol[_InstanceIn, SolutionT]):
    """What every kind's ``compile`` module provides: instance to IR and back."""

    def compile_instance(self, instance: _InstanceIn, upper_bound: float | None) -> Compiled[Any]:
        """:attr:`ProblemModel.compile`."""

    def decode(
        self, instance: _InstanceIn, compiled: Compiled[Any], values: Sequence[int]
    ) -> SolutionT:
        """:attr:`ProblemModel.decode`."""

    def hint(
        self, instance: _InstanceIn, compiled: Compiled[Any], solution: SolutionT
    ) -> Mapping[int, int]:
        """:attr:`ProblemModel.hint`."""


class KindCheck(Protocol[_InstanceIn, _SolutionIn]):
    """What every kind's ``check`` module provides: the independent checker."""

    def check(self, instance: _InstanceIn, solution: _SolutionIn) -> CheckReport:
        """:attr:`ProblemModel.check`."""


class ModuleParts(TypedDict, Generic[InstanceT, SolutionT]):
    """The :class:`ProblemModel` fields that every kind's standard modules fill alike."""

    formats: tuple[str, ...]
    file_extensions: tuple[str, ...]
    read_text: Callable[[str, str | None, str], InstanceT]
    document_size: Callable[[Any], int]
    text_size: Callable[[str, str | None], int]
    sniff: Callable[[str], bool]
    compile: Callable[[InstanceT, float | None], Compiled[Any]]
    decode: Callable[[InstanceT, Compiled[Any], Sequence[int]], SolutionT]
    hint: Callable[[InstanceT, Compiled[Any], SolutionT], Mapping[int, int]]
    check: Callable[[InstanceT, SolutionT], CheckReport]


def module_parts(
    formats: KindFormats[InstanceT],
    compile: KindCompile[InstanceT, SolutionT],
    check: KindCheck[InstanceT, SolutionT],
) -> ModuleParts[InstanceT, SolutionT]:
    """The fields a kind's ``formats``, ``compile`` and ``check`` modules fill, by their
    standard names, for ``ProblemModel(..., **module_parts(formats, compile, check))``; mypy
    checks that each module has every name with its signature."""
    return {
        "formats": formats.FORMATS,
        "file_extensions": formats.FILE_EXTENSIONS,
        "read_text": formats.read_text,
        "document_size": formats.document_size,
        "text_size": formats.text_size,
        "sniff": formats.sniff,
        "compile": compile.compile_instance,
        "decode": compile.decode,
        "hint": compile.hint,
        "check": check.check,
    }
