"""The heartbeat: the Lambda's loop of sweeps under the sweeper lease (loop, lease, tick).

The heartbeat's time comes from the Lambda: ``run_heartbeat(deps, remaining_ms)`` (the Lambda
context's own ``get_remaining_time_in_millis``) sweeps every
``probe.interval_s`` while a whole sweep still fits in the invocation's remaining time, and sets
``Deps.deadline`` so no AWS call (or retry) of the run passes the invocation's end. A lease left by a
run that was killed is waited out when it expires within the budget, not a reason to skip a minute.
One sweep is ``chalicelib.service.sweep.sweep_once``.

After each sweep the loop calls ``then(deps, zone_states)`` (the heartbeat passes what runs after a
sweep, ``chalicelib.service.maintenance.after_sweep``); what it returns is the topology of the next
sweep, so a NAT replaced in one sweep is probed as such in the next.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace

from ..aws import claims as leases
from ..engine import ZoneState
from ..errors import ConflictError, HanatError, InputError
from ..observability import logger
from ..topology import Topology
from .deps import Deps
from .probing import sweep_reserve_s
from .sweep import SweepReport, sweep_once

LEASE_MARGIN_S = 30.0   # a lease outlives one interval by this much, so a crashed run frees it soon
LEASE_POLL_S = 1.0      # how often a run waiting for another run's lease tries to take it
END_MARGIN_S = 2.0      # the heartbeat's AWS calls end this long before the Lambda's timeout

# What runs after each sweep: (deps, the zone states the sweep stored) -> the topology of the next sweep.
AfterSweep = Callable[[Deps, Mapping[str, ZoneState]], Topology]


def _lease_ttl(deps: Deps) -> float:
    return float(deps.topology.probe.interval_s) + LEASE_MARGIN_S


def _drop_lease(deps: Deps) -> None:
    try:
        leases.drop_lease(deps.clients.dynamodb, deps.topology.table_name, deps.owner, deadline=deps.deadline)
    except ConflictError:  # the lease had expired and another run took it: theirs to keep
        logger.warning("sweeper lease expired during the run and was taken over")
    except HanatError as err:  # no time left to drop it: it expires by itself (interval + margin)
        logger.warning("could not drop the sweeper lease", extra={"error": str(err)})


def run_sweep(deps: Deps, then: AfterSweep | None = None) -> SweepReport:
    """One pass under the sweeper lease (taken or renewed; dropped again if this call took it),
    followed by ``then`` (the replacement pass) while the lease is still held."""
    topo = deps.topology
    lease = leases.acquire_lease(deps.clients.dynamodb, topo.table_name, deps.owner,
                                now=deps.clock(), ttl_s=_lease_ttl(deps), deadline=deps.deadline)
    if not lease.acquired:
        return SweepReport(at=deps.clock(), owner=deps.owner, skipped=f"lease held by {lease.holder}")
    try:
        report, states = sweep_once(deps)
        if then is not None:
            then(deps, states)
        return report
    finally:
        _drop_lease(deps)


# --- the heartbeat ----------------------------------------------------------------------------
def take_lease(deps: Deps, remaining_s: Callable[[], float], reserve: float) -> leases.LeaseStatus:
    """Take the sweeper lease; when another run holds it and it ends (expires, or is dropped) while a
    sweep (``reserve`` seconds) still fits in the budget, wait for it, trying every LEASE_POLL_S.
    Otherwise report who holds it."""
    ddb, table = deps.clients.dynamodb, deps.topology.table_name
    while True:
        lease = leases.acquire_lease(ddb, table, deps.owner, now=deps.clock(), ttl_s=_lease_ttl(deps),
                                    deadline=deps.deadline)
        if lease.acquired:
            return lease
        wait = max(0.0, lease.expires_at - deps.clock())
        if remaining_s() - wait < reserve:
            return lease
        logger.info("waiting for the sweeper lease", extra={"holder": lease.holder, "expires_in_s": round(wait, 1)})
        deps.sleep(min(LEASE_POLL_S, wait + 0.01))


def run_heartbeat(deps: Deps, remaining_ms: Callable[[], float],
                  then: AfterSweep | None = None) -> list[SweepReport]:
    """Sweep every ``probe.interval_s`` while a whole sweep still fits in the invocation's remaining
    time (``remaining_ms()``: the Lambda context's ``get_remaining_time_in_millis``, the Lambda context
    object of the Python runtime), each sweep followed by ``then`` (whose topology the next sweep uses).
    Every AWS call ends before the invocation does (``Deps.deadline``). A failed sweep is recorded in its
    report and the loop goes on."""
    def remaining_s() -> float:
        return remaining_ms() / 1000.0

    left = remaining_s()
    deps = replace(deps, deadline=time.monotonic() + left - END_MARGIN_S)
    interval = float(deps.topology.probe.interval_s)
    start = deps.clock()
    reserve = sweep_reserve_s(deps.topology)
    if left < reserve:
        return [SweepReport(at=start, owner=deps.owner,
                            skipped=f"only {left:.1f}s left: not enough for a sweep")]
    lease = take_lease(deps, remaining_s, reserve)
    if not lease.acquired:
        logger.info("another run holds the sweeper lease", extra={"holder": lease.holder})
        return [SweepReport(at=start, owner=deps.owner, skipped=f"lease held by {lease.holder}")]
    reports: list[SweepReport] = []
    try:
        while True:
            tick = deps.clock()
            try:
                report, states = sweep_once(deps)
                reports.append(report)
                if then is not None:
                    deps = replace(deps, topology=then(deps, states))
            except HanatError as err:
                if isinstance(err, InputError):
                    raise
                logger.exception("sweep failed")
                deps.metric("SweepErrors", 1.0, "Count")
                reports.append(SweepReport(at=tick, owner=deps.owner, error=str(err)))
            wait = max(0.0, tick + interval - deps.clock())
            if remaining_s() - wait < sweep_reserve_s(deps.topology):
                break
            deps.sleep(wait)
            try:
                renewed = leases.acquire_lease(deps.clients.dynamodb, deps.topology.table_name, deps.owner,
                                              now=deps.clock(), ttl_s=_lease_ttl(deps), deadline=deps.deadline)
            except HanatError as err:   # the next invocation takes over once the lease expires
                logger.warning("could not renew the sweeper lease", extra={"error": str(err)})
                return reports
            if not renewed.acquired:  # we stalled past the lease; the other run goes on
                logger.warning("lost the sweeper lease", extra={"holder": renewed.holder})
                return reports
    finally:
        _drop_lease(deps)
    return reports
