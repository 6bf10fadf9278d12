"""The validated memory-mapping instance and solution.

Buffers ``b`` with a half-open lifetime ``[lower_b, upper_b)``, a size and an alignment get an
offset ``o_b`` (a multiple of the alignment) so that buffers alive at the same time never share
an address:

    [lower_a, upper_a) ∩ [lower_b, upper_b) ≠ ∅  ⇒  [o_a, o_a + size_a) ∩ [o_b, o_b + size_b) = ∅.

Three questions are asked of that structure:

* no capacity: minimise the peak  ``max_b (o_b + size_b)``;
* a capacity ``C``: find a placement with peak ``<= C`` (feasibility; the peak is reported);
* ``two_level`` with capacity ``C`` (fast memory): choose the buffers ``F`` that live in fast
  memory and their offsets, peak ``<= C``, maximising the benefit kept fast; reported as the
  minimisation of the benefit left in slow memory, ``sum_{b not in F} benefit_b``.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, model_validator

from makespan.models.errors import InstanceError
from makespan.models.limits import INT64_SAFE
from makespan.solvers.frozen import Frozen

MAX_VALUE = 2**40
"""Upper limit on times, sizes and alignments: with at most :data:`MAX_BUFFERS` buffers, the
sum of sizes plus alignment padding (the highest address a first-fit placement reaches, the
address bound of the compiled model without a capacity) stays below ``INT64_SAFE`` = 2^62."""

MAX_BUFFERS = 2**21
"""Most buffers in one instance (2,097,152): ``MAX_BUFFERS * MAX_VALUE`` is 2^61."""

MAX_CAPACITY = 2**60
"""Largest capacity: an offset below it plus a size stays below 2^61."""

MAX_BENEFIT = 2**40
"""Largest benefit of a buffer: the benefit left in slow memory, summed over all buffers, stays
below 2^61."""

DEFAULT_SIZE_LIMIT = 200_000
"""Buffers a service accepts by default."""


class Buffer(Frozen):
    """One buffer: alive on ``[lower, upper)``, ``size`` bytes, offset a multiple of
    ``alignment``; ``benefit`` (two-level only, default ``size``) is what keeping it in fast
    memory is worth."""

    id: Annotated[str, Field(min_length=1)]
    lower: Annotated[int, Field(ge=0, le=MAX_VALUE)]
    upper: Annotated[int, Field(ge=1, le=MAX_VALUE)]
    size: Annotated[int, Field(ge=1, le=MAX_VALUE)]
    alignment: Annotated[int, Field(ge=1, le=MAX_VALUE)] = 1
    benefit: Annotated[int, Field(ge=0, le=MAX_BENEFIT)] | None = None

    @model_validator(mode="after")
    def _lifetime_not_empty(self) -> Buffer:
        if self.upper <= self.lower:
            raise ValueError(f"upper ({self.upper}) must exceed lower ({self.lower})")
        return self

    @property
    def worth(self) -> int:
        """The benefit of keeping this buffer in fast memory (``size`` unless given)."""
        return self.size if self.benefit is None else self.benefit


class MemoryInstance(Frozen):
    """Buffers to place; ``capacity`` turns peak minimisation into a feasibility question, and
    ``two_level`` (which needs a capacity) lets buffers stay in slow memory."""

    name: str | None = None
    buffers: Annotated[tuple[Buffer, ...], Field(min_length=1, max_length=MAX_BUFFERS)]
    capacity: Annotated[int, Field(ge=1, le=MAX_CAPACITY)] | None = None
    two_level: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> MemoryInstance:
        seen: set[str] = set()
        for k, buffer in enumerate(self.buffers):
            if buffer.id in seen:
                raise ValueError(f"buffers.{k}.id: duplicate buffer id {buffer.id!r}")
            seen.add(buffer.id)
        if self.two_level and self.capacity is None:
            raise ValueError("two_level: a two-level instance needs the fast-memory capacity")
        _check_address_space(self.buffers)
        return self

    @cached_property
    def arrays(self) -> BufferArrays:
        """The buffers as int64 arrays, for the heuristics and the search."""
        return BufferArrays.of(self.buffers)

    @cached_property
    def max_live(self) -> int:
        """``max_t sum_{b alive at t} size_b``: no placement of all buffers peaks lower."""
        a = self.arrays
        return max_live(a.lower, a.upper, a.size)


def lower_bound(instance: MemoryInstance) -> float | None:
    """The max-live bound on the peak; None for two levels, whose objective is a benefit."""
    return None if instance.two_level else instance.max_live


def goal(instance: MemoryInstance) -> float | None:
    """The capacity to fit under, which settles a one-level instance's question."""
    return None if instance.two_level else instance.capacity


def with_capacity(instance: MemoryInstance, capacity: int) -> MemoryInstance:
    """The instance at another capacity (the command line's ``--capacity``); errors name the
    field."""
    if not 1 <= capacity <= MAX_CAPACITY:  # model_copy does not validate: check here
        raise InstanceError(
            f"capacity must be a positive integer up to {MAX_CAPACITY}", field="capacity"
        )
    return instance.model_copy(update={"capacity": capacity})


def _check_address_space(buffers: tuple[Buffer, ...]) -> None:
    """Every address a placement may reach (sizes stacked, each padded to its alignment) fits
    the int64 arrays and the solvers; the field bounds imply it, this keeps it true."""
    total = sum(b.size + b.alignment - 1 for b in buffers)
    if total > INT64_SAFE:
        raise ValueError(
            f"buffers: sizes and alignments sum to {total}, above the largest address space "
            f"{INT64_SAFE}"
        )


Ints = NDArray[np.int64]


class BufferArrays:
    """Column arrays of an instance's buffers, in instance order."""

    def __init__(self, lower: Ints, upper: Ints, size: Ints, alignment: Ints, worth: Ints) -> None:
        self.lower = lower
        self.upper = upper
        self.size = size
        self.alignment = alignment
        self.worth = worth

    @classmethod
    def of(cls, buffers: tuple[Buffer, ...]) -> BufferArrays:
        """Arrays from validated buffers."""

        def column(values: list[int]) -> Ints:
            return np.array(values, dtype=np.int64)

        return cls(
            column([b.lower for b in buffers]),
            column([b.upper for b in buffers]),
            column([b.size for b in buffers]),
            column([b.alignment for b in buffers]),
            column([b.worth for b in buffers]),
        )


def max_live(lower: Ints, upper: Ints, size: Ints) -> int:
    """``max_t sum_{b: lower_b <= t < upper_b} size_b``, a lower bound on any placement's peak.

    At equal times ends sort before starts (lifetimes are half-open); a buffer with an empty
    lifetime is never alive; 0 for no buffers.
    """
    n = len(lower)
    if n == 0:
        return 0
    times = np.concatenate([upper, lower])
    kind = np.concatenate([np.zeros(n, np.int64), np.ones(n, np.int64)])
    live_size = np.where(lower < upper, size, 0)
    delta = np.concatenate([-live_size, live_size])
    events = np.lexsort((kind, times))
    return int(max(0, int(np.cumsum(delta[events]).max())))


class Placement(Frozen):
    """Where one buffer lives."""

    id: str
    offset: Annotated[int, Field(ge=0, le=INT64_SAFE)]


class MemorySolution(Frozen):
    """Offsets of the placed buffers and their peak ``max (offset + size)``.

    Two-level solutions list the fast-memory buffers in ``buffers``, the others in ``slow``,
    with ``slow_benefit`` the benefit left in slow memory (the objective).
    """

    peak: Annotated[int, Field(ge=0)]
    buffers: tuple[Placement, ...]
    slow: tuple[str, ...] = ()
    slow_benefit: Annotated[int, Field(ge=0)] | None = None


class MemoryFixed(Frozen):
    """The fixed parts of a placement (``options.fixed``): buffers kept at an offset and, two
    levels, buffers kept in slow memory."""

    buffers: tuple[Placement, ...] = ()
    slow: tuple[str, ...] = ()


def size(instance: MemoryInstance) -> int:
    """The number of buffers."""
    return len(instance.buffers)
