"""What people look at: the web page at ``/``, the bundled examples it offers, and pictures of
a job's solution (``GET /v1/jobs/{id}/plot.svg``).

The page is static files shipped inside the package (``api/static``), with no CDN or build step,
so it works on a machine with no internet. It talks to the same public REST API as everyone else.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Response
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from makespan.api.jobs import JobManager
from makespan.instances import EXAMPLES, get_example
from makespan.models.plotting import MEDIA_TYPES, plot_result
from makespan.models.registry import MODELS
from makespan.solvers.result import Result

STATIC = Path(str(files("makespan.api").joinpath("static")))
"""The web page's files, installed with the package."""

_RENDERING = threading.Lock()
"""One picture at a time: rendering is CPU-bound under the GIL anyway, and matplotlib's font
cache and text layout are shared by every figure."""


class ExampleSummary(BaseModel):
    """A bundled example instance, as ``GET /v1/examples`` lists it."""

    name: str
    problem: str
    format: str
    description: str


class ExampleDocument(ExampleSummary):
    """A bundled example with its file text, ready to post as ``instance_text``."""

    text: str


def add_web_routes(app: FastAPI, manager: Callable[[], JobManager], guarded: list[Any]) -> None:
    """Add the page, the examples and the plot routes to ``app``."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        """The web page: submit an instance, watch it converge, see its picture."""
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/v1/examples", tags=["problems"], dependencies=guarded)
    def examples() -> list[ExampleSummary]:
        """The bundled example instances of every kind."""
        return [ExampleSummary.model_validate(e, from_attributes=True) for e in EXAMPLES]

    @app.get("/v1/examples/{name}", tags=["problems"], dependencies=guarded)
    def example(name: str) -> ExampleDocument:
        """One bundled example with its file text."""
        found = get_example(name)
        if found is None:
            known = ", ".join(e.name for e in EXAMPLES)
            raise HTTPException(404, f"no example {name!r}; known: {known}")
        return ExampleDocument(
            name=found.name,
            problem=found.problem,
            format=found.format,
            description=found.description,
            text=found.text(),
        )

    @app.get(
        "/v1/jobs/{job_id}/plot.{fmt}",
        tags=["jobs"],
        dependencies=guarded,
        response_class=Response,
        responses={
            200: {
                "content": {media: {} for media in MEDIA_TYPES.values()},
                "description": "The picture of the job's solution",
            },
            409: {"description": "The job has no solution to draw (yet)"},
        },
    )
    def job_plot(job_id: str, fmt: Literal["svg", "png", "pdf"]) -> Response:
        """The picture of a finished job's solution (Gantt chart, memory map, placement or
        fleet), titled with its status, objective, bound and gap."""
        jobs = manager()
        record = jobs.store.get(job_id)
        if record is None:
            raise HTTPException(404, f"no job {job_id!r}")
        if record.result is None:
            raise HTTPException(409, f"job {job_id} is {record.status.value}: no result yet")
        result = Result.model_validate(record.result)
        if result.solution is None:
            raise HTTPException(409, f"job {job_id} has no solution ({result.status.value})")
        model = MODELS[record.problem]
        instance = model.parse_instance(json.loads(jobs.store.instance(job_id)))
        with _RENDERING:
            picture = plot_result(model, instance, result, fmt, _name(instance))
        return Response(
            picture,
            media_type=MEDIA_TYPES[fmt],
            headers={"Cache-Control": "private, max-age=86400, immutable"},
        )


def _name(instance: Any) -> str | None:
    name = getattr(instance, "name", None)
    return name if isinstance(name, str) else None
