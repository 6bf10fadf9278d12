"""Published bounds that benchmark instances carry, for gap-to-best-known reports.

They are claims from the literature (or a file's header), never proofs: ``solve`` reports
``optimal`` only on bounds it proves itself.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class KnownBounds(BaseModel):
    """Published bounds on the optimal objective, carried for gap reporting."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lower: int | None = None
    upper: int | None = None
    optimum: int | None = None
    reference: str | None = None

    @property
    def best_known(self) -> int | None:
        """The optimum when known, else the best upper bound."""
        return self.optimum if self.optimum is not None else self.upper
