"""The NAT-fault scenarios: a NAT's path blackholed, its instance stopped or terminated, lossy probe paths,
the probe targets down, every NAT down, and the revert after a recovery. Each is a script (inject, wait for
the controller, recover, wait for steady state) and a judge (its acceptance checks, from what was measured)."""
from __future__ import annotations

from lab.aws.adapters import start_instance, stop_instance, terminate_instance

from .. import report as rp
from . import Scenario, register
from .steps import (
    MIN_FLAKY_S,
    blackhole_rto_bound,
    detect_bound,
    mark,
    steady,
    wait_egress,
    wait_served_elsewhere,
)


def run_blackhole(session, zone, opts, marks) -> None:
    p = session.settings.config.probe
    marks.affected = (zone,)
    session.dataplane.blackhole(zone, True)
    mark(session, marks, "fault", zone, kind="blackhole")
    wait_served_elsewhere(session, zone, detect_bound(p))
    wait_egress(session, zone, 15)
    session.clock.sleep(1.0)   # let the clients show the backup's address for a while
    session.dataplane.blackhole(zone, False)
    mark(session, marks, "recover", zone, kind="blackhole")
    steady(session)


def run_stop(session, zone, opts, marks) -> None:
    marks.affected = (zone,)
    nat = session.nat_of(zone)
    stop_instance(session.clients.ec2, session.stack, nat)
    mark(session, marks, "fault", zone, kind="stop", nat=nat)
    wait_served_elsewhere(session, zone, 15)
    wait_egress(session, zone, 15)
    session.clock.sleep(1.0)
    start_instance(session.clients.ec2, session.stack, nat)
    mark(session, marks, "recover", zone, kind="start", nat=nat)
    steady(session)


def run_terminate(session, zone, opts, marks) -> None:
    marks.affected = (zone,)
    old = session.nat_of(zone)
    mark(session, marks, "fault", zone, kind="terminate", nat=old)   # the controller may react before the call returns
    terminate_instance(session.clients.ec2, session.stack, old)
    wait_served_elsewhere(session, zone, 15)
    wait_egress(session, zone, 15)
    session.wait_until(f"a replacement NAT for {zone}", lambda: session.nat_of(zone) != old,
                       session.settings.config.failover.replace_after_s + 60)
    new = session.nat_of(zone)
    mark(session, marks, "recover", zone, kind="replaced", old=old, new=new)
    steady(session)
    marks.extra = {"old_nat": old, "new_nat": new}


def run_flaky(session, zone, opts, marks) -> None:
    marks.affected = ()
    marks.extra = {"flaky_required_s": opts.flaky_s}
    session.dataplane.flaky(True)
    mark(session, marks, "fault", None, kind="flaky")
    session.clock.sleep(opts.flaky_s)
    session.dataplane.flaky(False)
    mark(session, marks, "recover", None, kind="flaky")
    session.clock.sleep(session.settings.config.probe.interval_s * 2)
    steady(session)


def _outage_s(session, opts) -> float:
    p = session.settings.config.probe
    return opts.outage_s or p.fail_after * (p.interval_s + p.timeout_s) + 4 * p.interval_s + 2


def run_targets_down(session, zone, opts, marks) -> None:
    marks.affected = ()
    session.dataplane.targets_down(True)
    mark(session, marks, "fault", None, kind="targets-down")
    session.clock.sleep(_outage_s(session, opts))
    session.dataplane.targets_down(False)
    mark(session, marks, "recover", None, kind="targets-down")
    steady(session)


def run_all_down(session, zone, opts, marks) -> None:
    azs = session.topology().azs
    marks.affected = tuple(azs)
    for az in azs:
        session.dataplane.blackhole(az, True)
    mark(session, marks, "fault", None, kind="all-down")
    session.clock.sleep(_outage_s(session, opts))
    for az in azs:
        session.dataplane.blackhole(az, False)
    mark(session, marks, "recover", None, kind="all-down")
    steady(session)


def run_revert(session, zone, opts, marks) -> None:
    p = session.settings.config.probe
    marks.affected = (zone,)
    session.dataplane.blackhole(zone, True)
    mark(session, marks, "fault", zone, kind="blackhole")
    wait_served_elsewhere(session, zone, detect_bound(p))
    # recover once the hold has run, so the revert must also wait for recover_after passes
    session.clock.sleep(p.min_hold_s)
    session.dataplane.blackhole(zone, False)
    mark(session, marks, "recover", zone, kind="blackhole")
    session.wait_until(f"zone {zone} back on its own NAT", lambda: session.served_by()[zone] == zone,
                       p.min_hold_s + p.recover_after * (p.interval_s + p.timeout_s) + 30)
    steady(session)


# --- judges: (session, report, marks, events) -> {check: passed} ------------------------------------
def judge_blackhole(session, rep, marks, events) -> dict[str, bool]:
    bound = blackhole_rto_bound(session.settings.config.probe)
    return {f"rto_s<={bound:g}": rep.rto_s is not None and rep.rto_s <= bound,
            "egress_via_other_nat_during_fault": any(ip != rep.egress_ip_before for ip in rep.egress_ips_during),
            # the dead path's confirmation started while its first probe still waited (service/probing.py)
            "confirmation_hedged": any(e.event == "probe_hedged" and e.zone == rep.zone and e.t >= marks.fault
                                       for e in events),
            "reverted": rep.reverts >= 1}


def judge_stop(session, rep, marks, events) -> dict[str, bool]:
    return {"rto_s<=2": rep.rto_s is not None and rep.rto_s <= 2.0, "reverted": rep.reverts >= 1}


def judge_terminate(session, rep, marks, events) -> dict[str, bool]:
    extra = marks.extra or {}
    zone = rep.zone
    launched = [e for e in events if e.event == "new_nat" and e.zone == zone and e.t >= marks.fault]
    return {"replaced": bool(extra.get("new_nat")) and extra.get("new_nat") != extra.get("old_nat"),
            "served_by_replacement": (session.served_by()[zone] == zone
                                      and session.nat_of(zone) == extra.get("new_nat")),
            "exactly_one_replacement_launched": len(launched) == 1}


def judge_flaky(session, rep, marks, events) -> dict[str, bool]:
    required = (marks.extra or {}).get("flaky_required_s", MIN_FLAKY_S)
    return {"false_failovers==0": rep.false_failovers == 0,
            f"window>={required:g}s": marks.recover - marks.fault >= required,
            "probes_saw_loss": session.probe_losses(marks.fault, marks.recover) > 0}


def judge_targets_down(session, rep, marks, events) -> dict[str, bool]:
    critical = [a for a in session.alerts.since(marks.start) if a["type"] == "critical"]
    rep.detection_s = round(critical[0]["t"] - marks.fault, 3) if critical else None
    return {"no_route_moved": not rp.route_events(events), "exactly_one_critical_alert": len(critical) == 1}


def judge_all_down(session, rep, marks, events) -> dict[str, bool]:
    during = [e for e in events if marks.fault <= e.t <= marks.recover]
    azs = session.topology().azs
    return {"at_most_one_route_change_per_zone": all(len(rp.route_events(during, az)) <= 1 for az in azs),
            "no_ping_pong": not any(rp.ping_pong(during, az) for az in azs)}


def judge_revert(session, rep, marks, events) -> dict[str, bool]:
    p = session.settings.config.probe
    zone, recover = rep.zone, marks.recover
    failover = next((e.t for e in events if e.event == "failover" and e.zone == zone), None)
    revert = next((e.t for e in events if e.event == "revert" and e.zone == zone and e.t >= recover), None)
    # recover_after passes are recover_after sweeps, interval_s apart; the first of them may be a
    # probe already in flight (retrying within timeout_s) when the fault was lifted
    return {"reverted_once": rep.reverts == 1,
            "revert_after_recover_after_passes": (
                revert is not None and revert - recover >= (p.recover_after - 1) * p.interval_s - p.timeout_s),
            "revert_after_min_hold": (
                revert is not None and failover is not None and revert - failover >= p.min_hold_s - 0.5)}


for _scenario in (
    Scenario("blackhole", run_blackhole, judge_blackhole),
    Scenario("stop", run_stop, judge_stop),
    Scenario("terminate", run_terminate, judge_terminate, replaces_nat=True),
    Scenario("flaky", run_flaky, judge_flaky),
    Scenario("targets-down", run_targets_down, judge_targets_down),
    Scenario("all-down", run_all_down, judge_all_down),
    Scenario("revert", run_revert, judge_revert),
):
    register(_scenario)
