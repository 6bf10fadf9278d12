"""Service settings: from ``MAKESPAN_*`` environment variables, overridden by ``makespan serve``
flags. The embedded defaults need nothing installed: a SQLite file and a local process pool."""

from __future__ import annotations

import ipaddress
import os
import tempfile
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from makespan.api.executors import EXECUTOR_PATTERN
from makespan.api.frontdoor import LOOPBACK_HOSTS
from makespan.api.store import LEASE_S
from makespan.models.registry import MODELS
from makespan.solvers.options import DEFAULT_TIME_LIMIT_S, KILL_GRACE_S, MAX_TIME_LIMIT_S

WILDCARD_ADDRESSES = frozenset({"0.0.0.0", "::", ""})
"""Bind addresses that listen on every interface (not a name clients would send as Host)."""


def _cores() -> int:
    return os.cpu_count() or 1


class Settings(BaseSettings):
    """Everything the service can be told.

    ``api_key`` (or ``api_key_file``): when set, every ``/v1/`` request needs
    ``Authorization: Bearer KEY``. Binding an address other than loopback without a key is
    refused unless ``allow_unauthenticated`` is set explicitly. Without a key, requests must
    name a loopback host (or one of ``allowed_hosts``) in their ``Host`` header.
    """

    model_config = SettingsConfigDict(env_prefix="MAKESPAN_", frozen=True)

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    db: str = "makespan-jobs.sqlite3"
    """The job store: a SQLite file (the embedded default) or a ``postgresql://`` URL."""
    state_dir: Path | None = None
    """Where running jobs keep their checkpoint and final answer (default: beside a SQLite
    file, ``DB.jobs``; in the temporary folder, per port, for PostgreSQL)."""
    workers: Annotated[int, Field(ge=1, le=4096)] = Field(default_factory=_cores)
    """CPU slots: a job asking for k solver threads holds k slots while it runs."""
    max_body_bytes: Annotated[int, Field(ge=1024, le=1 << 30)] = 16 * 1024 * 1024
    max_time_limit_s: Annotated[float, Field(gt=0, le=MAX_TIME_LIMIT_S)] = MAX_TIME_LIMIT_S
    """The longest time limit a job may ask for (at most the solver's own maximum)."""
    default_time_limit_s: Annotated[float | None, Field(gt=0, le=MAX_TIME_LIMIT_S)] = None
    """The time limit of a job that names none (unset: the solver's default, or the maximum
    when that is lower); see :attr:`default_time_limit`."""
    max_queue: Annotated[int, Field(ge=1)] = 1000
    """Jobs queued (not yet running) beyond which submissions get 429."""
    kill_grace_s: Annotated[float, Field(ge=0, le=3600)] = KILL_GRACE_S
    """A solve still running this long after its time limit is killed."""
    executor: Annotated[str, Field(pattern=EXECUTOR_PATTERN)] = "local"
    """Where solves run: ``local`` (warm job processes), ``ray`` (a local Ray) or
    ``ray:ADDRESS`` (a Ray cluster; the slots then count the cluster's CPUs given to jobs)."""
    api_key: str | None = None
    api_key_file: Path | None = None
    """A file holding the API key (so that it need not appear in ``ps`` or the environment)."""
    allow_unauthenticated: bool = False
    allowed_hosts: str = ""
    """Extra ``Host`` names accepted, comma-separated (``*``: any). Without an API key only
    loopback names and the bound address are accepted by default."""
    instance_limits: dict[str, Annotated[int, Field(ge=1)]] = Field(default_factory=dict)
    """Per-kind size limits overriding the kinds' own defaults (JSON: ``{"jssp": 1000}``)."""
    max_attempts: Annotated[int, Field(ge=1)] = 2
    """Starts a job gets across server restarts before it ends (with its last checkpoint, or
    failed)."""
    lease_s: Annotated[float, Field(ge=1, le=3600)] = LEASE_S
    """How long a server's claim on a running job lasts unrenewed: what the jobs of a server
    that died wait before another server sharing the database takes them over."""
    retention_days: Annotated[float, Field(ge=0, le=36500)] = 7.0
    """Finished jobs are deleted this long after they finished."""

    @field_validator("instance_limits")
    @classmethod
    def _known_kinds(cls, limits: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(limits) - set(MODELS))
        if unknown:
            known = ", ".join(sorted(MODELS))
            raise ValueError(f"instance_limits: unknown kind {unknown[0]!r}; expected {known}")
        return limits

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.api_key_file is not None and self.api_key is None:
            object.__setattr__(self, "api_key", _read_key(self.api_key_file))
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("the API key is empty")
        if not self.is_loopback and not self.api_key and not self.allow_unauthenticated:
            raise ValueError(
                f"binding {self.host} needs an API key (MAKESPAN_API_KEY / --api-key / "
                "--api-key-file), or --allow-unauthenticated to serve without one"
            )
        if self.default_time_limit_s is not None and (
            self.default_time_limit_s > self.max_time_limit_s
        ):
            raise ValueError(
                f"default_time_limit_s {self.default_time_limit_s:g} exceeds "
                f"max_time_limit_s {self.max_time_limit_s:g}"
            )
        return self

    @property
    def is_loopback(self) -> bool:
        """True when the service listens on a loopback address only."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def default_time_limit(self) -> float:
        """The time limit of a job that names none."""
        if self.default_time_limit_s is not None:
            return self.default_time_limit_s
        return min(DEFAULT_TIME_LIMIT_S, self.max_time_limit_s)

    @property
    def job_folders(self) -> Path:
        """The folder holding one sub-folder per job running on this server."""
        if self.state_dir is not None:
            return self.state_dir
        if self.db.startswith(("postgresql", "postgres:")):
            return Path(tempfile.gettempdir()) / f"makespan-jobs-{self.port}"
        return Path(self.db).with_suffix(".jobs")

    @property
    def size_limits(self) -> dict[str, int]:
        """The largest instance accepted per kind: the kind's default unless overridden."""
        return {
            kind: self.instance_limits.get(kind, model.about.default_size_limit)
            for kind, model in MODELS.items()
        }

    @property
    def host_allowlist(self) -> frozenset[str] | None:
        """``Host`` names accepted, or None for any (an API key guards the service)."""
        extra = {name.strip().lower() for name in self.allowed_hosts.split(",") if name.strip()}
        if "*" in extra or (self.api_key is not None and not extra):
            return None
        bound = set() if self.host in WILDCARD_ADDRESSES else {self.host.lower()}
        return frozenset(LOOPBACK_HOSTS | bound | extra)


def _read_key(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"api_key_file: cannot read {path}: {error}") from None
