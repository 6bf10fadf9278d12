"""Job requests: their documented schema, and how a raw body becomes a validated job.

A body is parsed in stages, each cheap before the next costs anything: bounded JSON
(:func:`~makespan.models.jsontext.parse_json`), the envelope and options, then the kind's own
size rule on the raw instance (no instance is built before its size is known to fit), and only
then the typed instance. Routes run :func:`parse_job_body` in a worker thread, so a large body
never holds up the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from makespan.api.errors import TooLargeError
from makespan.models.errors import InstanceError
from makespan.models.jsontext import parse_json
from makespan.models.registry import MODELS, get_model
from makespan.models.spec import ProblemModel
from makespan.models.textfile import REQUEST_TEXT_SOURCE
from makespan.solvers.options import OptionsError, SolveOptions
from makespan.solvers.pipeline import given_solution, make_options, resolve_backend, steered

JSON_MEDIA_TYPES = ("application/json",)
"""Bodies of these types (and ``application/*+json``) are read as JSON; others are a 415."""


class JobRequestBase(BaseModel):
    """Fields every job request has, whatever the problem kind."""

    model_config = ConfigDict(extra="forbid")

    instance_text: str | None = Field(
        default=None, description="The instance as file text, in `format` (inferred if absent)."
    )
    format: str | None = Field(default=None, description="File format of `instance_text`.")
    options: SolveOptions = Field(default_factory=SolveOptions)

    @model_validator(mode="after")
    def _one_instance(self) -> JobRequestBase:
        given = (getattr(self, "instance", None) is not None) + (self.instance_text is not None)
        if given != 1:
            raise ValueError("give exactly one of `instance` and `instance_text`")
        return self


def kind_type_name(kind: str, suffix: str) -> str:
    """The name of a kind's model in the OpenAPI document: ``jssp`` -> ``JsspJobRequest``."""
    return f"{kind.title().replace('_', '')}{suffix}"


def _request_model(kind: str) -> type[JobRequestBase]:
    model = MODELS[kind]
    examples = model.instance_type.model_json_schema().get("examples", [])
    example = {"problem": kind, "instance": examples[0] if examples else {}}
    fields: dict[str, Any] = {
        "problem": (Literal[kind], Field(description="The problem kind.")),
        "instance": (model.instance_type | None, None),
    }
    created: type[JobRequestBase] = create_model(
        kind_type_name(kind, "JobRequest"), __base__=JobRequestBase, **fields
    )
    created.model_config["json_schema_extra"] = {"examples": [example]}
    created.model_rebuild(force=True)
    return created


REQUEST_MODELS = tuple(_request_model(kind) for kind in sorted(MODELS))
JobRequest: Any = Annotated[Union[REQUEST_MODELS], Field(discriminator="problem")]  # noqa: UP007
"""The body of ``POST /v1/jobs`` and ``POST /v1/solve``, discriminated by ``problem``; used for
the OpenAPI document (the routes parse bodies in stages, see :func:`parse_job_body`)."""


def job_request_schema() -> tuple[dict[str, Any], dict[str, Any]]:
    """The JSON schema of :data:`JobRequest` with references into OpenAPI components, and the
    component schemas it references."""
    return problem_union_schema(dict(zip(sorted(MODELS), REQUEST_MODELS, strict=True)))


def problem_union_schema(
    models: Mapping[str, type[BaseModel]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The JSON schema of one of ``models`` (by kind) told apart by their ``problem`` field: a
    ``oneOf`` with a discriminator and its mapping, references into OpenAPI components, and
    the component schemas it references.

    Written out rather than asked of pydantic, which cannot derive a discriminator for models
    that validate every field first (:class:`~makespan.solvers.result.Result` does)."""
    definitions: dict[str, Any] = {}
    mapping: dict[str, str] = {}
    for kind, model in models.items():
        schema = model.model_json_schema(ref_template=_COMPONENT_REF)
        definitions.update(schema.pop("$defs", {}))
        definitions[model.__name__] = schema
        mapping[kind] = _COMPONENT_REF.format(model=model.__name__)
    union = {
        "oneOf": [{"$ref": ref} for ref in mapping.values()],
        "discriminator": {"propertyName": "problem", "mapping": mapping},
    }
    return union, definitions


_COMPONENT_REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class ParsedJob:
    """A validated job request: the kind, its typed instance, and complete options."""

    model: ProblemModel[Any, Any]
    instance: Any
    options: SolveOptions


@dataclass(frozen=True)
class ServiceLimits:
    """What a service accepts: instance size per kind, time limits, default time limit."""

    size_limits: Mapping[str, int]
    max_time_limit_s: float
    default_time_limit_s: float


_ENVELOPE = frozenset({"problem", "instance", "instance_text", "format", "options"})
_CHECK_ENVELOPE = frozenset({"problem", "instance", "instance_text", "format", "solution"})


def is_json_media_type(content_type: str) -> bool:
    """True for ``application/json`` and ``application/*+json``, parameters ignored."""
    media = content_type.partition(";")[0].strip().lower()
    return media in JSON_MEDIA_TYPES or (
        media.startswith("application/") and media.endswith("+json")
    )


def parse_job_body(body: bytes, limits: ServiceLimits) -> ParsedJob:
    """Validate a job request body in stages, cheapest first.

    Raises:
        InstanceError: malformed JSON, an unknown field or kind, or an invalid instance (422).
        OptionsError: an invalid option or backend parameter (422).
        TooLargeError: an instance over the service's size limit for its kind (413).
    """
    document = _envelope(body, _ENVELOPE)
    model = _kind(document.get("problem"))
    options = _options(document.get("options"), limits)
    instance = _instance(model, document, limits.size_limits.get(model.kind))
    resolve_backend(model, options)  # an unknown backend or parameter: 422 before queuing
    checked = steered(model, instance, options)  # fixings and reference that do not fit: 422
    if options.initial_solution is not None:
        given_solution(checked, instance, options.initial_solution)  # infeasible: 422 now
    return ParsedJob(model, instance, options)


@dataclass(frozen=True)
class ParsedCheck:
    """A validated check request: the kind, its typed instance, and the solution as sent."""

    model: ProblemModel[Any, Any]
    instance: Any
    solution: Any


def parse_check_body(body: bytes, limits: ServiceLimits) -> ParsedCheck:
    """Validate a ``POST /v1/check`` body in stages, as :func:`parse_job_body` does (the
    solution's shape is validated by the check itself)."""
    document = _envelope(body, _CHECK_ENVELOPE)
    model = _kind(document.get("problem"))
    if "solution" not in document:
        raise InstanceError("give the solution to check", field="solution")
    instance = _instance(model, document, limits.size_limits.get(model.kind))
    return ParsedCheck(model, instance, document["solution"])


def _envelope(body: bytes, fields: frozenset[str]) -> dict[str, Any]:
    document = parse_json(body, "body")
    if not isinstance(document, dict):
        raise InstanceError("expected a JSON object", field="body")
    unknown = sorted(set(document) - fields)
    if unknown:
        raise InstanceError(
            f"unknown field; expected {', '.join(sorted(fields))}", field=unknown[0]
        )
    return document


def _kind(problem: Any) -> ProblemModel[Any, Any]:
    if not isinstance(problem, str):
        known = ", ".join(sorted(MODELS))
        raise InstanceError(f"expected the problem kind, one of: {known}", field="problem")
    return get_model(problem)


def _options(raw: Any, limits: ServiceLimits) -> SolveOptions:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InstanceError("expected a JSON object of options", field="options")
    options = make_options(**{"time_limit_s": limits.default_time_limit_s, **raw})
    if options.time_limit_s > limits.max_time_limit_s:
        raise OptionsError(
            "options.time_limit_s",
            f"{options.time_limit_s:g} s exceeds this service's maximum of "
            f"{limits.max_time_limit_s:g} s",
        )
    return options


def _instance(model: ProblemModel[Any, Any], document: dict[str, Any], limit: int | None) -> Any:
    raw, text, fmt = document.get("instance"), document.get("instance_text"), document.get("format")
    if (raw is None) == (text is None):
        raise InstanceError("give exactly one of `instance` and `instance_text`", field="instance")
    if fmt is not None and not isinstance(fmt, str):
        raise InstanceError("expected a format name", field="format")
    if text is not None and not isinstance(text, str):
        raise InstanceError("expected the instance file text as a string", field="instance_text")
    size = model.document_size(raw) if text is None else model.text_size(text, fmt)
    _check_size(model, size, limit, "instance" if text is None else "instance_text")
    try:
        if text is None:
            instance = model.parse_instance(raw)
        else:
            instance = model.read_text(text, fmt, REQUEST_TEXT_SOURCE)
    except InstanceError as error:
        if error.field is None:
            raise  # a file line, or a whole-instance message: the handler names the field
        where = "instance" if text is None else "instance_text"  # the field was relative
        raise InstanceError(
            error.message, source=error.source, line=error.line, field=f"{where}.{error.field}"
        ) from None
    _check_size(model, model.size(instance), limit, "instance")
    return instance


def _check_size(model: ProblemModel[Any, Any], size: int, limit: int | None, field: str) -> None:
    if limit is not None and size > limit:
        unit = model.about.size_unit
        raise TooLargeError(
            f"{model.kind} instance of {size} {unit} exceeds this service's limit of "
            f"{limit} {unit} (MAKESPAN_INSTANCE_LIMITS)",
            field=field,
        )
