"""A proven lower bound on a shop's makespan that improves on the one-machine bound: the
destructive energetic-reasoning bound of the project scheduler, on the shop seen as a project.

A job shop is a project whose resources all have capacity one: each job a chain of precedences
``S_{j,k+1} >= S_{j,k} + p_{j,k}``, each machine a unit resource. The deductions of
:mod:`makespan.models.rcpsp.energetic` (windows from heads and tails, energy needed inside
every interval between earliest/latest starts and finishes, heads and tails pushed by the
slack, repeated along the job chains) refute a makespan ``T`` when they reach a contradiction;
the least ``T`` not refuted, found by bisection between the trivial bound and the incumbent's
makespan, is a bound no schedule beats. On Taillard's 15 x 15 to 20 x 20 shops it lies 10-20%
above the trivial bound (ta01: 977 -> 1190, optimum 1231) and above the bound CP-SAT proves in
60 s with the schedule as hint (1169), within a tenth of a second.

Every shop is bounded through a relaxation of it, so the bound holds for all of them:

- an operation with a choice of machines keeps its shortest duration in its job's chain and
  uses no machine (any machine could take it);
- releases are the heads of each job's first operation;
- setups and downtime are left out: shrinking every operation of a schedule to its bare
  duration from its start keeps the job order and the machines' disjointness, so every
  schedule of the shop is one of the relaxation that ends no later.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from makespan.models.jssp.instance import JobShopInstance
from makespan.models.rcpsp import kernels
from makespan.models.rcpsp.energetic import destructive_bound

MAX_PROFILE_CELLS = 4_000_000
"""Most machine x time cells of the profile the deductions read (two int64 arrays of 32 MB)."""

MAX_TEST_WORK = 400_000_000
"""Most work one refutation may take, counted as :math:`\\sum_k (2 m_k)^2 m_k` for ``m_k``
operations on machine ``k`` (intervals times users): about a second of one core. Bigger shops
keep the trivial bound (their machine loads usually decide the makespan anyway)."""


def energetic_bound(
    instance: JobShopInstance,
    high: int,
    deadline: float,
    should_stop: Callable[[], bool] | None = None,
) -> int:
    """The least makespan in ``[trivial bound, high]`` that energetic reasoning does not
    refute (``high``, usually the incumbent's makespan, when every value below is refuted);
    the trivial bound when the shop is too large to test (:data:`MAX_PROFILE_CELLS`,
    :data:`MAX_TEST_WORK`). Tests start only before ``deadline`` (``time.monotonic()``) and
    while ``should_stop()`` is false, so one test may run past it."""
    low = instance.trivial_lower_bound
    if high <= low or not testable(instance, high):
        return low
    return destructive_bound(project_of(instance, high), low, high, deadline, should_stop)


def testable(instance: JobShopInstance, high: int) -> bool:
    """Whether refuting makespans up to ``high`` fits the size limits."""
    if instance.num_machines * (high + 1) > MAX_PROFILE_CELLS:
        return False
    users = [0] * instance.num_machines
    for job in instance.jobs:
        for op in job:
            if len(op.choices) == 1:
                users[op.choices[0][0]] += 1
    return sum(4 * m * m * m for m in users) <= MAX_TEST_WORK


def project_of(instance: JobShopInstance, high: int) -> kernels.Problem:
    """The relaxation of ``instance`` as the project kernels read it, for makespans up to
    ``high``: one activity per operation (job by job), its job's chain as arcs, the machine it
    must use as a unit demand."""
    durations: list[int] = []
    heads: list[int] = []
    latest: list[int] = []
    arcs: list[tuple[int, int, int]] = []
    demands: list[tuple[int, int, int]] = []
    for release, job in zip(instance.releases, instance.jobs, strict=True):
        remaining = sum(op.min_duration for op in job)
        head = release
        for k, op in enumerate(job):
            i = len(durations)
            if k > 0:
                arcs.append((i - 1, i, durations[-1]))
            if len(op.choices) == 1 and op.min_duration > 0:
                demands.append((i, op.choices[0][0], 1))
            durations.append(op.min_duration)
            heads.append(head)
            latest.append(high - remaining)
            head += op.min_duration
            remaining -= op.min_duration

    def rows(values: list[tuple[int, int, int]]) -> kernels.Ints:
        return np.array(values, dtype=np.int64).reshape(-1, 3)

    chain = rows(arcs)
    return kernels.new_problem(
        np.array(durations, dtype=np.int64),
        np.array(heads, dtype=np.int64),
        np.array(latest, dtype=np.int64),
        chain,
        chain[:, :2].copy(),
        rows(demands),
        np.ones((instance.num_machines, high + 1), dtype=np.int64),
        simple=True,
    )
