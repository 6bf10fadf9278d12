"""The temporal network of an RCPSP instance: every time constraint as a difference constraint.

Activities are numbered by their position in ``instance.activities``. An arc ``(i, j, w)`` means
:math:`S_j \\ge S_i + w`: a precedence gives ``w = p_i``, a lag's minimum ``w = min`` and its
maximum the reverse arc ``(j, i, -max)``. Earliest starts are longest paths from the releases;
latest starts are the reverse longest paths from the deadlines and a horizon. Both are found
with a label-correcting (Bellman-Ford) scan, which also detects positive cycles: lags that no
schedule satisfies.

This module serves compile, heuristics and bounds; the checker never uses it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

from makespan.models.rcpsp.instance import RcpspInstance

UNBOUNDED = 1 << 62
"""A deadline or latest start that nothing limits: beyond every time an instance can reach
(times are at most ``MAX_VALUE``, so a schedule ends before ``2 * MAX_VALUE`` per activity)."""


class PositiveCycleError(ValueError):
    """The lags and precedences contain a cycle of positive length: no schedule exists."""


@dataclass(frozen=True)
class Network:
    """Durations, windows and difference arcs of an instance, by activity position.

    Attributes:
        durations: :math:`p_i`.
        releases: :math:`r_i`.
        deadlines: :math:`d_i` (:data:`UNBOUNDED` when none).
        arcs: ``(i, j, w)`` for :math:`S_j \\ge S_i + w`.
        ids: the activity ids, to name activities in messages.
    """

    durations: tuple[int, ...]
    releases: tuple[int, ...]
    deadlines: tuple[int, ...]
    arcs: tuple[tuple[int, int, int], ...]
    ids: tuple[int, ...]

    @property
    def size(self) -> int:
        """Number of activities."""
        return len(self.durations)

    @cached_property
    def outgoing(self) -> tuple[tuple[tuple[int, int], ...], ...]:
        """``outgoing[i]``: the ``(j, w)`` of every arc leaving ``i``."""
        return _adjacency(self.size, ((i, j, w) for i, j, w in self.arcs))

    @cached_property
    def incoming(self) -> tuple[tuple[tuple[int, int], ...], ...]:
        """``incoming[j]``: the ``(i, w)`` of every arc entering ``j``."""
        return _adjacency(self.size, ((j, i, w) for i, j, w in self.arcs))

    @cached_property
    def default_horizon(self) -> int:
        """A makespan every feasible instance reaches: after every release and deadline, each
        activity in turn, spaced by the longer of its duration and its largest outgoing lag
        (the classic RCPSP/max bound, shifted past the windows)."""
        spread = 0
        for i, p in enumerate(self.durations):
            spread += max([p, *(w for _, w in self.outgoing[i])])
        finite = [d for d in self.deadlines if d < UNBOUNDED]
        return max([0, *self.releases, *finite]) + spread


def build_network(instance: RcpspInstance) -> Network:
    """The temporal network of ``instance``."""
    pos = instance.position
    durations = tuple(a.duration for a in instance.activities)
    arcs: list[tuple[int, int, int]] = []
    for i, activity in enumerate(instance.activities):
        arcs.extend((i, pos[s], activity.duration) for s in activity.successors)
    for lag in instance.lags:
        a, b = pos[lag.source], pos[lag.to]
        if lag.min is not None:
            arcs.append((a, b, lag.min))
        if lag.max is not None:
            arcs.append((b, a, -lag.max))
    return Network(
        durations=durations,
        releases=tuple(a.release for a in instance.activities),
        deadlines=tuple(
            UNBOUNDED if a.deadline is None else a.deadline for a in instance.activities
        ),
        arcs=tuple(arcs),
        ids=tuple(a.id for a in instance.activities),
    )


def longest_paths(
    size: int,
    start: Sequence[int],
    adjacency: Sequence[Sequence[tuple[int, int]]],
    ids: Sequence[int],
) -> list[int]:
    """Largest labels with ``label[j] >= label[i] + w`` for every ``(j, w)`` in
    ``adjacency[i]``, from ``start``; a FIFO label-correcting scan.

    Raises:
        PositiveCycleError: a label came from a walk of ``size`` arcs, which repeats a node;
            labels only rise, so the repeated part is a cycle of positive length.
    """
    label = list(start)
    hops = [0] * size
    queue = deque(range(size))
    queued = [True] * size
    while queue:
        i = queue.popleft()
        queued[i] = False
        for j, w in adjacency[i]:
            if label[i] + w > label[j]:
                label[j] = label[i] + w
                hops[j] = hops[i] + 1
                if hops[j] >= size:
                    raise PositiveCycleError(
                        f"the lags and precedences through activity {ids[j]} form a cycle of "
                        "positive length"
                    )
                if not queued[j]:
                    queue.append(j)
                    queued[j] = True
    return label


def earliest_starts(network: Network) -> list[int]:
    """:math:`ES_i`: the longest path to ``i`` from the releases.

    Raises:
        PositiveCycleError: no schedule satisfies the lags.
    """
    return longest_paths(network.size, network.releases, network.outgoing, network.ids)


def latest_starts(network: Network, horizon: int = UNBOUNDED) -> list[int]:
    """:math:`LS_i`: the latest start that the deadlines, the horizon (every activity ends by
    it) and the arcs allow, found as negated longest paths on the reversed arcs.

    Raises:
        PositiveCycleError: no schedule satisfies the lags.
    """
    start = [
        -(min(horizon, deadline) - p)
        for p, deadline in zip(network.durations, network.deadlines, strict=True)
    ]
    negated = longest_paths(network.size, start, network.incoming, network.ids)
    return [-value for value in negated]


def window_conflict(network: Network) -> str | None:
    """Why the time constraints alone admit no schedule, or None: a positive cycle, or an
    activity whose deadline comes before its earliest finish. (When every activity meets its
    deadline at its earliest start, the earliest starts form a schedule: nothing else fails.)"""
    try:
        early = earliest_starts(network)
    except PositiveCycleError as error:
        return str(error)
    for i, (es, p) in enumerate(zip(early, network.durations, strict=True)):
        if es + p > network.deadlines[i]:
            return (
                f"activity {network.ids[i]} has deadline {network.deadlines[i]} but cannot "
                f"finish before {es + p} (releases, precedences and lags)"
            )
    return None


def _adjacency(
    size: int, arcs: Iterable[tuple[int, int, int]]
) -> tuple[tuple[tuple[int, int], ...], ...]:
    """Per node ``a`` of ``size``, the ``(b, w)`` of every ``(a, b, w)`` in ``arcs``, in order."""
    rows: list[list[tuple[int, int]]] = [[] for _ in range(size)]
    for a, b, w in arcs:
        rows[a].append((b, w))
    return tuple(tuple(row) for row in rows)
