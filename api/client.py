"""The Python SDK for the makespan service (httpx).

>>> from makespan.api.client import Client
>>> with Client("http://127.0.0.1:8000") as client:                 # doctest: +SKIP
...     job = client.submit("jssp", instance_text=open("ft06.txt").read(), time_limit_s=5)
...     for event in job.events():
...         print(event.kind, event.data)
...     result = job.wait()

Server errors arrive as typed exceptions carrying the server's message and the field at fault.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel

from makespan.solvers.options import KILL_GRACE_S
from makespan.solvers.result import CheckResult, Result

FINAL_STATUSES = frozenset({"done", "failed", "cancelled"})


class MakespanError(Exception):
    """An error answer from the service: ``status_code``, ``message``, ``field``, ``body``."""

    def __init__(self, status_code: int, body: dict[str, Any]) -> None:
        self.status_code = status_code
        self.body = body
        self.message = str(body.get("message", body))
        self.field: str | None = body.get("field")
        self.line: int | None = body.get("line")
        super().__init__(f"{status_code}: {self.message}")


class BadRequestError(MakespanError):
    """400 or 422: the request or its instance is invalid (``field`` names what)."""


class AuthenticationError(MakespanError):
    """401: the API key is missing or wrong."""


class NotFoundError(MakespanError):
    """404: no such job or problem kind."""


class PayloadTooLargeError(MakespanError):
    """413: the body is over the service's limit."""


class QueueFullError(MakespanError):
    """429: the queue is full; ``retry_after`` seconds is the server's hint."""

    @property
    def retry_after(self) -> float | None:
        """The Retry-After the server sent, in seconds."""
        value = self.body.get("retry_after")
        return None if value is None else float(value)


class ConflictError(MakespanError):
    """409: the job is not in a state that allows the request (no solution to draw yet)."""


class ServerError(MakespanError):
    """5xx: the service failed."""


class JobFailedError(RuntimeError):
    """The job ended ``failed`` (or ``cancelled`` before any solution)."""

    def __init__(self, job: dict[str, Any]) -> None:
        self.job = job
        error = job.get("error") or {}
        super().__init__(f"job {job['id']} {job['status']}: {error.get('message', 'no result')}")


_ERRORS: dict[int, type[MakespanError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: BadRequestError,
    429: QueueFullError,
}


@dataclass(frozen=True)
class Event:
    """One server-sent event of a job: ``status``, ``incumbent`` or ``done``."""

    kind: str
    data: Any


class Client:
    """A connection to a makespan service."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def submit(
        self,
        problem: str,
        instance: BaseModel | dict[str, Any] | None = None,
        *,
        instance_text: str | None = None,
        format: str | None = None,
        **options: Any,
    ) -> Job:
        """Queue a solve; ``options`` as in the REST body (time_limit_s, backend, workers, seed)."""
        body = _body(problem, instance, instance_text, format, options)
        answer = self._request("POST", "/v1/jobs", json=body)
        return Job(self, answer["id"])

    def solve(
        self,
        problem: str,
        instance: BaseModel | dict[str, Any] | None = None,
        *,
        instance_text: str | None = None,
        format: str | None = None,
        **options: Any,
    ) -> Result:
        """Solve and wait for the Result (``POST /v1/solve``)."""
        body = _body(problem, instance, instance_text, format, options)
        # Without a time limit of its own the job gets the service's default, unknown here.
        limit = options.get("time_limit_s")
        timeout: httpx.Timeout | float = (
            httpx.Timeout(30.0, read=None) if limit is None else float(limit) + KILL_GRACE_S + 60.0
        )
        answer = self._request("POST", "/v1/solve", json=body, timeout=timeout)
        return Result.model_validate(answer)

    def check(
        self,
        problem: str,
        instance: BaseModel | dict[str, Any] | None = None,
        *,
        solution: BaseModel | dict[str, Any],
        instance_text: str | None = None,
        format: str | None = None,
    ) -> CheckResult:
        """Check ``solution`` against the instance with the kind's checker (``POST /v1/check``):
        feasibility, the objective recomputed, and every violation."""
        body = _body(problem, instance, instance_text, format, {})
        del body["options"]
        body["solution"] = (
            solution.model_dump(mode="json") if isinstance(solution, BaseModel) else solution
        )
        return CheckResult.model_validate(self._request("POST", "/v1/check", json=body))

    def job(self, job_id: str) -> Job:
        """A handle on an existing job."""
        return Job(self, job_id)

    def jobs(self, limit: int = 50, status: str | None = None) -> list[dict[str, Any]]:
        """Recent jobs, newest first."""
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        jobs: list[dict[str, Any]] = self._request("GET", "/v1/jobs", params=params)
        return jobs

    def problems(self) -> dict[str, Any]:
        """The kinds, formats and backends the service offers."""
        problems: dict[str, Any] = self._request("GET", "/v1/problems")
        return problems

    def schema(self, kind: str) -> dict[str, Any]:
        """The JSON schema of a kind's instance."""
        schema: dict[str, Any] = self._request("GET", f"/v1/problems/{kind}/schema")
        return schema

    def examples(self) -> list[dict[str, Any]]:
        """The bundled example instances (name, problem, format, description)."""
        examples: list[dict[str, Any]] = self._request("GET", "/v1/examples")
        return examples

    def example(self, name: str) -> dict[str, Any]:
        """One bundled example with its file ``text``, ready to pass as ``instance_text``."""
        example: dict[str, Any] = self._request("GET", f"/v1/examples/{name}")
        return example

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        _raise_for_error(response)
        return response.json()

    def _stream_events(self, path: str) -> Iterator[Event]:
        with self._http.stream("GET", path, timeout=httpx.Timeout(30.0, read=None)) as response:
            if response.is_error:
                response.read()
                _raise_for_error(response)
            yield from _parse_sse(response.iter_lines())


class Job:
    """A submitted job."""

    def __init__(self, client: Client, job_id: str) -> None:
        self.client = client
        self.id = job_id

    def __repr__(self) -> str:
        return f"Job({self.id!r})"

    def document(self) -> dict[str, Any]:
        """The whole job document (status, times, options, result, error)."""
        document: dict[str, Any] = self.client._request("GET", f"/v1/jobs/{self.id}")
        return document

    def status(self) -> str:
        """``queued``, ``running``, ``done``, ``failed`` or ``cancelled``."""
        return str(self.document()["status"])

    def wait(self, timeout: float | None = None, poll_s: float = 0.2) -> Result:
        """Block until the job ends; its Result (a cancelled job's best incumbent included).

        Raises:
            TimeoutError: the job did not end within ``timeout`` seconds.
            JobFailedError: the job failed, or was cancelled before any solution.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            document = self.document()
            if document["status"] in FINAL_STATUSES:
                if document["result"] is None:
                    raise JobFailedError(document)
                return Result.model_validate(document["result"])
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {self.id} still {document['status']} after {timeout} s")
            time.sleep(poll_s)

    def events(self) -> Iterator[Event]:
        """The job's server-sent events, ending with ``done``."""
        for event in self.client._stream_events(f"/v1/jobs/{self.id}/events"):
            yield event
            if event.kind == "done":
                return

    def plot(self, format: str = "svg") -> bytes:
        """The picture of the finished job's solution: ``svg``, ``png`` or ``pdf`` bytes.

        Raises:
            ConflictError: the job has no solution (yet).
        """
        response = self.client._http.get(f"/v1/jobs/{self.id}/plot.{format}")
        _raise_for_error(response)
        return response.content

    def cancel(self) -> dict[str, Any]:
        """Cancel the job; a running job stops and keeps its best incumbent."""
        document: dict[str, Any] = self.client._request("DELETE", f"/v1/jobs/{self.id}")
        return document


def _body(
    problem: str,
    instance: BaseModel | dict[str, Any] | None,
    instance_text: str | None,
    format: str | None,
    options: dict[str, Any],
) -> dict[str, Any]:
    body: dict[str, Any] = {"problem": problem, "options": options}
    if isinstance(instance, BaseModel):
        body["instance"] = instance.model_dump(mode="json", exclude_none=True)
    elif instance is not None:
        body["instance"] = instance
    if instance_text is not None:
        body["instance_text"] = instance_text
    if format is not None:
        body["format"] = format
    return body


def _raise_for_error(response: httpx.Response) -> None:
    if not response.is_error:
        return
    try:
        body = response.json()
    except ValueError:
        body = {"message": response.text or response.reason_phrase}
    if not isinstance(body, dict):
        body = {"message": str(body)}
    if "Retry-After" in response.headers:
        body.setdefault("retry_after", response.headers["Retry-After"])
    error_type = _ERRORS.get(response.status_code)
    if error_type is None:
        error_type = ServerError if response.status_code >= 500 else MakespanError
    raise error_type(response.status_code, body)


def _parse_sse(lines: Iterator[str]) -> Iterator[Event]:
    kind, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                yield Event(kind, json.loads("\n".join(data)))
            kind, data = "message", list[str]()
        elif line.startswith(":"):
            continue  # keep-alive comment
        elif line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
