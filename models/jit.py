"""Numba compilation for the kinds' inner loops, typed so that mypy keeps checking callers.

Memory placement and its canonical search, and the job-shop tabu search, are tight loops over
integer arrays; compiled with numba they run near C speed, which is what makes the MiniMalloc
benchmark set solvable in Python. Compiled code is cached on disk (``cache=True``), so only the
first process that uses a function pays its compile time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba

F = TypeVar("F", bound=Callable[..., Any])


def njit(function: F) -> F:
    """``numba.njit(cache=True)`` that keeps the function's type for mypy."""
    return cast(F, numba.njit(cache=True, nogil=True)(function))
