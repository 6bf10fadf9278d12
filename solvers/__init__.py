"""Solving: the common IR, the backends, and :func:`solve`, which joins them to the models.

>>> from makespan.solvers import solve
>>> result = solve("jssp", instance, time_limit_s=10)  # doctest: +SKIP

``solve`` and ``check`` are loaded on first use: the models import :mod:`makespan.solvers.ir`,
and the pipeline imports the models, so loading it eagerly here would be circular.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from makespan.solvers.options import OptionsError, SolveOptions
from makespan.solvers.result import (
    CheckResult,
    Incumbent,
    Result,
    Status,
    Termination,
    Violation,
    WarmStartInfo,
)

if TYPE_CHECKING:
    from makespan.solvers.pipeline import check, solve

__all__ = [
    "CheckResult",
    "Incumbent",
    "OptionsError",
    "Result",
    "SolveOptions",
    "Status",
    "Termination",
    "Violation",
    "WarmStartInfo",
    "check",
    "solve",
]


def __getattr__(name: str) -> Any:
    if name in ("solve", "check"):
        from makespan.solvers import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
