"""One sweep and its report: probe every NAT path, decide, act, record, alert (one pass = one sweep).

A failed probe is confirmed in the same sweep, and a probe that has gone half its timeout without an
answer has its confirmation started alongside (service/probing.py), so a dead NAT is DOWN after about
``timeout x (1 + (fail_after - 1) / 2)`` instead of ``fail_after`` intervals; passing zones are not
probed again (no extra cost in the steady state). The decision and the route moves are
``reconcile.decide_and_apply`` (entered once per sweep); its alerts and metrics go out through
``publish``. The loop of sweeps under the sweeper lease is ``service/heartbeat.py``.

The sweep's one read of the world (zone records, NAT states, route tables: ``reconcile.read``) starts
with its probes and runs beside them, so a slow EC2 (throttled reads ridden out by the retry layer's
back-off) costs the probe round's time, not time after it: a dead NAT's zone is decided from the
probes' evidence and the state table, and the EC2 facts it is checked against are at most one probe
round old (the round is bounded, ``probing.probe_round_s``).
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..engine import DOWN, ZoneState
from ..errors import HanatError
from ..observability import logger
from .deps import Deps
from .gray import gray_pass
from .probing import Probed, probe_zones
from .publish import publish, publish_nat_counters
from .reconcile import Applied, decide_and_apply, read


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
    gray: dict = field(default_factory=dict)   # gray failure: NATs DEGRADED, entered, recovered, zones moved off
    health: dict[str, str] = field(default_factory=dict)
    served_by: dict[str, str] = field(default_factory=dict)
    attempts: int = 0
    duration_s: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


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

    The world is read once, beside the probes (started with them): the zone records, so a failed probe
    of a zone already DOWN is not confirmed again (``known_down`` waits for that read), with the NATs'
    states and the route tables in the same batch; that read is the one the decision starts from. The
    probe part of the report and its metrics follow the move: a failover waits for nothing."""
    started = time.monotonic()
    report = SweepReport(at=deps.clock(), owner=deps.owner)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hanat-sweep-read") as pool:
        reading = pool.submit(read, deps, deps.clock())

        def known_down() -> set[str]:
            # a record's body is the zone state as JSON data (reconcile.zone_state reads it)
            return {az for az, rec in reading.result().snapshot.zones.items() if rec.body.get("health") == DOWN}

        probed = probe_zones(deps, known_down=known_down)
        try:
            applied = decide_and_apply(deps, control=probed.control, probes=probed.first,
                                       confirmations=probed.confirmations, observed=reading.result())
        finally:
            _report_probes(deps, report, probed)
    _report_applied(deps, report, applied)
    publish_nat_counters(deps, probed.first)     # after the moves: a failover never waits on metrics
    try:                                          # gray failure: judged after the moves, never failing the sweep
        report.gray = gray_pass(deps, probed.first, report.served_by)
    except HanatError as err:
        logger.exception("gray failure pass failed", extra={"error": str(err)})
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


