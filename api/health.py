"""What ``/healthz`` reports: the service's parts that are struggling, and why.

Parts that keep going through trouble (the store retrying a locked database, the executor's
threads restarting after an error) record a problem here while it lasts, so that the service
says ``degraded`` with the reason instead of a plain ``ok``.
"""

from __future__ import annotations

import threading
import time


class Health:
    """Current problems by part (``store``, ``executor``, ...); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._problems: dict[str, tuple[str, float]] = {}

    def problem(self, part: str, reason: str) -> None:
        """``part`` has trouble now, for ``reason``."""
        with self._lock:
            since = self._problems.get(part, (reason, time.time()))[1]
            self._problems[part] = (reason, since)

    def clear(self, part: str) -> None:
        """``part`` is fine again."""
        if part in self._problems:
            with self._lock:
                self._problems.pop(part, None)

    def report(self) -> dict[str, str]:
        """Each part with a problem, and the reason."""
        with self._lock:
            return {part: reason for part, (reason, _) in sorted(self._problems.items())}

    @property
    def status(self) -> str:
        """``ok``, or ``degraded`` while any part has a problem."""
        return "degraded" if self._problems else "ok"
