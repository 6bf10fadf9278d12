"""Solving: the common IR, the backends, and :func:`solve`, which joins them to the models.

>>> from makespan.solvers import solve
>>> result = solve("jssp", instance, time_limit_s=10)  # doctest: +SKIP

``solve`` is loaded on first use: the models import :mod:`makespan.solvers.ir`, and ``solve``
imports the models, so loading it eagerly here would be circular.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from makespan.solvers.options import OptionsError, SolveOptions
from makespan.solvers.result import Incumbent, Result, Status, Termination, WarmStartInfo

if TYPE_CHECKING:
    from makespan.solvers.pipeline import solve

__all__ = [
    "Incumbent",
    "OptionsError",
    "Result",
    "SolveOptions",
    "Status",
    "Termination",
    "WarmStartInfo",
    "solve",
]


def __getattr__(name: str) -> Any:
    if name == "solve":
        from makespan.solvers.pipeline import solve

        return solve
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
