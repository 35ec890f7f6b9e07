"""A replacement NAT that boots like a small instance with no way out (``nat-boot-offline``): the old NAT
is terminated; its replacement's namespace appears only after ``boot_delay_s``, with no public address until
the Elastic IP's association reaches it and no package repository anywhere (lab.dataplane.boot). It must still
forward, be proven and get its zone back; the drill reports launch -> proven seconds."""
from __future__ import annotations

from lab.aws.adapters import terminate_instance

from . import Scenario, register
from .steps import mark, steady, wait_egress, wait_served_elsewhere


def _proven(session, zone: str, nat: str) -> bool:
    row = next((s for s in session.heartbeat.status() if s["az"] == zone), {})
    return row.get("nat_instance_id") == nat and row.get("nat_health") == "UP"


def run_nat_boot_offline(session, zone, opts, marks) -> None:
    marks.affected = (zone,)
    session.dataplane.boot_offline(opts.boot_delay_s)
    old = session.nat_of(zone)
    mark(session, marks, "fault", zone, kind="terminate, replacement boots offline", nat=old,
         boot_delay_s=opts.boot_delay_s)   # before the call: the controller may react before it returns
    terminate_instance(session.clients.ec2, session.stack, old)
    wait_served_elsewhere(session, zone, 15)
    wait_egress(session, zone, 15)
    session.wait_until(f"a replacement NAT for {zone}", lambda: session.nat_of(zone) != old,
                       session.settings.config.failover.replace_after_s + 60)
    new = session.nat_of(zone)
    p = session.settings.config.probe
    session.wait_until(f"replacement {new} proven UP", lambda: _proven(session, zone, new),
                       opts.boot_delay_s + p.min_hold_s + p.recover_after * (p.interval_s + p.timeout_s) + 60)
    mark(session, marks, "recover", zone, kind="proven", nat=new)
    steady(session)
    marks.extra = {"old_nat": old, "new_nat": new, "boot_delay_s": opts.boot_delay_s,
                   "boot": session.dataplane.boots().get(new)}


def judge_nat_boot_offline(session, rep, marks, events) -> dict[str, bool]:
    extra = marks.extra or {}
    zone, new, delay = rep.zone, extra.get("new_nat"), extra.get("boot_delay_s", 0.0)
    boot = extra.get("boot") or {}
    launched = [e for e in events if e.event == "new_nat" and e.zone == zone and e.t >= marks.fault]
    proven = next((e.t for e in events if e.event == "health" and e.zone == zone and e.detail.get("nat") == new
                   and e.detail.get("health") == "UP"), None)
    launch_to_proven = round(proven - launched[0].t, 3) if launched and proven else None
    booted_after = (round(boot["created_at"] - boot["seen_at"], 3)
                    if boot.get("created_at") and boot.get("seen_at") else None)
    rep.figures.update(launch_to_proven_s=launch_to_proven, boot_delay_s=delay, booted_after_s=booted_after,
                       nat_setup_s=boot.get("setup_s"), nat_sent_outside_vpc=boot.get("sent_outside"),
                       new_nat=new)
    checks = {"exactly_one_replacement_launched": len(launched) == 1,
              "namespace_only_after_the_boot_delay": booted_after is not None and booted_after >= delay,
              "proven_after_booting": launch_to_proven is not None and launch_to_proven >= delay,
              "served_by_replacement": session.served_by()[zone] == zone and session.nat_of(zone) == new}
    if session.kind == "netns":   # the computed plane runs no NAT script
        checks["nat_script_done_offline"] = boot.get("setup_rc") == 0
        checks["nat_sent_nothing_outside_the_vpc"] = boot.get("sent_outside") == 0
    return checks


register(Scenario("nat-boot-offline", run_nat_boot_offline, judge_nat_boot_offline, replaces_nat=True))
