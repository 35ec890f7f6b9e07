"""AWS's warnings that a NAT will go (use-case): a spot interruption warning or a rebalance recommendation
moves the zones the NAT serves to healthy NATs as a planned move (open connections handed over), launches
its replacement at once (which keeps the Elastic IP), and alerts once.

The event shapes (EC2 User Guide, "Spot Instance interruption notices" and "EC2 instance rebalance
recommendations"): ``source`` aws.ec2, ``detail-type`` "EC2 Spot Instance Interruption Warning" with
``detail`` {"instance-id", "instance-action": terminate | stop | hibernate}, or "EC2 Instance Rebalance
Recommendation" with ``detail`` {"instance-id"}. EventBridge may deliver an event more than once: one
marker per event id, and a NAT already being replaced (a rebalance recommendation came first) starts
nothing new and alerts no more.

The moves and the replacement are the planned replacement's own (``replacement_zone``, ``replacement``).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..aws import event_markers
from ..errors import ConflictError, InputError
from ..observability import logger
from ..replacement import machine as m
from ..replacement.advance_notice import INTERRUPTION_WARNING, SPOT_NOTICE_S, WARNING_TYPES, zones_leaving

__all__ = ["WARNING_TYPES", "Warning", "handle_spot_warning", "parse_warning"]
from . import reconcile, replacement
from .deps import Deps
from .replacement_steps import advance, policy_for
from .replacement_store import load, save
from .replacement_zone import fail_over_for_replacement

EVENT_MARKER_TTL_S = 24 * 3600
ACTIONS = ("terminate", "stop", "hibernate")


@dataclass(frozen=True)
class Warning:
    event_id: str
    kind: str            # one of WARNING_TYPES
    instance_id: str
    action: str = ""     # the interruption's instance-action ("" for a rebalance recommendation)

    @property
    def label(self) -> str:
        if self.kind == INTERRUPTION_WARNING:
            return f"spot interruption warning ({self.action or 'terminate'} in {SPOT_NOTICE_S:.0f}s)"
        return "rebalance recommendation (spot interruption risk is up)"


def parse_warning(event: object) -> Warning:
    """The warning an EventBridge event carries; InputError naming every missing or malformed field."""
    if not isinstance(event, dict):
        raise InputError(f"event must be a JSON object, got {type(event).__name__}", title="invalid event")
    problems = []
    event_id, kind, detail = event.get("id"), event.get("detail-type"), event.get("detail")
    if not isinstance(event_id, str) or not event_id:
        problems.append("id: missing or not a string (the EventBridge event id)")
    if kind not in WARNING_TYPES:
        problems.append(f"detail-type: {kind!r} is not one of {', '.join(repr(k) for k in WARNING_TYPES)}")
    instance_id = action = ""
    if not isinstance(detail, dict):
        problems.append("detail: missing or not an object")
    else:
        instance_id, action = detail.get("instance-id"), detail.get("instance-action", "")
        if not isinstance(instance_id, str) or not instance_id:
            problems.append("detail.instance-id: missing or not a string")
        if kind == INTERRUPTION_WARNING and action not in ACTIONS:
            problems.append(f"detail.instance-action: {action!r} is not one of {', '.join(ACTIONS)}")
    if problems:
        raise InputError(problems, title="invalid EC2 spot warning event")
    return Warning(event_id, kind, instance_id, action if kind == INTERRUPTION_WARNING else "")


def handle_spot_warning(deps: Deps, event: dict) -> dict:
    """Move the warned NAT's zones away (planned, with handoff) and replace it now; once per event id and
    once per NAT (a replacement already running is only advanced)."""
    warning = parse_warning(event)
    topo = deps.topology
    zone = topo.zone_of_instance(warning.instance_id)
    if zone is None:
        return {"ignored": f"instance {warning.instance_id} is not a NAT of stack {topo.stack}"}
    az, ddb = zone.az, deps.clients.dynamodb
    if not event_markers.put_event_marker(ddb, topo.table_name, warning.event_id, now=deps.clock(),
                                          ttl_s=EVENT_MARKER_TTL_S, owner=deps.owner):
        return {"duplicate": True, "event_id": warning.event_id, "zone": az}
    try:
        return _act(deps, warning, az)
    except BaseException:
        event_markers.delete_event_marker(ddb, topo.table_name, warning.event_id)   # EventBridge's retry acts
        raise


def _act(deps: Deps, warning: Warning, az: str) -> dict:
    result = {"ok": True, "event_id": warning.event_id, "kind": warning.kind, "zone": az,
              "instance_id": warning.instance_id}
    current = load(deps, az)
    now = deps.clock()
    if current is not None and current.active:
        # already on its way out (a rebalance recommendation came first): no second move, no second alert;
        # an interruption now fixes when the NAT goes: it keeps draining until then
        if warning.kind == INTERRUPTION_WARNING and current.drain_floor < now + SPOT_NOTICE_S:
            current = _drain_until_interruption(deps, current, now + SPOT_NOTICE_S)
        outcome = advance(deps, az, now, rec=current)
        return {**result, "already_replacing": True, "actions": outcome.actions}
    _, states = reconcile.load_states(deps)
    leaving = zones_leaving(states, az)
    reason = (f"{warning.label} for NAT {warning.instance_id}: "
              + (f"zones {', '.join(leaving)} move to healthy NATs (connections handed over); " if leaving else "")
              + "its replacement launches now and keeps the Elastic IP")
    # an interrupted NAT keeps serving the flows handed back to it until EC2 takes it (two minutes), whatever
    # maintenance.drain_s says: flows that end within the warning are never broken
    drain_floor = now + SPOT_NOTICE_S if warning.kind == INTERRUPTION_WARNING else 0.0
    # held away until the new NAT is published (as a planned replacement holds it), then earned back
    hold = (max(now + float(deps.topology.maintenance.drain_s), drain_floor)
            + policy_for(deps.topology).proving_timeout_s)
    applied = fail_over_for_replacement(deps, az, reason, old_instance_id=warning.instance_id, hold_until=hold,
                                        planned=True, quiet=True)
    # its "started" alert is the one alert
    outcome = replacement.begin(deps, az, reason, planned=True, drain_floor=drain_floor)
    logger.info("spot warning handled", extra={"zone": az, "nat": warning.instance_id, "kind": warning.kind,
                                               "zones": list(leaving)})
    return {**result, "zones_moved": list(leaving), "moves": [m.to_dict() for m in applied.moves],
            "handoffs": applied.handoffs, "replacement_started": outcome.started, "actions": outcome.actions}


def _drain_until_interruption(deps: Deps, rec: m.Record, floor: float) -> m.Record:
    """The replacement in progress drains the old NAT at least until its interruption (a drain already
    running is extended); a lost race leaves the record as the other run wrote it."""
    changes = {"drain_floor": floor}
    if rec.drain_until:
        changes["drain_until"] = max(rec.drain_until, floor)
    try:
        return save(deps, rec.moved(rec.step, deps.clock(), f"interruption warning: drains until {floor:.0f}",
                                    **changes))
    except ConflictError:
        return load(deps, rec.az) or rec
