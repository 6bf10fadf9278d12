"""A client generated from the running server's ``/openapi.json`` with openapi-python-client
(the usual way a user in any language gets one) works as generated: every operation, for every
kind, against a real server on loopback, through the generated functions and models alone.

The document must say which schema an answer has (a job's result is a union of the kinds'
results told apart by ``problem``) for the generated parsers to accept every answer.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Service, module_service

from makespan.models.registry import MODELS

service = module_service("generated-client", workers="2")
"""One server for the module: the client is generated from its document."""

PACKAGE = "makespan_generated_client"
"""The generated client's package name (a temporary folder on ``sys.path``)."""


class Generated:
    """The generated package: its ``models``, its ``api`` modules, and a client on ``url``."""

    def __init__(self, folder: Path, url: str) -> None:
        sys.path.insert(0, str(folder))
        self.package = importlib.import_module(PACKAGE)
        self.models = importlib.import_module(f"{PACKAGE}.models")
        self.client = self.package.Client(base_url=url, timeout=httpx.Timeout(60.0))

    def call(self, tag: str, operation: str, *args: Any, **kwargs: Any) -> Any:
        """``operation`` of ``tag``'s module, parsed (``sync``), with the client."""
        module = importlib.import_module(f"{PACKAGE}.api.{tag}.{operation}")
        return module.sync(*args, client=self.client, **kwargs)

    def detailed(self, tag: str, operation: str, *args: Any, **kwargs: Any) -> Any:
        """``operation`` with its status, headers and body (``sync_detailed``)."""
        module = importlib.import_module(f"{PACKAGE}.api.{tag}.{operation}")
        return module.sync_detailed(*args, client=self.client, **kwargs)

    def model(self, name: str) -> Any:
        """A generated model class, by its schema's name."""
        return getattr(self.models, name)


@pytest.fixture(scope="module")
def generated(service: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generated]:
    folder = tmp_path_factory.mktemp("client")
    document = folder / "openapi.json"
    document.write_bytes(httpx.get(f"{service.url}/openapi.json", timeout=30).content)
    config = folder / "config.json"
    config.write_text('{"post_hooks": []}')
    generator = Path(sys.executable).with_name("openapi-python-client")
    command = [str(generator), "generate", "--path", str(document), "--meta", "none"]
    command += ["--output-path", str(folder / PACKAGE), "--config", str(config)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Warning" not in run.stdout, run.stdout  # every operation generated whole
    yield Generated(folder, service.url)
    sys.path.remove(str(folder))
    for name in [m for m in sys.modules if m.split(".")[0] == PACKAGE]:
        del sys.modules[name]


def _camel(kind: str) -> str:
    return kind.title().replace("_", "")


def _example(generated: Generated, kind: str) -> Any:
    summaries = generated.call("problems", "list_examples")
    name = next(summary.name for summary in summaries if summary.problem == kind)
    document = generated.call("problems", "get_example", name)
    assert document.problem == kind and document.text
    return document


def _request(generated: Generated, kind: str, time_limit_s: float = 5.0) -> Any:
    example = _example(generated, kind)
    options = generated.model("SolveOptions")(time_limit_s=time_limit_s, workers=1)
    request_type = generated.model(f"{_camel(kind)}JobRequest")
    return request_type(
        problem=kind, instance_text=example.text, format_=example.format_, options=options
    )


def test_the_service_operations(generated: Generated) -> None:
    health = generated.call("service", "health")
    assert health.status in {"ok", "degraded"} and health.slots == 2
    problems = generated.call("problems", "list_problems")
    assert isinstance(problems, generated.model("ProblemList"))
    assert sorted(p.kind for p in problems.problems) == sorted(MODELS)
    assert "cpsat" in problems.backends
    for kind in MODELS:
        schema = generated.call("problems", "get_problem_schema", kind)
        assert "properties" in schema.to_dict(), kind
    missing = generated.call("problems", "get_problem_schema", "no_such_kind")
    assert isinstance(missing, generated.model("ErrorBody"))
    examples = generated.call("problems", "list_examples")
    assert {summary.problem for summary in examples} == set(MODELS)
    unknown = generated.call("problems", "get_example", "no_such_example")
    assert isinstance(unknown, generated.model("ErrorBody"))


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_every_job_operation_for_every_kind(generated: Generated, kind: str) -> None:
    result_type = generated.model(f"{_camel(kind)}Result")
    solution_type = generated.model(MODELS[kind].solution_type.__name__)
    done = generated.model("JobStatus")("done")

    accepted = generated.call("jobs", "submit_job", body=_request(generated, kind))
    assert isinstance(accepted, generated.model("JobAccepted")), accepted
    events = generated.call("jobs", "get_job_events", accepted.id)
    assert "event: done" in events
    job = generated.call("jobs", "get_job", accepted.id)
    assert job.status == done and job.problem == kind
    assert isinstance(job.result, result_type), job.result
    assert isinstance(job.result.solution, solution_type)

    solved = generated.call("jobs", "solve", body=_request(generated, kind))
    assert isinstance(solved, result_type), solved
    assert isinstance(solved.solution, solution_type)
    _assert_checked(generated, kind, solved)

    listed = generated.call("jobs", "list_jobs", limit=100)
    assert accepted.id in {summary.id for summary in listed}
    picture = generated.call(
        "jobs", "get_job_plot", accepted.id, generated.model("PictureFormat").SVG
    )
    assert b"<svg" in picture.payload.read()

    purged = generated.call("jobs", "cancel_job", accepted.id, purge=True)
    assert isinstance(purged, generated.model("JobDocument")) and purged.id == accepted.id
    gone = generated.call("jobs", "get_job", accepted.id)
    assert isinstance(gone, generated.model("ErrorBody"))


def _assert_checked(generated: Generated, kind: str, solved: Any) -> None:
    example = _example(generated, kind)
    request = generated.model("CheckRequest")(
        problem=generated.model("CheckRequestProblem")(kind),
        instance_text=example.text,
        format_=example.format_,
        solution=solved.solution,
    )
    report = generated.call("jobs", "check", body=request)
    assert isinstance(report, generated.model("CheckResult")), report
    assert report.feasible and report.objective == solved.objective


def test_cancel_through_the_generated_client(generated: Generated) -> None:
    accepted = generated.call("jobs", "submit_job", body=_request(generated, "jssp", 60.0))
    cancelled = generated.call("jobs", "cancel_job", accepted.id)
    assert isinstance(cancelled, generated.model("JobDocument"))
    generated.call("jobs", "get_job_events", accepted.id)  # returns when the job has ended
    final = generated.call("jobs", "get_job", accepted.id)
    assert final.status.value in {"cancelled", "done"}
    unknown = generated.call("jobs", "cancel_job", "no-such-job")
    assert isinstance(unknown, generated.model("ErrorBody"))


def test_a_picture_as_plain_bytes(generated: Generated, service: Service) -> None:
    accepted = generated.call("jobs", "submit_job", body=_request(generated, "jssp"))
    generated.call("jobs", "get_job_events", accepted.id)
    url = f"{service.url}/v1/jobs/{accepted.id}/plot.svg"
    as_bytes = httpx.get(url, headers={"Accept": "application/octet-stream"}, timeout=60)
    assert as_bytes.headers["content-type"] == "application/octet-stream"
    as_image = httpx.get(url, timeout=60)
    assert as_image.headers["content-type"].startswith("image/svg+xml")
    assert as_bytes.content == as_image.content
