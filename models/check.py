"""What every model's independent checker returns."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CheckReport:
    """The verdict of a solution checker.

    Attributes:
        feasible: every constraint of the instance holds.
        objective: the objective recomputed from the instance and the solution alone.
        violations: human-readable descriptions of broken constraints (the first few).
    """

    feasible: bool
    objective: float | None
    violations: tuple[str, ...] = field(default_factory=tuple)


class ViolationLog:
    """Collects violations, keeping only the first few so a broken big solution stays cheap."""

    def __init__(self, keep: int = 100) -> None:
        self.keep = keep
        self.count = 0
        self.messages: list[str] = []

    def add(self, message: str) -> None:
        """Record one broken constraint."""
        self.count += 1
        if len(self.messages) < self.keep:
            self.messages.append(message)

    def report(self, objective: float | None) -> CheckReport:
        """The final verdict; the objective is kept only for feasible solutions."""
        if self.count > len(self.messages):
            self.messages.append(f"... and {self.count - len(self.messages)} more")
        feasible = self.count == 0
        return CheckReport(feasible, objective if feasible else None, tuple(self.messages))
