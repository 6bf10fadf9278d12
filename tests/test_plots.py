"""Pictures of every kind, through every interface: the library, the CLI and the REST service.

Kind-specific content (critical path, downtime, capacity line, ...) is tested beside each
kind's plot module in test_plots_scheduling.py and test_plots_allocation.py; this file holds
the behaviour every kind shares. Each picture is kept in test-artifacts/ for people to look at.
"""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import REPO, Service

from makespan.api.client import Client, ConflictError, NotFoundError
from makespan.instances import EXAMPLES, Example
from makespan.models.errors import InstanceError
from makespan.models.jssp.benchmarks import load_named
from makespan.models.plotting import draw_result, plot_format, plot_result
from makespan.models.registry import MODELS
from makespan.solvers import Result, solve

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG = "{http://www.w3.org/2000/svg}"


def svg_texts(picture: bytes) -> str:
    """All text of an SVG picture (text is kept as text), joined by spaces."""
    root = ET.fromstring(picture)
    return " ".join("".join(node.itertext()) for node in root.iter(f"{SVG}text"))


@pytest.fixture(scope="module")
def solved() -> dict[str, tuple[Example, object, Result]]:
    """Every bundled example solved once (2 s each at most)."""
    answers = {}
    for example in EXAMPLES:
        model = MODELS[example.problem]
        instance = model.read_file(example.path, example.format)
        result = solve(example.problem, instance, time_limit_s=2, workers=1)
        answers[example.name] = (example, instance, result)
    return answers


def test_the_catalogue_matches_the_files_and_the_readme() -> None:
    folder = REPO / "instances"
    on_disk = {
        str(path.relative_to(folder))
        for path in folder.rglob("*.*")
        if path.parent != folder and "__pycache__" not in path.parts
    }
    assert on_disk == {example.file for example in EXAMPLES}
    readme = (folder / "README.md").read_text()
    for example in EXAMPLES:
        assert f"`{example.name}`" in readme and f"`{example.file}`" in readme
        assert example.format in MODELS[example.problem].formats
    assert {example.problem for example in EXAMPLES} == set(MODELS)


@pytest.mark.parametrize("name", [example.name for example in EXAMPLES])
def test_every_example_is_drawn_as_svg_and_png(
    name: str, solved: dict[str, tuple[Example, object, Result]], artifacts: Path
) -> None:
    example, instance, result = solved[name]
    model = MODELS[example.problem]
    assert result.solution is not None
    report = model.check(instance, model.parse_solution(result.solution))
    assert report.feasible and report.objective == pytest.approx(result.objective, rel=1e-9)

    svg = plot_result(model, instance, result, "svg", example.name)
    png = plot_result(model, instance, result, "png", example.name)
    (artifacts / f"example-{name}.svg").write_bytes(svg)
    (artifacts / f"example-{name}.png").write_bytes(png)

    assert png.startswith(PNG_SIGNATURE) and len(png) > 5_000
    title = svg_texts(svg)
    assert example.name in title and result.status.value in title
    assert f"{result.objective:,}".split(".")[0] in title.replace("\u2009", "")
    assert plot_result(model, instance, result, "svg", example.name) == svg, "not deterministic"


def test_a_result_without_solution_or_for_another_instance_is_refused(
    solved: dict[str, tuple[Example, object, Result]],
) -> None:
    _, instance, result = solved["ft06"]
    model = MODELS["jssp"]
    with pytest.raises(InstanceError, match="no solution to draw"):
        draw_result(model, instance, result.model_copy(update={"solution": None}))
    _, la01, _ = solved["la01"]
    with pytest.raises(InstanceError, match="does not fit this instance"):
        draw_result(model, la01, result)
    with pytest.raises(InstanceError, match="of problem 'jssp', not 'rcpsp'"):
        draw_result(MODELS["rcpsp"], instance, result)
    with pytest.raises(InstanceError, match=r"use \.svg, \.png, \.pdf"):
        plot_format("gantt.gif")


# --- the CLI --------------------------------------------------------------------------------


def test_cli_solve_plot_and_plot_command(makespan_command: list[str], tmp_path: Path) -> None:
    picture, result_file = tmp_path / "ft06.png", tmp_path / "ft06.json"
    solved = subprocess.run(
        [
            *makespan_command,
            "solve",
            "ft06",
            "--time-limit",
            "10",
            "--plot",
            str(picture),
            "--out",
            str(result_file),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert solved.returncode == 0, solved.stderr
    assert picture.read_bytes().startswith(PNG_SIGNATURE)
    assert f"picture written to {picture}" in solved.stdout

    drawn = subprocess.run(
        [*makespan_command, "plot", str(result_file), "ft06"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert drawn.returncode == 0, drawn.stderr
    svg = result_file.with_suffix(".svg").read_bytes()
    assert "optimal" in svg_texts(svg) and "55" in svg_texts(svg)

    # A job document from GET /v1/jobs/{id} is accepted as well as a bare Result.
    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps({"id": "x", "result": json.loads(result_file.read_text())}))
    as_pdf = tmp_path / "job.pdf"
    drawn = subprocess.run(
        [*makespan_command, "plot", str(job_file), "ft06", "--out", str(as_pdf)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert drawn.returncode == 0, drawn.stderr
    assert as_pdf.read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["solve", "ft06", "--plot", "gantt.gif"], "use .svg, .png, .pdf"),
        (["plot", "{result}", "la01"], "does not fit this instance"),
        (["plot", "{broken}", "ft06"], "{broken}:1: invalid JSON"),
        (["plot", "{not_result}", "ft06"], "not a Result: status"),
    ],
)
def test_cli_plot_errors_exit_2_naming_the_problem(
    arguments: list[str], expected: str, makespan_command: list[str], tmp_path: Path
) -> None:
    files = {
        "result": tmp_path / "result.json",
        "broken": tmp_path / "broken.json",
        "not_result": tmp_path / "other.json",
    }
    ft06 = solve("jssp", load_named("ft06"), time_limit_s=5)
    files["result"].write_text(ft06.to_json())
    files["broken"].write_text("{nope")
    files["not_result"].write_text(json.dumps({"problem": "jssp"}))
    named = {key: str(path) for key, path in files.items()}
    command = [part.format(**named) for part in arguments]
    run = subprocess.run(
        [*makespan_command, *command], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert run.returncode == 2, run.stdout
    assert expected.format(**named) in run.stderr
    assert "Traceback" not in run.stderr


# --- the REST service and the SDK -----------------------------------------------------------


@pytest.fixture(scope="module")
def service(
    makespan_command: list[str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """One server for this module's tests."""
    server = Service(
        makespan_command,
        tmp_path_factory.mktemp("plots") / "jobs.sqlite3",
        {"MAKESPAN_WORKERS": "2"},
    )
    server.start()
    yield server
    server.stop()


def test_plot_of_a_finished_job_in_every_format(service: Service, artifacts: Path) -> None:
    with Client(service.url) as client:
        example = client.example("rcpsp_features")
        job = client.submit(
            "rcpsp", instance_text=example["text"], format=example["format"], time_limit_s=10
        )
        result = job.wait(timeout=60)
        assert result.status == "optimal"
        svg = job.plot("svg")
        assert "optimal" in svg_texts(svg) and "features" in svg_texts(svg)
        assert job.plot("png").startswith(PNG_SIGNATURE)
        assert job.plot("pdf").startswith(b"%PDF")
    (artifacts / "service-rcpsp_features.svg").write_bytes(svg)
    response = httpx.get(f"{service.url}/v1/jobs/{job.id}/plot.svg")
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.content == svg


def test_plot_errors_are_4xx_with_a_message(service: Service) -> None:
    with Client(service.url) as client:
        running = client.submit("jssp", load_named("ta41"), time_limit_s=60)
        with pytest.raises(ConflictError, match="no result yet"):
            running.plot()
        running.cancel()
        running.wait(timeout=60)
        assert running.plot().startswith(b"<?xml")  # the cancelled job's incumbent

        too_few = {
            "gpu_types": [
                {"name": "L4", "cost_per_hour": 1.0, "throughput": [[1.0]], "max_count": 1}
            ],
            "workload": [[1.0]],
            "total_request_rate": 5.0,
            "slice_factor": 1,
        }
        infeasible = client.submit("gpu_packing", too_few, time_limit_s=5)
        assert infeasible.wait(timeout=60).status == "infeasible"
        with pytest.raises(ConflictError, match="no solution"):
            infeasible.plot()
        with pytest.raises(NotFoundError):
            client.job("nope").plot()
    bad_format = httpx.get(f"{service.url}/v1/jobs/{running.id}/plot.gif")
    assert bad_format.status_code == 422 and "fmt" in bad_format.json()["field"]


def test_examples_endpoint_serves_every_bundled_file(service: Service) -> None:
    with Client(service.url) as client:
        listed = client.examples()
        assert [e["name"] for e in listed] == [e.name for e in EXAMPLES]
        for example in EXAMPLES:
            assert client.example(example.name)["text"] == example.text()
        with pytest.raises(NotFoundError, match="known: ft06"):
            client.example("nope")


def test_the_page_and_its_files_are_served(service: Service) -> None:
    page = httpx.get(service.url + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for asset in ("/static/app.js", "/static/style.css"):
        response = httpx.get(service.url + asset)
        assert response.status_code == 200 and len(response.content) > 1000
    # Offline: the page loads nothing from another host.
    docs = httpx.get(service.url + "/docs").text
    for text in (page.text, httpx.get(service.url + "/static/app.js").text, docs):
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in text
