"""The base of the validated records makespan takes and gives (instances, solutions, options)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Frozen"]


class Frozen(BaseModel):
    """A pydantic model that cannot change once validated (the service solves concurrently and
    shares them) and rejects fields it does not know (a misspelt field is an error that names
    it, not a silent default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
