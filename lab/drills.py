"""The drills: inject a real failure, let the controller handle it, recover, and measure.

Each scenario is a short script against a running ``LabSession`` (inject, wait for the controller,
recover, wait for steady state) followed by its criteria, computed from what was observed — never
hard-coded. Bounds scale with the probe settings; at the lab defaults (interval 1 s, timeout 1 s,
fail_after 2) the blackhole bound is the 5 s of the acceptance criteria.

``run_scenarios`` runs drills end to end: emulator up, one fresh lab session per drill, everything
down after. A fresh session per drill (emulator reset, ``hanat up``, ``chalice deploy``, data plane)
keeps the drills independent: one drill's failovers never count towards the next one's flap damping.
"""
from __future__ import annotations

import logging
import signal
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from chalicelib.errors import HanatError, InputError

from . import report as rp
from .adapters import start_instance, stop_instance, terminate_instance
from .dataplane import choose_dataplane
from .emulator import Emulator, pointed_at
from .labconfig import LabSettings
from .session import LabSession

SETTLE_S = 1.0   # after steady state: let the clients show where egress ends up
SCENARIOS = ("blackhole", "stop", "terminate", "flaky", "targets-down", "all-down", "revert")
STEADY_TIMEOUT_S = 90.0
MIN_FLAKY_S = 60.0


@dataclass(frozen=True)
class DrillOptions:
    zone: str | None = None          # the affected zone (default: the first)
    flaky_s: float = MIN_FLAKY_S     # how long the flaky fault lasts
    outage_s: float | None = None    # how long targets-down / all-down last (default: from settings)


@dataclass
class Marks:
    """The moments a scenario script noted (epoch seconds)."""

    start: float
    fault: float = 0.0
    recover: float = 0.0
    end: float = 0.0
    affected: tuple[str, ...] = ()
    extra: dict | None = None


def _mark(session, marks: Marks, what: str, zone: str | None, **detail) -> float:
    t = time.time()
    session.timeline.add(what, zone, at=t, **detail)
    setattr(marks, what, t)
    return t


def _wait_served_elsewhere(session, zone: str, bound_s: float) -> None:
    session.wait_until(f"zone {zone} failed over", lambda: session.served_by()[zone] not in (zone, None), bound_s)


def _wait_egress(session, zone: str, bound_s: float) -> None:
    def back() -> bool:
        recent = [s for s in session.samples(zone) if s.t >= time.time() - 0.3]
        return bool(recent) and all(s.ok for s in recent)
    session.wait_until(f"zone {zone} reaching the internet again", back, bound_s)


def _detect_bound(p) -> float:
    return p.fail_after * (p.interval_s + p.timeout_s) + 10


def _steady(session) -> None:
    session.wait_until("steady state (every zone on its own, proven NAT)", session.steady, STEADY_TIMEOUT_S)


# --- scripts -----------------------------------------------------------------------------------
def script_blackhole(session, zone, opts, marks) -> None:
    p = session.settings.config.probe
    marks.affected = (zone,)
    session.dataplane.blackhole(zone, True)
    _mark(session, marks, "fault", zone, kind="blackhole")
    _wait_served_elsewhere(session, zone, _detect_bound(p))
    _wait_egress(session, zone, 15)
    time.sleep(1.0)   # let the clients show the backup's address for a while
    session.dataplane.blackhole(zone, False)
    _mark(session, marks, "recover", zone, kind="blackhole")
    _steady(session)


def script_stop(session, zone, opts, marks) -> None:
    marks.affected = (zone,)
    nat = session.nat_of(zone)
    stop_instance(session.clients.ec2, session.stack, nat)
    _mark(session, marks, "fault", zone, kind="stop", nat=nat)
    _wait_served_elsewhere(session, zone, 15)
    _wait_egress(session, zone, 15)
    time.sleep(1.0)
    start_instance(session.clients.ec2, session.stack, nat)
    _mark(session, marks, "recover", zone, kind="start", nat=nat)
    _steady(session)


def script_terminate(session, zone, opts, marks) -> None:
    marks.affected = (zone,)
    old = session.nat_of(zone)
    terminate_instance(session.clients.ec2, session.stack, old)
    _mark(session, marks, "fault", zone, kind="terminate", nat=old)
    _wait_served_elsewhere(session, zone, 15)
    _wait_egress(session, zone, 15)
    session.wait_until(f"a replacement NAT for {zone}", lambda: session.nat_of(zone) != old,
                       session.settings.config.failover.replace_after_s + 60)
    new = session.nat_of(zone)
    _mark(session, marks, "recover", zone, kind="replaced", old=old, new=new)
    _steady(session)
    marks.extra = {"old_nat": old, "new_nat": new}


def script_flaky(session, zone, opts, marks) -> None:
    marks.affected = ()
    session.dataplane.flaky(True)
    _mark(session, marks, "fault", None, kind="flaky")
    time.sleep(opts.flaky_s)
    session.dataplane.flaky(False)
    _mark(session, marks, "recover", None, kind="flaky")
    time.sleep(session.settings.config.probe.interval_s * 2)
    _steady(session)


def _outage_s(session, opts) -> float:
    p = session.settings.config.probe
    return opts.outage_s or p.fail_after * (p.interval_s + p.timeout_s) + 4 * p.interval_s + 2


def script_targets_down(session, zone, opts, marks) -> None:
    marks.affected = ()
    session.dataplane.targets_down(True)
    _mark(session, marks, "fault", None, kind="targets-down")
    time.sleep(_outage_s(session, opts))
    session.dataplane.targets_down(False)
    _mark(session, marks, "recover", None, kind="targets-down")
    _steady(session)


def script_all_down(session, zone, opts, marks) -> None:
    azs = session.topology().azs
    marks.affected = tuple(azs)
    for az in azs:
        session.dataplane.blackhole(az, True)
    _mark(session, marks, "fault", None, kind="all-down")
    time.sleep(_outage_s(session, opts))
    for az in azs:
        session.dataplane.blackhole(az, False)
    _mark(session, marks, "recover", None, kind="all-down")
    _steady(session)


def script_revert(session, zone, opts, marks) -> None:
    p = session.settings.config.probe
    marks.affected = (zone,)
    session.dataplane.blackhole(zone, True)
    _mark(session, marks, "fault", zone, kind="blackhole")
    _wait_served_elsewhere(session, zone, _detect_bound(p))
    # recover once the hold has run, so the revert must also wait for recover_after passes
    time.sleep(p.min_hold_s)
    session.dataplane.blackhole(zone, False)
    _mark(session, marks, "recover", zone, kind="blackhole")
    session.wait_until(f"zone {zone} back on its own NAT", lambda: session.served_by()[zone] == zone,
                       p.min_hold_s + p.recover_after * (p.interval_s + p.timeout_s) + 30)
    _steady(session)


SCRIPTS: dict[str, Callable] = {
    "blackhole": script_blackhole, "stop": script_stop, "terminate": script_terminate,
    "flaky": script_flaky, "targets-down": script_targets_down, "all-down": script_all_down,
    "revert": script_revert,
}


# --- measuring and judging -------------------------------------------------------------------
def measure(session, rep: rp.DrillReport, marks: Marks) -> list[rp.Event]:
    events = session.timeline.events(since=marks.start)
    zone = rep.zone
    samples = session.samples(zone)
    fault, end = marks.fault, marks.end
    recover = marks.recover or end
    moves = [e for e in rp.route_events(events) if e.t >= fault]
    rep.failovers = sum(1 for e in moves if e.event == "failover")
    rep.reverts = sum(1 for e in moves if e.event == "revert")
    rep.false_failovers = sum(1 for e in moves if e.event == "failover" and e.zone not in marks.affected)
    rep.detection_s = rp.detection(events, marks.affected, fault) if marks.affected else None
    rep.rto_s = rp.rto(samples, fault)
    rep.egress_ip_before = rp.last_egress(samples, fault)
    rep.egress_ip_after = rp.last_egress(samples, end + 0.01)
    rep.egress_ips_during = rp.egress_addresses_between(samples, fault, recover)
    rep.alerts = session.alerts.report(marks.start)
    rep.routes_ok = session.routes_ok()
    rep.duration_s = round(end - marks.start, 2)
    rep.fault_at = fault
    rep.timeline = [e.to_dict(fault) for e in events]
    rep.errors = sorted({e.detail.get("error", "") for e in events if e.event.endswith("_error")})
    rep.samples = {az: [s.to_dict() for s in session.samples(az) if s.t >= marks.start - 1]
                   for az in session.topology().azs}
    return events


def criteria(session, rep: rp.DrillReport, marks: Marks, events: list[rp.Event]) -> dict[str, bool]:
    """The scenario's acceptance checks, from what was measured."""
    p = session.settings.config.probe
    zone = rep.zone
    fault, recover = marks.fault, marks.recover
    critical = [a for a in session.alerts.since(marks.start) if a["type"] == "critical"]
    own = rep.egress_ip_before
    checks = {"routes_ok": rep.routes_ok, "egress_restored": bool(own) and rep.egress_ip_after == own}
    sc = rep.scenario
    if sc == "blackhole":
        bound = max(5.0, p.fail_after * (p.interval_s + p.timeout_s) + 1)
        checks[f"rto_s<={bound:g}"] = rep.rto_s is not None and rep.rto_s <= bound
        checks["egress_via_other_nat_during_fault"] = any(ip != own for ip in rep.egress_ips_during)
        checks["reverted"] = rep.reverts >= 1
    elif sc == "stop":
        checks["rto_s<=2"] = rep.rto_s is not None and rep.rto_s <= 2.0
        checks["reverted"] = rep.reverts >= 1
    elif sc == "terminate":
        extra = marks.extra or {}
        checks["replaced"] = bool(extra.get("new_nat")) and extra.get("new_nat") != extra.get("old_nat")
        checks["served_by_replacement"] = (session.served_by()[zone] == zone
                                           and session.nat_of(zone) == extra.get("new_nat"))
        launched = [e for e in events if e.event == "new_nat" and e.zone == zone and e.t >= fault]
        checks["exactly_one_replacement_launched"] = len(launched) == 1
    elif sc == "flaky":
        window = recover - fault
        checks["false_failovers==0"] = rep.false_failovers == 0
        checks[f"window>={session_flaky_required(marks):g}s"] = window >= session_flaky_required(marks)
        checks["probes_saw_loss"] = session.probe_losses(fault, recover) > 0
    elif sc == "targets-down":
        checks["no_route_moved"] = not rp.route_events(events)
        checks["exactly_one_critical_alert"] = len(critical) == 1
        rep.detection_s = round(critical[0]["t"] - fault, 3) if critical else None
    elif sc == "all-down":
        during = [e for e in events if fault <= e.t <= recover]
        checks["at_most_one_route_change_per_zone"] = all(
            len(rp.route_events(during, az)) <= 1 for az in session.topology().azs)
        checks["no_ping_pong"] = not any(rp.ping_pong(during, az) for az in session.topology().azs)
    elif sc == "revert":
        failover = next((e.t for e in events if e.event == "failover" and e.zone == zone), None)
        revert = next((e.t for e in events if e.event == "revert" and e.zone == zone and e.t >= recover), None)
        checks["reverted_once"] = rep.reverts == 1
        # recover_after passes are recover_after sweeps, interval_s apart; the first of them may be a
        # probe already in flight (retrying within timeout_s) when the fault was lifted
        checks["revert_after_recover_after_passes"] = (
            revert is not None and revert - recover >= (p.recover_after - 1) * p.interval_s - p.timeout_s)
        checks["revert_after_min_hold"] = (
            revert is not None and failover is not None and revert - failover >= p.min_hold_s - 0.5)
    return checks


def session_flaky_required(marks: Marks) -> float:
    return (marks.extra or {}).get("flaky_required_s", MIN_FLAKY_S)


def run_drill(session, scenario: str, opts: DrillOptions) -> rp.DrillReport:
    """Run one scenario on a steady session and return its report (errors end up in ``error``)."""
    if scenario not in SCRIPTS:
        raise InputError(f"--scenario {scenario!r} is not one of {', '.join(SCENARIOS)}, all")
    zone = opts.zone or session.topology().azs[0]
    session.topology().zone(zone)   # an unknown zone is bad input
    rep = rp.DrillReport(scenario=scenario, dataplane=session.kind, zone=zone)
    _steady(session)
    marks = Marks(start=time.time())
    if scenario == "flaky":
        marks.extra = {"flaky_required_s": opts.flaky_s}
    try:
        SCRIPTS[scenario](session, zone, opts, marks)
        time.sleep(SETTLE_S)
    except HanatError as exc:
        rep.error = str(exc)
    marks.end = time.time()
    if not marks.fault:
        marks.fault = marks.end
    events = measure(session, rep, marks)
    rep.judge(criteria(session, rep, marks, events))
    return rep


# --- running drills end to end ----------------------------------------------------------------
def expand_scenarios(name: str) -> list[str]:
    if name == "all":
        return list(SCENARIOS)
    if name not in SCENARIOS:
        raise InputError(f"--scenario {name!r} is not one of {', '.join(SCENARIOS)}, all")
    return [name]


def route_controller_logs(verbose: bool) -> None:
    """The controller logs (Powertools, to stdout in Lambda) go to stderr in the lab, so stdout stays
    one JSON document; without ``verbose`` only warnings and errors are shown."""
    log = logging.getLogger("hanat")
    for handler in log.handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
            handler.setStream(sys.stderr)
    log.setLevel(logging.INFO if verbose else logging.WARNING)


@contextmanager
def sigterm_as_interrupt():
    """SIGTERM unwinds like Ctrl-C, so every ``finally`` (namespaces, processes) still runs."""
    def raise_interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    try:
        previous = signal.signal(signal.SIGTERM, raise_interrupt)
    except ValueError:   # not the main thread: nothing to install
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_scenarios(scenarios: Sequence[str], settings: LabSettings, *, dataplane: str | None,
                  options: DrillOptions, progress: Callable[[str], None], deploy: bool = True,
                  seed: int = 0, verbose: bool = False,
                  on_report: Callable[[rp.DrillReport], None] | None = None) -> list[rp.DrillReport]:
    """Each scenario in a fresh lab session against one emulator; the reports in order."""
    kind = choose_dataplane(dataplane)
    if options.zone is not None and options.zone not in settings.config.azs:
        raise InputError(f"--zone {options.zone!r} is not in the config (zones: {', '.join(settings.config.azs)})")
    import chalicelib.observability  # noqa: F401 - creates the controller's logger, rerouted next
    route_controller_logs(verbose)
    reports: list[rp.DrillReport] = []
    with sigterm_as_interrupt():
        emulator = Emulator(region=settings.config.stack.region)
        emulator.start()
        try:
            with pointed_at(emulator):
                for i, scenario in enumerate(scenarios):
                    progress(f"[{i + 1}/{len(scenarios)}] drill {scenario} ({kind} data plane)")
                    with LabSession(settings, dataplane=kind, emulator=emulator, progress=progress,
                                    deploy=deploy, seed=seed + i) as session:
                        report = run_drill(session, scenario, options)
                    reports.append(report)
                    if on_report:
                        on_report(report)
        finally:
            emulator.stop()
    return reports
