"""Local search for the flexible job shop (the plain makespan; no release, downtime or setup):
the compiled tabu search on the machines chosen so far, alternating with machine reassignment.

Each round runs the tabu search of :mod:`.tabu` (N7 moves, compiled) on the classic job shop of
the current machine choice until it stalls, then moves one operation of a critical path to
another of its machines. The move is chosen as Mastrolilli & Gambardella (2000) estimate it:
for operation ``o`` put on machine ``m`` between neighbours ``u`` and ``v`` (in start order), the
longest path through it is at least ``max(end of o's job predecessor, end of u) + p(o, m) +
max(tail of o's job successor, tail of v)`` from the current heads and tails; the move with the
smallest estimate that is not tabu (moving an operation back to a machine it left is tabu for
:data:`REASSIGN_TENURE` rounds) wins, ties at random. The new schedule is decoded from the old
start order with ``o`` placed after ``u`` (a list schedule: always feasible), and the next round
starts from it. The best schedule of any round is kept.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

from makespan.models.jssp.dispatch import WarmStart
from makespan.models.jssp.instance import JobShopInstance
from makespan.models.jssp.shop import ShopSchedule
from makespan.models.jssp.tabu import tabu_search

__all__ = ["REASSIGN_TENURE", "RESTART_ROUNDS", "ROUND_STALL_ITERATIONS", "flexible_search"]

ROUND_STALL_ITERATIONS = 1_500
"""Tabu iterations without improvement that end a round on fixed machines."""

REASSIGN_TENURE = 6
"""Rounds during which an operation may not go back to a machine it left."""

RESTART_ROUNDS = 60
"""Rounds without improvement after which the search returns to the best schedule and
perturbs it by a few random reassignments."""

OpKey = tuple[int, int]


@dataclass(frozen=True)
class _Schedule:
    machines: tuple[tuple[int, ...], ...]
    starts: tuple[tuple[int, ...], ...]
    makespan: int


def flexible_search(
    instance: JobShopInstance,
    start: ShopSchedule,
    *,
    deadline: float,
    seed: int,
    should_stop: Callable[[], bool],
    max_rounds: int | None = None,
) -> ShopSchedule:
    """Rounds of the tabu search on fixed machines and a machine reassignment (see the module
    docstring) from ``start`` until ``deadline``, ``should_stop()``, ``max_rounds`` rounds or the
    instance's lower bound; the best schedule found, never worse than ``start``."""
    rng = random.Random(seed)
    current = _Schedule(start.machines, start.starts, start.objective)
    best = current
    forbidden: dict[tuple[OpKey, int], int] = {}
    rounds = last_change = 0
    bound = instance.trivial_lower_bound
    while time.monotonic() < deadline and not should_stop() and best.makespan > bound:
        if max_rounds is not None and rounds >= max_rounds:
            break
        rounds += 1
        current = _sequence(instance, current, deadline, seed + rounds, should_stop)
        if current.makespan < best.makespan:
            best = current
            last_change = rounds
        elif rounds - last_change > RESTART_ROUNDS:
            current, last_change = best, rounds  # back to the best, perturbed
            forbidden.clear()
            for _ in range(rng.randint(2, 4)):
                kick = _reassign(instance, current, rng, forbidden, rounds, at_random=True)
                current = kick or current
        moved = _reassign(instance, current, rng, forbidden, rounds) or _reassign(
            instance, current, rng, forbidden, rounds, at_random=True
        )
        if moved is None:
            break  # no operation has a choice left
        current = moved
    method = start.method + ("+tabu" if rounds else "") + ("+reassign" if rounds > 1 else "")
    return ShopSchedule(method, best.starts, best.machines, best.makespan)


def _sequence(
    instance: JobShopInstance,
    schedule: _Schedule,
    deadline: float,
    seed: int,
    should_stop: Callable[[], bool],
) -> _Schedule:
    """The tabu search on the machines of ``schedule``, from its sequences, until it stalls."""
    classic = instance.assigned(schedule.machines)
    found = tabu_search(
        classic,
        WarmStart("round", schedule.starts, schedule.makespan),
        deadline=deadline,
        seed=seed,
        max_stall_iterations=ROUND_STALL_ITERATIONS,
        should_stop=should_stop,
    )
    return _Schedule(schedule.machines, found.starts, found.makespan)


def _reassign(
    instance: JobShopInstance,
    schedule: _Schedule,
    rng: random.Random,
    forbidden: dict[tuple[OpKey, int], int],
    now: int,
    *,
    at_random: bool = False,
) -> _Schedule | None:
    """The schedule after the best allowed reassignment of a critical operation, the best
    tabu one when every one is tabu; with ``at_random``, a random reassignment of any
    operation. None when there is none to make."""
    durations = {
        (j, k): dict(op.choices)[schedule.machines[j][k]]
        for j, job in enumerate(instance.jobs)
        for k, op in enumerate(job)
    }
    sequences: dict[int, list[OpKey]] = {}
    for j, k in sorted(durations, key=lambda key: _order(schedule, durations, key)):
        if durations[(j, k)] > 0:
            sequences.setdefault(schedule.machines[j][k], []).append((j, k))
    tails = _tails(instance, schedule, durations, sequences)
    ends = {key: schedule.starts[key[0]][key[1]] + d for key, d in durations.items()}
    moves: list[tuple[bool, int, OpKey, int, OpKey | None]] = []  # tabu, estimate, move
    for key in durations:
        j, k = key
        choices = instance.jobs[j][k].choices
        critical = schedule.starts[j][k] + tails[key] == schedule.makespan
        if len(choices) < 2 or not (critical or at_random):
            continue
        head = ends[(j, k - 1)] if k else 0
        after = tails[(j, k + 1)] if k + 1 < len(instance.jobs[j]) else 0
        for machine, p in choices:
            if machine == schedule.machines[j][k] or p == 0:
                continue
            tabu = forbidden.get((key, machine), 0) > now
            for u, v in _gaps([x for x in sequences.get(machine, ()) if x != key]):
                estimate = max(head, ends[u] if u else 0) + p + max(after, tails[v] if v else 0)
                # A tabu move is allowed when it may beat the schedule (aspiration).
                moves.append((tabu and estimate >= schedule.makespan, estimate, key, machine, u))
    if not moves:
        return None
    if at_random:
        _, _, key, machine, u = moves[rng.randrange(len(moves))]
    else:
        first = min(move[:2] for move in moves)
        tied = [move for move in moves if move[:2] == first]
        _, _, key, machine, u = tied[rng.randrange(len(tied))]
    forbidden[(key, schedule.machines[key[0]][key[1]])] = now + REASSIGN_TENURE
    return _decode(instance, schedule, durations, key, machine, u)


def _order(
    schedule: _Schedule, durations: dict[OpKey, int], key: OpKey
) -> tuple[int, int, int, int]:
    j, k = key
    start = schedule.starts[j][k]
    return start, start + durations[key], j, k


def _gaps(sequence: list[OpKey]) -> list[tuple[OpKey | None, OpKey | None]]:
    """Every place between neighbours of a machine sequence, the ends included."""
    padded: list[OpKey | None] = [None, *sequence, None]
    return list(pairwise(padded))


def _tails(
    instance: JobShopInstance,
    schedule: _Schedule,
    durations: dict[OpKey, int],
    sequences: dict[int, list[OpKey]],
) -> dict[OpKey, int]:
    """Each operation's duration plus the longest path after it, along jobs and the machine
    sequences of the schedule."""
    following: dict[OpKey, OpKey] = {}
    for sequence in sequences.values():
        following.update(pairwise(sequence))
    tails: dict[OpKey, int] = {}
    for key in sorted(durations, key=lambda x: _order(schedule, durations, x), reverse=True):
        j, k = key
        job_next = tails.get((j, k + 1), 0) if k + 1 < len(instance.jobs[j]) else 0
        machine_next = tails.get(following[key], 0) if key in following else 0
        tails[key] = durations[key] + max(job_next, machine_next)
    return tails


def _decode(
    instance: JobShopInstance,
    schedule: _Schedule,
    durations: dict[OpKey, int],
    moved: OpKey,
    machine: int,
    after: OpKey | None,
) -> _Schedule:
    """The list schedule of the old start order with ``moved`` on ``machine`` right after
    ``after`` (first when None), kept between its job neighbours."""
    j, k = moved
    keys = {key: float(schedule.starts[key[0]][key[1]]) for key in durations}
    place = keys[after] + 0.5 if after is not None else -0.5
    if k:  # equal keys go in (job, index) order, so the job's order holds
        place = max(place, keys[(j, k - 1)])
    if k + 1 < len(instance.jobs[j]):
        place = min(place, keys[(j, k + 1)])
    keys[moved] = place
    machines = [list(row) for row in schedule.machines]
    machines[j][k] = machine
    durations = {**durations, moved: dict(instance.jobs[j][k].choices)[machine]}
    starts = [[0] * len(job) for job in instance.jobs]
    job_ready = [0] * instance.num_jobs
    machine_ready = [0] * instance.num_machines
    for key in sorted(keys, key=lambda x: (keys[x], x)):
        a, b = key
        m, d = machines[a][b], durations[key]
        begin = job_ready[a] if d == 0 else max(job_ready[a], machine_ready[m])
        starts[a][b] = begin
        job_ready[a] = begin + d
        if d:
            machine_ready[m] = begin + d
    makespan = max(job_ready)
    return _Schedule(
        tuple(tuple(row) for row in machines), tuple(tuple(row) for row in starts), makespan
    )
