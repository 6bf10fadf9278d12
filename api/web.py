"""What people look at: the web page at ``/``, the bundled examples it offers, and pictures of
a job's solution (``GET /v1/jobs/{id}/plot.svg``).

The page is static files shipped inside the package (``api/static``), with no CDN or build step,
so it works on a machine with no internet. It talks to the same public REST API as everyone else.
"""

from __future__ import annotations

from enum import StrEnum
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from makespan.api.errors import ErrorBody
from makespan.api.job_routes import Manager, record_or_404
from makespan.api.pictures import PictureRenderer
from makespan.instances import EXAMPLES, get_example
from makespan.models.plotting import MEDIA_TYPES, PlotFormat

STATIC = Path(str(files("makespan.api").joinpath("static")))
"""The web page's files, installed with the package."""


class PictureFormat(StrEnum):
    """The file formats of a job's picture."""

    SVG = "svg"
    PNG = "png"
    PDF = "pdf"


DOWNLOAD = "application/octet-stream"
"""The media type a picture is sent as to a client that accepts only bytes (generated
clients read binary bodies of this type; image types they do not know)."""


def _picture_media_type(kind: PlotFormat, accept: str) -> str:
    accepted = {part.split(";")[0].strip() for part in accept.split(",")}
    return DOWNLOAD if accepted == {DOWNLOAD} else MEDIA_TYPES[kind]


class ExampleSummary(BaseModel):
    """A bundled example instance, as ``GET /v1/examples`` lists it."""

    name: str
    problem: str
    format: str
    description: str


class ExampleDocument(ExampleSummary):
    """A bundled example with its file text, ready to post as ``instance_text``."""

    text: str


def add_web_routes(app: FastAPI) -> None:
    """Add the page, the examples and the plot routes to ``app``."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        """The web page: submit an instance, watch it converge, see its picture."""
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/v1/examples", tags=["problems"], operation_id="list_examples")
    def list_examples() -> list[ExampleSummary]:
        """The bundled example instances of every kind."""
        return [ExampleSummary.model_validate(e, from_attributes=True) for e in EXAMPLES]

    @app.get(
        "/v1/examples/{name}",
        tags=["problems"],
        operation_id="get_example",
        responses={404: {"model": ErrorBody, "description": "No such example"}},
    )
    def example_document(name: str) -> ExampleDocument:
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
        operation_id="get_job_plot",
        response_class=Response,
        responses={
            200: {
                "content": {
                    media: {"schema": {"type": "string", "format": "binary"}}
                    for media in (*MEDIA_TYPES.values(), DOWNLOAD)
                },
                "description": "The picture of the job's solution, in the format's media type "
                f"(or as {DOWNLOAD} when the request accepts only that)",
            },
            404: {"model": ErrorBody, "description": "No job with this id"},
            409: {"model": ErrorBody, "description": "The job has no solution to draw (yet)"},
            503: {"model": ErrorBody, "description": "Pictures busy; see Retry-After"},
        },
    )
    def get_job_plot(job_id: str, fmt: PictureFormat, jobs: Manager, request: Request) -> Response:
        """The picture of a finished job's solution (Gantt chart, memory map, placement or
        fleet), titled with its status, objective, bound and gap."""
        record = record_or_404(jobs, job_id)
        if record.result is None:
            raise HTTPException(409, f"job {job_id} is {record.status.value}: no result yet")
        if record.result.get("solution") is None:
            status = record.result.get("status")
            raise HTTPException(409, f"job {job_id} has no solution ({status})")
        renderer: PictureRenderer = request.app.state.renderer
        kind: PlotFormat = fmt.value
        picture = renderer.picture(
            job_id, record.problem, jobs.store.instance(job_id), record.result, kind
        )
        return Response(
            picture,
            media_type=_picture_media_type(kind, request.headers.get("accept", "")),
            headers={"Cache-Control": "private, max-age=86400, immutable"},
        )
