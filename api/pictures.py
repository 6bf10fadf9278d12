"""Pictures of solutions, rendered off the request path: a small process pool with a cache.

Rendering is CPU-bound Python (matplotlib); done on the request threads it held up submissions
and ``/healthz``. Here it runs in at most :data:`RENDER_PROCESSES` processes, with at most
:data:`MAX_WAITING` pictures asked for at once; one more is refused at once with 503 and
``Retry-After`` (:class:`~makespan.api.errors.BusyError`) instead of queueing behind the others.
A finished job's picture never changes, so the last :data:`CACHE_ENTRIES` are kept.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from makespan.api.errors import BusyError
from makespan.models.plotting import PlotFormat

RENDER_PROCESSES = 1
"""Processes drawing pictures (one keeps a core for the solvers on small machines)."""

MAX_WAITING = 4
"""Pictures asked for at once, drawing or waiting; more get 503."""

CACHE_ENTRIES = 64
"""Pictures of finished jobs kept in memory."""

RENDER_TIMEOUT_S = 120.0
"""A picture that takes longer than this is given up (its request gets 503)."""


def _render(
    problem: str,
    instance_json: str,
    result: dict[str, Any],
    fmt: PlotFormat,
    server: tuple[int, str],
) -> bytes:
    """In a pool process: parse, check and draw one solution."""
    from makespan.api.job_process import die_with_server
    from makespan.models.plotting import plot_result
    from makespan.models.registry import MODELS
    from makespan.solvers.result import Result

    die_with_server(*server)
    model = MODELS[problem]
    instance = model.parse_instance(json.loads(instance_json))
    name = getattr(instance, "name", None)
    return plot_result(
        model, instance, Result.model_validate(result), fmt, name if isinstance(name, str) else None
    )


class PictureRenderer:
    """Draws pictures in a bounded process pool and remembers the recent ones."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(MAX_WAITING)
        self._cache: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._pool: ProcessPoolExecutor | None = None
        from makespan.api.worker import process_start_time

        self._server = (os.getpid(), process_start_time(os.getpid()) or "")

    def picture(
        self,
        job_id: str,
        problem: str,
        instance_json: str,
        result: dict[str, Any],
        fmt: PlotFormat,
    ) -> bytes:
        """The picture of a finished job's result, from the cache or drawn now.

        Raises:
            BusyError: :data:`MAX_WAITING` pictures are being drawn already.
            InstanceError: the solution does not fit the instance (the checker says why).
        """
        key = (job_id, fmt)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        if not self._slots.acquire(blocking=False):
            raise BusyError(f"{MAX_WAITING} pictures are being drawn; try again shortly")
        try:
            picture = self._draw(problem, instance_json, result, fmt)
        finally:
            self._slots.release()
        with self._lock:
            self._cache[key] = picture
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return picture

    def _draw(
        self, problem: str, instance_json: str, result: dict[str, Any], fmt: PlotFormat
    ) -> bytes:
        future = self._executor().submit(_render, problem, instance_json, result, fmt, self._server)
        try:
            return future.result(timeout=RENDER_TIMEOUT_S)
        except BrokenProcessPool:
            self._restart()
            raise BusyError("the picture process died; try again") from None
        except TimeoutError:
            self._restart()
            raise BusyError(f"the picture took over {RENDER_TIMEOUT_S:g} s") from None

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    RENDER_PROCESSES, mp_context=multiprocessing.get_context("forkserver")
                )
            return self._pool

    def _restart(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def shutdown(self) -> None:
        """Stop the pool's processes."""
        self._restart()
