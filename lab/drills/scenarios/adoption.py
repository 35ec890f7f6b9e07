"""``cutover`` (issue 11): take a VPC over from its NAT gateways, fail over in it, and give it back.

The session adopts a VPC built like a VPC module would (``Scenario(adopt=True)``: a NAT gateway per zone,
the stack made by ``hanat up`` in adopt mode, no route moved) and has not started the controller. The
script, each phase measured on every zone's private host (one request every 100 ms):

1. before: every zone goes out by its NAT gateway's address;
2. the controller starts (the drill's ``fault`` moment): it proves each zone's NAT and cuts the zones over
   by itself, one per sweep (chalicelib/service/adoption.py, engine/cutover.py); egress now leaves by
   each zone's NAT Elastic IP, with at most one failed request per zone;
3. a blackhole of the drill's zone then fails over and reverts as in a VPC hanat built;
4. ``release`` of every zone (operate ``release``, what ``hanat release --all`` runs) points every table
   back at its NAT gateway, again with at most one failed request per zone, and the controller leaves the
   released zones alone.
"""
from __future__ import annotations

import itertools

from chalicelib.service.operations import operate
from lab.aws.adapters import route_views

from .. import report as rp
from . import Scenario, register
from .steps import detect_bound, mark, steady, wait_egress, wait_served_elsewhere

SETTLE_S = 1.0              # after a phase: let the clients show where egress went
LEFT_ALONE_SWEEPS = 3       # sweeps after the release in which the controller must move nothing
MAX_FAILED_PER_MOVE = 1     # failed 100 ms requests per zone at cutover and at release (issue 11)
TABLES_SEEN_APART_S = 1.0   # one move of a zone writes its route tables in turn: the watcher may see them apart


def _addresses(session) -> dict[str, dict[str, str | None]]:
    """Per zone: the lab address of its NAT gateway (its tables' original target) and of its NAT's EIP."""
    spec, topology = session.dataplane_spec(), session.topology()
    out = {}
    for z in topology.zones:
        gateway = spec.nat_gateway(next((t.original_target for t in z.adopted), None))
        out[z.az] = {"nat_gateway": gateway.gateway_id if gateway else None,
                     "nat_gateway_address": gateway.lab_address if gateway else None,
                     "nat_eip_address": spec.zone(z.az).nat.lab_address}
    return out


def _on_own_nat(session, az: str) -> bool:
    zone = session.topology().zone(az)
    views = route_views(session.lab_clients.ec2, list(zone.private_route_table_ids))   # the lab's look: the truth
    return all(views[t].default_target == zone.nat_eni_id for t in zone.private_route_table_ids)


def _wait_egress_by(session, az: str, address: str | None, bound_s: float) -> None:
    def there() -> bool:
        recent = [s for s in session.samples(az) if s.t >= session.clock.time() - 0.5]
        return bool(recent) and all(s.ok and s.you == address for s in recent)
    session.wait_until(f"zone {az} going out by {address}", there, bound_s)


def zone_moves(events, kinds) -> list:
    """The route events of ``kinds``, one per move of a zone: an adopted zone has several route tables (two
    here), which the controller points one after the other, so the watcher (polling every 150 ms) may see
    one move as two events a poll apart. Events of the same kind, zone, from and to, on other tables and
    within ``TABLES_SEEN_APART_S`` of the move's first, are that one move."""
    moves: list = []
    tables: list[set] = []
    for e in events:
        if e.event not in kinds:
            continue
        key = (e.event, e.zone, e.detail.get("from"), e.detail.get("to"))
        seen = set(e.detail.get("route_tables", []))
        i = next((i for i in range(len(moves) - 1, -1, -1) if (moves[i].event, moves[i].zone,
                  moves[i].detail.get("from"), moves[i].detail.get("to")) == key), None)
        if i is not None and e.t - moves[i].t <= TABLES_SEEN_APART_S and not seen & tables[i]:
            tables[i] |= seen
            continue
        moves.append(e)
        tables.append(seen)
    return moves


def run_cutover(session, zone, opts, marks) -> None:
    p = session.settings.config.probe
    azs = session.topology().azs
    marks.affected = (zone,)
    addresses = _addresses(session)
    extra: dict = {"addresses": addresses}
    marks.extra = extra
    for az in azs:   # the controller is not running yet: every zone on its NAT gateway
        _wait_egress_by(session, az, addresses[az]["nat_gateway_address"], 15)

    # 2. the controller starts; it proves every NAT and cuts the zones over one per sweep
    mark(session, marks, "fault", None, kind="controller started (adopting)")
    session.start_heartbeat()
    proving = (p.recover_after + 2) * (p.interval_s + p.timeout_s)
    session.wait_until("every zone cut over to its NAT", lambda: all(_on_own_nat(session, az) for az in azs),
                       len(azs) * proving + 30)
    for az in azs:
        _wait_egress_by(session, az, addresses[az]["nat_eip_address"], 15)
    session.clock.sleep(SETTLE_S)
    extra["cutover_done"] = session.timeline.add("cutover_done", None).t

    # 3. a blackhole in the adopted VPC fails over and back as usual
    extra["blackhole"] = session.timeline.add("blackhole", zone).t
    session.dataplane.blackhole(zone, True)
    wait_served_elsewhere(session, zone, detect_bound(p))
    wait_egress(session, zone, 15)
    session.clock.sleep(SETTLE_S)
    session.dataplane.blackhole(zone, False)
    mark(session, marks, "recover", zone, kind="blackhole")
    steady(session)
    session.clock.sleep(SETTLE_S)

    # 4. give every zone back to its NAT gateway
    extra["release"] = session.timeline.add("release_requested", None).t
    answer = session.run_function("operate", operate, {"action": "release", "all": True,
                                                       "reason": "lab drill: give the routes back"})
    extra["release_targets"] = answer.get("targets", {})
    session.wait_until("every zone back on its NAT gateway",
                       lambda: all(session.on_original_targets(az) for az in azs), 15)
    for az in azs:
        _wait_egress_by(session, az, addresses[az]["nat_gateway_address"], 15)
    session.clock.sleep(SETTLE_S)
    extra["release_done"] = session.timeline.add("release_done", None).t
    session.clock.sleep(LEFT_ALONE_SWEEPS * p.interval_s)   # the controller must leave released zones alone
    steady(session)


def judge_cutover(session, rep, marks, events) -> dict[str, bool]:
    p = session.settings.config.probe
    extra = marks.extra or {}
    if "release_done" not in extra:   # the script stopped early (rep.error says why)
        return {"completed": False}
    azs = session.topology().azs
    start, cut_done = marks.fault, extra["cutover_done"]
    blackhole, release, release_done = extra["blackhole"], extra["release"], extra["release_done"]
    cutovers = zone_moves(events, ("cutover",))
    zones = {}
    for az in azs:
        samples, expect = session.samples(az), extra["addresses"][az]
        own_cutovers = [e for e in cutovers if e.zone == az]
        zones[az] = {
            **expect,
            "egress_ip_before": rp.last_egress(samples, start),              # before the cutover
            "egress_ip_after": rp.last_egress(samples, cut_done),            # after the cutover
            "egress_ip_after_release": rp.last_egress(samples, marks.end + 0.01),
            "cutover_at_s": round(own_cutovers[0].t - start, 3) if own_cutovers else None,
            "cutovers": len(own_cutovers),
            "failed_requests_at_cutover": rp.failed_between(samples, start, cut_done),
            "failed_requests_at_release": rp.failed_between(samples, release, release_done),
        }
    times = sorted(e.t for e in cutovers)
    # the blackhole part's figures are this drill's detection and RTO, its moves counted per zone move
    blackhole_moves = zone_moves([e for e in events if e.t >= blackhole], ("failover", "revert"))
    rep.failovers = sum(1 for e in blackhole_moves if e.event == "failover")
    rep.reverts = sum(1 for e in blackhole_moves if e.event == "revert")
    rep.detection_s = rp.detection(events, (rep.zone,), blackhole)
    rep.rto_s = rp.rto(session.samples(rep.zone), blackhole)
    during = rp.egress_addresses_between(session.samples(rep.zone), blackhole, marks.recover)
    other_eips = {zones[az]["nat_eip_address"] for az in azs if az != rep.zone}
    moves_after_release = [e for e in events if e.t >= release_done
                           and e.event in (*rp.ROUTE_EVENTS, "cutover", "release")]
    releases = [e.t for e in events if e.event == "release" and e.t >= release]
    rep.figures = {"zones": zones,
                   "cutover_s": round(max(times) - start, 3) if times else None,   # controller start -> last zone
                   "release_s": round(max(releases) - release, 3) if releases else None,
                   "release_targets": extra.get("release_targets", {})}
    return {
        "egress_via_nat_gateways_before": all(
            z["nat_gateway_address"] is not None and z["egress_ip_before"] == z["nat_gateway_address"]
            for z in zones.values()),
        "cut_over_zone_by_zone_once_each": (all(z["cutovers"] == 1 for z in zones.values())
                                            and all(b - a >= p.interval_s / 2 for a, b in itertools.pairwise(times))),
        "egress_via_nat_eip_after_cutover": all(z["egress_ip_after"] == z["nat_eip_address"] for z in zones.values()),
        f"failed_requests_at_cutover<={MAX_FAILED_PER_MOVE}_per_zone": all(
            z["failed_requests_at_cutover"] <= MAX_FAILED_PER_MOVE for z in zones.values()),
        "blackhole_failed_over_and_back": (rep.failovers == 1 and rep.reverts == 1 and rep.false_failovers == 0
                                           and bool(other_eips & set(during))),
        "released_to_nat_gateways": (all(session.on_original_targets(az) for az in azs)
                                     and all(z["egress_ip_after_release"] == z["nat_gateway_address"] for z in zones.values())),
        f"failed_requests_at_release<={MAX_FAILED_PER_MOVE}_per_zone": all(
            z["failed_requests_at_release"] <= MAX_FAILED_PER_MOVE for z in zones.values()),
        "released_zones_left_alone": not moves_after_release,
    }


def summary_cutover(rep) -> str:
    """Per zone: failed requests at cutover/release and the egress address before -> after -> released."""
    zones = (rep.figures or {}).get("zones", {})
    return "; ".join(f"{az}: failed {z['failed_requests_at_cutover']}/{z['failed_requests_at_release']} "
                     f"(cutover/release), egress {z['egress_ip_before']} -> {z['egress_ip_after']} -> "
                     f"{z['egress_ip_after_release']}" for az, z in zones.items())


register(Scenario("cutover", run_cutover, judge_cutover, adopt=True, summary=summary_cutover))
