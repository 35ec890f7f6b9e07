"""Spot NATs (issue 20): ``spot-interruption`` -- EC2 warns (EventBridge event and instance metadata, through
lab.aws.spot) and terminates the zone's NAT a scaled two minutes later; the controller must move the zone at
once (planned, connections handed over), replace the NAT and keep its Elastic IP. Judged: routes moved within
10 s of the warning, no connection broken among those that ended within the warning, the same egress address
before and after, the NAT replaced once, one alert about the warning.

``spot-capacity`` (EC2 refusing spot, the launch falling back to on-demand, the zone served throughout) is not
here yet: it needs the emulator to refuse spot launches (lab/aws/moto_server.py), see the issue's report.
"""
from __future__ import annotations

from chalicelib.service.spot_warnings import handle_spot_warning
from lab.aws.spot import SpotInterrupter

from .. import report as rp
from . import Scenario, register
from .connections import conns_of
from .steps import mark, steady, wait_egress, wait_served_elsewhere

SPOT_SCALE = 0.1              # the lab's two minutes: 12 s (the drill's own time scale)
ROUTES_MOVED_WITHIN_S = 10.0  # issue 20: "the routes have moved within 10 s of the warning"


def run_spot_interruption(session, zone, opts, marks) -> None:
    marks.affected = (zone,)
    old = session.nat_of(zone)
    interrupter = SpotInterrupter(
        ec2=session.lab_clients.ec2, stack=session.stack, region=session.topology().region,
        deliver=lambda event: handle_spot_warning(session.deps("on_spot_warning", refresh=True), event),
        timeline=session.timeline, mark_metadata=getattr(session.dataplane, "spot_notice", None), scale=SPOT_SCALE)
    mark(session, marks, "fault", zone, kind="spot-interruption", nat=old)
    try:
        terminate_at = interrupter.interrupt(old, zone=zone)
        wait_served_elsewhere(session, zone, ROUTES_MOVED_WITHIN_S)
        interrupter.wait(interrupter.notice_s + 10)
    finally:
        interrupter.cancel()
    wait_egress(session, zone, 15)
    session.wait_until(f"a replacement NAT for {zone}", lambda: session.nat_of(zone) != old,
                       session.settings.config.failover.replace_after_s + 90)
    new = session.nat_of(zone)
    mark(session, marks, "recover", zone, kind="replaced", old=old, new=new)
    steady(session)
    marks.extra = {"old_nat": old, "new_nat": new, "terminate_at": terminate_at,
                   "outcomes": list(interrupter.outcomes)}


def judge_spot_interruption(session, rep, marks, events) -> dict[str, bool]:
    extra = marks.extra or {}
    zone, warned, gone = rep.zone, marks.fault, extra.get("terminate_at") or marks.recover
    moved = next((e.t for e in rp.route_events(events, zone) if e.t >= warned), None)
    routes_moved_s = None if moved is None else round(moved - warned, 3)
    conns = conns_of(session)
    ended_within = None if conns is None else [c for c in conns if c.zone == zone and c.open_at(warned)
                                               and c.ended is not None and c.ended <= gone]
    broken_within = None if ended_within is None else sum(1 for c in ended_within if c.reset is not None)
    # what people heard between the warning and the interruption: the replacement's "started", nothing else
    warning_alerts = [a["type"] for a in session.alerts.since(warned) if a["t"] <= gone and zone in a["zones"]]
    launched = [e for e in events if e.event == "new_nat" and e.zone == zone and e.t >= warned]
    samples = session.samples(zone)
    before, after = rp.last_egress(samples, warned), rp.last_egress(samples, marks.end + 0.01)
    rep.figures = {"routes_moved_s": routes_moved_s, "notice_s": round(gone - warned, 3),
                   "connections_ended_within_warning": None if ended_within is None else len(ended_within),
                   "connections_broken_within_warning": broken_within,
                   "egress_ip_before": before, "egress_ip_after": after,
                   "old_nat": extra.get("old_nat"), "new_nat": extra.get("new_nat")}
    checks = {
        f"routes_moved_s<={ROUTES_MOVED_WITHIN_S:g}": routes_moved_s is not None
                                                       and routes_moved_s <= ROUTES_MOVED_WITHIN_S,
        "egress_ip_same_after_replacement": bool(before) and before == after,
        "replaced_once": bool(extra.get("new_nat")) and extra.get("new_nat") != extra.get("old_nat")
                         and len(launched) == 1,
        "one_alert_for_the_warning": warning_alerts == ["replace"],
    }
    if broken_within is not None:   # the netns plane's connection clients (none on the computed plane)
        checks["connections_broken_within_warning==0"] = broken_within == 0
    return checks


def summary_spot_interruption(rep) -> str:
    f = rep.figures or {}
    return (f"routes moved {f.get('routes_moved_s')} s after the warning, "
            f"{f.get('connections_broken_within_warning')} of {f.get('connections_ended_within_warning')} "
            f"connections ending within it broken, egress {f.get('egress_ip_after')}")


register(Scenario("spot-interruption", run_spot_interruption, judge_spot_interruption,
                  summary=summary_spot_interruption, replaces_nat=True))
