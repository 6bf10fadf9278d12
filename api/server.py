"""The REST service: the app, its life cycle, and the routers it is assembled from.

Every request passes the front door first (host check, API key, body limit:
:mod:`makespan.api.frontdoor`); the routes are thin (validate, store, enqueue, answer):
:mod:`~makespan.api.job_routes`, :mod:`~makespan.api.problem_routes` and the page and
pictures in :mod:`~makespan.api.web`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from makespan.api import job_routes, problem_routes
from makespan.api.errors import ERROR_RESPONSES, install_error_handlers
from makespan.api.executor import Executor
from makespan.api.executors import make_executor
from makespan.api.frontdoor import FrontDoor
from makespan.api.health import Health
from makespan.api.job_routes import SOLUTION_SCHEMAS, job_result_schema
from makespan.api.jobs import JobManager
from makespan.api.pictures import PictureRenderer
from makespan.api.requests import job_request_schema
from makespan.api.settings import Settings
from makespan.api.store import JobStore
from makespan.api.web import add_web_routes
from makespan.models.registry import MODELS

log = logging.getLogger("makespan.api")

PARSE_CONCURRENCY = 2
"""Request bodies parsed at once: bounds the memory that large instances take while they are
validated (each waits its turn off the event loop)."""


def create_app(settings: Settings | None = None, executor: Executor | None = None) -> FastAPI:
    """The service, with its job manager started for the app's lifetime."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        health = Health()
        store = JobStore(settings.db, health, lease_s=settings.lease_s)
        chosen = executor or make_executor(
            settings.executor,
            settings.job_folders,
            settings.kill_grace_s,
            num_cpus=settings.workers,
            health=health,
        )
        manager = JobManager(settings, store, chosen, health)
        recovery = manager.start()
        log.info(
            "job store %s: %d jobs requeued, %d ended",
            store.url,
            len(recovery.requeued),
            len(recovery.finished),
        )
        app.state.manager = manager
        app.state.parse_limiter = anyio.CapacityLimiter(PARSE_CONCURRENCY)
        app.state.renderer = PictureRenderer()
        try:
            yield
        finally:
            app.state.renderer.shutdown()
            manager.shutdown()
            store.close()

    # FastAPIOffline: /docs and /redoc from packaged files, not a CDN, so they work offline.
    app = FastAPIOffline(
        title="makespan",
        version=_version(),
        summary="Constraint-programming and MILP solver service for scheduling and allocation.",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    app.add_middleware(
        FrontDoor,
        allowed_hosts=settings.host_allowlist,
        api_key=settings.api_key,
        max_body_bytes=settings.max_body_bytes,
    )
    app.state.closing = threading.Event()
    """Set when the server begins to shut down, so that waiting requests answer at once."""
    install_error_handlers(app)
    app.include_router(problem_routes.router)
    app.include_router(job_routes.router)
    add_web_routes(app)
    app.openapi = _openapi_with_job_request(app.openapi)  # type: ignore[method-assign]
    return app


def serve(app: FastAPI, host: str, port: int) -> None:
    """Run ``app`` with uvicorn until SIGINT or SIGTERM; requests that wait for a solve answer
    503 naming their job as soon as the shutdown begins (the job itself is kept)."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            app.state.closing.set()
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        app, host=host, port=port, log_level="info", timeout_graceful_shutdown=15
    )
    Server(config).run()


def _openapi_with_job_request(
    generate: Callable[[], dict[str, Any]],
) -> Callable[[], dict[str, Any]]:
    """The OpenAPI document with the job request schemas that the routes reference (they read
    their bodies raw, so FastAPI does not derive them)."""
    cache: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        if not cache:
            document = generate()
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            request, definitions = job_request_schema()
            result, result_definitions = job_result_schema()
            for name, definition in {
                **definitions,
                **solution_schemas(),
                **result_definitions,
            }.items():
                schemas.setdefault(name, definition)
            schemas["JobRequest"] = request
            schemas["JobResult"] = result  # the per-kind union in place of the untyped class
            schemas["CheckRequest"] = check_request_schema()
            cache.append(document)
        return cache[0]

    return openapi


def check_request_schema() -> dict[str, Any]:
    """``POST /v1/check``'s body: a job request's problem and instance, and a solution."""
    solutions = [{"$ref": f"#/components/schemas/{name}"} for name in SOLUTION_SCHEMAS]
    return {
        "title": "CheckRequest",
        "type": "object",
        "required": ["problem", "solution"],
        "properties": {
            "problem": {"type": "string", "enum": sorted(MODELS)},
            "instance": {"type": "object", "description": "The instance (the kind's schema)."},
            "instance_text": {"type": "string", "description": "Or the instance as file text."},
            "format": {"type": "string", "description": "The file format of instance_text."},
            "solution": {"anyOf": solutions, "description": "The solution to check."},
        },
        "additionalProperties": False,
    }


def solution_schemas() -> dict[str, Any]:
    """The JSON schemas of every kind's solution type (and what they reference), for the
    components of the OpenAPI document."""
    schemas: dict[str, Any] = {}
    for name, solution_type in SOLUTION_SCHEMAS.items():
        schema = solution_type.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema
    return schemas


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("makespan")
    except PackageNotFoundError:
        return "0"
