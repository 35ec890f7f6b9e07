"""Scheduled events of the NATs (use-case, run after a sweep by ``service/maintenance.py``): EC2 announces
instance-retirement, system-reboot, system-maintenance, instance-stop and instance-reboot days ahead in
DescribeInstanceStatus ``Events``; the NAT is rolled (a planned replacement: zones handed over, Elastic IP
kept) before the event's ``NotBefore`` -- inside the maintenance window when one opens in time, else at once.

Bounded: one DescribeInstanceStatus per ``LOOK_EVERY_S`` period for the whole stack, claimed by a marker in
the state table (one heartbeat run looks per period; a run that tried skips the claim in later sweeps). An event
rolled later (at the window's opening) is announced once, when first seen; the roll's "started" alert says
when it rolls.
"""
from __future__ import annotations

from ..alerts import Alert, iso
from ..aws import event_markers, markets
from ..engine.window import parse_window
from ..errors import HanatError
from ..observability import logger
from ..replacement import machine as m
from ..replacement.advance_notice import LOOK_EVERY_S, ScheduledEvent, first_event, look_period, roll_plan
from . import history, replacement
from .deps import Deps
from .replacement_store import load

# the look-up period each run (its table, owner and DynamoDB client: one heartbeat invocation) last tried to
# claim: its later sweeps in the same period skip the claim (one write per invocation and period, not per sweep)
_tried: dict[tuple[str, str, int], int] = {}


def claim_look(deps: Deps, now: float) -> bool:
    """Is it this run's turn to read the scheduled events (the first run in this period)?"""
    table, period = deps.topology.table_name, look_period(now)
    run = (table, deps.owner, id(deps.clients.dynamodb))
    if _tried.get(run) == period:
        return False
    if len(_tried) > 256:   # a long-lived container: forget the runs of earlier periods
        _tried.clear()
    _tried[run] = period
    return event_markers.put_event_marker(deps.clients.dynamodb, table, f"scheduled-events-look-{period}",
                                          now=now, ttl_s=2 * LOOK_EVERY_S, owner=deps.owner)


def look_pass(deps: Deps, now: float) -> dict[str, dict]:
    """Read the NATs' scheduled events when it is this run's turn, and roll the NATs whose roll is due.
    az -> what was done ({} when it was not this run's turn or no NAT has an event)."""
    if not claim_look(deps, now):
        return {}
    topo = deps.topology
    found = markets.scheduled_events(deps.clients.ec2, [z.nat_instance_id for z in topo.zones], deadline=deps.deadline)
    window = parse_window(topo.maintenance.window)
    done: dict[str, dict] = {}
    for zone in topo.zones:
        event = first_event([ScheduledEvent(instance_id=zone.nat_instance_id, **raw)
                             for raw in found.get(zone.nat_instance_id, [])])
        if event is None:
            continue
        plan = roll_plan(event, window, now)
        when = f"{event.code} of NAT {event.instance_id} not before {iso(event.not_before)}"
        if not plan.due(now):
            done[zone.az] = {"event": event.code, "roll_at": plan.at, "why": plan.why,
                             "announced": _announce(deps, zone.az, event, f"{when}: rolling it at {iso(plan.at)} "
                                                                          f"({plan.why})", now)}
            continue
        previous = load(deps, zone.az)
        if previous is not None and previous.status == m.FAILED and now < previous.next_attempt_at:
            done[zone.az] = {"event": event.code, "waiting": f"the last replacement failed; retrying after "
                                                               f"{iso(previous.next_attempt_at)}"}
            continue
        outcome = replacement.begin(deps, zone.az, f"{when}: rolling it before then ({plan.why})", now, planned=True)
        done[zone.az] = {"event": event.code, "started": outcome.started, "actions": outcome.actions}
        logger.info("scheduled event: rolling the NAT", extra={"zone": zone.az, "nat": event.instance_id,
                                                               "code": event.code, "started": outcome.started})
    return done


def _announce(deps: Deps, az: str, event: ScheduledEvent, reason: str, now: float) -> bool:
    """Tell people once per event that its NAT will be rolled later (marker per event, kept past NotAfter)."""
    ttl = max(event.not_after, event.not_before) - now + 7 * 86_400
    if not event_markers.put_event_marker(deps.clients.dynamodb, deps.topology.table_name,
                                          f"scheduled-event-{event.key}", now=now, ttl_s=ttl, owner=deps.owner):
        return False
    alert = Alert(type="replace", zone=az, reason=reason, at=now, from_nat=event.instance_id,
                  stack=deps.topology.stack, details={"phase": "scheduled", "event": event.code,
                                                      "not_before": iso(event.not_before)})
    history.record_alert(deps, alert)
    try:
        deps.alert_sink(alert)
    except HanatError as err:
        logger.error("alert not delivered", extra={"zone": az, "type": "replace", "error": str(err)})
    return True
