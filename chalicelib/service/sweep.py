"""The sweep: probe every NAT path, decide, act, record, alert (one pass = one sweep), under the
sweeper lease; and the heartbeat's loop of sweeps.

A failed probe is confirmed in the same sweep, and a probe that has gone half its timeout without an
answer has its confirmation started alongside (service/probing.py), so a dead NAT is DOWN after about
``timeout x (1 + (fail_after - 1) / 2)`` instead of ``fail_after`` intervals; passing zones are not
probed again (no extra cost in the steady state).

The heartbeat's time comes from the Lambda: ``run_heartbeat(deps, remaining_s)`` sweeps every
``probe.interval_s`` while a whole sweep still fits in the invocation's remaining time, and sets
``Deps.deadline`` so no AWS call (or retry) of the run passes the invocation's end. A lease left by a
run that was killed is waited out when it expires within the budget, not a reason to skip a minute.

After each sweep the loop calls ``then(deps, zone_states)`` (the heartbeat passes the replacement
pass, ``chalicelib.service.replacement.after_sweep``); what it returns is the topology of the next
sweep, so a NAT replaced in one sweep is probed as such in the next.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from ..aws import state_table as store
from ..engine import DOWN, ZoneState
from ..errors import ConflictError, HanatError, InputError
from ..observability import logger
from ..topology import Topology
from .deps import Deps
from .probing import Probed, probe_zones, sweep_reserve_s
from .reconcile import Applied, decide_and_apply, engine_decider, load_states, publish

LEASE_MARGIN_S = 30.0   # a lease outlives one interval by this much, so a crashed run frees it soon
LEASE_POLL_S = 1.0      # how often a run waiting for a stale lease tries to take it
END_MARGIN_S = 2.0      # the heartbeat's AWS calls end this long before the Lambda's timeout

# What runs after each sweep: (deps, the zone states the sweep stored) -> the topology of the next sweep.
AfterSweep = Callable[[Deps, Mapping[str, ZoneState]], Topology]


@dataclass
class SweepReport:
    """What one sweep saw and did (returned by the heartbeat Lambda, printed by the lab)."""

    at: float
    owner: str
    skipped: str | None = None          # why nothing was done (lease held by another run)
    probes: dict[str, bool] = field(default_factory=dict)   # zone -> its last probe this sweep passed
    control: bool | None = None         # control probe verdict (None: not run)
    confirmations: dict[str, list[bool]] = field(default_factory=dict)  # zone -> re-probe verdicts
    hedged: dict[str, int] = field(default_factory=dict)   # zone -> re-probes started before an answer
    no_evidence: dict[str, str] = field(default_factory=dict)   # zone -> why its probe could not run
    outcomes: list[str] = field(default_factory=list)
    moves: list[dict] = field(default_factory=list)
    changed_tables: list[str] = field(default_factory=list)
    missing_route_tables: list[str] = field(default_factory=list)   # in the topology, not in EC2
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


def _report_probes(deps: Deps, report: SweepReport, probed: Probed) -> None:
    """The probe part of the report, and the probe metrics: failed probes (every sample with evidence
    that failed), confirmations, and one ``ProbeNoEvidence`` per result without evidence, by zone."""
    failures = 0
    for az, results in probed.samples.items():
        report.probes[az] = results[-1].passed
        if len(results) > 1:
            report.confirmations[az] = [r.passed for r in results[1:]]
        failures += sum(1 for r in results if r.failed)
        blind = [r for r in results if not r.evidence]
        if blind:
            report.no_evidence[az] = blind[-1].error or "no evidence"
            deps.metric("ProbeNoEvidence", float(len(blind)), "Count", {"zone": az})
    report.control = None if probed.control is None else probed.control.passed
    report.hedged = dict(probed.hedged)
    deps.metric("ProbeFailures", float(failures), "Count")
    deps.metric("ProbeConfirmations", float(sum(len(v) for v in report.confirmations.values())), "Count")
    deps.metric("ProbeHedges", float(sum(probed.hedged.values())), "Count")


# --- one sweep --------------------------------------------------------------------------------
def sweep_once(deps: Deps) -> tuple[SweepReport, dict[str, ZoneState]]:
    """One sweep, assuming the caller holds the lease: the report and the zone states it stored.

    When a probe failed, the zone records are read first (steady sweeps do not), so a failed probe of
    a zone already DOWN is not confirmed again."""
    started = time.monotonic()
    report = SweepReport(at=deps.clock(), owner=deps.owner)
    probed = probe_zones(deps, known_down=lambda: {az for az, s in load_states(deps)[1].items()
                                                   if s.health == DOWN})
    _report_probes(deps, report, probed)
    applied = decide_and_apply(deps, engine_decider(deps.topology, probed.control), probes=probed.first,
                               confirmations=probed.confirmations)
    _report_applied(deps, report, applied)
    report.duration_s = round(time.monotonic() - started, 4)
    deps.metric("SweepDuration", report.duration_s * 1000.0, "Milliseconds")
    for az, passed in report.probes.items():
        deps.metric("ProbePassed", 1.0 if passed else 0.0, "Count", {"zone": az})
        deps.metric("ProbeFailed", 0.0 if passed else 1.0, "Count", {"zone": az})
    deps.metric("SweepsCompleted", 1.0, "Count")   # the heartbeat-missing alarm counts these
    return report, applied.states


def _report_applied(deps: Deps, report: SweepReport, applied: Applied) -> None:
    """Fill the report, send the alerts and the outcome metrics."""
    report.outcomes = list(applied.decision.outcomes)
    report.moves = [m.to_dict() for m in applied.moves]
    report.changed_tables = applied.changed_tables
    report.missing_route_tables = list(applied.missing_tables)
    report.attempts = applied.attempts
    report.health = {az: s.health for az, s in applied.states.items()}
    report.served_by = {az: s.server for az, s in applied.states.items()}
    publish(deps, applied, report.alerts)


def _release(deps: Deps) -> None:
    try:
        store.release_lease(deps.clients.dynamodb, deps.topology.table_name, deps.owner, deadline=deps.deadline)
    except ConflictError:  # the lease had expired and another run took it: theirs to keep
        logger.warning("sweeper lease expired during the run and was taken over")
    except HanatError as err:  # no time left to release: it expires by itself (interval + margin)
        logger.warning("could not release the sweeper lease", extra={"error": str(err)})


def run_sweep(deps: Deps, then: AfterSweep | None = None) -> SweepReport:
    """One pass under the sweeper lease (taken or renewed; released again if this call took it),
    followed by ``then`` (the replacement pass) while the lease is still held."""
    topo = deps.topology
    lease = store.acquire_lease(deps.clients.dynamodb, topo.table_name, deps.owner,
                                now=deps.clock(), ttl_s=_lease_ttl(deps), deadline=deps.deadline)
    if not lease.acquired:
        return SweepReport(at=deps.clock(), owner=deps.owner, skipped=f"lease held by {lease.holder}")
    try:
        report, states = sweep_once(deps)
        if then is not None:
            then(deps, states)
        return report
    finally:
        _release(deps)


# --- the heartbeat ----------------------------------------------------------------------------
def take_lease(deps: Deps, remaining_s: Callable[[], float]) -> store.LeaseStatus:
    """Take the sweeper lease; when another run holds it and it ends (expires, or is released) while a
    sweep still fits in the budget, wait for it, trying every LEASE_POLL_S. Otherwise report who holds it."""
    ddb, table, reserve = deps.clients.dynamodb, deps.topology.table_name, sweep_reserve_s(deps.topology)
    while True:
        lease = store.acquire_lease(ddb, table, deps.owner, now=deps.clock(), ttl_s=_lease_ttl(deps),
                                    deadline=deps.deadline)
        if lease.acquired:
            return lease
        wait = max(0.0, lease.expires_at - deps.clock())
        if remaining_s() - wait < reserve:
            return lease
        logger.info("waiting for the sweeper lease", extra={"holder": lease.holder, "expires_in_s": round(wait, 1)})
        deps.sleep(min(LEASE_POLL_S, wait + 0.01))


def run_heartbeat(deps: Deps, remaining_s: Callable[[], float],
                  then: AfterSweep | None = None) -> list[SweepReport]:
    """Sweep every ``probe.interval_s`` while a whole sweep still fits in the invocation's remaining
    time (``remaining_s()``: the Lambda context's ``get_remaining_time_in_millis() / 1000``), each
    sweep followed by ``then`` (whose topology the next sweep uses). Every AWS call ends before the
    invocation does (``Deps.deadline``). A failed sweep is recorded in its report and the loop goes on."""
    deps = replace(deps, deadline=time.monotonic() + remaining_s() - END_MARGIN_S)
    interval = float(deps.topology.probe.interval_s)
    start = deps.clock()
    if remaining_s() < sweep_reserve_s(deps.topology):
        return [SweepReport(at=start, owner=deps.owner,
                            skipped=f"only {remaining_s():.1f}s left: not enough for a sweep")]
    lease = take_lease(deps, remaining_s)
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
                renewed = store.acquire_lease(deps.clients.dynamodb, deps.topology.table_name, deps.owner,
                                              now=deps.clock(), ttl_s=_lease_ttl(deps), deadline=deps.deadline)
            except HanatError as err:   # the next invocation takes over once the lease expires
                logger.warning("could not renew the sweeper lease", extra={"error": str(err)})
                return reports
            if not renewed.acquired:  # we stalled past the lease; the other run goes on
                logger.warning("lost the sweeper lease", extra={"holder": renewed.holder})
                return reports
    finally:
        _release(deps)
    return reports
