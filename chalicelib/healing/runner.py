"""Carries a replacement forward: observe, ask the machine, act, record; repeat until it says wait.

Each run advances as far as it can without long waits and then returns, so a Lambda never blocks on
EC2. Every step is recorded with a version check: a run that loses a race stops, and a later run
continues from the record. Health (the sweep's zone state) is reached through a ``HealthPort`` so this
package does not depend on the controller core's storage format.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from ..aws import params
from ..aws import replacement as ec2r
from ..errors import AwsError, ConflictError, HanatError
from ..model import Alert
from ..naming import stack_tags
from ..observability import logger
from ..topology import Topology, ZoneTopology
from . import machine as m

MAX_STEPS_PER_RUN = 16


class HealthPort(Protocol):
    """The controller core's view of a zone's NAT health, as the replacement needs it."""

    def nat_up(self, az: str) -> bool:
        """True when the sweep has proven the zone's (topology) NAT UP."""

    def reset(self, az: str, now: float, reason: str) -> None:
        """Forget the zone's health: its NAT counts as DOWN/unproven with zero passes."""

    def request_failover(self, az: str, reason: str) -> None:
        """Move the zone's private routes to a healthy NAT (planned replacement of a serving NAT)."""


@dataclass
class Outcome:
    """What one run did for a zone: the record after it, the actions taken, and why it stopped."""

    record: m.Record | None
    actions: list[str]
    stopped_because: str
    started: bool = False

    def to_dict(self) -> dict:
        return {"record": self.record.to_dict() if self.record else None, "actions": list(self.actions),
                "stopped_because": self.stopped_because, "started": self.started}


def policy_for(topology: Topology) -> m.HealingPolicy:
    return m.HealingPolicy.for_replace_after(topology.failover.replace_after_s)


# --- records --------------------------------------------------------------------------------
def load(deps, az: str) -> m.Record | None:
    raw = ec2r.load_record(deps.clients.dynamodb, deps.topology.table_name, az)
    return m.Record.from_dict(raw) if raw else None


def load_all(deps) -> dict[str, m.Record]:
    raws = ec2r.list_records(deps.clients.dynamodb, deps.topology.table_name)
    return {r["az"]: m.Record.from_dict(r) for r in raws}


def _save(deps, rec: m.Record, *, starting: bool = False) -> m.Record:
    version = ec2r.put_record(deps.clients.dynamodb, deps.topology.table_name, rec.to_dict(),
                              expected_version=None if starting else rec.version)
    return replace(rec, version=version)


def _alert(deps, rec: m.Record, phase: str, reason: str, now: float) -> None:
    deps.alert_sink(Alert(type="replace", zone=rec.az, reason=reason, at=now,
                          from_nat=rec.old_instance_id or None, to_nat=rec.new_instance_id or None,
                          stack=deps.topology.stack,
                          details={"phase": phase, "attempts": rec.attempts, "step": rec.step,
                                   "last_error": rec.last_error}))


# --- starting -------------------------------------------------------------------------------
def start(deps, az: str, reason: str, now: float, previous: m.Record | None = None) -> m.Record | None:
    """Open a replacement for ``az``; None when one is already in progress (the conditional put lost).

    ``previous`` is the zone's last record if the caller already read it (its version is carried on).
    """
    zone = deps.topology.zone(az)
    if previous is None:
        previous = load(deps, az)
    if previous is not None and previous.active:
        return None
    rec = m.Record(az=az, reason=reason, old_instance_id=zone.nat_instance_id, started_at=now,
                   version=previous.version if previous else 0).moved(m.STEP_STARTED, now, reason)
    try:
        rec = _save(deps, rec, starting=True)
    except ConflictError:
        return None
    logger.info("replacement started", extra={"zone": az, "nat": zone.nat_instance_id, "reason": reason})
    _alert(deps, rec, "started", f"replacing NAT {zone.nat_instance_id} of {az}: {reason}", now)
    return rec


# --- observing ------------------------------------------------------------------------------
def _live_topology(deps) -> Topology:
    if deps.clients.ssm is None:
        return deps.topology
    return params.read_topology(deps.clients.ssm, deps.topology.topology_parameter)


def _view(inst: ec2r.NatInstance | None) -> m.InstanceView | None:
    if inst is None:
        return None
    return m.InstanceView(instance_id=inst.instance_id, state=inst.state, eni_id=inst.eni_id,
                          source_dest_check=inst.source_dest_check, tagged=inst.tagged)


def observe(deps, rec: m.Record, health: HealthPort) -> tuple[m.Facts, Topology, ZoneTopology]:
    """Read everything the machine needs about this zone, fresh from AWS and the state table."""
    ec2, stack = deps.clients.ec2, deps.topology.stack
    topo = _live_topology(deps)
    zone = topo.zone(rec.az)
    new = ec2r.describe_instance(ec2, rec.new_instance_id, stack) if rec.new_instance_id else None
    token_id = ""
    if not rec.new_instance_id and rec.step == m.STEP_LAUNCHING and rec.launch_token:
        found = ec2r.find_instance_by_token(ec2, stack, rec.launch_token)
        token_id = found.instance_id if found else ""
    old = ec2r.describe_instance(ec2, rec.old_instance_id, stack) if rec.old_instance_id else None
    private_enis = [ec2r.default_route_eni(ec2, rt) for rt in zone.private_route_table_ids]
    old_serves = False
    if old is not None and old.state == "running" and old.eni_id and old.eni_id != (new.eni_id if new else ""):
        # any zone (this one, or one it served) still routed through the old, running NAT
        others = [ec2r.default_route_eni(ec2, rt) for z in topo.zones if z.az != rec.az
                  for rt in z.private_route_table_ids]
        old_serves = old.eni_id in private_enis + others
    facts = m.Facts(
        new_instance=_view(new),
        token_instance_id=token_id,
        old_instance=_view(old),
        eip_eni_id=ec2r.eip_eni(ec2, zone.nat_eip_allocation_id) if new else "",
        probe_route_eni_id=ec2r.default_route_eni(ec2, zone.probe_route_table_id) if new else "",
        topology_instance_id=zone.nat_instance_id,
        old_serves_zone=old_serves,
        nat_up=health.nat_up(rec.az),
        served_by_own=bool(new and private_enis and all(e == new.eni_id for e in private_enis)),
        revert_auto=topo.failover.revert == "auto",
    )
    return facts, topo, zone


# --- acting ---------------------------------------------------------------------------------
def advance(deps, az: str, now: float, health: HealthPort, rec: m.Record | None = None) -> Outcome:
    """Carry the zone's replacement as far as it goes right now."""
    rec = rec if rec is not None else load(deps, az)
    actions: list[str] = []
    policy = policy_for(deps.topology)
    failover_asked = False
    for _ in range(MAX_STEPS_PER_RUN):
        if rec is None or not rec.active:
            return Outcome(rec, actions, "no replacement in progress")
        facts, topo, zone = observe(deps, rec, health)
        decision = m.decide(rec, facts, now, policy)
        if decision.action in (m.WAIT, m.IDLE):
            return Outcome(rec, actions, decision.why)
        if decision.action == m.AWAIT_FAILOVER:
            if not failover_asked:
                health.request_failover(az, f"replacing NAT {rec.old_instance_id}")
                failover_asked = True
                actions.append(decision.action)
                continue
            return Outcome(rec, actions, decision.why)
        actions.append(decision.action)
        logger.info("replacement step", extra={"zone": az, "nat": rec.new_instance_id or rec.old_instance_id,
                                               "action": decision.action, "why": decision.why})
        try:
            rec = _act(deps, rec, decision, facts, topo, zone, now, policy, health)
        except ConflictError:
            return Outcome(load(deps, az), actions, "another run advanced this replacement")
    return Outcome(rec, actions, "step budget of this run used up")


def _act(deps, rec, decision, facts, topo, zone, now, policy, health) -> m.Record:
    ec2, stack = deps.clients.ec2, deps.topology.stack
    action = decision.action
    if action == m.LAUNCH:
        return _launch(deps, rec, zone, now, policy)
    if action == m.ADOPT:
        found = ec2r.find_instance_by_token(ec2, stack, rec.launch_token)
        return _save(deps, rec.moved(m.STEP_STARTING, now, found.instance_id, new_instance_id=found.instance_id,
                                     new_eni_id=found.eni_id))
    if action == m.ABANDON:
        return _abandon(deps, rec, decision.why, now, policy)
    if action == m.DISABLE_SOURCE_DEST_CHECK:
        inst = ec2r.describe_instance(ec2, rec.new_instance_id, stack)
        ec2r.disable_source_dest_check(ec2, inst)
        return _save(deps, rec.moved(m.STEP_STARTING, now, "source/dest check off"))
    if action == m.MOVE_EIP:
        ec2r.move_eip(ec2, zone.nat_eip_allocation_id, facts.new_instance.eni_id, stack)
        return _save(deps, rec.moved(m.STEP_STARTING, now, f"EIP {zone.nat_eip} -> {facts.new_instance.eni_id}",
                                     new_eni_id=facts.new_instance.eni_id))
    if action == m.REPIN_PROBE_ROUTE:
        ec2r.repin_probe_route(ec2, zone.probe_route_table_id, facts.new_instance.eni_id, stack)
        return _save(deps, rec.moved(m.STEP_STARTING, now, f"probe route {zone.probe_route_table_id} re-pinned"))
    if action == m.PUBLISH:
        new_zone = replace(zone, nat_instance_id=rec.new_instance_id, nat_eni_id=facts.new_instance.eni_id)
        new_topo = topo.with_zone(new_zone)
        if deps.clients.ssm is not None:
            params.write_topology(deps.clients.ssm, new_topo)
        deps.topology = replace(deps.topology, zones=new_topo.zones)
        health.reset(rec.az, now, f"new NAT {rec.new_instance_id} not proven yet")
        return _save(deps, rec.moved(m.STEP_PROVING, now, "topology updated, health reset"))
    if action == m.MARK_PROVEN:
        return _save(deps, rec.moved(m.STEP_AWAIT_ROUTES, now, "proven UP", proven_at=now))
    if action == m.RETIRE_OLD:
        ec2r.terminate_tagged_instance(ec2, rec.old_instance_id, stack)
        return _save(deps, rec.moved(m.STEP_RETIRING, now, f"terminated {rec.old_instance_id}"))
    if action == m.FINISH:
        done = _save(deps, rec.moved(m.STEP_DONE, now, decision.why, status=m.DONE, finished_at=now,
                                     last_error=""))
        took = now - rec.started_at
        _alert(deps, done, "done", f"{rec.az} replaced NAT {rec.old_instance_id} with {rec.new_instance_id} "
                                   f"in {took:.0f}s ({decision.why})", now)
        deps.metric("ReplacementSeconds", took, "Seconds")
        return done
    if action == m.GIVE_UP:
        failed = _save(deps, rec.moved(m.STEP_FAILED, now, decision.why, status=m.FAILED, finished_at=now,
                                       next_attempt_at=now + policy.backoff_max_s))
        _alert(deps, failed, "failed", f"gave up replacing NAT {rec.old_instance_id} of {rec.az}: "
                                       f"{decision.why}; last error: {rec.last_error}", now)
        return failed
    raise HanatError(f"replacement machine returned an unknown action {action!r}")


def _launch(deps, rec: m.Record, zone: ZoneTopology, now: float, policy: m.HealingPolicy) -> m.Record:
    topo = deps.topology
    relaunch = rec.step == m.STEP_LAUNCHING and bool(rec.launch_token)
    attempt = rec.attempts if relaunch else rec.attempts + 1
    token = rec.launch_token if relaunch else m.launch_token(topo.stack, rec.az, rec.started_at, attempt)
    # Claim first: of two racing runs only the one whose write wins calls run-instances.
    rec = _save(deps, rec.moved(m.STEP_LAUNCHING, now, token, attempts=attempt, launch_token=token,
                                launched_at=now))
    # A re-launch of a claimed attempt: its instance may exist after all (the describe that missed it
    # lagged). Adopt it rather than rely on the token alone to make run-instances idempotent.
    existing = ec2r.find_instance_by_token(deps.clients.ec2, topo.stack, token) if relaunch else None
    if existing is not None:
        return _save(deps, rec.moved(m.STEP_STARTING, now, existing.instance_id,
                                     new_instance_id=existing.instance_id, new_eni_id=existing.eni_id))
    try:
        if not topo.launch_template_id:
            raise HanatError("the topology names no NAT launch template (launch_template_id)")
        inst = ec2r.launch_from_template(
            deps.clients.ec2, launch_template_id=topo.launch_template_id, subnet_id=zone.public_subnet_id,
            tags=stack_tags(topo.stack, "nat", rec.az), client_token=token)
    except (AwsError, HanatError) as err:
        failures = rec.failures + 1
        wait_s = policy.backoff_s(failures)
        rec = _save(deps, rec.moved(m.STEP_BACKOFF, now, f"launch failed: {err}", failures=failures,
                                    launch_token="", next_attempt_at=now + wait_s, last_error=str(err)))
        logger.warning("replacement launch failed", extra={"zone": rec.az, "error": str(err)})
        _alert(deps, rec, "retry", f"launch of a new NAT for {rec.az} failed ({err}); the zone stays on its "
                                   f"backup, retrying in {wait_s:.0f}s", now)
        return rec
    return _save(deps, rec.moved(m.STEP_STARTING, now, inst.instance_id, new_instance_id=inst.instance_id,
                                 new_eni_id=inst.eni_id))


def _abandon(deps, rec: m.Record, why: str, now: float, policy: m.HealingPolicy) -> m.Record:
    ec2r.terminate_tagged_instance(deps.clients.ec2, rec.new_instance_id, deps.topology.stack)
    failures = rec.failures + 1
    wait_s = policy.backoff_s(failures)
    gave_up = rec
    rec = _save(deps, rec.moved(m.STEP_BACKOFF, now, why, failures=failures, launch_token="",
                                new_instance_id="", new_eni_id="", next_attempt_at=now + wait_s,
                                last_error=why))
    _alert(deps, replace(rec, new_instance_id=gave_up.new_instance_id), "retry",
           f"{why}: terminated it; the zone stays on its backup, retrying in {wait_s:.0f}s", now)
    return rec


# --- status ---------------------------------------------------------------------------------
def summary(rec: m.Record) -> dict:
    """The view ``hanat status`` shows for a zone's replacement."""
    return {"az": rec.az, "status": rec.status, "step": rec.step, "reason": rec.reason,
            "old_instance_id": rec.old_instance_id, "new_instance_id": rec.new_instance_id or None,
            "attempts": rec.attempts, "failures": rec.failures, "started_at": rec.started_at,
            "next_attempt_at": rec.next_attempt_at or None, "finished_at": rec.finished_at or None,
            "last_error": rec.last_error or None, "history": list(rec.history)}
