"""The drills: inject a real failure, let the controller handle it, recover, and measure.

The scenarios (``lab.drills.scenarios``: a script and its judge each) run against a steady ``LabSession``; this
module measures what happened and judges it, with the checks every drill shares. Bounds scale with the
probe settings; at the lab defaults (interval 1 s, timeout 1 s, fail_after 2) the blackhole bound is the
5 s of the acceptance criteria.

``run_scenarios`` runs drills end to end: emulator up, lab sessions, everything down after. A fresh
session (emulator reset, ``hanat up``, ``chalice deploy``, data plane) costs more than most drills, so the
next drill reuses the session of one that replaced no NAT, adopted no VPC and ended steady, reset to what a
fresh session holds (lab.session_reset: state table, routes, faults, handoffs, metrics, timeline): one
drill's failovers never count towards the next one's flap damping.
"""
from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable, Sequence
from contextlib import contextmanager

from chalicelib.errors import HanatError, InputError
from lab.aws.deployer import LAB_STAGE
from lab.aws.emulator import Emulator, pointed_at
from lab.config import LabSettings
from lab.dataplane.kinds import choose_dataplane, on_lab_time
from lab.iam.recorder import RECORDER
from lab.session import LabSession
from lab.timeline import Event

from . import report as rp
from . import scenarios
from .scenarios import connections
from .scenarios.steps import DrillOptions, Marks, steady

SETTLE_S = 1.0   # after steady state: let the clients show where egress ends up
SCENARIOS = scenarios.names()


# --- measuring and judging -------------------------------------------------------------------
def measure(session, rep: rp.DrillReport, marks: Marks) -> list[Event]:
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


def criteria(session, rep: rp.DrillReport, marks: Marks, events: list[Event]) -> dict[str, bool]:
    """The checks every drill shares (routes on proven NATs, egress back on the zone's own address), then
    the scenario's own."""
    own = rep.egress_ip_before
    checks = {"routes_ok": rep.routes_ok, "egress_restored": bool(own) and rep.egress_ip_after == own}
    checks.update(scenarios.REGISTRY[rep.scenario].judge(session, rep, marks, events))
    checks.update(connections.checks(session, rep, marks, events))
    return checks


def run_drill(session, scenario: str, opts: DrillOptions) -> rp.DrillReport:
    """Run one scenario on a steady session and return its report (errors end up in ``error``). When a hook
    records this process's AWS calls (lab.iam.recorder), every call of the drill must be allowed by IAM."""
    if scenario not in scenarios.REGISTRY:
        raise InputError(f"--scenario {scenario!r} is not one of {', '.join(SCENARIOS)}, all")
    zone = opts.zone or session.topology().azs[0]
    session.topology().zone(zone)   # an unknown zone is bad input
    rep = rp.DrillReport(scenario=scenario, dataplane=session.kind, zone=zone,
                         cpu_share=session.cpu_shares.state)
    iam = RECORDER.begin(LAB_STAGE)
    try:
        checks = _drill(session, scenario, opts, rep)
    finally:
        findings = RECORDER.end(iam)
    rep.judge(checks)
    rep.add_iam_findings(findings)
    return rep


@contextmanager
def iam_checked(found: list):
    """The calls made inside (a session's making, reset or closing) decided under IAM as a drill's are, their
    findings added to ``found`` (nothing when no hook records this process's calls)."""
    token = RECORDER.begin(LAB_STAGE)
    try:
        yield
    finally:
        findings = RECORDER.end(token)
        if findings is not None:
            found.append(findings)


def _drill(session, scenario: str, opts: DrillOptions, rep: rp.DrillReport) -> dict[str, bool]:
    if not opts.nat_reset:   # the "before" of issue 13: unknown mid-stream TCP is dropped, not reset
        session.dataplane.nat_reset(False)
    if opts.imds_tag_delay_s:   # AWS documents no latency for tags to reach instance metadata
        session.dataplane.imds_tag_delay(opts.imds_tag_delay_s)
    steady(session)
    session.clock.sleep(opts.fault_phase_s)   # steady state is seen right after a sweep: the fault's moment in the cycle
    marks = Marks(start=session.clock.time())
    try:
        scenarios.REGISTRY[scenario].run(session, rep.zone, opts, marks)
        session.clock.sleep(SETTLE_S)
    except HanatError as exc:
        rep.error = str(exc)
    marks.end = session.clock.time()
    if not marks.fault:
        marks.fault = marks.end
    events = measure(session, rep, marks)
    connections.measure(session, rep, marks, events, nat_reset=opts.nat_reset)
    return criteria(session, rep, marks, events)


# --- running drills end to end ----------------------------------------------------------------
def adopts_vpc(scenario: str) -> bool:
    """Whether the scenario's session adopts a VPC with NAT gateways (else hanat builds the VPC)."""
    return scenarios.REGISTRY[scenario].adopt


def replaces_nat(scenario: str) -> bool:
    """Whether the scenario replaces a NAT (no later drill reuses its session)."""
    return scenarios.REGISTRY[scenario].replaces_nat


def netns_only(scenario: str) -> bool:
    """Whether the scenario's fault needs the netns data plane (a NAT's own kernel)."""
    return scenarios.REGISTRY[scenario].netns_only


def expand_scenarios(name: str, dataplane: str | None = None) -> list[str]:
    """``all`` (on a data plane other than netns: those that run there) or the one named."""
    if name == "all":
        kind = choose_dataplane(dataplane)
        return [s for s in SCENARIOS if kind == "netns" or not netns_only(s)]
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
    """Each scenario in a lab session against one emulator, a session reused while its drills replace no
    NAT (the module doc); the reports in order."""
    kind = choose_dataplane(dataplane)
    if not options.nat_reset and kind != "netns":
        raise InputError(f"--nat-reset off needs the netns data plane (the {kind} data plane has no NAT to change)")
    if options.imds_tag_delay_s and kind != "netns":
        raise InputError(f"--imds-tag-delay-s needs the netns data plane (the {kind} data plane has no NAT metadata)")
    only_netns = [s for s in scenarios if netns_only(s)]
    if only_netns and kind != "netns":
        raise InputError(f"--scenario {', '.join(only_netns)} needs the netns data plane (root): its fault lives in "
                         f"a NAT's kernel, which the {kind} data plane does not have")
    if options.zone is not None and options.zone not in settings.config.azs:
        raise InputError(f"--zone {options.zone!r} is not in the config (zones: {', '.join(settings.config.azs)})")
    import chalicelib.observability  # noqa: F401 - creates the controller's logger, rerouted next
    route_controller_logs(verbose)
    reports: list[rp.DrillReport] = []
    with sigterm_as_interrupt():
        emulator = Emulator(region=settings.config.stack.region)
        emulator.start()
        session = None
        try:
            with pointed_at(emulator):
                for i, scenario in enumerate(scenarios):
                    progress(f"[{i + 1}/{len(scenarios)}] drill {scenario} ({kind} data plane"
                             f"{', on lab time' if on_lab_time(kind) else ''})")
                    iam: list = []     # the session's own calls (hanat up, chalice deploy, reset, close) count too
                    with iam_checked(iam):
                        session = _session_for(scenario, session, lambda adopt, i=i: LabSession(
                            settings, dataplane=kind, emulator=emulator, progress=progress, deploy=deploy,
                            seed=seed + i, adopt=adopt), seed=seed + i)
                    stale_before = emulator.faults()["ec2_stale"]
                    probes_before = probe_environments(session)
                    report = run_drill(session, scenario, options)
                    # how many of the controller's EC2 reads answered from before a write (lab.aws.stale_reads)
                    report.figures["ec2_stale_reads"] = emulator.faults()["ec2_stale"] - stale_before
                    if probes_before is not None:   # netns: probe cold starts and timeouts in the drill
                        after = probe_environments(session)
                        report.figures.update(probe_cold_starts=after[0] - probes_before[0],
                                              probe_timeouts=after[1] - probes_before[1])
                    if report.error or replaces_nat(scenario) or adopts_vpc(scenario):
                        session, done = None, session
                        with iam_checked(iam):
                            done.close()
                    for findings in iam:
                        report.add_iam_findings(findings)
                    reports.append(report)
                    if on_report:
                        on_report(report)
        finally:
            if session is not None:
                closing: list = []
                with iam_checked(closing):
                    session.close()
                for findings in closing if reports else ():
                    reports[-1].add_iam_findings(findings)
            emulator.stop()
    return reports


def _session_for(scenario: str, session, new_session: Callable[[bool], LabSession], *, seed: int) -> LabSession:
    """``session`` reset for ``scenario`` when it can be, else a fresh session (entered; ``session`` closed)."""
    adopt = adopts_vpc(scenario)
    if session is not None:
        if not adopt and session.reset_for_drill(seed):
            return session
        session.close()
    return new_session(adopt).__enter__()


def probe_environments(session) -> tuple[int, int] | None:
    """The netns plane's probe cold starts and timeouts so far (None on the computed plane)."""
    plane = session.dataplane
    if not hasattr(plane, "probe_cold_starts"):
        return None
    return plane.probe_cold_starts, plane.probe_timeouts
