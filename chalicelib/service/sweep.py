"""The sweep: probe every NAT path, decide, act, record, alert (one pass = one sweep), under the
sweeper lease; and the heartbeat's loop of sweeps.

After each sweep the loop calls ``then(deps, zone_states)`` (the heartbeat passes the replacement
pass, ``chalicelib.service.replacement.after_sweep``); what it returns is the topology of the next
sweep, so a NAT replaced in one sweep is probed as such in the next.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from ..aws import state_table as store
from ..engine import ZoneState
from ..errors import ConflictError, HanatError, InputError
from ..observability import logger
from ..probes.results import ProbeResult
from ..topology import Topology
from .deps import Deps
from .reconcile import Applied, decide_and_apply, engine_decider, publish

LEASE_MARGIN_S = 30.0  # a lease outlives one interval by this much, so a crashed run frees it soon

# What runs after each sweep: (deps, the zone states the sweep stored) -> the topology of the next sweep.
AfterSweep = Callable[[Deps, Mapping[str, ZoneState]], Topology]


@dataclass
class SweepReport:
    """What one sweep saw and did (returned by the heartbeat Lambda, printed by the lab)."""

    at: float
    owner: str
    skipped: str | None = None          # why nothing was done (lease held by another run)
    probes: dict[str, bool] = field(default_factory=dict)
    control: bool | None = None         # control probe verdict (None: not run)
    outcomes: list[str] = field(default_factory=list)
    moves: list[dict] = field(default_factory=list)
    changed_tables: list[str] = field(default_factory=list)
    alerts: list[dict] = field(default_factory=list)
    health: dict[str, str] = field(default_factory=dict)
    served_by: dict[str, str] = field(default_factory=dict)
    attempts: int = 0
    duration_s: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _lease_ttl(deps: Deps) -> float:
    return float(deps.topology.probe.interval_s) + LEASE_MARGIN_S


def _probe(deps: Deps) -> tuple[dict[str, ProbeResult], ProbeResult | None]:
    """All zones in one (parallel) call; the control probe only when every zone failed."""
    if deps.probe_runner is None:
        raise InputError("no probe runner configured for the sweep")
    azs = deps.topology.azs
    results = dict(deps.probe_runner(azs))
    missing = [az for az in azs if az not in results]
    now = deps.clock()
    for az in missing:  # a probe that returned nothing failed
        results[az] = ProbeResult(zone=az, passed=False, at=now, error="no result from probe")
    control = None
    if deps.control_probe is not None and all(not results[az].passed for az in azs):
        control = deps.control_probe()
    return results, control


def sweep_once(deps: Deps) -> tuple[SweepReport, dict[str, ZoneState]]:
    """One sweep, assuming the caller holds the lease: the report and the zone states it stored."""
    started = time.monotonic()
    report = SweepReport(at=deps.clock(), owner=deps.owner)
    probes, control = _probe(deps)
    report.probes = {az: p.passed for az, p in probes.items()}
    report.control = None if control is None else control.passed
    applied = decide_and_apply(deps, engine_decider(deps.topology, control), probes=probes)
    _report_applied(deps, report, applied)
    report.duration_s = round(time.monotonic() - started, 4)
    deps.metric("SweepDuration", report.duration_s * 1000.0, "Milliseconds")
    deps.metric("ProbeFailures", float(sum(1 for ok in report.probes.values() if not ok)), "Count")
    for az, passed in report.probes.items():
        deps.zone_metric("ProbePassed", az, 1.0 if passed else 0.0, "Count")
        deps.zone_metric("ProbeFailed", az, 0.0 if passed else 1.0, "Count")
    deps.metric("SweepsCompleted", 1.0, "Count")   # the heartbeat-missing alarm counts these
    return report, applied.states


def _report_applied(deps: Deps, report: SweepReport, applied: Applied) -> None:
    """Fill the report, send the alerts and the outcome metrics."""
    report.outcomes = list(applied.decision.outcomes)
    report.moves = [m.to_dict() for m in applied.moves]
    report.changed_tables = applied.changed_tables
    report.attempts = applied.attempts
    report.health = {az: s.health for az, s in applied.states.items()}
    report.served_by = {az: s.server for az, s in applied.states.items()}
    publish(deps, applied, report.alerts)


def run_sweep(deps: Deps, then: AfterSweep | None = None) -> SweepReport:
    """One pass under the sweeper lease (taken or renewed; released again if this call took it),
    followed by ``then`` (the replacement pass) while the lease is still held."""
    topo = deps.topology
    lease = store.acquire_lease(deps.clients.dynamodb, topo.table_name, deps.owner,
                                now=deps.clock(), ttl_s=_lease_ttl(deps))
    if not lease.acquired:
        return SweepReport(at=deps.clock(), owner=deps.owner, skipped=f"lease held by {lease.holder}")
    try:
        report, states = sweep_once(deps)
        if then is not None:
            then(deps, states)
        return report
    finally:
        try:
            store.release_lease(deps.clients.dynamodb, topo.table_name, deps.owner)
        except ConflictError:
            logger.warning("sweeper lease expired during the sweep and was taken over")


def run_heartbeat(deps: Deps, budget_s: float = 55.0, then: AfterSweep | None = None) -> list[SweepReport]:
    """Sweep every ``probe.interval_s`` until ~``budget_s`` has passed, each sweep followed by ``then``
    (whose topology the next sweep uses); exit at once when another run holds the lease. A failed
    sweep is recorded in its report and the loop goes on."""
    topo = deps.topology
    interval = float(topo.probe.interval_s)
    start = deps.clock()
    ddb, table = deps.clients.dynamodb, topo.table_name
    lease = store.acquire_lease(ddb, table, deps.owner, now=start, ttl_s=_lease_ttl(deps))
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
            except (ConflictError, HanatError) as err:
                if isinstance(err, InputError):
                    raise
                logger.exception("sweep failed")
                deps.metric("SweepErrors", 1.0, "Count")
                reports.append(SweepReport(at=tick, owner=deps.owner, error=str(err)))
            next_tick = tick + interval
            if next_tick - start + min(interval, 5.0) > budget_s:
                break
            deps.sleep(max(0.0, next_tick - deps.clock()))
            renewed = store.acquire_lease(ddb, table, deps.owner, now=deps.clock(), ttl_s=_lease_ttl(deps))
            if not renewed.acquired:  # we stalled past the lease; the other run goes on
                logger.warning("lost the sweeper lease", extra={"holder": renewed.holder})
                return reports
    finally:
        try:
            store.release_lease(ddb, table, deps.owner)
        except ConflictError:  # the lease had expired and another run took it: theirs to keep
            logger.warning("sweeper lease expired during the heartbeat and was taken over")
    return reports
