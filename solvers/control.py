"""What a solve shares with its caller, and what one running solve keeps.

:class:`SolveControl` is the caller's handle: a stop request and the listeners for incumbents and
checkpoints; nothing of a solve is written onto it, so one handle can follow a solve from any
thread. :class:`SolveRun` is made by the pipeline for each solve: its clock, its goal and gap
limit, the monotone stream of incumbents; backends see it through :class:`BackendControl`, in
the IR's units when the IR scales its objective (:meth:`SolveRun.in_ir_units`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from makespan.solvers.result import Incumbent, Result, relative_gap

IncumbentListener = Callable[[Incumbent], None]
CheckpointListener = Callable[[Result], None]


class SolveControl:
    """The caller's handle on a solve: ask it to stop, hear its incumbents and checkpoints.

    ``on_incumbent`` hears every improvement of the objective or the bound (from the solver's
    threads); ``on_checkpoint`` hears the Result the solve would give if it stopped then (its
    best checked answer); setting ``stop_event`` (or :meth:`request_stop`) stops the solve,
    which returns its best answer.
    """

    def __init__(
        self,
        on_incumbent: IncumbentListener | None = None,
        stop_event: threading.Event | None = None,
        *,
        on_checkpoint: CheckpointListener | None = None,
    ) -> None:
        self.on_incumbent = on_incumbent
        self.on_checkpoint = on_checkpoint
        self.stop_event = stop_event if stop_event is not None else threading.Event()

    def request_stop(self) -> None:
        """Ask the solve to stop soon and return its best answer."""
        self.stop_event.set()

    @property
    def cancelled(self) -> bool:
        """True once the caller asked the solve to stop."""
        return self.stop_event.is_set()


class BackendControl(Protocol):
    """What a backend sees of a solve: where to report, and whether to stop."""

    def report(self, objective: float | None, bound: float | None) -> None:
        """A new solution value and/or bound (in the backend's units)."""

    @property
    def stop_requested(self) -> bool:
        """True once the search should end."""

    def wait_for_stop(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds for a reason to stop; True when there is one."""


class SolveRun:
    """One solve in progress: its clock, its reasons to stop, and its incumbents.

    Only strict improvements of the objective or the bound are kept and passed on, so the
    stream is monotone. The solve stops early when the caller asks, when an objective reaches
    ``goal`` (a value that settles the question asked, such as a placement that fits the
    capacity), or when objective and bound are within ``gap_limit`` of each other.
    """

    def __init__(
        self,
        control: SolveControl | None = None,
        *,
        goal: float | None = None,
        gap_limit: float | None = None,
    ) -> None:
        self.control = control or SolveControl()
        self.goal = goal
        self.gap_limit = gap_limit
        self._started = time.monotonic()
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._incumbents: list[Incumbent] = []
        self._best_objective: float | None = None
        self._best_bound: float | None = None
        self.goal_reached = False
        self.gap_limit_reached = False

    def elapsed(self) -> float:
        """Seconds since the solve started."""
        return time.monotonic() - self._started

    @property
    def cancelled(self) -> bool:
        """True once the caller asked the solve to stop."""
        return self.control.cancelled

    @property
    def stop_requested(self) -> bool:
        """True once the search should end: the caller asked, or the goal or the gap limit
        was reached."""
        return self._halt.is_set() or self.control.cancelled

    def wait_for_stop(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds for a reason to stop; True when there is one.

        A caller's stop event set from outside is seen at the end of the wait, so callers poll
        with short timeouts.
        """
        return self._halt.wait(timeout) or self.control.cancelled

    def checkpoint(self, result: Callable[[], Result]) -> None:
        """Offer the Result the solve would give if it stopped now; built only when the caller
        listens (a job process keeps it in case it is killed)."""
        if self.control.on_checkpoint is not None:
            self.control.on_checkpoint(result())

    @property
    def incumbents(self) -> tuple[Incumbent, ...]:
        """The improving incumbents so far, oldest first."""
        with self._lock:
            return tuple(self._incumbents)

    def report(self, objective: float | None, bound: float | None) -> None:
        """Record a new solution value and/or bound (in the problem's units), passing it on
        when it improves."""
        with self._lock:
            better_obj = objective is not None and (
                self._best_objective is None or objective < self._best_objective
            )
            better_bound = bound is not None and (
                self._best_bound is None or bound > self._best_bound
            )
            if not (better_obj or better_bound):
                return
            if better_obj:
                self._best_objective = objective
            if better_bound:
                self._best_bound = bound
            self._halt_if_settled()
            incumbent = Incumbent(
                time_s=round(self.elapsed(), 4),
                objective=self._best_objective,
                bound=self._best_bound,
            )
            self._incumbents.append(incumbent)
        if self.control.on_incumbent is not None:
            self.control.on_incumbent(incumbent)

    def _halt_if_settled(self) -> None:
        best = self._best_objective
        if self.goal is not None and best is not None and best <= self.goal:
            self.goal_reached = True
            self._halt.set()
        gap = relative_gap(best, self._best_bound)
        if self.gap_limit is not None and gap is not None and gap <= self.gap_limit:
            self.gap_limit_reached = True
            self._halt.set()

    def in_ir_units(self, scale: int) -> BackendControl:
        """This run as a backend sees it when the IR's objective is the problem's times
        ``scale``: its reports are divided by ``scale`` on their way in."""
        return self if scale == 1 else _Scaled(self, scale)


class _Scaled:
    """A :class:`SolveRun` whose reports arrive in units ``scale`` times the problem's."""

    def __init__(self, run: SolveRun, scale: int) -> None:
        self.run = run
        self.scale = scale

    def report(self, objective: float | None, bound: float | None) -> None:
        """Report, in the problem's units."""
        self.run.report(
            None if objective is None else objective / self.scale,
            None if bound is None else bound / self.scale,
        )

    @property
    def stop_requested(self) -> bool:
        """The run's."""
        return self.run.stop_requested

    def wait_for_stop(self, timeout: float) -> bool:
        """The run's."""
        return self.run.wait_for_stop(timeout)
