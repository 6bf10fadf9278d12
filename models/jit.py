"""Numba compilation for the kinds' inner loops, typed so that mypy keeps checking callers.

Memory placement and its canonical search, and the job-shop tabu search, are tight loops over
integer arrays; compiled with numba they run near C speed, which is what makes the MiniMalloc
benchmark set solvable in Python. Compiled code is cached on disk (``cache=True``), so only the
first process that uses a function pays its compile time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba

F = TypeVar("F", bound=Callable[..., Any])


def njit(function: F) -> F:
    """``numba.njit(cache=True)`` that keeps the function's type for mypy."""
    return cast(F, numba.njit(cache=True, nogil=True)(function))


class KernelLoader:
    """A kind's compiled kernels, loaded once per process in a background thread.

    ``warm_up`` runs every kernel once on a tiny input, so that numba loads them from its disk
    cache (a fraction of a second) or compiles them when the cache is cold (seconds of one
    core). Searches wait with :meth:`ready`, which keeps them within their budget and their stop
    requests either way.
    """

    def __init__(self, name: str, warm_up: Callable[[], None], what: str) -> None:
        self._name, self._warm_up, self._what = name, warm_up, what
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._error: Exception | None = None

    def ready(self, deadline: float, should_stop: Callable[[], bool], poll_s: float) -> bool:
        """Whether the kernels are loaded, starting their load on the first call and waiting
        until ``deadline`` (``time.monotonic()``) or ``should_stop()``, polled every
        ``poll_s``.

        Raises:
            RuntimeError: compiling the kernels failed (the cause is chained).
        """
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._load, name=self._name, daemon=True)
                self._thread.start()
        while not self._done.is_set():
            if time.monotonic() >= deadline or should_stop():
                return False
            self._done.wait(poll_s)
        if self._error is not None:
            raise RuntimeError(f"{self._what} failed to compile") from self._error
        return True

    def _load(self) -> None:
        try:
            self._warm_up()
        except Exception as exc:  # a thread's exception would vanish: hand it to the caller
            self._error = exc
        finally:
            self._done.set()
