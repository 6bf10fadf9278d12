"""Safe to expose: hostile input, the front door and settings, against a real server on loopback.

Every case here was once a 500, a wrong status code, a silent pass-through or a setting that did
nothing. Timings are measured by ``bench/fuzz.py``, not asserted here.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Service, module_service

from makespan.api.client import Client

TINY = {
    "num_machines": 2,
    "jobs": [
        [{"machine": 0, "duration": 3}, {"machine": 1, "duration": 2}],
        [{"machine": 1, "duration": 2}, {"machine": 0, "duration": 4}],
    ],
}

SMALL_LIMITS = {
    "jssp": 50,
    "rcpsp": 20,
    "memory_mapping": 30,
    "expert_placement": 500,
    "gpu_packing": 40,
}


service = module_service(
    "exposure",
    workers="1",
    max_body_bytes=str(256 * 1024),
    max_time_limit_s="60",
    default_time_limit_s="7",
    instance_limits=json.dumps(SMALL_LIMITS),
)
"""One server for the module: 1 slot, small instance limits, 256 KiB bodies."""


def _post(service: Service, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{service.url}/v1/jobs",
        content=body,
        headers={"content-type": "application/json", **headers},
        timeout=30,
    )


def _job(problem: str, instance: Any) -> bytes:
    return json.dumps({"problem": problem, "instance": instance}).encode()


# --- never a 500 for bad input ------------------------------------------------------------

HOSTILE_BODIES: list[tuple[str, bytes, str | None]] = [
    ("deep nesting", b'{"problem": "jssp", "instance": ' + b"[" * 5000 + b"]" * 5000 + b"}", None),
    ("5000-digit integer", b'{"problem": "jssp", "options": {"seed": ' + b"9" * 5000 + b"}}", None),
    ("NaN literal", b'{"problem": "jssp", "options": {"time_limit_s": NaN}}', None),
    ("float overflow", b'{"problem": "jssp", "options": {"time_limit_s": 1e999}}', None),
    ("not an object", b"[1, 2, 3]", "body"),
    ("problem not a string", b'{"problem": 7, "instance": {}}', "problem"),
    ("options not an object", _job("jssp", TINY)[:-1] + b', "options": [1]}', "options"),
    ("unknown top-level field", b'{"problem": "jssp", "instance": {}, "extra": 1}', "extra"),
    (
        "jssp duration 10^40",
        _job("jssp", {"num_machines": 1, "jobs": [[{"machine": 0, "duration": 10**40}]]}),
        None,
    ),
    (
        "jssp duration 10^18",
        _job("jssp", {"num_machines": 1, "jobs": [[{"machine": 0, "duration": 10**18}]]}),
        "instance",
    ),
    (
        "denormal gpu throughput",
        _job(
            "gpu_packing",
            {
                "gpu_types": [{"name": "L4", "cost_per_hour": 1, "throughput": [[1e-320]]}],
                "workload": [[1.0]],
                "total_request_rate": 1.0,
            },
        ),
        "instance",
    ),
    (
        "job-shop-lib matrix with wrong types",
        json.dumps(
            {
                "problem": "jssp",
                "instance_text": json.dumps(
                    {"duration_matrix": [["a", None]], "machines_matrix": {"x": 1}}
                ),
            }
        ).encode(),
        "instance_text",
    ),
    ("instance_text not a string", b'{"problem": "jssp", "instance_text": 12}', "instance_text"),
    ("invalid UTF-8", b'{"problem": "jssp", "instance_text": "\xff\xfe"}', None),
]


@pytest.mark.parametrize(
    ("case", "body", "field"), HOSTILE_BODIES, ids=[c[0] for c in HOSTILE_BODIES]
)
def test_hostile_bodies_get_a_4xx_naming_what(
    service: Service, case: str, body: bytes, field: str | None
) -> None:
    answer = _post(service, body)
    assert 400 <= answer.status_code < 500, (case, answer.status_code, answer.text)
    assert answer.json()["message"]
    if field is not None:
        assert str(answer.json().get("field", "")).startswith(field), answer.json()
    assert httpx.get(f"{service.url}/healthz").json()["status"] == "ok"


def test_a_body_that_is_not_json_is_415(service: Service) -> None:
    answer = _post(service, _job("jssp", TINY), **{"content-type": "text/plain"})
    assert answer.status_code == 415 and "JSON" in answer.json()["message"]
    missing = httpx.post(f"{service.url}/v1/jobs", content=_job("jssp", TINY))
    assert missing.status_code == 415


def test_a_chunked_body_over_the_limit_is_413(service: Service) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"problem": "jssp", "instance_text": "'
        for _ in range(64):
            yield b"1 " * 4096
        yield b'"}'

    answer = httpx.post(
        f"{service.url}/v1/jobs",
        content=chunks(),
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 413 and "limit" in answer.json()["message"]


# --- size before work, per kind -----------------------------------------------------------


def _oversize_documents() -> dict[str, bytes]:
    limits = SMALL_LIMITS
    jobs = [[{"machine": 0, "duration": 1}] * 10 for _ in range(limits["jssp"] // 10 + 1)]
    activities = [{"id": i, "duration": 1} for i in range(limits["rcpsp"] + 1)]
    csv = "id,lower,upper,size\n" + "".join(
        f"b{i},0,1,1\n" for i in range(limits["memory_mapping"] + 1)
    )
    return {
        "jssp": _job("jssp", {"num_machines": 1, "jobs": jobs}),
        "rcpsp": _job("rcpsp", {"activities": activities}),
        "memory_mapping": json.dumps(
            {"problem": "memory_mapping", "instance_text": csv, "format": "minimalloc"}
        ).encode(),
        # 4 layers x 16 experts x 8 GPUs = 512: the model's size (layers x experts is only 64)
        "expert_placement": _job(
            "expert_placement",
            {"num_gpus": 8, "experts_per_gpu": 2, "loads": [[1] * 16] * 4},
        ),
        "gpu_packing": _job(
            "gpu_packing",
            {
                "gpu_types": [{"name": "L4", "cost_per_hour": 1, "throughput": [[1.0, 1.0]]}],
                "workload": [[0.5, 0.5]],
                "total_request_rate": 1.0,
                "slice_factor": 21,
            },
        ),
    }


@pytest.mark.parametrize("kind", sorted(SMALL_LIMITS))
def test_an_oversize_instance_is_413_naming_the_limit(service: Service, kind: str) -> None:
    answer = _post(service, _oversize_documents()[kind])
    assert answer.status_code == 413, answer.text
    message = answer.json()["message"]
    assert f"limit of {SMALL_LIMITS[kind]}" in message and kind in message


def test_a_huge_slice_count_is_refused_without_building_slices(service: Service) -> None:
    buckets = 100
    body = _job(
        "gpu_packing",
        {
            "gpu_types": [{"name": "L4", "cost_per_hour": 1, "throughput": [[1.0] * buckets]}],
            "workload": [[1 / buckets] * buckets],
            "total_request_rate": 1.0,
            "slice_factor": 10_000,
        },
    )
    answer = _post(service, body)
    assert answer.status_code in (413, 422), answer.text
    assert "limit" in answer.json()["message"] or "slice" in answer.json()["message"]


def test_instances_within_the_limits_still_solve(service: Service) -> None:
    with Client(service.url) as sdk:
        assert sdk.solve("jssp", TINY, time_limit_s=5).objective == 7


# --- the front door -----------------------------------------------------------------------


def test_a_foreign_host_header_is_refused_without_an_api_key(service: Service) -> None:
    rebound = httpx.get(f"{service.url}/v1/jobs", headers={"host": "evil.example:8000"})
    assert rebound.status_code == 400 and "Host" in rebound.json()["message"]
    for host in ("localhost", f"127.0.0.1:{service.port}", "[::1]:80"):
        assert httpx.get(f"{service.url}/v1/problems", headers={"host": host}).status_code == 200


def test_allowed_hosts_are_configurable(start_service: Callable[..., Service]) -> None:
    server = start_service(allowed_hosts="solver.internal, other.internal")
    answer = httpx.get(f"{server.url}/v1/problems", headers={"host": "solver.internal:8000"})
    assert answer.status_code == 200
    assert httpx.get(f"{server.url}/healthz", headers={"host": "x.test"}).status_code == 400


def test_no_cors_headers_are_sent(service: Service) -> None:
    preflight = httpx.options(
        f"{service.url}/v1/jobs",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    listed = httpx.get(f"{service.url}/v1/jobs", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in listed.headers


def test_api_key_from_a_file_and_malformed_authorization(
    start_service: Callable[..., Service], tmp_path: Path
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("from-a-file\n")
    server = start_service(api_key_file=str(key_file))
    command_line = Path(f"/proc/{server.pid}/cmdline").read_bytes()
    assert b"from-a-file" not in command_line
    url = f"{server.url}/v1/jobs"
    assert httpx.get(url, headers={"authorization": "Bearer from-a-file"}).status_code == 200
    for header in (
        b"Bearer \xc3\xa9t\xc3\xa9",  # non-ASCII bytes
        b"Bearer",
        b"Basic ZnJvbS1hLWZpbGU=",
        b"bearer  from-a-fil",
        b"\xff\xfe",
    ):
        answer = httpx.get(url, headers=[(b"authorization", header)])
        assert answer.status_code == 401, (header, answer.text)
        assert answer.headers["www-authenticate"] == "Bearer"
    assert httpx.get(f"{server.url}/healthz").status_code == 200


# --- settings that do what they say -------------------------------------------------------


def test_a_partial_instance_limit_keeps_the_other_kinds_defaults(service: Service) -> None:
    # jssp is limited to 50 operations here; rcpsp keeps 20; the defaults of the kinds not
    # named would apply to them. A 60-operation rcpsp-free jssp is refused, a 4x4 accepted.
    small = {"num_machines": 4, "jobs": [[{"machine": m, "duration": 1} for m in range(4)]] * 4}
    assert _post(service, _job("jssp", small)).status_code == 202


def test_partial_limits_from_the_environment(start_service: Callable[..., Service]) -> None:
    server = start_service(instance_limits='{"rcpsp": 3}')
    with Client(server.url) as sdk:
        assert sdk.solve("jssp", TINY, time_limit_s=5).objective == 7  # jssp keeps its default
    activities = [{"id": i, "duration": 1} for i in range(4)]
    assert _post(server, _job("rcpsp", {"activities": activities})).status_code == 413


def test_the_default_time_limit_setting_is_used(service: Service) -> None:
    accepted = _post(service, _job("jssp", TINY)).json()
    document = httpx.get(f"{service.url}/v1/jobs/{accepted['id']}").json()
    assert document["options"]["time_limit_s"] == 7


def test_host_and_port_come_from_the_environment(
    makespan_command: list[str], tmp_path: Path
) -> None:
    probe = Service(makespan_command, tmp_path / "env.sqlite3", {})
    environment = {
        **os.environ,
        "MAKESPAN_HOST": "127.0.0.1",
        "MAKESPAN_PORT": str(probe.port),
        "MAKESPAN_DB": str(tmp_path / "env.sqlite3"),
    }
    log = (tmp_path / "env.log").open("wb")
    process = subprocess.Popen(
        [*makespan_command, "serve"], stdout=log, stderr=subprocess.STDOUT, env=environment
    )
    try:
        probe.process = process
        probe.wait_until_up()
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_bad_setting_names_itself(makespan_command: list[str], tmp_path: Path) -> None:
    done = subprocess.run(
        [*makespan_command, "serve", "--db", str(tmp_path / "x.db")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "MAKESPAN_INSTANCE_LIMITS": '{"tsp": 5}'},
    )
    assert done.returncode == 2 and "tsp" in done.stderr
