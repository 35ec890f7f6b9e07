"""Connections in the drills (issue 13): the ``manual-failover`` scenario, the connection figures every
drill reports (``measure``) and the connection checks of the drills that make a promise about them
(``checks``): ``blackhole``/``stop`` (every connection through the dead NAT is reset within 1 s of its
zone's route move: ``max_stall_s <= rto_s + 1``), ``revert`` and ``manual-failover`` (no connection
broken by a planned move, old connections stay on the NAT that holds them, new flows take the new one).

The connection clients run on the netns data plane only (lab.dataplane.netns.conns); on another data plane the
figures stay None and no connection check is made.
"""
from __future__ import annotations

from lab.dataplane import connlog

from .. import connections as cx
from .. import report as rp
from . import Scenario, register
from .steps import mark, steady, wait_served_elsewhere

HOLD_S = 3.0        # how long the zone stays on the other NAT (connections run through the handoff)
RESET_WITHIN_S = 1.0
WATCH_LAG_S = 1.0   # the lab's watcher sees a route move up to one poll (0.15 s) late: margin


def conns_of(session) -> list[connlog.Conn] | None:
    events_of = getattr(session.dataplane, "connection_events", None)
    if events_of is None:
        return None
    return connlog.build(e for az in session.topology().azs for e in events_of(az))


def moves_of(events) -> list[cx.Move]:
    return [cx.Move(e.t, e.zone, e.event) for e in rp.route_events(events)]


def measure(session, rep: rp.DrillReport, marks, events, *, nat_reset: bool = True) -> None:
    conns = conns_of(session)
    if conns is None:
        return
    fig = cx.figures(conns, moves_of(events), start=marks.start, fault=marks.fault, now=marks.end)
    rep.connections_open = fig.connections_open
    rep.connections_broken = fig.connections_broken
    rep.reset_after_s = fig.reset_after_s
    rep.max_stall_s = fig.max_stall_s
    rep.connections = {"broken_by_move": fig.broken_by_move, "nat_reset": nat_reset,
                       "hung_after_s": connlog.HUNG_S}


# --- checks -------------------------------------------------------------------------------------
def _dead_nat_checks(session, rep, marks, events, conns) -> dict[str, bool]:
    zone = rep.zone
    failover = next((m for m in moves_of(events) if m.zone == zone and m.t >= marks.fault), None)
    through_dead = [c for c in conns if c.zone == zone and c.open_at(marks.fault)]
    reset_fast = failover is not None and bool(through_dead) and all(
        c.reset is not None and c.reset[1] - failover.t <= RESET_WITHIN_S + WATCH_LAG_S for c in through_dead)
    bound = None if rep.rto_s is None else rep.rto_s + 1
    return {"connections_through_dead_nat_reset": reset_fast,
            "max_stall_s<=rto_s+1": bound is not None and rep.max_stall_s is not None and rep.max_stall_s <= bound}


def _revert_checks(session, rep, marks, events, conns) -> dict[str, bool]:
    zone = rep.zone
    revert = next((m for m in moves_of(events) if m.zone == zone and m.kind == "revert" and m.t >= marks.recover),
                  None)
    if revert is None:
        return {"connections_broken_on_revert==0": False}
    since = revert.t - WATCH_LAG_S
    # new flows (the egress client opens one per request): once one reaches the recovered NAT (the lab's
    # sync thread applies the emulator's route to the kernel a moment after the move), all do
    after = [s.you for s in session.samples(zone) if s.t >= revert.t and s.ok]
    own = rep.egress_ip_before
    new_after = after[after.index(own):] if own in after else []
    return {"connections_broken_on_revert==0": cx.broken_since(conns, since, marks.end, zone=zone) == 0,
            "old_connections_stay_on_backup": cx.old_flows_stay(conns, revert.t, zone) is True
                                              and rep.egress_ip_before not in cx.addresses_after(
                                                  conns, revert.t + WATCH_LAG_S, opened_before=True, zone=zone),
            "recovered_nat_carries_only_new_flows": bool(new_after) and set(new_after) == {own}}


def _manual_checks(session, rep, marks, events, conns) -> dict[str, bool]:
    zone = rep.zone
    moves = [m for m in moves_of(events) if m.zone == zone and m.t >= marks.fault]
    failover = next((m for m in moves if m.kind == "failover"), None)
    revert = next((m for m in moves if m.kind == "revert"), None)
    return {"connections_broken==0": rep.connections_broken == 0,
            "both_moves_seen": failover is not None and revert is not None,
            "old_connections_stay_on_their_nat": failover is not None
                                                 and cx.old_flows_stay(conns, failover.t, zone) is True,
            "new_flows_took_the_other_nat": any(ip != rep.egress_ip_before for ip in rep.egress_ips_during)}


# a roll's handoff ends at the first run step after the drain (one sweep interval at most, plus that sweep's
# own wall time at the heartbeat's CPU share: Heartbeat.longest_run_s), the NATs' agents apply the tags'
# removal within their 1 s poll, the lab clients' capped retransmission 1 s later
AGENT_POLL_S = 1.0


def _roll_checks(session, rep, marks, events, conns) -> dict[str, bool]:
    """Each zone's roll move (away to another NAT, its old NAT draining ``maintenance.drain_s``):
    connections that end within the drain are not broken, longer ones get a reset soon after it, none hangs
    (lab.drills.connections.judge_roll, zone by zone)."""
    topology = session.topology()
    drain_s, interval_s = topology.maintenance.drain_s, topology.probe.interval_s
    # the NATs see the handoff's end only once the metadata shows the tags' removal (--imds-tag-delay-s)
    tag_delay_s = float(getattr(session.dataplane, "imds_tag_delay_s", 0.0))
    sweep_s = session.heartbeat.longest_run_s(marks.fault, marks.end)
    out: dict[str, bool] = {}
    for az in topology.azs:
        moved = next((m for m in moves_of(events) if m.zone == az and m.kind == "failover" and m.t >= marks.fault),
                     None)
        if moved is None:
            out["roll_zone_moves_seen"] = False
            continue
        verdict = cx.judge_roll(conns, zone=az, moved_at=moved.t, drain_ended_at=moved.t + drain_s, now=marks.end,
                                reset_within_s=interval_s + sweep_s + AGENT_POLL_S + RESET_WITHIN_S + WATCH_LAG_S
                                + tag_delay_s)
        for name, ok in verdict.items():
            out[name] = out.get(name, True) and ok
    return out


CHECKS = {"blackhole": _dead_nat_checks, "stop": _dead_nat_checks, "revert": _revert_checks,
          "manual-failover": _manual_checks, "roll": _roll_checks}


def checks(session, rep, marks, events) -> dict[str, bool]:
    judge = CHECKS.get(rep.scenario)
    conns = conns_of(session) if judge else None
    if conns is None:
        return {}
    return judge(session, rep, marks, events, conns)


# --- the manual-failover scenario ----------------------------------------------------------------
def run_manual_failover(session, zone, opts, marks) -> None:
    """``hanat failover`` of the zone's healthy NAT to another zone's, then ``hanat revert``: both are
    planned moves (connection handoff both ways)."""
    from chalicelib.service.operations import operate
    other = next(az for az in session.topology().azs if az != zone)
    marks.affected = (zone,)
    mark(session, marks, "fault", zone, kind="manual-failover", to_zone=other)
    out = session.run_function("operate", operate,
                               {"action": "failover", "zone": zone, "to_zone": other, "reason": "lab drill"})
    wait_served_elsewhere(session, zone, 10)
    session.clock.sleep(HOLD_S)
    mark(session, marks, "recover", zone, kind="manual-revert")
    back = session.run_function("operate", operate, {"action": "revert", "zone": zone, "reason": "lab drill"})
    session.wait_until(f"zone {zone} back on its own NAT", lambda: session.served_by()[zone] == zone, 10)
    marks.extra = {"handoffs": out.get("handoffs", []), "revert_handoffs": back.get("handoffs", [])}
    session.clock.sleep(HOLD_S)
    steady(session)


def judge_manual_failover(session, rep, marks, events) -> dict[str, bool]:
    extra = marks.extra or {}
    return {"failover_handed_off": bool(extra.get("handoffs")),
            "revert_handed_off": bool(extra.get("revert_handoffs")),
            "reverted_once": rep.reverts == 1}


register(Scenario("manual-failover", run_manual_failover, judge_manual_failover))
