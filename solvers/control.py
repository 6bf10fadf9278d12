"""What a running solve shares with its caller: a clock, a cooperative stop, incumbent listeners."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from makespan.solvers.result import Incumbent, Result, relative_gap

IncumbentListener = Callable[[Incumbent], None]
CheckpointListener = Callable[[Result], None]


class SolveControl:
    """Cooperative stop plus the stream of improving incumbents of one solve.

    Backends call :meth:`report` from their own threads; only strict improvements of the
    objective or the bound are kept and passed to the listener, so the stream is monotone.
    """

    def __init__(
        self,
        on_incumbent: IncumbentListener | None = None,
        stop_event: threading.Event | None = None,
        *,
        on_checkpoint: CheckpointListener | None = None,
    ) -> None:
        self._started = time.monotonic()
        self._listener = on_incumbent
        self._checkpoint_listener = on_checkpoint
        self._stop = stop_event if stop_event is not None else threading.Event()
        self._halt = threading.Event()
        """Set by a stop request, by reaching the goal and by meeting the gap limit: what
        backends watch."""
        self._lock = threading.Lock()
        self._incumbents: list[Incumbent] = []
        self._best_objective: float | None = None
        self._best_bound: float | None = None
        self.objective_scale = 1
        """Backends report in IR units; values are divided by this before anyone hears them."""
        self.goal: float | None = None
        """An objective value that settles the question asked (a placement that fits the
        capacity): the first incumbent at or below it ends the solve."""
        self.goal_reached = False
        self.gap_limit: float | None = None
        """A relative gap that is good enough (``options.gap_limit``): the first report whose
        best objective and best bound are at most this far apart ends the solve."""
        self.gap_limit_reached = False

    def checkpoint(self, result: Callable[[], Result]) -> None:
        """Offer the Result the solve would give if it stopped now (its best checked answer);
        built only when someone listens (a job process keeps it in case it is killed)."""
        if self._checkpoint_listener is not None:
            self._checkpoint_listener(result())

    def elapsed(self) -> float:
        """Seconds since the solve started."""
        return time.monotonic() - self._started

    def request_stop(self) -> None:
        """Ask the solve to stop soon and return its best incumbent."""
        self._stop.set()
        self._halt.set()

    @property
    def cancelled(self) -> bool:
        """True once the caller asked the solve to stop."""
        return self._stop.is_set()

    @property
    def stop_requested(self) -> bool:
        """True once the search should end: the caller asked, or the goal was reached."""
        return self._halt.is_set() or self._stop.is_set()

    def wait_for_stop(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds for a reason to stop; True when there is one.

        A caller's ``stop_event`` set from outside is seen at the end of the wait, so callers
        poll with short timeouts.
        """
        return self._halt.wait(timeout) or self._stop.is_set()

    def _settle(self) -> None:
        """Record that the goal is reached and stop the search."""
        self.goal_reached = True
        self._halt.set()

    def _stop_if_gap_met(self) -> None:
        """Record that the gap limit is met, and stop the search, once it is."""
        if self.gap_limit is None:
            return
        gap = relative_gap(self._best_objective, self._best_bound)
        if gap is not None and gap <= self.gap_limit:
            self.gap_limit_reached = True
            self._halt.set()

    @property
    def incumbents(self) -> tuple[Incumbent, ...]:
        """The improving incumbents so far, oldest first."""
        with self._lock:
            return tuple(self._incumbents)

    def report(self, objective: float | None, bound: float | None) -> None:
        """Record a new solution value and/or bound, notifying the listener on improvement."""
        if self.objective_scale != 1:
            objective = None if objective is None else objective / self.objective_scale
            bound = None if bound is None else bound / self.objective_scale
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
                if self.goal is not None and objective is not None and objective <= self.goal:
                    self._settle()
            if better_bound:
                self._best_bound = bound
            self._stop_if_gap_met()
            incumbent = Incumbent(
                time_s=round(self.elapsed(), 4),
                objective=self._best_objective,
                bound=self._best_bound,
            )
            self._incumbents.append(incumbent)
        if self._listener is not None:
            self._listener(incumbent)
