"""Published bounds that benchmark instances carry, for gap-to-best-known reports.

They are claims from the literature (or a file's header), never proofs: ``solve`` reports
``optimal`` only on bounds it proves itself.
"""

from __future__ import annotations

from typing import Annotated, Protocol, runtime_checkable

from pydantic import Field

from makespan.models.limits import FLOAT_EXACT
from makespan.solvers.frozen import Frozen

PublishedValue = Annotated[int, Field(ge=0, le=FLOAT_EXACT)]
"""A published objective value: reported as a JSON number and compared as a float, so exact
as a double."""


class KnownBounds(Frozen):
    """Published bounds on the optimal objective, carried for gap reporting."""

    lower: PublishedValue | None = None
    upper: PublishedValue | None = None
    optimum: PublishedValue | None = None
    reference: str | None = None

    @property
    def best_known(self) -> int | None:
        """The optimum when known, else the best upper bound."""
        return self.optimum if self.optimum is not None else self.upper


@runtime_checkable
class CarriesBounds(Protocol):
    """An instance that may carry published bounds."""

    @property
    def bounds(self) -> KnownBounds | None:
        """The published bounds, if any."""


def published_best(instance: object) -> float | None:
    """The best-known objective an instance carries (a ``bounds`` field of
    :class:`KnownBounds`), or None; instances of kinds without published bounds carry none."""
    bounds = instance.bounds if isinstance(instance, CarriesBounds) else None
    return None if bounds is None else bounds.best_known
