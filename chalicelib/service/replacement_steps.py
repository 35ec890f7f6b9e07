"""The steps of one NAT replacement: gather the facts, ask the state machine, act, record; repeat until
it says wait.

Each run advances as far as it can without long waits and then returns, so a Lambda never blocks on
EC2. Every step is recorded with a version check: a run that loses a race stops, and a later run
continues from the record. A run returns the topology it ended with (a new NAT is published there),
so the caller can carry on with it; nothing here changes ``deps``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

from ..alerts import iso
from ..aws import addresses, instances, markets, observe, params, routes
from ..engine import RUNNING, UP, revert_allowed
from ..engine.window import parse_window
from ..errors import AwsError, ConflictError, HanatError
from ..naming import stack_tags
from ..observability import logger
from ..replacement import machine as m
from ..replacement.advance_notice import launch_markets
from ..topology import Topology, ZoneTopology
from . import handoff_ack, handoff_close, nat_alarms, reconcile
from .deps import Deps
from .replacement_store import load, save
from .replacement_zone import (
    console_tail,
    fail_over_for_replacement,
    replace_alert,
    reset_health,
    zone_released,
)

MAX_STEPS_PER_RUN = 16


@dataclass
class Outcome:
    """What one run did for a zone: the record after it, the actions taken, why it stopped, and the
    topology it ended with (the new NAT once published)."""

    record: m.Record | None
    actions: list[str]
    stopped_because: str
    topology: Topology | None = None
    started: bool = False

    def to_dict(self) -> dict:
        return {"record": self.record.to_dict() if self.record else None, "actions": list(self.actions),
                "stopped_because": self.stopped_because, "started": self.started}


def policy_for(topology: Topology) -> m.ReplacementPolicy:
    return m.ReplacementPolicy.for_replace_after(topology.failover.replace_after_s)


# --- starting -------------------------------------------------------------------------------
def start(deps: Deps, az: str, reason: str, now: float, previous: m.Record | None = None, *,
          planned: bool = False, roll_id: str = "", drain_floor: float = 0.0) -> m.Record | None:
    """Open a replacement for ``az``; None when one is already in progress (the conditional put lost).

    ``previous`` is the zone's last record if the caller already read it (its version is carried on).
    ``planned``: the old NAT is healthy (a roll, an operator's replace): it drains before its EIP moves,
    at least until ``drain_floor`` (a spot NAT: until its interruption).
    """
    zone = deps.topology.zone(az)
    if previous is None:
        previous = load(deps, az)
    if previous is not None and previous.active:
        return None
    rec = m.Record(az=az, reason=reason, old_instance_id=zone.nat_instance_id, started_at=now,
                   version=previous.version if previous else 0, planned=planned,
                   roll_id=roll_id, drain_floor=drain_floor).moved(m.STEP_STARTED, now, reason)
    try:
        rec = save(deps, rec, starting=True)
    except ConflictError:
        return None
    logger.info("replacement started", extra={"zone": az, "nat": zone.nat_instance_id, "reason": reason})
    replace_alert(deps, rec, "started", f"replacing NAT {zone.nat_instance_id} of {az}: {reason}", now)
    return rec


# --- facts ----------------------------------------------------------------------------------
def _live_topology(deps: Deps, known: Topology) -> Topology:
    """The topology parameter now (another run may have published a new NAT); ``known`` without SSM."""
    return known if deps.clients.ssm is None else reconcile.with_live_topology(deps).topology


def _view(inst: instances.NatInstance | None) -> m.InstanceView | None:
    if inst is None:
        return None
    return m.InstanceView(instance_id=inst.instance_id, state=inst.state, eni_id=inst.eni_id,
                          source_dest_check=inst.source_dest_check, tagged=inst.tagged)


def gather_facts(deps: Deps, rec: m.Record, known: Topology,
                 now: float | None = None) -> tuple[m.Facts, Topology, ZoneTopology]:
    """Read everything the machine needs about this zone, fresh from AWS and the state table."""
    ec2, stack = deps.clients.ec2, deps.topology.stack
    topo = _live_topology(deps, known)
    zone = topo.zone(rec.az)
    new = instances.describe_instance(ec2, rec.new_instance_id, stack) if rec.new_instance_id else None
    token_id = ""
    if not rec.new_instance_id and rec.step == m.STEP_LAUNCHING and rec.launch_token:
        found = instances.find_instance_by_token(ec2, stack, rec.launch_token)
        token_id = found.instance_id if found else ""
    old = instances.describe_instance(ec2, rec.old_instance_id, stack) if rec.old_instance_id else None
    # every private table of the stack and this zone's probe table: one batched read
    tables = observe.describe_route_tables(
        ec2, [rt for z in topo.zones for rt in z.private_route_table_ids] + [zone.probe_route_table_id])
    eni_of = {t: (view.default_eni or "") for t, view in tables.items()}
    private_enis = [eni_of.get(rt, "") for rt in zone.private_route_table_ids]
    states = reconcile.load_states(deps)[1]
    old_serves = False
    if old is not None and old.state == RUNNING and old.eni_id and old.eni_id != (new.eni_id if new else ""):
        # any zone (this one, or one it served) still routed through the old, running NAT
        old_serves = old.eni_id in {eni_of.get(rt) for z in topo.zones for rt in z.private_route_table_ids}
    facts = m.Facts(
        new_instance=_view(new),
        token_instance_id=token_id,
        old_instance=_view(old),
        # every Elastic IP of the zone (nat.addresses) on one interface, or "" (not all moved yet)
        eip_eni_id=addresses.common_eni(ec2, [zone.nat_eip_allocation_id,
                                              *(a.allocation_id for a in zone.extra_addresses)]) if new else "",
        probe_route_eni_id=eni_of.get(zone.probe_route_table_id, "") if new else "",
        topology_instance_id=zone.nat_instance_id,
        old_serves_zone=old_serves,
        nat_up=states[rec.az].health == UP,
        handing_off=bool(rec.old_instance_id) and any(
            s.has_handoff and s.handoff_from == rec.old_instance_id for s in states.values()),
        served_by_own=bool(new and private_enis and all(e == new.eni_id for e in private_enis)),
        # will the sweep revert the zone by itself now? (revert = window: only inside the window; a
        # released zone of an adopted VPC never gets its routes back from the sweep: do not wait for it)
        revert_auto=(revert_allowed(topo.failover, parse_window(topo.maintenance.window),
                                    deps.clock() if now is None else now)
                     and not (zone.is_adopted and zone_released(deps, rec.az))),
    )
    return facts, topo, zone


# --- acting ---------------------------------------------------------------------------------
def advance(deps: Deps, az: str, now: float, rec: m.Record | None = None) -> Outcome:
    """Carry the zone's replacement as far as it goes right now."""
    rec = rec if rec is not None else load(deps, az)
    actions: list[str] = []
    policy = policy_for(deps.topology)
    failover_asked = False
    topo = deps.topology
    for _ in range(MAX_STEPS_PER_RUN):
        if rec is None or not rec.active:
            return Outcome(rec, actions, "no replacement in progress", topo)
        facts, topo, zone = gather_facts(deps, rec, topo, now)
        step = m.decide(rec, facts, now, policy)
        if step.action in (m.WAIT, m.IDLE):
            return Outcome(rec, actions, step.why, topo)
        if step.action == m.AWAIT_FAILOVER:
            if not failover_asked:
                hold = (now + float(deps.topology.maintenance.drain_s) + policy.proving_timeout_s
                        if rec.planned else 0.0)
                try:
                    fail_over_for_replacement(deps, az, f"replacing NAT {rec.old_instance_id}", hold_until=hold,
                                              old_instance_id=rec.old_instance_id, planned=rec.planned)
                except ConflictError:   # a sweep or another run stored the zone first: decide again next pass
                    return Outcome(load(deps, az), actions, "another run changed the zone's state", topo)
                now = max(now, deps.clock())   # a planned move waited for the NATs' agents (handoff)
                failover_asked = True
                actions.append(step.action)
                continue
            return Outcome(rec, actions, step.why, topo)
        actions.append(step.action)
        logger.info("replacement step", extra={"zone": az, "nat": rec.new_instance_id or rec.old_instance_id,
                                               "action": step.action, "why": step.why})
        removed: dict[str, dict[str, str | None]] = {}
        try:
            rec, topo = _act(deps, rec, step, facts, topo, zone, now, policy, removed)
        except ConflictError:
            return Outcome(load(deps, az), actions, "another run advanced this replacement", topo)
        if step.action == m.END_HANDOFF and _time_left(deps, policy.handoff_settle_s):
            # the Elastic IP moves once the sending NAT reports the handoff gone (it stopped tunnelling to
            # the old NAT), at most failover.handoff_ack_timeout_s: wait here rather than a whole heartbeat
            _wait_for_removal(deps, topo, removed, az)
            now = max(deps.clock(), now + policy.handoff_settle_s)
    return Outcome(rec, actions, "step budget of this run used up", topo)


def _wait_for_removal(deps: Deps, topo: Topology, removed: dict[str, dict[str, str | None]], az: str) -> None:
    """Wait for the NATs whose handoff tags ``END_HANDOFF`` removed to report them gone (each asked
    through the zone its probe subnet reaches); none to ask: the timed wait."""
    written = {nat: (z.az, keys) for nat, keys in removed.items() if (z := topo.zone_of_instance(nat)) is not None}
    limit_s = None if deps.deadline is None else deps.deadline - time.monotonic() - reconcile.MIN_WRITE_S
    handoff_ack.wait_for_agents(deps, written, written_at=deps.clock(), zones=(az,), limit_s=limit_s)


def _time_left(deps: Deps, wait_s: float) -> bool:
    """Is there time for a wait of ``wait_s`` and the steps after it before ``deps.deadline``?"""
    return deps.deadline is None or deps.deadline - time.monotonic() > wait_s + reconcile.MIN_WRITE_S


def _act(deps: Deps, rec: m.Record, step: m.NextAction, facts: m.Facts, topo: Topology, zone: ZoneTopology,
         now: float, policy: m.ReplacementPolicy,
         removed: dict[str, dict[str, str | None]] | None = None) -> tuple[m.Record, Topology]:
    """Perform one step; the record after it and the topology (changed only by PUBLISH). ``removed``:
    filled by END_HANDOFF with the handoff tags it removed (handoff_close.close_handoffs)."""
    if step.action == m.PUBLISH:
        new_zone = replace(zone, nat_instance_id=rec.new_instance_id, nat_eni_id=facts.new_instance.eni_id)
        new_topo = topo.with_zone(new_zone)
        if deps.clients.ssm is not None:
            params.write_topology(deps.clients.ssm, new_topo)
        reset_health(deps, rec.az, now, f"new NAT {rec.new_instance_id} not proven yet", clear_hold=rec.planned)
        nat_alarms.repoint_nat_alarms(deps, new_topo, rec.az)
        return save(deps, rec.moved(m.STEP_PROVING, now, "topology updated, health reset")), new_topo
    return _act_on_aws(deps, rec, step, facts, zone, now, policy, removed), topo


def _act_on_aws(deps: Deps, rec: m.Record, decision: m.NextAction, facts: m.Facts, zone: ZoneTopology,
                now: float, policy: m.ReplacementPolicy,
                removed: dict[str, dict[str, str | None]] | None = None) -> m.Record:
    ec2, stack = deps.clients.ec2, deps.topology.stack
    action = decision.action
    if action == m.LAUNCH:
        return _launch(deps, rec, zone, now, policy)
    if action == m.ADOPT:
        found = instances.find_instance_by_token(ec2, stack, rec.launch_token)
        return save(deps, rec.moved(m.STEP_STARTING, now, found.instance_id, new_instance_id=found.instance_id,
                                     new_eni_id=found.eni_id))
    if action == m.ABANDON:
        return _abandon(deps, rec, decision.why, now, policy)
    if action == m.DISABLE_SOURCE_DEST_CHECK:
        inst = instances.describe_instance(ec2, rec.new_instance_id, stack)
        instances.disable_source_dest_check(ec2, inst, deadline=deps.deadline)
        return save(deps, rec.moved(m.STEP_STARTING, now, "source/dest check off"))
    if action == m.START_DRAIN:
        until = max(now + float(deps.topology.maintenance.drain_s), rec.drain_floor)
        logger.info("draining the old NAT", extra={"zone": rec.az, "nat": rec.old_instance_id, "until": until})
        return save(deps, rec.moved(m.STEP_DRAINING, now, f"the zone left old NAT {rec.old_instance_id}, which "
                                                          f"drains until {iso(until)}", drain_until=until))
    if action == m.END_HANDOFF:
        zones = handoff_close.close_handoffs_of_nat(deps, rec.old_instance_id, f"the drain of NAT {rec.old_instance_id} is over",
                                                    removed=removed)
        return save(deps, rec.moved(m.STEP_DRAINING, now, "connection handoff ended: flows still open get a reset"
                                    + (f" ({', '.join(zones)})" if zones else ""), handoff_ended_at=now))
    if action == m.MOVE_EIP:
        instances.move_eip(ec2, zone.nat_eip_allocation_id, facts.new_instance.eni_id, stack, deadline=deps.deadline)
        addresses.place_extra_addresses(ec2, facts.new_instance.eni_id,
                                        [a.allocation_id for a in zone.extra_addresses], stack)
        return save(deps, rec.moved(m.STEP_STARTING, now, f"EIP {', '.join(zone.egress_ips)} -> {facts.new_instance.eni_id}",
                                     new_eni_id=facts.new_instance.eni_id))
    if action == m.REPIN_PROBE_ROUTE:
        routes.repin_probe_route(ec2, zone.probe_route_table_id, facts.new_instance.eni_id, stack,
                                 deadline=deps.deadline)
        return save(deps, rec.moved(m.STEP_STARTING, now, f"probe route {zone.probe_route_table_id} re-pinned"))
    if action == m.MARK_PROVEN:
        return save(deps, rec.moved(m.STEP_AWAIT_ROUTES, now, "proven UP", proven_at=now))
    if action == m.RETIRE_OLD:
        instances.terminate_tagged_instance(ec2, rec.old_instance_id, stack, deadline=deps.deadline)
        return save(deps, rec.moved(m.STEP_RETIRING, now, f"terminated {rec.old_instance_id}"))
    if action == m.FINISH:
        done = save(deps, rec.moved(m.STEP_DONE, now, decision.why, status=m.DONE, finished_at=now,
                                     last_error=""))
        took = now - rec.started_at
        replace_alert(deps, done, "done", f"{rec.az} replaced NAT {rec.old_instance_id} with {rec.new_instance_id} "
                                   f"in {took:.0f}s ({decision.why})", now)
        deps.metric("ReplacementSeconds", took, "Seconds")
        return done
    if action == m.GIVE_UP:
        failed = save(deps, rec.moved(m.STEP_FAILED, now, decision.why, status=m.FAILED, finished_at=now,
                                       next_attempt_at=now + policy.backoff_max_s))
        replace_alert(deps, failed, "failed", f"gave up replacing NAT {rec.old_instance_id} of {rec.az}: "
                                       f"{decision.why}; last error: {rec.last_error}", now,
               console=rec.console_tail)
        return failed
    raise HanatError(f"replacement machine returned an unknown action {action!r}")


def _launch(deps: Deps, rec: m.Record, zone: ZoneTopology, now: float, policy: m.ReplacementPolicy) -> m.Record:
    # the topology published now (its launch template and nat.market), not the one this run started with
    topo = _live_topology(deps, deps.topology)
    relaunch = rec.step == m.STEP_LAUNCHING and bool(rec.launch_token)
    attempt = rec.attempts if relaunch else rec.attempts + 1
    token = rec.launch_token if relaunch else m.launch_token(topo.stack, rec.az, rec.started_at, attempt)
    # Claim first: of two racing runs only the one whose write wins calls run-instances.
    rec = save(deps, rec.moved(m.STEP_LAUNCHING, now, token, attempts=attempt, launch_token=token,
                                launched_at=now))
    # A re-launch of a claimed attempt: its instance may exist after all (the describe that missed it
    # lagged). Adopt it rather than rely on the token alone to make run-instances idempotent.
    existing = instances.find_instance_by_token(deps.clients.ec2, topo.stack, token) if relaunch else None
    if existing is not None:
        return save(deps, rec.moved(m.STEP_STARTING, now, existing.instance_id,
                                     new_instance_id=existing.instance_id, new_eni_id=existing.eni_id))
    try:
        if not topo.launch_template_id:
            raise HanatError("the topology names no NAT launch template (launch_template_id)")
        inst, market, refused = markets.launch_in_market(lambda options: instances.launch_from_template(
            deps.clients.ec2, launch_template_id=topo.launch_template_id, subnet_id=zone.public_subnet_id,
            security_group_id=topo.nat_security_group_id, tags=stack_tags(topo.stack, "nat", rec.az), client_token=token,
            market_options=options, secondary_addresses=len(zone.extra_addresses)), launch_markets(topo.nat_market))
    except (AwsError, HanatError) as err:
        failures = rec.failures + 1
        wait_s = policy.backoff_s(failures)
        rec = save(deps, rec.moved(m.STEP_BACKOFF, now, f"launch failed: {err}", failures=failures,
                                    launch_token="", next_attempt_at=now + wait_s, last_error=str(err)))
        logger.warning("replacement launch failed", extra={"zone": rec.az, "error": str(err)})
        replace_alert(deps, rec, "retry", f"launch of a new NAT for {rec.az} failed ({err}); the zone stays on its "
                                   f"backup, retrying in {wait_s:.0f}s", now)
        return rec
    if refused:   # nat.spot_fallback: the zone gets an on-demand NAT now; the next launch asks for spot again
        logger.warning("spot capacity refused, launched on-demand", extra={"zone": rec.az, "error": refused})
    note = f"{inst.instance_id} ({market}" + (f"; spot refused: {refused})" if refused else ")")
    return save(deps, rec.moved(m.STEP_STARTING, now, note, new_instance_id=inst.instance_id,
                                 new_eni_id=inst.eni_id))


def _abandon(deps: Deps, rec: m.Record, why: str, now: float, policy: m.ReplacementPolicy) -> m.Record:
    console = console_tail(deps, rec.new_instance_id)   # read before it is terminated: why it never came up
    instances.terminate_tagged_instance(deps.clients.ec2, rec.new_instance_id, deps.topology.stack)
    failures = rec.failures + 1
    wait_s = policy.backoff_s(failures)
    gave_up = rec
    rec = save(deps, rec.moved(m.STEP_BACKOFF, now, why, failures=failures, launch_token="",
                                new_instance_id="", new_eni_id="", next_attempt_at=now + wait_s,
                                last_error=why, console_tail=tuple(console)))
    replace_alert(deps, replace(rec, new_instance_id=gave_up.new_instance_id), "retry",
           f"{why}: terminated it; the zone stays on its backup, retrying in {wait_s:.0f}s", now, console=console)
    return rec


def cancel(deps: Deps, az: str, why: str, now: float) -> m.Record | None:
    """End the zone's replacement before any traffic moved (its roll stopped): terminate the new
    instance if one was launched, record it failed (step ``cancelled``). A replacement whose zone
    already left the old NAT is left to finish (it is the zone's way back): None then, as for none."""
    rec = load(deps, az)
    if rec is None or not rec.active or rec.left_old:
        return None
    new_id = rec.new_instance_id
    if not new_id and rec.launch_token:   # a claimed launch whose instance was never recorded
        found = instances.find_instance_by_token(deps.clients.ec2, deps.topology.stack, rec.launch_token)
        new_id = found.instance_id if found else ""
    if new_id:
        instances.terminate_tagged_instance(deps.clients.ec2, new_id, deps.topology.stack)
    return save(deps, rec.moved(m.STEP_CANCELLED, now, why, status=m.FAILED, finished_at=now, last_error=why,
                                next_attempt_at=now))
