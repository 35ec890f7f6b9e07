"""Gray failure acted on (use-case, after each sweep's moves): judge every NAT from its counters, store
the gray states, alert on entry into DEGRADED and on recovery, and move the zones a DEGRADED NAT serves
for other zones (``chalicelib.engine.gray``; the moves are planned moves through ``decide_and_apply``, so
their open flows are handed off like a revert's).

The counters come with the sweep's probe results (a passing probe reads its NAT's counters over the
probe path). Each NAT's previous counters are kept in the warm Lambda's memory (after a cold start the
first reading only sets the base); the gray record in the state table (``aws.gray_records``) holds the
state and the latest reading, written when the state changes and at most once a ``RECORD_EVERY_S``
otherwise (what ``hanat status`` shows, without a write per sweep). Never fails the sweep: a problem is
logged and the next sweep tries again.
"""
from __future__ import annotations

from collections.abc import Mapping

from ..aws import gray_records, instances
from ..engine.gray import (
    DEGRADED,
    GrayRound,
    GrayState,
    NatReading,
    decide_moves,
    gray_alert,
    judge_all,
    reading,
)
from ..errors import ConflictError, HanatError
from ..instance_types import limits
from ..observability import logger
from ..probes.results import ProbeResult
from . import history
from .deps import Deps
from .publish import publish
from .reconcile import decide_and_apply

RECORD_EVERY_S = 60.0
# (stack, zone) -> (the NAT's last counters, when read, the reading made of them): readings are increases
# between two snapshots.
last_counters: dict[tuple[str, str], tuple[dict, float, NatReading]] = {}


def readings_now(deps: Deps, probes: Mapping[str, ProbeResult], now: float) -> tuple[dict[str, NatReading],
                                                                                   dict[str, NatReading]]:
    """(the new readings, the latest of every NAT whose probe brought its counters), remembered. A snapshot
    the agent wrote before (the same ``at``: it writes every HANAT_COUNTERS_EVERY_S, 5 s, while sweeps may
    come every second) is no new reading: judged again, its increases would read as zero, a good reading
    that resets the count of bad ones; its reading stays the latest (headroom)."""
    new, latest = {}, {}
    for az, result in probes.items():
        if result.counters is None:
            continue
        key = (deps.topology.stack, az)
        before, at, last = last_counters.get(key, (None, now, None))
        if last is not None and before is not None and before.get("at") == result.counters.get("at"):
            latest[az] = last
            continue
        new[az] = latest[az] = reading(az, before, result.counters, now - at)
        last_counters[key] = (result.counters, now, new[az])
    return new, latest


def _save(deps: Deps, judged: GrayRound, stored: Mapping[str, dict], readings: Mapping[str, NatReading],
          now: float) -> None:
    for az, state in judged.states.items():
        old, r = stored.get(az), readings.get(az)
        if old is None and r is None:
            continue                  # never read: nothing to show yet
        changed = old is None or GrayState.from_dict(old).to_dict() != state.to_dict()
        if not changed and now - float(old.get("recorded_at", 0.0)) < RECORD_EVERY_S:
            continue
        body = {**state.to_dict(), "recorded_at": now,
                "reading": r.to_dict() if r else (old or {}).get("reading"),
                "read_at": now if r else (old or {}).get("read_at")}
        try:
            gray_records.put_gray(deps.clients.dynamodb, deps.topology.table_name, az, body,
                                  expected_version=state.version, deadline=deps.deadline)
        except ConflictError:
            logger.warning("gray record written by another run", extra={"zone": az})


def _alert(deps: Deps, judged: GrayRound, readings: Mapping[str, NatReading], now: float, sent: list[dict]) -> None:
    nat_of = {z.az: z.nat_instance_id for z in deps.topology.zones}
    for az in (*judged.entered, *judged.recovered):
        alert = gray_alert(judged.states[az], readings.get(az), nat_of.get(az, ""), now, deps.topology.stack)
        history.record_alert(deps, alert)
        deps.metric("NatDegraded" if az in judged.entered else "NatRecovered", 1.0, "Count", {"zone": az})
        try:
            deps.alert_sink(alert)
            sent.append(alert.to_dict())
        except HanatError as err:
            logger.error("alert not delivered", extra={"zone": az, "type": alert.type, "error": str(err)})


def _baselines(deps: Deps) -> dict[str, float]:
    """az -> its NAT type's baseline Mbit/s (``instance_types``; types the table lacks are left out)."""
    nat_of = {z.nat_instance_id: z.az for z in deps.topology.zones if z.nat_instance_id}
    try:
        builds = instances.describe_builds(deps.clients.ec2, list(nat_of))
    except HanatError as err:   # headroom is then judged on conntrack and ports alone
        logger.warning("NAT types not read", extra={"error": str(err)})
        return {}
    found = {nat_of[i]: limits(b.instance_type) for i, b in builds.items() if i in nat_of}
    return {az: float(lim.baseline_mbps) for az, lim in found.items() if lim is not None}


def gray_pass(deps: Deps, probes: Mapping[str, ProbeResult], served_by: Mapping[str, str]) -> dict:
    """Judge, store, alert and move for this sweep (``served_by``: zone -> the az serving it, as the
    sweep stored it); what it did: {"degraded": [az], "entered", "recovered", "moves", "alerts", "notes"}."""
    topo, now = deps.topology, deps.clock()
    s = topo.failover
    if s.degraded_after <= 0:
        return {}
    fresh, readings = readings_now(deps, probes, now)
    if not fresh:      # no new NAT counters this sweep (none asked for, no agent answered, none since): nothing to judge
        return {}
    stored = gray_records.list_gray(deps.clients.dynamodb, topo.table_name, deadline=deps.deadline)
    previous = {az: GrayState.from_dict({**body, "az": az}) for az, body in stored.items()}
    judged = judge_all(previous, fresh, s, now, topo.azs)
    _save(deps, judged, stored, readings, now)
    sent: list[dict] = []
    _alert(deps, judged, readings, now, sent)
    degraded = [az for az, st in judged.states.items() if st.status == DEGRADED]
    out = {"degraded": degraded, "entered": list(judged.entered), "recovered": list(judged.recovered),
           "moves": [], "notes": [], "alerts": sent}
    if not any(server in degraded and zone != server for zone, server in served_by.items()):
        return out
    baselines = _baselines(deps)
    notes: list[str] = []

    def decider(_snapshot, inputs, at):
        decision = decide_moves(inputs, judged.states, readings, s, now=at, stack=topo.stack, baselines=baselines)
        notes[:] = decision.notes
        return decision

    applied = decide_and_apply(deps, decider)
    publish(deps, applied, sent)
    for note in notes:
        logger.warning("zone stays on a degraded NAT", extra={"note": note})
    out.update(moves=[m.to_dict() for m in applied.moves], notes=notes, alerts=sent)
    return out
