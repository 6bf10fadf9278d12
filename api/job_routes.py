"""The job routes: submit, solve synchronously, list, read, cancel, and follow a job's events.

Bodies are read raw and parsed in a worker thread (:func:`~makespan.api.requests.parse_job_body`),
and every store access runs off the event loop, so one large request or a slow database never
stalls ``/healthz`` or the event streams.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, create_model
from sse_starlette import EventSourceResponse, ServerSentEvent

from makespan.api.errors import RETRY_AFTER_S, ErrorBody
from makespan.api.jobs import JobEvent, JobManager
from makespan.api.requests import (
    ParsedJob,
    is_json_media_type,
    kind_type_name,
    parse_check_body,
    parse_job_body,
    problem_union_schema,
)
from makespan.api.store import JobRecord, JobStatus
from makespan.models.registry import MODELS
from makespan.solvers.options import SolveOptions
from makespan.solvers.pipeline import check_solution
from makespan.solvers.result import CheckResult, Result

router = APIRouter(tags=["jobs"])

JOB_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobRequest"}}},
    }
}
"""The documented body of the routes that read a :data:`~makespan.api.requests.JobRequest`."""

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No job with this id"}
}


class JobAccepted(BaseModel):
    """The answer to a job submission."""

    id: str
    status: JobStatus


SOLUTION_SCHEMAS = {model.solution_type.__name__: model.solution_type for model in MODELS.values()}
"""Every kind's solution type, by the name the OpenAPI document gives it."""


def _kind_result(kind: str) -> type[Result]:
    solution_type = MODELS[kind].solution_type
    fields: dict[str, Any] = {
        "problem": (Literal[kind], Field(description="The problem kind.")),
        "solution": (solution_type | None, None),
    }
    created: type[Result] = create_model(
        kind_type_name(kind, "Result"),
        __base__=Result,
        __doc__=f"A Result of a `{kind}` job: the solution is a {solution_type.__name__}.",
        **fields,
    )
    return created


KIND_RESULTS = {kind: _kind_result(kind) for kind in sorted(MODELS)}
"""The result of each kind, typed: the OpenAPI document's ``JobResult`` is their union,
discriminated by ``problem``, so a generated client knows which solution schema applies."""


def job_result_schema() -> tuple[dict[str, Any], dict[str, Any]]:
    """The JSON schema of a job's result (one of :data:`KIND_RESULTS`, by ``problem``) with
    references into OpenAPI components, and the component schemas it references."""
    schema, definitions = problem_union_schema(KIND_RESULTS)
    return {"title": "JobResult", **schema}, definitions


class JobResult(Result):
    """A :class:`~makespan.solvers.result.Result` as the service answers it. The service passes
    the stored solution through as it is (it was checked when the job ended); the document
    describes it per kind (:func:`job_result_schema` replaces this class's schema there)."""


class JobError(BaseModel):
    """Why a job failed: what kind of failure, and the message."""

    model_config = ConfigDict(extra="allow")

    type: str
    message: str


class JobState(BaseModel):
    """What every answer about a job says: its kind, status, times, options and error."""

    id: str
    problem: str
    status: JobStatus
    created_at: str
    started_at: str | None
    finished_at: str | None
    options: SolveOptions
    error: JobError | None = None


class JobSummary(JobState):
    """A job as ``GET /v1/jobs`` lists it: its state and the headline of its result (read the
    whole job, with its solution, from ``GET /v1/jobs/{id}``)."""

    objective: float | int | None = None
    bound: float | int | None = None
    gap: float | None = None
    termination: str | None = None


class JobDocument(JobState):
    """A job as ``GET /v1/jobs/{id}`` returns it."""

    result: JobResult | None


def job_manager(request: Request) -> JobManager:
    """The service's job manager."""
    manager: JobManager = request.app.state.manager
    return manager


Manager = Annotated[JobManager, Depends(job_manager)]


async def _json_body(request: Request) -> bytes:
    if not is_json_media_type(request.headers.get("content-type", "")):
        raise HTTPException(415, "expected a JSON body (Content-Type: application/json)")
    return await request.body()


async def read_job_request(request: Request) -> ParsedJob:
    """The request's body as a validated job, parsed in a worker thread (a few at a time)."""
    body = await _json_body(request)
    manager = job_manager(request)
    parsed: ParsedJob = await anyio.to_thread.run_sync(
        parse_job_body, body, manager.limits, limiter=request.app.state.parse_limiter
    )
    return parsed


@router.post(
    "/v1/jobs",
    status_code=202,
    operation_id="submit_job",
    openapi_extra=JOB_REQUEST_BODY,
    responses={
        415: {"model": ErrorBody, "description": "The body is not JSON"},
        429: {"model": ErrorBody, "description": "Queue full; see Retry-After"},
    },
)
async def submit_job(request: Request, response: Response, manager: Manager) -> JobAccepted:
    """Queue a solve; answers at once with the job id (and a Location header)."""
    parsed = await read_job_request(request)
    record = await anyio.to_thread.run_sync(manager.submit, parsed)
    response.headers["Location"] = f"/v1/jobs/{record.id}"
    return JobAccepted(id=record.id, status=record.status)


@router.post(
    "/v1/solve",
    operation_id="solve",
    openapi_extra=JOB_REQUEST_BODY,
    responses={
        415: {"model": ErrorBody, "description": "The body is not JSON"},
        429: {"model": ErrorBody, "description": "Queue full; see Retry-After"},
    },
)
async def solve(request: Request, manager: Manager) -> JobResult:
    """Solve and answer with the Result when the solve ends (the job is stored as well)."""
    parsed = await read_job_request(request)
    record = await anyio.to_thread.run_sync(manager.submit, parsed)
    final = await _wait_final(manager, record.id, request.app.state.closing)
    if final.result is None:
        raise HTTPException(500, (final.error or {}).get("message", "the solve failed"))
    return JobResult.model_validate(final.result)


CHECK_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CheckRequest"}}},
    }
}
"""The documented body of ``POST /v1/check``: a job request's problem and instance, and the
solution (any of the kinds' solution schemas)."""


@router.post(
    "/v1/check",
    tags=["problems"],
    operation_id="check",
    openapi_extra=CHECK_REQUEST_BODY,
    responses={415: {"model": ErrorBody, "description": "The body is not JSON"}},
)
async def check(request: Request, manager: Manager) -> CheckResult:
    """Check a solution against an instance with the kind's independent checker (the one every
    solve's answer passes): feasibility, the objective recomputed, and every violation."""
    body = await _json_body(request)
    parsed = await anyio.to_thread.run_sync(
        parse_check_body, body, manager.limits, limiter=request.app.state.parse_limiter
    )
    return await anyio.to_thread.run_sync(
        check_solution, parsed.model, parsed.instance, parsed.solution
    )


@router.get("/v1/jobs", operation_id="list_jobs")
def list_jobs(
    manager: Manager,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    status: JobStatus | None = None,
) -> list[JobSummary]:
    """Recent jobs, newest first, without their solutions."""
    return [_summary(r) for r in manager.store.recent(limit, status)]


@router.get("/v1/jobs/{job_id}", operation_id="get_job", responses=NOT_FOUND)
def get_job(job_id: str, manager: Manager) -> JobDocument:
    """A job: status, times, options, result or error."""
    return _document(record_or_404(manager, job_id))


@router.delete(
    "/v1/jobs/{job_id}",
    operation_id="cancel_job",
    responses={
        **NOT_FOUND,
        409: {"model": ErrorBody, "description": "purge=true on a job that has not finished"},
    },
)
def cancel_job(
    job_id: str,
    manager: Manager,
    purge: Annotated[bool, Query(description="Delete a finished job and its data now.")] = False,
) -> JobDocument:
    """Cancel: a queued job ends at once; a running one stops with its best incumbent.
    With ``purge=true``, delete a finished job instead (answers with what was deleted)."""
    if purge:
        return _purge(manager, job_id)
    record = manager.cancel(job_id)
    if record is None:
        raise HTTPException(404, f"no job {job_id!r}")
    return _document(record)


def _purge(manager: JobManager, job_id: str) -> JobDocument:
    record = record_or_404(manager, job_id)
    deleted = manager.purge(job_id)
    if deleted is None:
        raise HTTPException(404, f"no job {job_id!r}")
    if not deleted:
        raise HTTPException(
            409, f"job {job_id} is {record.status.value}: cancel it first, then purge it"
        )
    return _document(record)


@router.get(
    "/v1/jobs/{job_id}/events",
    operation_id="get_job_events",
    response_class=EventSourceResponse,
    responses={
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "status, incumbent and done events",
        },
        **NOT_FOUND,
    },
)
async def get_job_events(job_id: str, manager: Manager) -> EventSourceResponse:
    """Server-sent events: ``status``, ``incumbent`` as found, and a final ``done`` with the
    Result."""
    await anyio.to_thread.run_sync(record_or_404, manager, job_id)
    return EventSourceResponse(_event_stream(manager, job_id), ping=15, send_timeout=30)


def record_or_404(manager: JobManager, job_id: str) -> JobRecord:
    """The job's record; a 404 naming the id when there is none."""
    record = manager.store.get(job_id)
    if record is None:
        raise HTTPException(404, f"no job {job_id!r}")
    return record


def _document(record: JobRecord) -> JobDocument:
    return JobDocument.model_validate(record, from_attributes=True)


def _summary(record: JobRecord) -> JobSummary:
    state = JobState.model_validate(record, from_attributes=True)
    headline = {name: (record.result or {}).get(name) for name in _HEADLINE}
    # A listing shows the options without the solutions a job started from or stays near.
    options = state.options.model_copy(
        update={"initial_solution": None, "reference": None, "fixed": None}
    )
    return JobSummary(**{**state.model_dump(), "options": options}, **headline)


_HEADLINE = ("objective", "bound", "gap", "termination")
"""The fields of a result that a job listing shows."""


async def _wait_final(manager: JobManager, job_id: str, closing: threading.Event) -> JobRecord:
    """The job once it has ended; a 503 naming the job when the server shuts down first (the
    job is stored and runs again when the server restarts)."""
    queue = manager.subscribe(job_id)
    try:
        while True:
            record = await anyio.to_thread.run_sync(record_or_404, manager, job_id)
            if record.status.is_final:
                return record
            if closing.is_set():
                raise HTTPException(
                    503,
                    f"the server is shutting down; job {job_id} is kept and runs again when it "
                    f"restarts: GET /v1/jobs/{job_id}",
                    headers={"Retry-After": str(RETRY_AFTER_S), "Location": f"/v1/jobs/{job_id}"},
                )
            with anyio.move_on_after(1.0):
                await queue.get()
    finally:
        manager.unsubscribe(job_id, queue)


async def _event_stream(manager: JobManager, job_id: str) -> AsyncIterator[ServerSentEvent]:
    queue = manager.subscribe(job_id)  # before reading the store, so nothing falls between
    try:
        follower = _StoreFollower(manager, job_id)
        async for event in follower.catch_up():
            yield _sse(event.kind, event.data)
        while not follower.ended:
            with anyio.move_on_after(STREAM_POLL_S):
                event = await queue.get()
                if follower.fresh(event):
                    yield _sse(event.kind, event.data)
                continue
            # Nothing from this server: the job may run on another one (a shared database),
            # or an event was missed while the store was unavailable.
            async for event in follower.catch_up():
                yield _sse(event.kind, event.data)
    finally:
        manager.unsubscribe(job_id, queue)


STREAM_POLL_S = 1.0
"""How long an event stream waits for news from this server before it reads the job's progress
from the store: the delay with which a job running on another server is followed."""


class _StoreFollower:
    """What a stream has sent of a job: its last status and incumbent, and whether it ended."""

    def __init__(self, manager: JobManager, job_id: str) -> None:
        self.manager = manager
        self.job_id = job_id
        self.status: str | None = None
        self.last_seq = -1
        self.ended = False

    async def catch_up(self) -> AsyncIterator[JobEvent]:
        """The job's news in the store since the last call: status, incumbents, the end."""
        record = await anyio.to_thread.run_sync(record_or_404, self.manager, self.job_id)
        if record.status.value != self.status:
            yield JobEvent("status", {"status": record.status.value, "error": record.error})
        self.status = record.status.value
        points = await anyio.to_thread.run_sync(
            self.manager.store.incumbents, self.job_id, self.last_seq
        )
        for point in points:
            self.last_seq = point["seq"]
            yield JobEvent("incumbent", _without_seq(point))
        if record.status.is_final:
            self.ended = True
            yield JobEvent("done", record.result)

    def fresh(self, event: JobEvent) -> bool:
        """Whether ``event`` (from this server) is news, remembering it."""
        if event.kind == "incumbent" and event.seq is not None:
            if event.seq <= self.last_seq:
                return False
            self.last_seq = event.seq
        elif event.kind == "status" and event.data is not None:
            self.status = event.data.get("status")
        elif event.kind == "done":
            self.ended = True
        return True


def _without_seq(incumbent: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in incumbent.items() if key != "seq"}


def _sse(kind: str, data: Any) -> ServerSentEvent:
    return ServerSentEvent(data=json.dumps(data, allow_nan=False), event=kind)
