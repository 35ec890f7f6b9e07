"""AWS failing the controller, not the NATs: Lambda refusing or failing the probe invokes, EC2 throttling
the controller's API calls during a blackhole, and a heartbeat run killed between claiming a route move
and writing it. Each is a script (inject, wait for the controller, recover, wait for steady state) and a
judge (its acceptance checks, from what was measured)."""
from __future__ import annotations

import threading
from collections import Counter
from dataclasses import replace

from chalicelib.aws import observe
from chalicelib.service.deps import Clients
from chalicelib.service.reconcile import CLAIM_TTL_S
from lab.aws.heartbeat import RunKilled
from lab.aws.lambda_endpoint import FAULT_KINDS

from .. import report as rp
from . import Scenario, register
from .steps import blackhole_rto_bound, detect_bound, mark, steady, wait_egress, wait_served_elsewhere

SETTLE_S = 1.5
THROTTLE_RATE = 0.5          # api-throttle: the share of the controller's EC2 calls answered RequestLimitExceeded
ROUTE_WRITES = ("replace_route", "create_route")   # the route-write adapter's EC2 calls (chalicelib.aws.routes)


# --- lambda-errors ------------------------------------------------------------------------------
def run_lambda_errors(session, zone, opts, marks) -> None:
    """Every probe invoke answered by Lambda's own faults, in turn, for ``lambda_faults_s``."""
    marks.affected = ()
    before = dict(session.metrics.counts)
    session.lambda_endpoint.inject(FAULT_KINDS)
    mark(session, marks, "fault", None, kind="lambda-errors", faults=list(FAULT_KINDS))
    session.clock.sleep(opts.lambda_faults_s)
    session.lambda_endpoint.clear()
    mark(session, marks, "recover", None, kind="lambda-errors")
    steady(session)
    session.wait_until("evidence from every zone again (no zone blind)",
                       lambda: all(s.get("blind_sweeps", 0) == 0 for s in session.heartbeat.status()), 30)
    counts = session.metrics.counts
    marks.extra = {
        "answers": session.lambda_endpoint.counts(marks.fault, marks.recover),
        "no_evidence": counts.get("ProbeNoEvidence", 0) - before.get("ProbeNoEvidence", 0),
        "probe_failures": counts.get("ProbeFailures", 0) - before.get("ProbeFailures", 0),
    }


def judge_lambda_errors(session, rep, marks, events) -> dict[str, bool]:
    extra = marks.extra or {}
    answers = extra.get("answers", {})
    blind = [a for a in session.alerts.since(marks.start) if a["type"] == "blind"]
    named = Counter(z for a in blind for z in a["zones"])
    replaced = [e for e in events if e.event == "new_nat" and e.t >= marks.fault]
    rep.figures.update(lambda_answers=answers, probe_no_evidence=extra.get("no_evidence"),
                       probe_failures=extra.get("probe_failures"), blind_alerts=len(blind),
                       blind_zones=sorted(named), fault_window_s=round(marks.recover - marks.fault, 2))
    return {"failovers==0": rep.failovers == 0,
            "replacements==0": not replaced and not any(a["type"] == "replace" for a in session.alerts.since(marks.start)),
            "one_blind_alert_per_zone": bool(named) and set(named) == set(session.topology().azs)
            and all(n == 1 for n in named.values()),
            "every_fault_kind_answered": all(answers.get(kind, 0) > 0 for kind in FAULT_KINDS),
            "no_evidence_counted": extra.get("no_evidence", 0) > 0}


# --- api-throttle -------------------------------------------------------------------------------
def _blackhole_and_back(session, zone, note: str) -> float:
    """A plain blackhole of ``zone``: failed over, egress back, fault lifted, steady again; its fault time."""
    p = session.settings.config.probe
    session.dataplane.blackhole(zone, True)
    at = session.clock.time()
    session.timeline.add(note, zone, at=at, kind="blackhole")
    wait_served_elsewhere(session, zone, detect_bound(p))
    wait_egress(session, zone, 15)
    session.clock.sleep(1.0)
    session.dataplane.blackhole(zone, False)
    steady(session)
    session.clock.sleep(SETTLE_S)   # the clients show the zone's own address again before the next fault
    return at


def run_api_throttle(session, zone, opts, marks) -> None:
    """The plain blackhole first (the baseline), then the same with half of the controller's EC2 calls
    answered RequestLimitExceeded from the fault until it is lifted (after the failover); the revert is
    the plain drill's. (Throttled through the revert as well, sweeps slowed by the retries' back-off may
    keep the zone DOWN past ``replace_after_s``: the controller then replaces a NAT that is fine.)"""
    p = session.settings.config.probe
    baseline_at = _blackhole_and_back(session, zone, "baseline_fault")
    baseline = rp.rto(session.samples(zone), baseline_at)
    marks.affected = (zone,)
    before = session.emulator.faults(ec2_throttle=THROTTLE_RATE, seed=session.seed)
    try:   # throttled during the blackhole; the revert after it is the plain drill's
        session.dataplane.blackhole(zone, True)
        mark(session, marks, "fault", zone, kind="blackhole+ec2-throttle", rate=THROTTLE_RATE)
        wait_served_elsewhere(session, zone, 2 * detect_bound(p))
        wait_egress(session, zone, 15)
        session.clock.sleep(1.0)
        session.dataplane.blackhole(zone, False)
    finally:
        after = session.emulator.faults(ec2_throttle=0.0)
    mark(session, marks, "recover", zone, kind="blackhole, EC2 throttling off")
    steady(session)
    marks.extra = {"baseline_rto_s": baseline, "ec2_calls": after["ec2_calls"] - before["ec2_calls"],
                   "ec2_throttled": after["ec2_throttled"] - before["ec2_throttled"]}


def judge_api_throttle(session, rep, marks, events) -> dict[str, bool]:
    """The RTO is held to twice what a plain blackhole's is held to (its bound, not one measured run: a
    single blackhole's RTO varies by up to a probe interval with where the fault falls in the sweep cycle);
    the measured plain RTO and the ratio are reported beside it."""
    extra = marks.extra or {}
    baseline, calls, throttled = extra.get("baseline_rto_s"), extra.get("ec2_calls", 0), extra.get("ec2_throttled", 0)
    bound = 2 * blackhole_rto_bound(session.settings.config.probe)
    rep.figures.update(baseline_rto_s=baseline, ec2_calls=calls, ec2_throttled=throttled, throttle_rate=THROTTLE_RATE,
                       rto_vs_baseline=(round(rep.rto_s / baseline, 2) if rep.rto_s and baseline else None))
    # The lab spreads throttling evenly (lab/aws/moto_server.py: error diffusion), so over any run of calls the
    # throttled count is the rate's share within one call; the sweep's batched reads make few calls (~8).
    return {"baseline_measured": baseline is not None,
            f"rto_s<=2x_plain_blackhole_bound({bound:g}s)": rep.rto_s is not None and rep.rto_s <= bound,
            "ec2_calls_throttled_at_the_rate_asked": calls >= 4 and abs(throttled - THROTTLE_RATE * calls) <= 1,
            "failed_over_once": rep.failovers == 1,
            "reverted": rep.reverts >= 1}


# --- heartbeat-crash ----------------------------------------------------------------------------
class _Run:
    """One heartbeat run under the kill switch: dead from its first route write on."""

    def __init__(self, switch: KillSwitch, owner: str):
        self.switch, self.owner, self.dead = switch, owner, False

    def check(self, operation: str, kwargs: dict) -> None:
        if self.dead:
            raise RunKilled(f"{self.owner} is dead: {operation} never ran")
        if operation in ROUTE_WRITES and self.switch.kill(self, kwargs.get("RouteTableId", "")):
            self.dead = True
            raise RunKilled(f"{self.owner} killed before ec2.{operation} {kwargs.get('RouteTableId')}")


class _Killable:
    """One of a run's boto3 clients: every call asks the run first."""

    def __init__(self, client, run: _Run):
        self._client, self._run = client, run

    def __getattr__(self, name: str):
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            self._run.check(name, kwargs)
            return attr(*args, **kwargs)
        return call


class KillSwitch:
    """The heartbeat's Deps hook: the first run that writes a route dies right before the write (its
    claim committed, the route untouched), as a Lambda killed mid-run would; nothing of it runs after
    (not its claim release, not its lease release). What was stored and routed at that moment is noted."""

    def __init__(self, session):
        self.session = session
        self.killed: dict | None = None
        self._lock = threading.Lock()

    def hook(self, deps):
        if self.killed is not None:
            return deps
        run, c = _Run(self, deps.owner), deps.clients
        wrap = (lambda client: None if client is None else _Killable(client, run))
        return replace(deps, clients=Clients(ec2=wrap(c.ec2), dynamodb=wrap(c.dynamodb), sns=wrap(c.sns),
                                             ssm=wrap(c.ssm), lambda_=c.lambda_, cloudwatch=wrap(c.cloudwatch)))

    def kill(self, run: _Run, route_table: str) -> bool:
        with self._lock:
            if self.killed is not None:
                return False
            s = self.session
            topology = s.topology()
            zone = next((z for z in topology.zones if route_table in z.private_route_table_ids), None)
            now = s.clock.time()
            record = None
            if zone is not None:
                snap = observe.load_snapshot(s.lab_clients.dynamodb, topology.table_name, topology.azs, now)
                record = snap.zones.get(zone.az)
            view = observe.describe_route_tables(s.lab_clients.ec2, [route_table]).get(route_table)
            self.killed = {"t": now, "owner": run.owner, "route_table": route_table,
                           "zone": zone.az if zone else None,
                           "claimed_by": record.pending_owner if record else None,
                           "claim_until": record.pending_until if record else None,
                           "route_target": view.default_eni if view else None,
                           "own_nat_eni": zone.nat_eni_id if zone else None}
            s.timeline.add("crash", self.killed["zone"], at=now, owner=run.owner, route_table=route_table)
            return True


def _completion_bound_s(p) -> float:
    """The killed run's claim expires CLAIM_TTL_S after it was taken; the next sweep after that repairs
    the route (one probe round, no re-probe of a zone already DOWN, then the write)."""
    return CLAIM_TTL_S + 2 * (p.interval_s + p.timeout_s) + 5


def run_heartbeat_crash(session, zone, opts, marks) -> None:
    p = session.settings.config.probe
    switch = KillSwitch(session)
    session.heartbeat_deps_hook = switch.hook
    try:
        marks.affected = (zone,)
        session.dataplane.blackhole(zone, True)
        mark(session, marks, "fault", zone, kind="blackhole, heartbeat killed at its route write")
        session.wait_until("a heartbeat run killed between its claim and its route write",
                           lambda: switch.killed is not None, detect_bound(p))
        wait_served_elsewhere(session, zone, _completion_bound_s(p) + 10)
        wait_egress(session, zone, 15)
        session.clock.sleep(1.0)
        session.dataplane.blackhole(zone, False)
        mark(session, marks, "recover", zone, kind="blackhole")
        steady(session)
    finally:
        session.heartbeat_deps_hook = None
        marks.extra = {"killed": switch.killed}


def judge_heartbeat_crash(session, rep, marks, events) -> dict[str, bool]:
    p = session.settings.config.probe
    killed = (marks.extra or {}).get("killed") or {}
    zone, at = rep.zone, killed.get("t")
    done = next((e.t for e in events if e.event == "failover" and e.zone == zone and at and e.t >= at), None)
    completed_after = None if done is None or at is None else round(done - at, 3)
    errors_meanwhile = [e for e in events if e.event == "sweep_error" and at and e.t >= at and (done is None or e.t <= done)]
    bound = _completion_bound_s(p)
    rep.figures.update(completed_after_s=completed_after, claim_ttl_s=CLAIM_TTL_S, completion_bound_s=bound,
                       killed_run=killed.get("owner"), sweep_errors_while_claimed=len(errors_meanwhile))
    return {"killed_after_its_claim_before_its_write": (bool(killed) and killed.get("claimed_by") == killed.get("owner")
                                                        and killed.get("route_target") == killed.get("own_nat_eni")),
            "completed_by_a_later_run": completed_after is not None,
            f"completed_within_{bound:g}s": completed_after is not None and completed_after <= bound,
            "failed_over_once": rep.failovers == 1,
            "reverted": rep.reverts >= 1}


for _scenario in (
    Scenario("lambda-errors", run_lambda_errors, judge_lambda_errors),
    Scenario("api-throttle", run_api_throttle, judge_api_throttle),
    Scenario("heartbeat-crash", run_heartbeat_crash, judge_heartbeat_crash),
):
    register(_scenario)
