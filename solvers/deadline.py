"""A deadline for building models: compile steps check it, so an overlong build gives up in time.

Solvers honour their own time limits, but building a large model (the IR, the MILP passes, the
CP-SAT protobuf) happens before they start and used to run unchecked until the executor killed
the whole job, taking its checked warm start with it. The solve pipeline sets a deadline for the
thread that builds (:func:`build_deadline`); the builders call :func:`check_build_deadline`
every so often and raise :class:`BuildTimeoutError` once it has passed, and the pipeline answers
with what it had (the warm start) and ``termination: time_limit``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_DEADLINE: ContextVar[float | None] = ContextVar("makespan_build_deadline", default=None)

CHECK_EVERY = 1024
"""Builders check the clock once per this many items: cheap, and still well under a second."""


class BuildTimeoutError(RuntimeError):
    """Building the model ran past the time limit."""


@contextmanager
def build_deadline(at: float | None) -> Iterator[None]:
    """Builders in this thread must finish by ``at`` (``time.monotonic()`` seconds)."""
    token = _DEADLINE.set(at)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def check_build_deadline() -> None:
    """Raise :class:`BuildTimeoutError` when this thread's build deadline has passed."""
    at = _DEADLINE.get()
    if at is not None and time.monotonic() > at:
        raise BuildTimeoutError("building the model took longer than the time limit allows")


class BuildClock:
    """Counts a builder's steps and checks the deadline every :data:`CHECK_EVERY` of them."""

    __slots__ = ("_steps",)

    def __init__(self) -> None:
        self._steps = 0

    def tick(self) -> None:
        """One more step; now and then, :func:`check_build_deadline`."""
        self._steps += 1
        if self._steps % CHECK_EVERY == 0:
            check_build_deadline()
