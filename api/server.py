"""The REST service: thin routes that validate, store, enqueue and answer.

Request bodies are derived from the problem models (discriminated by ``problem``), so the
OpenAPI document carries every kind's instance schema with an example. Bad input never gets a
500: validation errors are 422 with a body that names the field (or the file line), oversize
bodies 413, a full queue 429 with ``Retry-After``, a missing or wrong API key 401.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal, Union

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator
from sse_starlette import EventSourceResponse, ServerSentEvent

from makespan.api.executor import Executor, make_executor
from makespan.api.jobs import JobEvent, JobManager, QueueFullError
from makespan.api.settings import Settings
from makespan.api.store import JobRecord, JobStatus, JobStore
from makespan.api.web import add_web_routes
from makespan.models.errors import InstanceError
from makespan.models.registry import MODELS, get_model
from makespan.models.textfile import REQUEST_TEXT_SOURCE
from makespan.solvers.backend import available_backends
from makespan.solvers.options import OptionsError, SolveOptions
from makespan.solvers.pipeline import resolve_backend
from makespan.solvers.result import Result

log = logging.getLogger("makespan.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


# --- request and response schemas ---------------------------------------------------------


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


def _request_model(kind: str) -> type[JobRequestBase]:
    model = MODELS[kind]
    examples = model.instance_type.model_json_schema().get("examples", [])
    example = {"problem": kind, "instance": examples[0] if examples else {}}
    fields: dict[str, Any] = {
        "problem": (Literal[kind], Field(description="The problem kind.")),
        "instance": (model.instance_type | None, None),
    }
    created: type[JobRequestBase] = create_model(
        f"{kind.title().replace('_', '')}JobRequest", __base__=JobRequestBase, **fields
    )
    created.model_config["json_schema_extra"] = {"examples": [example]}
    created.model_rebuild(force=True)
    return created


REQUEST_MODELS = tuple(_request_model(kind) for kind in sorted(MODELS))
JobRequest: Any = (
    REQUEST_MODELS[0]
    if len(REQUEST_MODELS) == 1
    else Annotated[Union[REQUEST_MODELS], Field(discriminator="problem")]  # noqa: UP007
)


class JobAccepted(BaseModel):
    """The answer to a job submission."""

    id: str
    status: JobStatus


class JobDocument(BaseModel):
    """A job as ``GET /v1/jobs/{id}`` returns it."""

    id: str
    problem: str
    status: JobStatus
    created_at: str
    started_at: str | None
    finished_at: str | None
    options: dict[str, Any]
    result: Result | None
    error: dict[str, Any] | None


class ErrorBody(BaseModel):
    """Every 4xx body: a message, and the field or file line at fault when there is one."""

    message: str
    field: str | None = None
    line: int | None = None
    detail: Any = None


# --- application ----------------------------------------------------------------------------


def create_app(settings: Settings | None = None, executor: Executor | None = None) -> FastAPI:
    """The service, with its job manager started for the app's lifetime."""
    settings = settings or Settings()
    state: dict[str, JobManager] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        store = JobStore(settings.db)
        chosen = executor or make_executor(
            settings.executor, settings.kill_grace_s, num_cpus=settings.workers
        )
        manager = JobManager(settings, store, chosen)
        requeued, failed = manager.start()
        log.info("job store %s: %d jobs requeued, %d failed", settings.db, requeued, failed)
        state["manager"] = manager
        try:
            yield
        finally:
            manager.shutdown()
            store.close()

    # FastAPIOffline: /docs and /redoc from packaged files, not a CDN, so they work offline.
    app = FastAPIOffline(
        title="makespan",
        version=_version(),
        summary="Constraint-programming and MILP solver service for scheduling and allocation.",
        lifespan=lifespan,
        responses={
            401: {"model": ErrorBody, "description": "API key missing or wrong"},
            413: {"model": ErrorBody, "description": "Body over the configured limit"},
            422: {"model": ErrorBody, "description": "Invalid request; names the field"},
        },
    )
    app.add_middleware(_BodyLimit, max_bytes=settings.max_body_bytes)
    _install_error_handlers(app)

    def manager() -> JobManager:
        return state["manager"]

    def authorized(request: Request) -> None:
        if settings.api_key is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token, settings.api_key):
            raise HTTPException(
                401, "missing or wrong API key", headers={"WWW-Authenticate": "Bearer"}
            )

    guarded = [Depends(authorized)]

    @app.get("/healthz", tags=["service"])
    def healthz() -> dict[str, Any]:
        """Liveness: the service answers and its store is reachable."""
        queued = manager().store.count(JobStatus.QUEUED)
        return {"status": "ok", "queued": queued, "slots": settings.workers}

    @app.get("/v1/problems", tags=["problems"], dependencies=guarded)
    def problems() -> dict[str, Any]:
        """The problem kinds, their file formats and the backends."""
        return {
            "problems": [
                {
                    "kind": m.kind,
                    "summary": m.summary,
                    "formats": list(m.formats),
                    "default_backend": m.default_backend,
                }
                for m in (MODELS[kind] for kind in sorted(MODELS))
            ],
            "backends": available_backends(),
        }

    @app.get("/v1/problems/{kind}/schema", tags=["problems"], dependencies=guarded)
    def problem_schema(kind: str) -> dict[str, Any]:
        """The generated JSON schema of a kind's instance."""
        if kind not in MODELS:
            raise HTTPException(404, f"unknown problem kind {kind!r}")
        return MODELS[kind].json_schema()

    @app.post(
        "/v1/jobs",
        status_code=202,
        tags=["jobs"],
        dependencies=guarded,
        responses={429: {"model": ErrorBody, "description": "Queue full; see Retry-After"}},
    )
    def submit_job(body: JobRequest, response: Response) -> JobAccepted:
        """Queue a solve; answers at once with the job id (and a Location header)."""
        record = _submit(manager(), body)
        response.headers["Location"] = f"/v1/jobs/{record.id}"
        return JobAccepted(id=record.id, status=record.status)

    @app.post("/v1/solve", tags=["jobs"], dependencies=guarded)
    async def solve_now(body: JobRequest) -> Result:
        """Solve and answer with the Result when the solve ends (the job is stored as well)."""
        jobs = manager()
        record = await asyncio.to_thread(_submit, jobs, body)
        final = await _wait_final(jobs, record.id)
        if final.result is None:
            raise HTTPException(500, (final.error or {}).get("message", "the solve failed"))
        return Result.model_validate(final.result)

    @app.get("/v1/jobs", tags=["jobs"], dependencies=guarded)
    def list_jobs(
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        status: JobStatus | None = None,
    ) -> list[JobDocument]:
        """Recent jobs, newest first."""
        return [_document(r) for r in manager().store.recent(limit, status)]

    @app.get("/v1/jobs/{job_id}", tags=["jobs"], dependencies=guarded)
    def get_job(job_id: str) -> JobDocument:
        """A job: status, times, options, result or error."""
        return _document(_record_or_404(manager(), job_id))

    @app.delete("/v1/jobs/{job_id}", tags=["jobs"], dependencies=guarded)
    def cancel_job(job_id: str) -> JobDocument:
        """Cancel: a queued job ends at once; a running one stops with its best incumbent."""
        record = manager().cancel(job_id)
        if record is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return _document(record)

    @app.get(
        "/v1/jobs/{job_id}/events",
        tags=["jobs"],
        dependencies=guarded,
        response_class=EventSourceResponse,
        responses={
            200: {
                "content": {"text/event-stream": {}},
                "description": "status, incumbent and done events",
            }
        },
    )
    async def job_events(job_id: str) -> EventSourceResponse:
        """Server-sent events: ``status``, ``incumbent`` as found, and a final ``done`` with the
        Result."""
        jobs = manager()
        _record_or_404(jobs, job_id)
        return EventSourceResponse(_event_stream(jobs, job_id), ping=15)

    add_web_routes(app, manager, guarded)
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("makespan")
    except PackageNotFoundError:
        return "0"


def _submit(manager: JobManager, body: JobRequestBase) -> JobRecord:
    problem: str = body.problem  # type: ignore[attr-defined]
    model = get_model(problem)
    instance = getattr(body, "instance", None)
    if instance is None:
        assert body.instance_text is not None
        instance = model.read_text(body.instance_text, body.format, REQUEST_TEXT_SOURCE)
    resolve_backend(model, body.options)  # unknown backend or parameter: 422 before queuing
    limit = manager.settings.instance_limits.get(problem)
    size = model.size(instance)
    if limit is not None and size > limit:
        raise InstanceError(
            f"instance size {size} exceeds this service's limit of {limit} {model.size_unit}",
            field="instance",
        )
    return manager.submit(problem, instance, body.options)


def _record_or_404(manager: JobManager, job_id: str) -> JobRecord:
    record = manager.store.get(job_id)
    if record is None:
        raise HTTPException(404, f"no job {job_id!r}")
    return record


def _document(record: JobRecord) -> JobDocument:
    return JobDocument.model_validate(record, from_attributes=True)


async def _wait_final(manager: JobManager, job_id: str) -> JobRecord:
    queue = manager.subscribe(job_id)
    try:
        while True:
            record = manager.store.get(job_id)
            assert record is not None
            if record.status.is_final:
                return record
            try:
                await asyncio.wait_for(queue.get(), timeout=1.0)
            except TimeoutError:
                continue
    finally:
        manager.unsubscribe(job_id, queue)


async def _event_stream(manager: JobManager, job_id: str) -> AsyncIterator[ServerSentEvent]:
    queue = manager.subscribe(job_id)  # before reading the store, so nothing falls between
    try:
        record = manager.store.get(job_id)
        assert record is not None
        yield _sse("status", {"status": record.status.value, "error": record.error})
        replayed = manager.store.incumbents(job_id)
        for incumbent in replayed:
            yield _sse("incumbent", incumbent)
        if record.status.is_final:
            yield _sse("done", record.result)
            return
        while True:
            event: JobEvent = await queue.get()
            if event.kind == "incumbent" and event.seq is not None and event.seq < len(replayed):
                continue
            yield _sse(event.kind, event.data)
            if event.kind == "done":
                return
    finally:
        manager.unsubscribe(job_id, queue)


def _sse(kind: str, data: Any) -> ServerSentEvent:
    return ServerSentEvent(data=json.dumps(data, allow_nan=False), event=kind)


# --- errors and limits ----------------------------------------------------------------------


def _error(status: int, message: str, **fields: Any) -> JSONResponse:
    body = ErrorBody(message=message, **fields).model_dump(exclude_none=True)
    headers = fields.pop("headers", None)
    return JSONResponse(body, status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation(_: Request, error: RequestValidationError) -> JSONResponse:
        errors = error.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        field, text = _field_and_message(first)
        message = f"{field}: {text}" if field else text
        detail = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in errors[:20]
        ]
        return _error(422, message, field=field, detail=detail)

    @app.exception_handler(InstanceError)
    async def instance_error(_: Request, error: InstanceError) -> JSONResponse:
        field = error.field or ("instance_text" if error.line is not None else "instance")
        return _error(422, str(error), field=field, line=error.line)

    @app.exception_handler(OptionsError)
    async def options_error(_: Request, error: OptionsError) -> JSONResponse:
        field = error.field if error.field.startswith("options") else f"options.{error.field}"
        return _error(422, str(error), field=field)

    @app.exception_handler(QueueFullError)
    async def queue_full(_: Request, error: QueueFullError) -> JSONResponse:
        response = _error(429, str(error))
        response.headers["Retry-After"] = "5"
        return response

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        response = _error(error.status_code, str(error.detail))
        for name, value in (error.headers or {}).items():
            response.headers[name] = value
        return response


_EMBEDDED_PATH = re.compile(r"^(?:Value error, )?([A-Za-z_]\w*(?:\.\w+)+): (.+)$", re.DOTALL)


def _field_and_message(error: dict[str, Any]) -> tuple[str | None, str]:
    """The dotted field of a validation error (without ``body`` and the problem tag), and its
    message; a model validator's ``path: message`` extends the field with that path."""
    if error.get("type") in ("union_tag_invalid", "union_tag_not_found"):
        return "problem", str(error.get("msg"))
    parts = [str(p) for p in error.get("loc", ())]
    if parts and parts[0] == "body":
        parts = parts[1:]
    if len(parts) > 1 and parts[0] in MODELS:
        parts = parts[1:]  # the discriminator's tag, not a field of the body
    text = str(error.get("msg"))
    embedded = _EMBEDDED_PATH.match(text)
    if embedded:
        parts.append(embedded.group(1))
        text = embedded.group(2)
    return ".".join(parts) or None, text


class _BodyLimit:
    """413 for bodies over ``max_bytes``, by Content-Length or while streaming."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise _TooLargeError
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _TooLargeError:
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = _error(413, f"request body over the limit of {self.max_bytes} bytes")
        await response(scope, receive, send)


class _TooLargeError(Exception):
    pass
