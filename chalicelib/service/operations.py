"""Manual operations (the ``operate`` Lambda and ``hanat failover|revert|...``): validated first,
then decided by the engine and applied under the same version-checked protocol as the sweep."""
from __future__ import annotations

from ..engine import DOWN, RUNNING, decide_manual_failover, decide_pause, decide_resume, decide_revert
from ..errors import InputError
from ..observability import logger
from . import adoption, replacement, roll
from .deps import Deps
from .publish import publish
from .reconcile import decide_and_apply, observe_zones
from .status import collect_status, roll_status

ACTIONS = ("status", "failover", "revert", "replace", "roll", "pause", "resume", *adoption.ACTIONS)
ZONE_OPTIONAL = ("status", "roll")   # roll without a zone rolls every zone
KEYS = ("action", "zone", "to_zone", "reason")


def validate(deps: Deps, payload: object) -> dict:
    """The payload, checked; InputError naming every problem plus the valid actions and zones."""
    azs = deps.topology.azs
    hint = f"valid actions: {', '.join(ACTIONS)}; valid zones: {', '.join(azs)}"
    if not isinstance(payload, dict):
        raise InputError([f"payload must be a JSON object, got {type(payload).__name__}", hint],
                         title="invalid operation")
    problems = [f"unknown key {k!r} (allowed: {', '.join(KEYS)})" for k in payload if k not in KEYS]
    action, zone, to_zone, reason = (payload.get(k) for k in KEYS)
    if action is None:
        problems.append("action: missing")
    elif not isinstance(action, str) or action not in ACTIONS:
        problems.append(f"action: {action!r} is not one of {', '.join(ACTIONS)}")
    for key, value in (("zone", zone), ("to_zone", to_zone)):
        if value is not None and (not isinstance(value, str) or value not in azs):
            problems.append(f"{key}: {value!r} is not a zone of stack {deps.topology.stack}")
    if zone is None and action not in ZONE_OPTIONAL:
        problems.append("zone: missing (which zone to act on)")
    if to_zone is not None and action != "failover":
        problems.append(f"to_zone: only applies to failover, not {action!r}")
    if to_zone is not None and to_zone == zone:
        problems.append(f"to_zone: {to_zone!r} is the zone itself")
    if reason is not None and not isinstance(reason, str):
        problems.append(f"reason: must be a string, got {type(reason).__name__}")
    if not problems and action == "failover" and to_zone is not None:
        seen = observe_zones(deps, deps.clock())
        target = next(z for z in seen.inputs if z.az == to_zone)
        if target.state.health == DOWN or target.instance_state not in (None, RUNNING):
            problems.append(f"to_zone: {to_zone!r} cannot take traffic: its NAT is "
                            f"{target.state.health} ({target.state.health_reason or target.instance_state})")
    if problems:
        raise InputError(problems + [hint], title="invalid operation")
    return {"action": action, "zone": zone, "to_zone": to_zone, "reason": reason or ""}


def operate(deps: Deps, payload: dict) -> dict:
    """Run one manual operation; returns {"ok": true, "action", "zone", "changed": [tables], ...}."""
    if isinstance(payload, dict) and payload.get("action") in adoption.ACTIONS:
        return adoption.operate(deps, payload)   # cutover | release: an adopted VPC's own payload keys
    op = validate(deps, payload)
    action, az, topo = op["action"], op["zone"], deps.topology
    if action == "status":
        return {"ok": True, "action": "status", "stack": topo.stack, "zones": collect_status(deps),
                "roll": roll_status(deps)}
    if action == "roll":   # refused (RollRefused, exit 1, nothing changed) while a NAT is not UP
        outcome = roll.start_roll(deps, [az] if az else None, op["reason"] or f"requested by {deps.owner}")
        return {"ok": True, "action": action, "zone": az, "changed": [], **outcome.to_dict()}
    if action == "replace":
        result = replacement.request_replacement(deps, az, op["reason"] or "manual replace")
        return {"ok": True, "action": action, "zone": az, "changed": [], "replacement": result}
    reason = op["reason"] or f"manual {action} by {deps.owner}"

    def decider(snapshot, inputs, now):
        if action == "failover":
            return decide_manual_failover(inputs, az, op["to_zone"], now=now, reason=reason, stack=topo.stack)
        if action == "revert":
            return decide_revert(inputs, az, now=now, reason=reason, stack=topo.stack)
        if action == "pause":
            return decide_pause(inputs, az, now=now, reason=reason)
        return decide_resume(inputs, az, now=now, reason=reason)

    applied = decide_and_apply(deps, decider)
    alerts: list[dict] = []
    publish(deps, applied, alerts)
    state = applied.states[az]
    logger.info("manual operation", extra={"zone": az, "action": action, "route_table": applied.changed_tables})
    return {"ok": True, "action": action, "zone": az, "changed": applied.changed_tables,
            "served_by": state.server, "mode": state.mode, "moves": [m.to_dict() for m in applied.moves],
            "handoffs": applied.handoffs, "alerts": alerts}
