"""Service settings: from ``MAKESPAN_*`` environment variables, overridden by ``makespan serve``
flags. The embedded defaults need nothing installed: a SQLite file and a local process pool."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from makespan.api.executor import DEFAULT_KILL_GRACE_S, EXECUTOR_PATTERN

DEFAULT_INSTANCE_LIMITS = {
    "jssp": 250_000,
    "rcpsp": 100_000,
    "memory_mapping": 200_000,
    "expert_placement": 2_000_000,
    "gpu_packing": 100_000,
}
"""Largest instance accepted per kind, in the kind's size unit (jssp: operations; rcpsp:
activities; memory_mapping: buffers)."""


def _cores() -> int:
    return os.cpu_count() or 1


class Settings(BaseSettings):
    """Everything the service can be told.

    ``api_key``: when set, every request but ``/healthz`` needs ``Authorization: Bearer KEY``.
    Binding an address other than loopback without a key is refused unless
    ``allow_unauthenticated`` is set explicitly.
    """

    model_config = SettingsConfigDict(env_prefix="MAKESPAN_", frozen=True)

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    db: Path = Path("makespan-jobs.sqlite3")
    workers: Annotated[int, Field(ge=1, le=4096)] = Field(default_factory=_cores)
    """CPU slots: a job asking for k solver threads holds k slots while it runs."""
    max_body_bytes: Annotated[int, Field(ge=1024)] = 16 * 1024 * 1024
    max_time_limit_s: Annotated[float, Field(gt=0)] = 3600.0
    default_time_limit_s: Annotated[float, Field(gt=0)] = 10.0
    max_queue: Annotated[int, Field(ge=1)] = 1000
    """Jobs queued (not yet running) beyond which submissions get 429."""
    kill_grace_s: Annotated[float, Field(ge=0)] = DEFAULT_KILL_GRACE_S
    """A solve still running this long after its time limit is killed."""
    executor: Annotated[str, Field(pattern=EXECUTOR_PATTERN)] = "local"
    """Where solves run: ``local`` (a process per job), ``ray`` (a local Ray) or
    ``ray:ADDRESS`` (a Ray cluster; the slots then count the cluster's CPUs given to jobs)."""
    api_key: str | None = None
    allow_unauthenticated: bool = False
    instance_limits: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_INSTANCE_LIMITS))
    max_attempts: Annotated[int, Field(ge=1)] = 2
    """Starts a job gets across server restarts before it is marked failed."""

    @property
    def is_loopback(self) -> bool:
        """True when the service listens on a loopback address only."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @model_validator(mode="after")
    def _key_required_off_loopback(self) -> Settings:
        if not self.is_loopback and not self.api_key and not self.allow_unauthenticated:
            raise ValueError(
                f"binding {self.host} needs an API key (MAKESPAN_API_KEY / --api-key), "
                "or --allow-unauthenticated to serve without one"
            )
        return self
