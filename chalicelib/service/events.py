"""EC2 instance state-change events: a NAT that stops or terminates fails over at once, and the
connection handoffs it took part in end."""
from __future__ import annotations

from ..aws import event_markers
from ..engine.state import EC2_STATES, LEAVING_STATES, TERMINATED
from ..errors import InputError
from ..observability import logger
from . import handoff_close, replacement
from .deps import Deps
from .publish import publish
from .reconcile import decide_and_apply, engine_decider

EVENT_MARKER_TTL_S = 24 * 3600


def parse_event(event: object) -> tuple[str, str, str]:
    """(event id, instance id, state) of an "EC2 Instance State-change Notification"; InputError
    naming every missing or malformed field."""
    if not isinstance(event, dict):
        raise InputError(f"event must be a JSON object, got {type(event).__name__}", title="invalid event")
    problems = []
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id:
        problems.append("id: missing or not a string (the EventBridge event id)")
    detail = event.get("detail")
    instance_id = state = None
    if not isinstance(detail, dict):
        problems.append("detail: missing or not an object")
        problems.append("detail.instance-id: missing")
        problems.append("detail.state: missing")
    else:
        instance_id, state = detail.get("instance-id"), detail.get("state")
        if not isinstance(instance_id, str) or not instance_id:
            problems.append("detail.instance-id: missing or not a string")
        if not isinstance(state, str) or not state:
            problems.append("detail.state: missing or not a string")
        elif state not in EC2_STATES:
            problems.append(f"detail.state: {state!r} is not an EC2 state (valid: {', '.join(EC2_STATES)})")
    if problems:
        raise InputError(problems, title="invalid EC2 state-change event")
    return event_id, instance_id, state  # type: ignore[return-value]


def handle_instance_state(deps: Deps, event: dict) -> dict:
    """Fail the zone of a stopping/stopped/terminated NAT over at once; act once per event id."""
    event_id, instance_id, ec2_state = parse_event(event)
    topo = deps.topology
    zone = topo.zone_of_instance(instance_id)
    if zone is None:
        return {"ignored": f"instance {instance_id} is not a NAT of stack {topo.stack}"}
    if ec2_state not in LEAVING_STATES:
        return {"ignored": f"NAT {instance_id} ({zone.az}) is {ec2_state}: nothing to do"}
    ddb = deps.clients.dynamodb
    if not event_markers.put_event_marker(ddb, topo.table_name, event_id, now=deps.clock(), ttl_s=EVENT_MARKER_TTL_S,
                                  owner=deps.owner):
        return {"duplicate": True, "event_id": event_id, "zone": zone.az}
    try:
        applied = decide_and_apply(deps, engine_decider(topo), instance_overrides={instance_id: ec2_state})
        alerts: list[dict] = []
        publish(deps, applied, alerts)
        logger.info("NAT state change handled", extra={"zone": zone.az, "nat": instance_id, "state": ec2_state,
                                                       "route_table": applied.changed_tables})
        result = {"ok": True, "event_id": event_id, "zone": zone.az, "instance_id": instance_id,
                  "state": ec2_state, "moves": [m.to_dict() for m in applied.moves],
                  "changed": applied.changed_tables, "outcomes": list(applied.decision.outcomes),
                  "served_by": applied.states[zone.az].server}
        # it can serve no handed-off flow any more: the NAT now serving those zones resets them instead
        result["handoffs_ended"] = handoff_close.close_handoffs_of_nat(deps, instance_id, f"NAT {instance_id} is {ec2_state}")
        if ec2_state == TERMINATED:
            result["replacement"] = replacement.on_nat_terminated(deps, zone.az, f"NAT {instance_id} terminated")
        return result
    except BaseException:
        event_markers.delete_event_marker(ddb, topo.table_name, event_id)  # let EventBridge's retry act
        raise
