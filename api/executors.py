"""Executors by name: ``local`` (warm job processes here), ``ray`` or ``ray:ADDRESS``."""

from __future__ import annotations

from pathlib import Path

from makespan.api.executor import Executor
from makespan.api.health import Health
from makespan.api.local_executor import LocalProcessExecutor
from makespan.solvers.options import KILL_GRACE_S

EXECUTOR_PATTERN = r"^(local|ray(:.+)?)$"
"""``local`` (warm job processes here), ``ray`` (a local Ray) or ``ray:ADDRESS`` (a cluster)."""


def make_executor(
    spec: str,
    state_dir: Path,
    kill_grace_s: float = KILL_GRACE_S,
    num_cpus: int | None = None,
    health: Health | None = None,
) -> Executor:
    """The executor ``spec`` names; Ray is imported only when asked for.

    Raises:
        ValueError: an unknown spec, or ``ray`` without the ``makespan[ray]`` extra installed.
    """
    kind, _, address = spec.partition(":")
    if kind == "local" and not address:
        return LocalProcessExecutor(state_dir, kill_grace_s, health, warm=num_cpus or 1)
    if kind != "ray":
        raise ValueError(f"unknown executor {spec!r}; expected local, ray or ray:ADDRESS")
    try:
        from makespan.api.ray_executor import RayExecutor
    except ImportError:
        raise ValueError("the ray executor needs Ray: pip install 'makespan[ray]'") from None
    return RayExecutor(address or None, kill_grace_s, num_cpus)
