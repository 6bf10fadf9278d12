"""Fuzz the REST API of a real ``makespan serve``: generated cases, hostile hand cases, oversize.

Three parts, each against its own server on a free loopback port (SQLite file and log in
``--out``):

1. generated: schemathesis (v4) over every operation of ``/openapi.json`` with the phases
   examples, coverage, fuzzing and stateful and the check ``not_a_server_error``, on a server
   with small limits (1 s solves, 1 slot, 64 KiB bodies) so that generated solves end fast.
   ``GET /v1/jobs/{id}/events`` is included: it streams until its job ends, which takes at
   most the 1 s limit plus the queue, well within ``--request-timeout``;
2. hand cases sent with httpx (deep nesting, huge numbers, NaN, bad auth headers, a chunked
   body over the limit, ...), each with the status codes it must get;
3. per kind, one instance just over its default size limit and one filling a 15.5 MiB body
   (the most a client can send under the default 16 MiB limit), against a server with
   default settings: the status, the request's wall time, the server's memory growth
   (VmHWM reset before, and VmRSS a second after the answer, from /proc) and the latency of
   a ``GET /healthz`` sent 50 ms into the request.

``--cases`` is spread over the operations as schemathesis' ``--max-examples``; its coverage
phase adds its own deterministic cases on top, so the total tried is higher.

Exit code 1 when any request got a 5xx or an oversize instance was not refused with 413.

    python bench/fuzz.py --cases 2000 --out /tmp/fuzz
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from common import start_server

SMALL_LIMITS = {
    "MAKESPAN_MAX_TIME_LIMIT_S": "1",
    "MAKESPAN_WORKERS": "1",
    "MAKESPAN_MAX_BODY_BYTES": "65536",
    "MAKESPAN_MAX_QUEUE": "100000",
}
"""The generated-case server: every accepted solve ends within 1 s."""

DEFAULT_SIZE_LIMITS = {
    "jssp": 250_000,
    "rcpsp": 100_000,
    "memory_mapping": 200_000,
    "expert_placement": 2_000_000,
    "gpu_packing": 100_000,
}
"""The kinds' default instance limits (operations, activities, buffers, expert-GPU pairs,
slices), as documented; the oversize part builds one instance just above each."""

JSON_TYPE = (b"content-type", b"application/json")
ACAO = "access-control-allow-origin"
MB = 1024 * 1024


# --- a real server ------------------------------------------------------------------------


class Server:
    """A real ``makespan serve`` on a free loopback port, with its own SQLite file and log."""

    def __init__(self, name: str, folder: Path, env: Mapping[str, str]) -> None:
        self.name = name
        self.log = folder / f"{name}.log"
        self.db = folder / f"{name}.sqlite3"
        self.env = dict(env)
        self.url = ""  # set by start(), on the port it finds free
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The server process (uvicorn runs in it; solves run in its fork server's children)."""
        assert self.process is not None
        return self.process.pid

    def start(self) -> Server:
        """Start it in its own process group (so that stop() takes the solvers too) and wait
        until ``/healthz`` answers."""
        self.process, self.url = start_server(self.db, log=self.log, env=self.env)
        return self

    def stop(self) -> None:
        """SIGTERM the process group, then SIGKILL whatever is left."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=20)

    def error_lines(self, limit: int = 80) -> list[str]:
        """The log's lines that are not routine access lines: tracebacks, errors, warnings."""
        routine = re.compile(r"^INFO: |^WARNING:  Invalid HTTP request received\.$")
        lines = self.log.read_text(errors="replace").splitlines()
        return [line for line in lines if not routine.match(line)][-limit:]


@contextlib.contextmanager
def running(name: str, folder: Path, env: Mapping[str, str]) -> Iterator[Server]:
    """A started server, stopped on exit."""
    server = Server(name, folder, env)
    try:
        yield server.start()
    finally:
        server.stop()


# --- 1. generated cases -------------------------------------------------------------------


@dataclass
class Generated:
    """What a schemathesis run tried and what the server answered."""

    cases: int = 0
    errored: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    statuses: dict[str, collections.Counter[int]] = field(default_factory=dict)
    server_errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def count_5xx(self) -> int:
        """Responses with a 5xx status (from the HAR log, or schemathesis' count if larger)."""
        from_failures = sum(int(f["count"]) for f in self.failures)
        return max(len(self.server_errors), from_failures)


def operations(url: str) -> list[tuple[str, str]]:
    """(METHOD, path template) of every operation in the served OpenAPI document."""
    paths = httpx.get(f"{url}/openapi.json", timeout=30).json()["paths"]
    verbs = {"get", "post", "put", "patch", "delete"}
    return [(m.upper(), p) for p, item in paths.items() for m in item if m in verbs]


def run_schemathesis(server: Server, cases: int, seed: int, out: Path) -> Generated:
    """Run schemathesis over every operation; ``cases`` spread over them as ``--max-examples``
    (the coverage phase adds its own cases on top)."""
    ops = operations(server.url)
    per_operation = max(1, math.ceil(cases / len(ops)))
    report_dir = out / "schemathesis"
    command = [
        _tool("schemathesis"),
        "run",
        f"{server.url}/openapi.json",
        *("--checks", "not_a_server_error"),
        *("--phases", "examples,coverage,fuzzing,stateful"),
        *("--max-examples", str(per_operation)),
        *("--seed", str(seed)),
        *("--request-timeout", "30"),
        *("--workers", "1"),  # schemathesis' own generation is not thread-safe on 4.32
        *("--generation-database", "none"),  # a seeded run does not depend on earlier runs
        *("--report", "json,har"),
        *("--report-dir", str(report_dir)),
        "--no-color",
    ]
    print(f"operations: {len(ops)}, --max-examples {per_operation} each, seed {seed}")
    with (out / "schemathesis.txt").open("wb") as console:
        subprocess.run(command, stdout=console, stderr=subprocess.STDOUT, cwd=out, check=False)
    return _read_reports(report_dir, ops)


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} is not installed (pip install -e '.[dev]')")
    return found


def _read_reports(report_dir: Path, ops: list[tuple[str, str]]) -> Generated:
    reports = {kind: sorted(report_dir.glob(f"{kind}-*.json")) for kind in ("json", "har")}
    if not all(reports.values()):
        raise SystemExit(f"schemathesis wrote no reports; see {report_dir.parent}/schemathesis.txt")
    summary = json.loads(reports["json"][-1].read_text())
    har = json.loads(reports["har"][-1].read_text())
    generated = Generated(
        cases=int(summary["test_cases"]["generated"]),
        errored=int(summary["test_cases"]["errored"]) + len(summary["errors"]),
        failures=list(summary["failures"]),
    )
    match = _operation_matcher(ops)
    for entry in har["log"]["entries"]:
        request, status = entry["request"], int(entry["response"]["status"])
        operation = match(request["method"], request["url"])
        generated.statuses.setdefault(operation, collections.Counter())[status] += 1
        if status >= 500:
            generated.server_errors.append(entry)
    return generated


def _operation_matcher(ops: list[tuple[str, str]]) -> Callable[[str, str], str]:
    """Maps a request to ``METHOD template``, or to the probes schemathesis sends besides."""
    patterns = [
        (method, re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$"))
        for method, path in ops
    ]
    labels = [f"{method} {path}" for method, path in ops]

    def match(method: str, url: str) -> str:
        path = httpx.URL(url).raw_path.decode().split("?")[0]
        for (verb, pattern), label in zip(patterns, labels, strict=True):
            if verb == method and pattern.match(path):
                return label
        return "other methods and paths (405/404 probes)"

    return match


def print_generated(generated: Generated) -> None:
    """A table of status classes per operation, the totals, and every 5xx in full."""
    print("\n| operation | requests | 2xx | 3xx | 4xx | 5xx |")
    print("|---|---|---|---|---|---|")
    for operation, counts in sorted(generated.statuses.items()):
        by_class = [sum(n for s, n in counts.items() if s // 100 == c) for c in (2, 3, 4, 5)]
        print(f"| {operation} | {sum(counts.values())} | {' | '.join(map(str, by_class))} |")
    print(f"\ncases tried: {generated.cases}, 5xx: {generated.count_5xx}")
    if generated.errored:
        print(f"schemathesis errors (timeouts, internal): {generated.errored}")
    for entry in generated.server_errors:
        request = entry["request"]
        body = (request.get("postData") or {}).get("text", "")
        print(f"5xx {entry['response']['status']}: {request['method']} {request['url']}")
        print(f"    body: {body[:500]}")
        print(f"    answer: {entry['response']['content'].get('text', '')[:500]}")


# --- 2. hand cases ------------------------------------------------------------------------

Headers = tuple[tuple[bytes, bytes], ...]
Body = bytes | Callable[[], Iterator[bytes]] | None

TINY: dict[str, Any] = {
    "num_machines": 2,
    "jobs": [
        [{"machine": 0, "duration": 3}, {"machine": 1, "duration": 2}],
        [{"machine": 1, "duration": 2}, {"machine": 0, "duration": 4}],
    ],
}


@dataclass(frozen=True)
class Hand:
    """One hand-written request and the statuses it may get (empty: any 4xx)."""

    name: str
    method: str
    path: str
    expect: tuple[int, ...] = ()
    body: Body = None
    headers: Headers = (JSON_TYPE,)
    server: str = "small"
    forbid_header: str | None = None
    """A response header that must not be there (CORS)."""

    def ok(self, answer: httpx.Response) -> bool:
        """The expected status (a 4xx unless said), never a 5xx, no forbidden header."""
        if self.forbid_header is not None and self.forbid_header in answer.headers:
            return False
        if self.expect:
            return answer.status_code in self.expect
        return 400 <= answer.status_code < 500


def _job(problem: str, instance: Any, **extra: Any) -> bytes:
    return json.dumps({"problem": problem, "instance": instance, **extra}).encode()


def _tiny(**options: Any) -> bytes:
    return _job("jssp", TINY, options=options)


def hostile_bodies() -> list[tuple[str, bytes]]:
    """Bodies that must get a 4xx (most a 422 naming the field) on both POST routes."""
    matrix = json.dumps({"duration_matrix": [["a", None]], "machines_matrix": {"x": 1}})
    denormal = {
        "gpu_types": [{"name": "L4", "cost_per_hour": 1, "throughput": [[1e-320]]}],
        "workload": [[1.0]],
        "total_request_rate": 1.0,
    }
    nested = b'{"problem":"jssp","instance":' + b"[" * 5000 + b"]" * 5000 + b"}"
    minus_infinity = b'{"machine":0,"duration":-Infinity}'
    bad_csv = "id,lower,upper,size\nb,5,1,-3\n"
    return [
        ("deep nesting (5000)", nested),
        ("5000-digit integer", b'{"problem":"jssp","options":{"seed":' + b"9" * 5000 + b"}}"),
        ("NaN literal", b'{"problem":"jssp","options":{"time_limit_s":NaN}}'),
        ("Infinity literal", b'{"problem":"jssp","options":{"time_limit_s":Infinity}}'),
        ("-Infinity duration", _raw_jssp(minus_infinity)),
        ("float overflow 1e999", b'{"problem":"jssp","options":{"time_limit_s":1e999}}'),
        ("empty body", b""),
        ("truncated JSON", _tiny()[:-7]),
        ("not an object", b"[1, 2, 3]"),
        ("problem not a string", b'{"problem": 7, "instance": {}}'),
        ("unknown problem", _job("tsp", TINY)),
        ("problem with a NUL", _job("jssp\u0000", TINY)),
        ("options not an object", _tiny()[:-1] + b', "options": [1]}'),
        ("unknown top-level field", b'{"problem": "jssp", "instance": {}, "extra": 1}'),
        ("instance and instance_text", _job("jssp", TINY, instance_text="2 2")),
        ("jssp duration 10^40", _job("jssp", _one_op(0, 10**40))),
        ("jssp duration 10^18", _job("jssp", _one_op(0, 10**18))),
        ("jssp machine out of range", _job("jssp", _one_op(5, 1))),
        ("denormal gpu throughput 1e-320", _job("gpu_packing", denormal)),
        ("job-shop-lib matrix, wrong types", _text("jssp", matrix)),
        ("instance_text not a string", b'{"problem": "jssp", "instance_text": 12}'),
        ("unknown format", _text("jssp", "1 1\n1\n1", format="xml")),
        ("minimalloc CSV, upper < lower", _text("memory_mapping", bad_csv)),
        ("experts not a multiple of GPUs", _job("expert_placement", _placement(3, 1, 2))),
        ("invalid UTF-8", b'{"problem": "jssp", "instance_text": "\xff\xfe"}'),
        ("time_limit_s over the maximum", _tiny(time_limit_s=1e9)),
        ("time_limit_s negative", _tiny(time_limit_s=-1)),
        ("workers 0", _tiny(workers=0)),
        ("seed a string", _tiny(seed="x")),
        ("unknown backend", _tiny(backend="cplex")),
        ("backend_params taking threads", _tiny(backend="cpsat", backend_params="num_workers: 8")),
    ]


def _raw_jssp(operation: bytes) -> bytes:
    return b'{"problem":"jssp","instance":{"num_machines":1,"jobs":[[' + operation + b"]]}}"


def _text(problem: str, text: str, **extra: str) -> bytes:
    return json.dumps({"problem": problem, "instance_text": text, **extra}).encode()


def _placement(gpus: int, per_gpu: int, experts: int) -> dict[str, Any]:
    return {"num_gpus": gpus, "experts_per_gpu": per_gpu, "loads": [[1] * experts]}


def _one_op(machine: int, duration: int) -> dict[str, Any]:
    return {"num_machines": 1, "jobs": [[{"machine": machine, "duration": duration}]]}


def _chunks() -> Iterator[bytes]:
    """A chunked body (no Content-Length) of 512 KiB: over the 64 KiB limit as it streams."""
    yield b'{"problem": "jssp", "instance_text": "'
    for _ in range(64):
        yield b"1 " * 4096
    yield b'"}'


def hand_cases() -> list[Hand]:
    """Every hand case: bodies on both POST routes, the front door, queries, paths, auth."""
    cases = [
        Hand(f"{name} -> {path}", "POST", path, body=body)
        for path in ("/v1/jobs", "/v1/solve")
        for name, body in hostile_bodies()
    ]
    return cases + front_door_cases() + query_and_path_cases() + auth_cases()


def front_door_cases() -> list[Hand]:
    """Content types, body limits, Host and CORS on the small server (no API key)."""
    big = b'{"problem": "jssp", "instance_text": "' + b"1 " * 50_000 + b'"}'
    text = _header("content-type", "text/plain")
    form = (b"content-type", b"application/x-www-form-urlencoded")
    foreign = _header("host", "evil.example:8000")
    cors = ((b"origin", b"https://evil.example"), (b"access-control-request-method", b"POST"))
    return [
        Hand("text/plain body", "POST", "/v1/jobs", (415,), _tiny(), text),
        Hand("no content type", "POST", "/v1/jobs", (415,), _tiny(), ()),
        Hand("form content type", "POST", "/v1/solve", (415,), b"problem=jssp", (form,)),
        Hand("chunked body over the limit", "POST", "/v1/jobs", (413,), _chunks),
        Hand("Content-Length over the limit", "POST", "/v1/solve", (413,), big),
        Hand("foreign Host", "GET", "/v1/jobs", (400,), headers=foreign),
        Hand("foreign Host on /healthz", "GET", "/healthz", (400,), headers=foreign),
        Hand("CORS preflight", "OPTIONS", "/v1/jobs", (405,), headers=cors, forbid_header=ACAO),
    ]


def _header(name: str, value: str) -> Headers:
    return ((name.encode(), value.encode()),)


def query_and_path_cases() -> list[Hand]:
    """Query parameters and path segments that are out of range, unknown or hostile.
    ``{queued}`` is a job waiting behind a running one (no result yet)."""
    unknown = "0" * 32
    return [
        Hand("limit=0", "GET", "/v1/jobs?limit=0", (422,)),
        Hand("limit=10^40", "GET", "/v1/jobs?limit=" + "1" + "0" * 40, (422,)),
        Hand("limit=abc", "GET", "/v1/jobs?limit=abc", (422,)),
        Hand("status=bogus", "GET", "/v1/jobs?status=bogus", (422,)),
        Hand("unknown job", "GET", f"/v1/jobs/{unknown}", (404,)),
        Hand("job id of 8 KiB", "GET", "/v1/jobs/" + "a" * 8192, (404, 414)),
        Hand("job id with %00", "GET", "/v1/jobs/%00", (404,)),
        Hand("events of an unknown job", "GET", f"/v1/jobs/{unknown}/events", (404,)),
        Hand("plot of an unknown job", "GET", f"/v1/jobs/{unknown}/plot.svg", (404,)),
        Hand("plot format gif", "GET", f"/v1/jobs/{unknown}/plot.gif", (404, 422)),
        Hand("plot of a queued job", "GET", "/v1/jobs/{queued}/plot.png", (409,)),
        Hand("purge a queued job", "DELETE", "/v1/jobs/{queued}?purge=true", (409,)),
        Hand("purge=maybe", "DELETE", "/v1/jobs/{queued}?purge=maybe", (422,)),
        Hand("cancel an unknown job", "DELETE", f"/v1/jobs/{unknown}", (404,)),
        Hand("purge an unknown job", "DELETE", f"/v1/jobs/{unknown}?purge=true", (404,)),
        Hand("unknown kind schema", "GET", "/v1/problems/tsp/schema", (404,)),
        Hand("unknown example", "GET", "/v1/examples/nope", (404,)),
        Hand("example ../../etc/passwd", "GET", "/v1/examples/..%2F..%2Fetc%2Fpasswd", (404,)),
    ]


def auth_cases() -> list[Hand]:
    """Authorization headers on the server with an API key (``k``)."""
    huge = b"[" + b"1," * 500_000 + b"1]"
    right = _header("authorization", "Bearer k")
    cases = [
        Hand("right key (control)", "GET", "/v1/jobs", (200,), headers=right),
        Hand("no Authorization", "GET", "/v1/jobs", (401,), headers=()),
        Hand("unauthenticated 1 MB body", "POST", "/v1/jobs", (401,), huge),
    ]
    malformed = [
        b"Bearer \xc3\xa9t\xc3\xa9",  # non-ASCII bytes
        b"Bearer k\xc3\xa9",
        b"Bearer",
        b"Bearer k k",
        b"Basic azpr",
        b"bearer  kk",
        b"Bearer " + b"k" * 10_000,
        b"\xff\xfe",
    ]
    for header in malformed:
        name = f"Authorization: {header[:24]!r}"
        cases.append(Hand(name, "GET", "/v1/jobs", (401,), headers=((b"authorization", header),)))
    return [dataclasses.replace(case, server="auth") for case in cases]


@dataclass
class HandRow:
    """A hand case's outcome."""

    case: Hand
    status: int
    ok: bool
    answer: str


def run_hand_cases(servers: Mapping[str, Server], cases: list[Hand]) -> list[HandRow]:
    """Send every case to its server. The cases on ``{queued}`` share a job queued behind a
    running one, made just before the first of them (they follow one another)."""
    rows, queued = [], ""
    for case in cases:
        if "{queued}" in case.path and not queued:
            queued = _queue_behind_a_running_job(servers["small"])
        rows.append(send(servers[case.server], case, queued))
    if queued:
        httpx.delete(f"{servers['small'].url}/v1/jobs/{queued}", timeout=30)
    return rows


def send(server: Server, case: Hand, queued: str) -> HandRow:
    """One hand case; a dropped connection counts as a failure (status 0)."""
    body = case.body() if callable(case.body) else case.body
    try:
        answer = httpx.request(
            case.method,
            server.url + case.path.replace("{queued}", queued),
            content=body,
            headers=list(case.headers),
            timeout=60,
        )
    except httpx.HTTPError as error:
        return HandRow(case, 0, False, repr(error))
    return HandRow(case, answer.status_code, case.ok(answer), answer.text[:300])


def _queue_behind_a_running_job(server: Server) -> str:
    """Submit a 15x15 job that runs its whole 1 s, then a tiny one queued behind it (1 slot)."""
    rng = random.Random(0)
    jobs = [
        [{"machine": m, "duration": rng.randint(1, 99)} for m in rng.sample(range(15), 15)]
        for _ in range(15)
    ]
    blocker = {"problem": "jssp", "instance": {"num_machines": 15, "jobs": jobs}}
    httpx.post(f"{server.url}/v1/jobs", json=blocker, timeout=30).raise_for_status()
    answer = httpx.post(f"{server.url}/v1/jobs", json={"problem": "jssp", "instance": TINY})
    answer.raise_for_status()
    job_id: str = answer.json()["id"]
    return job_id


def print_hand(rows: list[HandRow]) -> None:
    """One line per case: server, name, status, ok / NOT OK (with the answer when not ok)."""
    print("| server | case | status | verdict |")
    print("|---|---|---|---|")
    for row in rows:
        verdict = "ok" if row.ok else "NOT OK"
        name = row.case.name.replace("|", "\\|")
        print(f"| {row.case.server} | {name} | {row.status} | {verdict} |")
    for row in rows:
        if not row.ok:
            print(f"NOT OK: {row.case.method} {row.case.path}: {row.status} {row.answer}")


# --- 3. oversize instances per kind -------------------------------------------------------


def oversize_bodies() -> list[tuple[str, str, bytes]]:
    """Per kind, (kind, label, body): one request just over its default size limit, and one
    with as much of the same as fits in a 15.5 MiB body (the worst a client can send)."""
    bodies = []
    for kind, (build, just_over) in OVERSIZE.items():
        body = _compact({"problem": kind, **build(just_over)})
        bodies.append((kind, f"{kind}, just over", body))
        bodies.append((kind, f"{kind}, 15.5 MiB", _filled(kind, build, just_over, len(body))))
    return bodies


def _filled(kind: str, build: Callable[[int], dict[str, Any]], count: int, size: int) -> bytes:
    """The body with the count scaled so that it is just under ``FILLED_BYTES``."""
    scale = FILLED_BYTES / size
    count = int(count * (math.sqrt(scale) if kind == "gpu_packing" else scale))
    while True:
        body = _compact({"problem": kind, **build(count)})
        if len(body) <= FILLED_BYTES:
            return body
        count = int(count * 0.98)


def _jssp_operations(count: int) -> dict[str, Any]:
    """``count`` one-unit operations on one machine, 100 per job."""
    op = {"machine": 0, "duration": 1}
    return {"instance": {"num_machines": 1, "jobs": [[op] * 100] * math.ceil(count / 100)}}


def _rcpsp_activities(count: int) -> dict[str, Any]:
    """``count`` one-unit activities."""
    return {"instance": {"activities": [{"id": i, "duration": 1} for i in range(count)]}}


def _minimalloc_buffers(count: int) -> dict[str, Any]:
    """A MiniMalloc CSV of ``count`` buffers, as ``instance_text``."""
    rows = "".join(f"b{i},0,1,1\n" for i in range(count))
    return {"instance_text": "id,lower,upper,size\n" + rows, "format": "minimalloc"}


def _placement_layers(count: int) -> dict[str, Any]:
    """``count`` layers of 512 experts on 64 GPUs (32,768 expert-GPU pairs per layer)."""
    return {"instance": {"num_gpus": 64, "experts_per_gpu": 8, "loads": [[1] * 512] * count}}


def _packing_buckets(side: int) -> dict[str, Any]:
    """side x side buckets x slice factor 10,000 (300 x 300: about 1 MB, 9e8 slices)."""
    return {
        "instance": {
            "gpu_types": [{"name": "L4", "cost_per_hour": 1, "throughput": [[1.0] * side] * side}],
            "workload": [[0.00001] * side] * side,
            "total_request_rate": 1.0,
            "slice_factor": 10_000,
        }
    }


OVERSIZE: dict[str, tuple[Callable[[int], dict[str, Any]], int]] = {
    "jssp": (_jssp_operations, DEFAULT_SIZE_LIMITS["jssp"] + 10_000),
    "rcpsp": (_rcpsp_activities, DEFAULT_SIZE_LIMITS["rcpsp"] + 1),
    "memory_mapping": (_minimalloc_buffers, DEFAULT_SIZE_LIMITS["memory_mapping"] + 1),
    # 62 layers x 512 experts x 64 GPUs = 2,031,616 expert-GPU pairs
    "expert_placement": (_placement_layers, DEFAULT_SIZE_LIMITS["expert_placement"] // 32_768 + 1),
    "gpu_packing": (_packing_buckets, 300),
}
"""Per kind: a builder of the request's fields from a count, and the count just over the limit."""

FILLED_BYTES = 15 * MB + MB // 2
"""The filled bodies' size: under the default 16 MiB body limit, so the instance limit decides."""


def _compact(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


@dataclass
class OversizeRow:
    """One oversize request: its answer, time, the server's memory and /healthz meanwhile."""

    kind: str
    label: str
    body_bytes: int
    status: int
    message: str
    wall_s: float
    health_ms: float
    health_overlapped: bool
    peak_mb: float | None
    steady_mb: float


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in kB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS ("5" to clear_refs); False where not permitted."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def send_oversize(
    server: Server, probe: httpx.Client, kind: str, label: str, body: bytes
) -> OversizeRow:
    """POST the body; 50 ms in, time a GET /healthz on ``probe`` (a kept-alive connection).
    Memory: VmHWM reset just before, RSS read again ``SETTLE_S`` after the answer."""
    resettable = reset_peak(server.pid)
    before = memory_kb(server.pid)
    answers: list[tuple[httpx.Response, float]] = []

    def big(client: httpx.Client) -> None:
        started = time.monotonic()
        answer = client.post("/v1/jobs", content=body, headers=[JSON_TYPE])
        answers.append((answer, time.monotonic() - started))

    with httpx.Client(base_url=server.url, timeout=300) as client:
        thread = threading.Thread(target=big, args=(client,))
        thread.start()
        time.sleep(0.05)
        health = _health_s(probe)
        overlapped = thread.is_alive()  # the big request still in flight when /healthz answered
        thread.join()
    time.sleep(SETTLE_S)
    after = memory_kb(server.pid)
    answer, wall = answers[0]
    return OversizeRow(
        kind=kind,
        label=label,
        body_bytes=len(body),
        status=answer.status_code,
        message=_message(answer),
        wall_s=wall,
        health_ms=1000 * health,
        health_overlapped=overlapped,
        peak_mb=(after["VmHWM"] - before["VmRSS"]) / 1024 if resettable else None,
        steady_mb=(after["VmRSS"] - before["VmRSS"]) / 1024,
    )


SETTLE_S = 1.0
"""The server frees a refused body's objects within about a second of answering; RSS read
straight after the answer would count them as kept."""


def _health_s(probe: httpx.Client) -> float:
    started = time.monotonic()
    probe.get("/healthz").raise_for_status()
    return time.monotonic() - started


def run_oversize(server: Server) -> list[OversizeRow]:
    """Every oversize body in turn, after the idle /healthz latency is printed for reference."""
    bodies = oversize_bodies()
    with httpx.Client(base_url=server.url, timeout=60) as probe:
        idle = sorted(_health_s(probe) for _ in range(11))[5]
        print(f"idle GET /healthz: {1000 * idle:.1f} ms (median of 11)\n")
        return [send_oversize(server, probe, *case) for case in bodies]


def _message(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("message", ""))[:200]
    except ValueError:  # not JSON: whatever came back
        return answer.text[:200]


def print_oversize(rows: list[OversizeRow]) -> None:
    """The oversize table and each answer's message."""
    print(
        "| request | body MiB | status | request s | /healthz ms (during) "
        "| peak growth MB | steady growth MB |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        during = "" if r.health_overlapped else " (after)"
        peak = "n/a" if r.peak_mb is None else f"{r.peak_mb:.1f}"
        print(
            f"| {r.label} | {r.body_bytes / MB:.1f} | {r.status} | {r.wall_s:.2f} | "
            f"{r.health_ms:.0f}{during} | {peak} | {r.steady_mb:.1f} |"
        )
    for r in rows:
        print(f"{r.label}: {r.message}")


# --- the run ------------------------------------------------------------------------------


def print_log_errors(servers: list[Server]) -> None:
    """The non-routine lines of each server's log (tracebacks, errors), when there are any."""
    for server in servers:
        lines = server.error_lines()
        if lines:
            print(f"\n{server.name} server log ({server.log}), non-routine lines:")
            print("\n".join(f"    {line}" for line in lines))


def main(argv: list[str] | None = None) -> int:
    """Run the three parts, print their tables and the summary line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000, help="generated cases, at least")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="logs, databases, reports (default: a temp dir)")
    args = parser.parse_args(argv)
    out: Path = args.out or Path(tempfile.mkdtemp(prefix="makespan-fuzz-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"# bench/fuzz.py --cases {args.cases} --seed {args.seed}  (files in {out})")

    with (
        running("small", out, SMALL_LIMITS) as small,
        running("auth", out, {"MAKESPAN_API_KEY": "k"}) as auth,
    ):
        print("\n## Generated cases (schemathesis)\n")
        generated = run_schemathesis(small, args.cases, args.seed, out)
        print_generated(generated)
        print("\n## Hand cases\n")
        hand = run_hand_cases({"small": small, "auth": auth}, hand_cases())
        print_hand(hand)
        logged = [small, auth]
    with running("default", out, {}) as default:
        print("\n## Oversize instances, default limits\n")
        oversize = run_oversize(default)
        print_oversize(oversize)
    print_log_errors([*logged, default])
    return summarize(generated, hand, oversize)


def summarize(generated: Generated, hand: list[HandRow], oversize: list[OversizeRow]) -> int:
    """Print the summary line; 1 when anything got a 5xx (or a dropped connection) or an
    oversize request was not a 413."""
    total_5xx = generated.count_5xx + sum(row.status >= 500 or row.status == 0 for row in hand)
    kinds = {row.kind for row in oversize}
    refused = kinds - {row.kind for row in oversize if row.status != 413}
    peaks = [row.peak_mb if row.peak_mb is not None else row.steady_mb for row in oversize]
    print(
        f"\nfuzz: {generated.cases} generated cases + {len(hand)} hand cases, 5xx: {total_5xx}; "
        f"oversize refused: {len(refused)}/{len(kinds)} kinds, "
        f"max request time {max(r.wall_s for r in oversize):.2f} s, "
        f"max peak growth {max(peaks):.1f} MB"
    )
    not_ok = sum(not row.ok for row in hand)
    if not_ok:
        print(f"hand cases not answered as expected: {not_ok}")
    return 1 if total_5xx or len(refused) < len(kinds) else 0


if __name__ == "__main__":
    sys.exit(main())
