"""Spot NATs (issue 20): ``spot-interruption`` -- EC2 warns (EventBridge event and instance metadata, through
lab.aws.spot) and terminates the zone's NAT a scaled two minutes later; the controller must move the zone at
once (planned, connections handed over), replace the NAT and keep its Elastic IP. Judged: routes moved within
10 s of the warning, no connection open at the warning broken before the interruption (those that end within
the warning are never broken; longer ones die with the instance, as on AWS), the same egress address before
and after, the NAT replaced once, one alert about the warning.

``spot-capacity``: the stack's NATs are spot (``nat.market`` = spot, fallback on, published in the topology),
the emulator has no spot capacity (lab.aws.moto_server ``spot_capacity`` off: InsufficientInstanceCapacity),
and the zone's NAT is replaced (an operator's planned ``replace``): the launch asks spot, is refused, and falls
back to on-demand. Judged: spot refused at least once, the new NAT on-demand, the zone's egress never down
for more than one failed request per move, the same egress address after.
"""
from __future__ import annotations

from dataclasses import replace

from chalicelib.aws import params
from chalicelib.aws.markets import market_of
from chalicelib.service import replacement
from chalicelib.service.spot_warnings import handle_spot_warning
from chalicelib.settings import MarketSettings
from lab.aws.spot import SpotInterrupter

from .. import report as rp
from . import Scenario, register
from .connections import conns_of
from .steps import mark, steady, wait_egress, wait_served_elsewhere

SPOT_SCALE = 0.1              # the lab's two minutes: 12 s (the drill's own time scale)
ROUTES_MOVED_WITHIN_S = 10.0  # issue 20: "the routes have moved within 10 s of the warning"
INTERRUPT_LAG_S = 0.5         # the emulator's termination reaches the data plane within a sync (0.5 s)


def run_spot_interruption(session, zone, opts, marks) -> None:
    marks.affected = (zone,)
    old = session.nat_of(zone)
    interrupter = SpotInterrupter(
        ec2=session.lab_clients.ec2, stack=session.stack, region=session.topology().region,
        deliver=lambda event: session.run_function("on_spot_warning", handle_spot_warning, event),
        timeline=session.timeline, mark_metadata=getattr(session.dataplane, "spot_notice", None), scale=SPOT_SCALE,
        clock=session.clock)
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
    # the zone's connections open at the warning: handed back to the warned NAT, they must keep working until
    # EC2 takes it (a reset before then is a connection the controller broke; one that lives past the
    # interruption dies with the instance, as it would on AWS)
    at_warning = None if conns is None else [c for c in conns if c.zone == zone and c.open_at(warned)]
    ended_within = None if at_warning is None else [c for c in at_warning if c.ended is not None and c.ended <= gone]
    broken_within = None if at_warning is None else sum(
        1 for c in at_warning if c.reset is not None and c.reset[1] < gone - INTERRUPT_LAG_S)
    # what people heard between the warning and the interruption: the replacement's "started", nothing else
    warning_alerts = [a["type"] for a in session.alerts.since(warned) if a["t"] <= gone and zone in a["zones"]]
    launched = [e for e in events if e.event == "new_nat" and e.zone == zone and e.t >= warned]
    samples = session.samples(zone)
    before, after = rp.last_egress(samples, warned), rp.last_egress(samples, marks.end + 0.01)
    rep.figures = {"routes_moved_s": routes_moved_s, "notice_s": round(gone - warned, 3),
                   "connections_open_at_warning": None if at_warning is None else len(at_warning),
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
        checks["connections_broken_within_warning==0"] = bool(at_warning) and broken_within == 0
    return checks


def summary_spot_interruption(rep) -> str:
    f = rep.figures or {}
    return (f"routes moved {f.get('routes_moved_s')} s after the warning, "
            f"{f.get('connections_broken_within_warning')} of {f.get('connections_open_at_warning')} "
            f"connections broken before the interruption, egress {f.get('egress_ip_after')}")


# --- spot-capacity ------------------------------------------------------------------------------
MAX_FAILED_PER_MOVE = 2            # failed 100 ms requests per move of the zone (as the roll drill holds it)


def _set_market(session, market: MarketSettings) -> None:
    """Publish ``nat.market`` in the topology parameter (what `hanat up` writes from the config)."""
    topology = session.deps("lab-spot", refresh=True).topology
    params.write_topology(session.clients.ssm, replace(topology, nat_market=market))
    session.deps("lab-spot", refresh=True)


def run_spot_capacity(session, zone, opts, marks) -> None:
    marks.affected = (zone,)
    old = session.nat_of(zone)
    before = session.emulator.faults(spot_capacity=False)
    _set_market(session, MarketSettings(market="spot", spot_fallback=True))
    try:
        mark(session, marks, "fault", zone, kind="spot-capacity", nat=old)
        session.run_function("operate", replacement.request_replacement, zone, "lab drill: spot-capacity")
        session.wait_until(f"a replacement NAT for {zone}", lambda: session.nat_of(zone) != old,
                           session.settings.config.failover.replace_after_s + 90)
        after = session.emulator.faults(spot_capacity=True)
    finally:
        session.emulator.faults(spot_capacity=True)
    new = session.nat_of(zone)
    mark(session, marks, "recover", zone, kind="replaced", old=old, new=new)
    steady(session)
    raw = session.lab_clients.ec2.describe_instances(InstanceIds=[new])["Reservations"][0]["Instances"][0]
    marks.extra = {"old_nat": old, "new_nat": new, "new_market": market_of(raw),
                   "spot_refused": after["spot_refused"] - before["spot_refused"]}


def judge_spot_capacity(session, rep, marks, events) -> dict[str, bool]:
    extra = marks.extra or {}
    zone, start, done = rep.zone, marks.fault, marks.recover or marks.end
    samples = session.samples(zone)
    moves = [e for e in rp.route_events(events, zone) if start <= e.t <= done]
    failed_per_move = [rp.failed_between(samples, e.t - 1.0, e.t + 1.0) for e in moves]
    before, after = rp.last_egress(samples, start), rp.last_egress(samples, marks.end + 0.01)
    rep.figures = {"spot_refused": extra.get("spot_refused"), "new_market": extra.get("new_market"),
                   "failed_requests": rp.failed_between(samples, start, done), "failed_per_move": failed_per_move,
                   "moves": len(moves), "egress_ip_before": before, "egress_ip_after": after,
                   "old_nat": extra.get("old_nat"), "new_nat": extra.get("new_nat")}
    return {
        "spot_refused": (extra.get("spot_refused") or 0) >= 1,
        "on_demand_launched": extra.get("new_market") == "on-demand"
                              and bool(extra.get("new_nat")) and extra.get("new_nat") != extra.get("old_nat"),
        f"zone_served_throughout(failed_requests<={MAX_FAILED_PER_MOVE}_per_move)":
            bool(moves) and all(n <= MAX_FAILED_PER_MOVE for n in failed_per_move),
        "egress_ip_same_after_replacement": bool(before) and before == after,
    }


def summary_spot_capacity(rep) -> str:
    f = rep.figures or {}
    return (f"spot refused {f.get('spot_refused')}x, new NAT {f.get('new_market')}, "
            f"{f.get('failed_requests')} failed requests over {f.get('moves')} moves")


register(Scenario("spot-interruption", run_spot_interruption, judge_spot_interruption,
                  summary=summary_spot_interruption, replaces_nat=True))
register(Scenario("spot-capacity", run_spot_capacity, judge_spot_capacity,
                  summary=summary_spot_capacity, replaces_nat=True))
