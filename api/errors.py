"""Error answers: one JSON body shape for every 4xx, and the handlers that produce it.

Bad input never gets a 500: validation errors are 422 naming the field (or the file line),
oversize bodies and instances 413 naming the limit, a full queue 429 with ``Retry-After``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from makespan.api.store import StoreUnavailableError
from makespan.models.errors import InstanceError
from makespan.models.registry import MODELS
from makespan.solvers.options import OptionsError


class ErrorBody(BaseModel):
    """Every 4xx body: a message, and the field or file line at fault when there is one."""

    message: str
    field: str | None = None
    line: int | None = None
    detail: Any = None


class TooLargeError(Exception):
    """A request over one of the service's size limits (413); ``field`` names what."""

    def __init__(self, message: str, field: str | None = None) -> None:
        self.message = message
        self.field = field
        super().__init__(message)


class QueueFullError(RuntimeError):
    """The queue holds ``max_queue`` jobs already; try again later (429)."""


class BusyError(RuntimeError):
    """A bounded resource (the picture renderers) is busy; try again shortly (503)."""


RETRY_AFTER_S = 5
"""What ``Retry-After`` says on a 429 or 503."""


def error_response(
    status: int, message: str, *, headers: Mapping[str, str] | None = None, **fields: Any
) -> JSONResponse:
    """A JSON error answer in the :class:`ErrorBody` shape."""
    body = ErrorBody(message=message, **fields).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "API key missing or wrong"},
    413: {"model": ErrorBody, "description": "Body or instance over the configured limit"},
    422: {"model": ErrorBody, "description": "Invalid request; names the field"},
}
"""The error answers every route may give."""


def install_error_handlers(app: FastAPI) -> None:
    """Map the project's exceptions to JSON error answers."""

    @app.exception_handler(RequestValidationError)
    async def validation(_: Request, error: RequestValidationError) -> JSONResponse:
        errors = error.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        field, text = field_and_message(first)
        message = f"{field}: {text}" if field else text
        detail = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in errors[:20]
        ]
        return error_response(422, message, field=field, detail=detail)

    @app.exception_handler(InstanceError)
    async def instance_error(_: Request, error: InstanceError) -> JSONResponse:
        field = error.field or ("instance_text" if error.line is not None else "instance")
        return error_response(422, str(error), field=field, line=error.line)

    @app.exception_handler(OptionsError)
    async def options_error(_: Request, error: OptionsError) -> JSONResponse:
        field = error.field if error.field.startswith("options") else f"options.{error.field}"
        return error_response(422, str(error), field=field)

    @app.exception_handler(TooLargeError)
    async def too_large(_: Request, error: TooLargeError) -> JSONResponse:
        return error_response(413, error.message, field=error.field)

    @app.exception_handler(QueueFullError)
    async def queue_full(_: Request, error: QueueFullError) -> JSONResponse:
        return error_response(429, str(error), headers={"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(BusyError)
    async def busy(_: Request, error: BusyError) -> JSONResponse:
        return error_response(503, str(error), headers={"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(StoreUnavailableError)
    async def store_unavailable(_: Request, error: StoreUnavailableError) -> JSONResponse:
        return error_response(503, str(error), headers={"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        return error_response(error.status_code, str(error.detail), headers=error.headers)


_EMBEDDED_PATH = re.compile(r"^(?:Value error, )?([A-Za-z_]\w*(?:\.\w+)+): (.+)$", re.DOTALL)


def field_and_message(error: dict[str, Any]) -> tuple[str | None, str]:
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
