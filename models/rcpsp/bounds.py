"""Cheap lower bounds on an RCPSP instance's makespan, before any search."""

from __future__ import annotations

from makespan.models.rcpsp.check import infeasibility_reason
from makespan.models.rcpsp.instance import RcpspInstance, Resource
from makespan.models.rcpsp.network import build_network, earliest_starts


def critical_path_bound(instance: RcpspInstance) -> int:
    """:math:`\\max_i (ES_i + p_i)`: the earliest makespan the time constraints alone allow.

    Raises:
        PositiveCycleError: the lags admit no schedule.
    """
    network = build_network(instance)
    early = earliest_starts(network)
    return max(es + p for es, p in zip(early, network.durations, strict=True))


def _energy_finish(resource: Resource, start: int, energy: int) -> int:
    """The earliest time by which ``capacity x available time`` since ``start`` reaches
    ``energy`` (downtime periods give nothing)."""
    if energy == 0:
        return 0
    need = -(-energy // resource.capacity)  # time units of full capacity, rounded up
    t = start
    for a, b in sorted(resource.downtime):
        if b <= t:
            continue
        if a > t:
            if need <= a - t:
                return t + need
            need -= a - t
        t = b
    return t + need


def energy_bound(instance: RcpspInstance, resource: Resource) -> int:
    """The makespan the work on ``resource`` needs: :math:`\\sum_i p_i q_{ik}` spread at full
    capacity from the earliest release of its users, skipping downtime."""
    users = [a for a in instance.activities if a.demands.get(resource.name, 0) and a.duration]
    if not users or resource.capacity == 0:
        return 0
    energy = sum(a.duration * a.demands[resource.name] for a in users)
    return _energy_finish(resource, min(a.release for a in users), energy)


def lower_bound(instance: RcpspInstance) -> int | None:
    """The larger of the critical-path and energy bounds; None for an infeasible instance."""
    if infeasibility_reason(instance) is not None:
        return None
    energy = (energy_bound(instance, r) for r in instance.resources)
    return max([critical_path_bound(instance), *energy])


def size(instance: RcpspInstance) -> int:
    """The number of activities (PSPLIB's dummy start and end included)."""
    return instance.num_activities
