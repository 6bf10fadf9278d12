"""The routes that describe the service: the problem kinds, their schemas, and its health."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel

from makespan.api.errors import ErrorBody
from makespan.api.jobs import JobManager
from makespan.models.registry import MODELS
from makespan.solvers.backends import available_backends

router = APIRouter()


class ProblemSummary(BaseModel):
    """One problem kind as ``GET /v1/problems`` lists it."""

    kind: str
    summary: str
    formats: list[str]
    default_backend: str


class ProblemList(BaseModel):
    """The problem kinds and the backends of this installation."""

    problems: list[ProblemSummary]
    backends: list[str]


def problem_list() -> ProblemList:
    """Every kind's summary row and the backends: what ``makespan problems`` prints too."""
    return ProblemList(
        problems=[
            ProblemSummary(
                kind=m.kind,
                summary=m.about.summary,
                formats=list(m.formats),
                default_backend=m.about.default_backend,
            )
            for m in (MODELS[kind] for kind in sorted(MODELS))
        ],
        backends=available_backends(),
    )


class HealthReport(BaseModel):
    """``ok``, or ``degraded`` with the parts in trouble and why; the queue and the slots."""

    status: str
    problems: dict[str, str]
    queued: int | None
    slots: int


STALE_QUEUE_S = 10.0
"""A scheduler that has not read the queue for this long is reported (the store is stuck)."""


@router.get("/healthz", tags=["service"], operation_id="health")
async def health(request: Request) -> HealthReport:
    """Liveness and health, answered from memory (never waiting for the store or a thread):
    ``degraded`` names what is struggling."""
    manager: JobManager = request.app.state.manager
    problems = manager.health.report()
    read_at = manager.queue_read_at
    if read_at is None or time.monotonic() - read_at > STALE_QUEUE_S:
        age = "never" if read_at is None else f"{time.monotonic() - read_at:.0f} s ago"
        problems["scheduler"] = f"last read the queue {age}"
    return HealthReport(
        status="degraded" if problems else "ok",
        problems=problems,
        queued=manager.queue_length,
        slots=manager.settings.workers,
    )


@router.get("/v1/problems", tags=["problems"], operation_id="list_problems")
def list_problems() -> ProblemList:
    """The problem kinds, their file formats and the backends."""
    return problem_list()


@router.get(
    "/v1/problems/{kind}/schema",
    tags=["problems"],
    operation_id="get_problem_schema",
    response_model=None,
    responses={
        200: {
            "description": "The JSON schema of the kind's instance",
            "content": {
                "application/json": {"schema": {"type": "object", "title": "InstanceSchema"}}
            },
        },
        404: {"model": ErrorBody, "description": "No such problem kind"},
    },
)
def get_problem_schema(kind: str) -> dict[str, Any]:
    """The generated JSON schema of a kind's instance."""
    if kind not in MODELS:
        raise HTTPException(404, f"unknown problem kind {kind!r}")
    return MODELS[kind].json_schema()
