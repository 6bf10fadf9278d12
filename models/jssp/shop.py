"""Dispatching for shop scheduling: machine choice, releases, downtime, setups and due dates.

The classic job shop has its own dispatcher (:mod:`.dispatch`); every other instance is built
here, one operation at a time. Each job's next operation is a candidate; its machine is the one
where it would complete earliest (ties: the shorter duration, then the lower machine), its start
the earliest time at or after its job's ready time and its machine's ready time plus the setup
from the machine's last job at which it overlaps no downtime. Among the candidates that could
start before the earliest candidate completion (the conflict set, as in Giffler-Thompson), a
priority rule picks the one to schedule. Operations of duration 0 start when their job is ready
and leave the machine as it was.

Rules (:data:`SHOP_RULES`; each minimises its key, ties to the lower job): the makespan rules of
:mod:`.dispatch` on the shortest remaining work (``spt``, ``lpt``, ``mwkr``, ``mopnr``,
``mwkr_spt``), and for due dates and weights ``edd`` (earliest due date), ``atc`` (apparent
tardiness cost: the largest :math:`w_j / p \\cdot \\exp(-\\max(0, d_j - p - t - R_j) /
(k \\bar p))`, :math:`R_j` the work after the operation, :math:`\\bar p` the mean shortest
duration, :math:`k = 2`), ``wspt`` (largest weight over duration), ``mslack`` (least slack
:math:`d_j - t - \\text{remaining work}`). :func:`objective_rules` names those that suit an
objective; :func:`best_shop_dispatch` keeps the best of them under the instance's objective and
fills the rest of its budget with randomised runs (ties and near-ties broken at random).
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

from makespan.models.jssp.instance import JobShopInstance, lower_bound

__all__ = ["SHOP_RULES", "ShopSchedule", "best_shop_dispatch", "objective_rules", "shop_dispatch"]

SHOP_RULES: tuple[str, ...] = (
    "spt",
    "lpt",
    "mwkr",
    "mopnr",
    "mwkr_spt",
    "edd",
    "atc",
    "wspt",
    "mslack",
)
"""Priority rules of :func:`shop_dispatch`."""

_MAKESPAN_RULES = ("mwkr", "mopnr", "mwkr_spt", "spt", "lpt")
_DUE_RULES = ("atc", "edd", "mslack", "wspt", "mwkr")
_COMPLETION_RULES = ("wspt", "spt", "atc", "mwkr")

_ATC_K = 2.0
"""The look-ahead of the ATC rule, in mean durations."""


@dataclass(frozen=True)
class ShopSchedule:
    """A feasible schedule: ``starts[j][k]`` and ``machines[j][k]`` of operation k of job j,
    its ``objective`` under the instance's objective and how it was built."""

    method: str
    starts: tuple[tuple[int, ...], ...]
    machines: tuple[tuple[int, ...], ...]
    objective: int


def objective_rules(instance: JobShopInstance) -> tuple[str, ...]:
    """The rules that suit the instance's objective, most promising first."""
    objective = instance.shop_objective
    if objective.uses_due_dates:
        return _DUE_RULES
    if objective.total_weighted_completion:
        return _COMPLETION_RULES
    return _MAKESPAN_RULES


_Key = Callable[["_State", int, int, int, int], float]
"""``key(state, job, duration, start, completion)`` of a candidate; the smallest is chosen."""


def _rule_key(rule: str) -> _Key:
    keys: dict[str, _Key] = {
        "spt": lambda s, j, p, t, c: p,
        "lpt": lambda s, j, p, t, c: -p,
        "mwkr": lambda s, j, p, t, c: -s.remaining(j),
        "mopnr": lambda s, j, p, t, c: -(len(s.durations[j]) - s.next_op[j]),
        "mwkr_spt": lambda s, j, p, t, c: -s.remaining(j) / p if p > 0 else -math.inf,
        "edd": lambda s, j, p, t, c: s.dues[j],
        "atc": lambda s, j, p, t, c: -s.atc(j, p, t),
        "wspt": lambda s, j, p, t, c: -s.weights[j] / p if p > 0 else -math.inf,
        "mslack": lambda s, j, p, t, c: s.dues[j] - t - s.remaining(j),
    }
    if rule not in keys:
        raise ValueError(f"unknown dispatching rule {rule!r}; expected one of {SHOP_RULES}")
    return keys[rule]


class _State:
    """The partial schedule: per job its next operation and ready time, per machine its ready
    time and last job, and the instance's data as lists."""

    def __init__(self, instance: JobShopInstance) -> None:
        self.instance = instance
        self.choices = [[op.choices for op in job] for job in instance.jobs]
        self.durations = [[op.min_duration for op in job] for job in instance.jobs]
        self.suffix = [_suffix_sums(row) for row in self.durations]
        self.weights = instance.weights
        self.dues = instance.dues
        self.downtime = instance.downtime
        self.down_ends = [[end for _, end in periods] for periods in self.downtime]
        self.setups = instance.setup_times
        total = sum(sum(row) for row in self.durations)
        self.mean_duration = max(1.0, total / max(1, instance.num_operations))
        self.next_op = [0] * instance.num_jobs
        self.job_ready = list(instance.releases)
        self.machine_ready = [0] * instance.num_machines
        self.last_job = [-1] * instance.num_machines
        self.starts = [[0] * len(row) for row in self.durations]
        self.machines = [[0] * len(row) for row in self.durations]

    def remaining(self, j: int) -> int:
        """The shortest work left in job ``j``, its next operation included."""
        return self.suffix[j][self.next_op[j]]

    def atc(self, j: int, p: int, t: int) -> float:
        """The apparent tardiness cost index of job ``j``'s next operation (duration ``p``,
        start ``t``)."""
        after = self.remaining(j) - self.durations[j][self.next_op[j]]
        slack = max(0.0, self.dues[j] - p - t - after)
        return self.weights[j] / max(p, 1) * math.exp(-slack / (_ATC_K * self.mean_duration))

    def earliest(self, j: int, machine: int, p: int) -> int:
        """The earliest start of job ``j``'s next operation on ``machine`` (duration ``p``)."""
        ready = self.job_ready[j]
        if p == 0:
            return ready
        free = self.machine_ready[machine]
        last = self.last_job[machine]
        if last >= 0 and self.setups is not None:
            free += self.setups[machine][last][j]
        t = ready if ready > free else free
        periods = self.downtime[machine]
        if periods:
            q = bisect_right(self.down_ends[machine], t)  # the first period ending after t
            while q < len(periods) and periods[q][0] < t + p:
                t = periods[q][1]
                q += 1
        return t

    def best_machine(self, j: int) -> tuple[int, int, int, int]:
        """``(completion, start, duration, machine)`` of job ``j``'s next operation on the
        machine where it completes earliest (ties: shorter, then lower machine)."""
        best = None
        for machine, p in self.choices[j][self.next_op[j]]:
            start = self.earliest(j, machine, p)
            option = (start + p, p, machine, start)
            if best is None or option < best:
                best = option
        assert best is not None
        completion, p, machine, start = best
        return completion, start, p, machine

    def schedule(self, j: int, start: int, p: int, machine: int) -> None:
        """Run job ``j``'s next operation on ``machine`` from ``start`` for ``p``."""
        k = self.next_op[j]
        self.starts[j][k] = start
        self.machines[j][k] = machine
        self.job_ready[j] = start + p
        if p > 0:
            self.machine_ready[machine] = start + p
            self.last_job[machine] = j
        self.next_op[j] = k + 1


def _suffix_sums(row: list[int]) -> list[int]:
    out = [0] * (len(row) + 1)
    for k in range(len(row) - 1, -1, -1):
        out[k] = out[k + 1] + row[k]
    return out


def shop_dispatch(
    instance: JobShopInstance, rule: str, *, rng: random.Random | None = None
) -> ShopSchedule:
    """A schedule built by ``rule`` (see the module docstring); with ``rng``, the choice in the
    conflict set is random among the candidates whose key is within 10% of the best key's
    spread, and ties are broken at random."""
    key = _rule_key(rule)
    state = _State(instance)
    open_jobs = list(range(instance.num_jobs))
    while open_jobs:
        options = {j: state.best_machine(j) for j in open_jobs}
        earliest = min(completion for completion, _, _, _ in options.values())
        scored = [
            (key(state, j, p, start, completion), j)
            for j, (completion, start, p, _) in options.items()
            if start < earliest or completion == earliest
        ]
        job = _choose(scored, rng)
        _, start, p, machine = options[job]
        state.schedule(job, start, p, machine)
        if state.next_op[job] == len(state.durations[job]):
            open_jobs.remove(job)
    return _finished(instance, state, rule)


def _choose(scored: list[tuple[float, int]], rng: random.Random | None) -> int:
    """The job of the smallest key (the lowest job on ties); with ``rng``, one drawn among
    those near the smallest."""
    best = min(scored)
    if rng is None:
        return best[1]
    worst = max(value for value, _ in scored)
    spread = worst - best[0] if math.isfinite(worst - best[0]) else 0.0
    near = [j for value, j in scored if value <= best[0] + 0.1 * spread]
    return near[rng.randrange(len(near))]


def _finished(instance: JobShopInstance, state: _State, method: str) -> ShopSchedule:
    completions = [
        row[-1] + dict(choices[-1])[machines[-1]]
        for row, machines, choices in zip(state.starts, state.machines, state.choices, strict=True)
    ]
    return ShopSchedule(
        method=method,
        starts=tuple(tuple(row) for row in state.starts),
        machines=tuple(tuple(row) for row in state.machines),
        objective=instance.objective_value(completions),
    )


RANDOM_STALL_RUNS = 100
"""Randomised runs without improvement after which :func:`best_shop_dispatch` stops early."""


def best_shop_dispatch(
    instance: JobShopInstance, deadline: float, seed: int, stop: Callable[[], bool]
) -> ShopSchedule:
    """Every rule of :func:`objective_rules`, then randomised runs of them in turn until
    ``deadline``, ``stop()``, :data:`RANDOM_STALL_RUNS` runs without improvement or a schedule
    at the instance's lower bound; the best schedule under the instance's objective (the first
    rule's on ties)."""
    rules = objective_rules(instance)
    best = shop_dispatch(instance, rules[0])
    for rule in rules[1:]:
        if time.monotonic() >= deadline or stop():
            return best
        candidate = shop_dispatch(instance, rule)
        if candidate.objective < best.objective:
            best = candidate
    rng = random.Random(seed)
    bound = lower_bound(instance)
    target = -math.inf if bound is None else bound
    runs = since = 0
    while best.objective > target and since < RANDOM_STALL_RUNS:
        if time.monotonic() >= deadline or stop():
            break
        rule = rules[runs % len(rules)]
        candidate = shop_dispatch(instance, rule, rng=rng)
        runs += 1
        since += 1
        if candidate.objective < best.objective:
            best = dataclasses.replace(candidate, method=f"{rule}+random")
            since = 0
    return best
