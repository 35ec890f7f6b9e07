"""The gray-failure drills (issue 19 item 7), netns data plane only: ``conntrack-full``, ``port-exhaustion``,
``bandwidth-cap``. A NAT whose probes keep passing while users' new flows fail must become DEGRADED (one
alert naming the cause and the remedy), the zone it serves for another zone must move off it to a NAT with
headroom (its own NAT here: a planned move, connections handed off), and its own zone must stay on it.

Each drill: the other zone is put on the drilled NAT first (the operator's ``failover``, a planned move), then
the fault goes into that NAT's namespace (lab.dataplane.netns.gray_faults: made the way the kernel makes it
where a namespace allows; where it does not -- conntrack's limit, ENA's allowance counter -- the injection says
how it is emulated, and the report carries that text in ``figures.injected.emulated``), the load from the other
zone's private host. Judged, from what was measured: the time from the fault to DEGRADED (the gray record's
``since``) and to the alert, the cause named, what the heartbeat read (the reading stored with the DEGRADED
state, as `hanat status` shows it) against what was injected, the zones moved (the served zone home, the
NAT's own zone not at all) and the connections broken. The NAT stays DEGRADED for
``failover.degraded_min_hold_s`` after the fault is lifted (300 s: not waited for; the next drill's session
reset clears the record).
"""
from __future__ import annotations

from chalicelib.aws.gray_records import list_gray
from chalicelib.engine.gray import ALLOWANCE, CONNTRACK_FULL, PORT_ALLOCATION

from .. import report as rp
from . import Scenario, register
from .steps import mark, steady

COUNTERS_EVERY_S = 5.0   # hanat-nat-agent's HANAT_COUNTERS_EVERY_S (the default it ships with)
HOLD_S = 2.0             # the fault stays this long after the move (the clients show where they egress)
SERVED_WITHIN_S = 10.0
CAUSE = {"conntrack-full": CONNTRACK_FULL, "port-exhaustion": PORT_ALLOCATION, "bandwidth-cap": ALLOWANCE}
PARAMS = {"conntrack-full": {"headroom": 8}, "port-exhaustion": {"ports": 4}, "bandwidth-cap": {"rate_mbit": 8.0}}


def degraded_within_s(session) -> float:
    """DEGRADED takes ``degraded_after`` bad readings, one per new counters snapshot; the first snapshot after
    the fault may come a full interval late and the one before it only sets the base (increases), plus a
    probe round and a sweep."""
    f, p = session.topology().failover, session.topology().probe
    return (f.degraded_after + 2) * COUNTERS_EVERY_S + p.interval_s + p.timeout_s


def moved_within_s(session) -> float:
    """DEGRADED -> the served zone's move: the same sweep's gray pass makes it a planned move, which waits for
    both NATs' agents to apply the handoff (at most ``failover.handoff_ack_timeout_s``), then writes it; one
    sweep more when that sweep had no time left, and a second for the lab's route watcher."""
    topo = session.topology()
    return topo.failover.handoff_ack_timeout_s + topo.probe.interval_s + 1.0


def _degraded_alerts(session, zone: str, since: float) -> list[dict]:
    return [a for a in session.alerts.since(since) if a["type"] == "degraded" and a["zone"] == zone]


def _gray_record(session, zone: str) -> dict:
    return list_gray(session.lab_clients.dynamodb, session.topology().table_name).get(zone, {})


def _run(kind: str):
    def run(session, zone, opts, marks) -> None:
        from chalicelib.service.operations import operate
        other = next(az for az in session.topology().azs if az != zone)
        marks.affected = (zone,)
        session.run_function("operate", operate, {"action": "failover", "zone": other, "to_zone": zone,
                                                  "reason": f"lab drill {kind}: served by NAT {zone}"})
        session.wait_until(f"zone {other} served by NAT {zone}", lambda: session.served_by()[other] == zone,
                           SERVED_WITHIN_S)
        session.clock.sleep(1.0)   # the other zone's new flows through the drilled NAT for a moment
        injected = session.dataplane.gray_fault(kind, zone, load_az=other, **PARAMS[kind])
        mark(session, marks, "fault", zone, kind=kind, other=other)
        marks.extra = {"injected": injected, "other": other}
        try:
            session.wait_until(f"NAT {zone} DEGRADED ({kind})", lambda: bool(_degraded_alerts(session, zone, marks.fault)),
                               degraded_within_s(session))
            session.wait_until(f"zone {other} moved off the DEGRADED NAT {zone}",
                               lambda: session.served_by()[other] == other, moved_within_s(session))
            session.clock.sleep(HOLD_S)
            marks.extra["gray"] = _gray_record(session, zone)
        finally:
            session.dataplane.gray_fault(kind, zone, False)
        mark(session, marks, "recover", zone, kind=kind)
        steady(session)
    return run


def _published(kind: str, injected: dict, reading: dict) -> tuple[dict, bool]:
    """What the heartbeat read against what was injected (named figures), and whether they agree."""
    if kind == "conntrack-full":
        use = reading.get("conntrack_percent")
        return ({"injected_conntrack_limit": injected.get("conntrack_limit"),
                 "published_conntrack_limit": reading.get("conntrack_limit"),
                 "published_conntrack_count": reading.get("conntrack_count"), "published_conntrack_percent": use},
                reading.get("conntrack_limit") == injected.get("conntrack_limit") and use is not None and use >= 95)
    if kind == "port-exhaustion":
        return ({"injected_ports": injected.get("ports"), "injected_destination": injected.get("destination"),
                 "held": injected.get("held"), "published_port_errors": reading.get("port_errors"),
                 "published_busiest_destination": reading.get("busiest_destination"),
                 "published_conntrack_drops": reading.get("conntrack_drops")},
                (reading.get("port_errors") or 0) > 0 and injected.get("held") == injected.get("ports")
                and reading.get("busiest_destination") == injected.get("destination"))
    rate, seen = injected.get("rate_mbit"), reading.get("throughput_mbps")
    return ({"injected_rate_mbit": rate, "published_throughput_mbps": None if seen is None else round(seen, 2),
             "published_allowance_exceeded": reading.get("allowance_exceeded")},
            (reading.get("allowance_exceeded") or 0) > 0 and seen is not None and rate is not None
            and 0.25 * rate <= seen <= 1.5 * rate)   # both directions leave through the one capped interface


def _judge(kind: str):
    def judge(session, rep, marks, events) -> dict[str, bool]:
        extra = marks.extra or {}
        zone, other, fault = rep.zone, extra.get("other"), marks.fault
        record = extra.get("gray") or {}
        alerts = _degraded_alerts(session, zone, fault)
        since = record.get("since") if record.get("status") == "DEGRADED" else None
        moves = [e for e in rp.route_events(events) if e.t >= fault]
        home = next((e for e in moves if e.zone == other and e.event == "revert"), None)
        figures, agree = _published(kind, extra.get("injected") or {}, record.get("reading") or {})
        bound, moved_bound = degraded_within_s(session), moved_within_s(session)
        rep.figures = {
            "degraded_s": None if since is None else round(since - fault, 2),
            "alert_s": round(alerts[0]["t"] - fault, 2) if alerts else None,
            "causes": record.get("causes"), "reason": record.get("reason"),
            **figures,
            "zones_moved": [{"zone": e.zone, "kind": e.event, "from": e.detail.get("from"), "to": e.detail.get("to"),
                             "at_s": round(e.t - fault, 2)} for e in moves],
            "moved_after_degraded_s": None if home is None or since is None else round(home.t - since, 2),
            "connections_broken": rep.connections_broken,
            "connections_reset": None if rep.reset_after_s is None else len(rep.reset_after_s),
            "max_stall_s": rep.max_stall_s,
            "injected": extra.get("injected"),
        }
        checks = {
            f"degraded_within_{bound:g}s": since is not None and since - fault <= bound,
            "one_degraded_alert": len(alerts) == 1,
            f"cause_{CAUSE[kind]}": (record.get("causes") or []) == [CAUSE[kind]],
            "published_matches_injected": agree,
            f"served_zone_moved_home_within_{moved_bound:g}s": (
                home is not None and since is not None and home.t - since <= moved_bound),
            "own_zone_stays": not [e for e in moves if e.zone == zone],
        }
        if rep.connections_broken is not None:   # the netns plane's connection clients
            checks["connections_broken==0"] = rep.connections_broken == 0
        return checks
    return judge


def _summary(rep) -> str:
    f = rep.figures or {}
    moved = ", ".join(f"{m['zone']} {m['kind']} {m['at_s']}s" for m in f.get("zones_moved") or []) or "none"
    published = "; ".join(f"{k} {v}" for k, v in f.items() if k.startswith(("injected_", "published_")))
    return (f"DEGRADED {f.get('degraded_s')} s after the fault, alert {f.get('alert_s')} s, causes {f.get('causes')}, "
            f"{published}, zones moved: {moved}, {f.get('connections_broken')} connections broken")


for _kind in CAUSE:
    register(Scenario(_kind, _run(_kind), _judge(_kind), summary=_summary, netns_only=True))
