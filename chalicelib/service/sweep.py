"""The sweep: probe every NAT path, decide, act, record, alert (one pass = one sweep), under the
sweeper lease; and the heartbeat's loop of sweeps.

A failed probe is confirmed at once: the zones whose probe failed are probed again right away (all of
them in one parallel call), up to ``probe.fail_after`` probes in the same sweep, so a dead NAT is DOWN
after ``fail_after`` probe timeouts instead of ``fail_after`` intervals. Each re-probe is an
independent sample and every one must fail; passing zones are not probed again (no extra cost in the
steady state), and a probe without evidence (Lambda could not run it) is not re-probed (no storm of
invokes while Lambda throttles).

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
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace

from ..aws import state_table as store
from ..aws.lambda_invoke import PROBE_WAIT_MARGIN_S
from ..engine import DOWN, ZoneState
from ..errors import ConflictError, HanatError, InputError
from ..observability import logger
from ..probes.results import ProbeResult
from ..topology import Topology
from .deps import Deps
from .reconcile import Applied, decide_and_apply, engine_decider, load_states, publish

LEASE_MARGIN_S = 30.0   # a lease outlives one interval by this much, so a crashed run frees it soon
LEASE_POLL_S = 1.0      # how often a run waiting for a stale lease tries to take it
# Time a probe round may take on top of probe.timeout_s (the probe function's cold start, the invoke):
# the LambdaProbeRunner's margin; the probe function's own Lambda timeout is ceil(timeout_s) + 3 s.
PROBE_ROUND_MARGIN_S = PROBE_WAIT_MARGIN_S
# deciding, claiming, writing and verifying routes after the probes (a planned move, a revert, also
# waits for the NATs' agents: with less than reconcile.HANDOFF_WRITE_S left it is left to the next sweep)
WRITE_RESERVE_S = 3.0
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


def probe_round_s(topology: Topology) -> float:
    """The longest one probe round (every zone at once) may take."""
    return float(topology.probe.timeout_s) + PROBE_ROUND_MARGIN_S


def sweep_reserve_s(topology: Topology) -> float:
    """Time a sweep needs: one probe round, then the route writes (re-probes only run when they fit)."""
    return probe_round_s(topology) + WRITE_RESERVE_S


def _lease_ttl(deps: Deps) -> float:
    return float(deps.topology.probe.interval_s) + LEASE_MARGIN_S


# --- probing ----------------------------------------------------------------------------------
@dataclass
class Probed:
    """One sweep's probe results: per zone, the probe and its confirmations (re-probes), in order."""

    samples: dict[str, list[ProbeResult]]
    control: ProbeResult | None = None

    @property
    def first(self) -> dict[str, ProbeResult]:
        return {az: results[0] for az, results in self.samples.items()}

    @property
    def confirmations(self) -> dict[str, tuple[ProbeResult, ...]]:
        return {az: tuple(results[1:]) for az, results in self.samples.items() if len(results) > 1}


def _run_probes(deps: Deps, azs: Sequence[str]) -> dict[str, ProbeResult]:
    """One round: ``azs`` probed in one (parallel) call; a zone the runner gave no answer for has no
    evidence."""
    if deps.probe_runner is None:
        raise InputError("no probe runner configured for the sweep")
    results = dict(deps.probe_runner(list(azs)))
    now = deps.clock()
    for az in azs:
        if az not in results:
            results[az] = ProbeResult.no_evidence(az, now, "no result from probe")
    return results


def _time_for_round(deps: Deps) -> bool:
    left = deps.time_left()
    return left is None or left >= sweep_reserve_s(deps.topology)


def probe_zones(deps: Deps, *, known_down: Callable[[], Collection[str]] = tuple) -> Probed:
    """Probe every zone; run the control probe when every zone that gave evidence failed; then confirm
    each failure at once: re-probe the failing zones (together) until each passed, gave no evidence or
    failed ``fail_after`` times in this sweep. No re-probe when the targets are down (the control probe
    failed too), for zones already DOWN (``known_down()``, asked only when a probe failed: a failure
    changes nothing there), or when the round would not fit before ``deps.deadline``."""
    topo = deps.topology
    first = _run_probes(deps, topo.azs)
    samples = {az: [first[az]] for az in topo.azs}
    evidence = [r for r in first.values() if r.evidence]
    control = None
    if deps.control_probe is not None and evidence and not any(r.passed for r in evidence):
        control = deps.control_probe()
    if control is not None and not control.passed:
        return Probed(samples, control)
    down: Collection[str] = known_down() if any(r.failed for r in first.values()) else ()
    for _ in range(int(topo.probe.fail_after) - 1):
        failing = [az for az in topo.azs if az not in down and samples[az][-1].failed]
        if not failing or not _time_for_round(deps):
            break
        again = _run_probes(deps, failing)
        for az in failing:
            samples[az].append(again[az])
    return Probed(samples, control)


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
    deps.metric("ProbeFailures", float(failures), "Count")
    deps.metric("ProbeConfirmations", float(sum(len(v) for v in report.confirmations.values())), "Count")


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
