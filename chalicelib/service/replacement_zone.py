"""The zone around a NAT replacement (use-case): its health as the replacement needs it (the planned
failover away from the old NAT, the reset a new NAT must earn its routes from) and what the replacement
tells people (its alerts, with the new NAT's console output when it never came up)."""
from __future__ import annotations

from dataclasses import replace

from ..alerts import Alert
from ..aws import instances
from ..engine import DOWN, RELEASED
from ..errors import ConflictError, HanatError
from ..observability import logger
from ..replacement import machine as m
from . import history, reconcile
from .deps import Deps
from .publish import publish

RESET_ATTEMPTS = 5
CONSOLE_LINES = 20   # of the console output carried by a replace alert (retry/failed)


def zone_released(deps: Deps, az: str) -> bool:
    """Whether zone ``az`` is an adopted zone whose routes were released to their original targets."""
    return reconcile.load_states(deps)[1][az].adoption == RELEASED


def reset_health(deps: Deps, az: str, now: float, reason: str, *, clear_hold: bool = False) -> None:
    """A new NAT must earn its routes like a recovering one: store the zone DOWN with zero passes
    (since = now), so the sweep's hysteresis (recover_after passes + min_hold) applies. Versioned, so a
    concurrent sweep cannot overwrite the reset. ``clear_hold`` ends the hold a planned failover put on
    the zone (the new NAT is published: it may have the zone back once proven)."""
    for attempt in range(RESET_ATTEMPTS):
        snapshot, states = reconcile.load_states(deps)
        fresh = states[az].evolve(health=DOWN, fails=0, passes=0, since=now, health_reason=reason)
        if clear_hold:
            fresh = fresh.evolve(hold_until=0.0)
        try:
            reconcile.store_states(deps, snapshot, {az: fresh}, now=now)
            return
        except ConflictError:
            if attempt == RESET_ATTEMPTS - 1:
                raise
            deps.sleep(0.2 * (attempt + 1))


def fail_over_for_replacement(deps: Deps, az: str, reason: str, *, old_instance_id: str, hold_until: float = 0.0,
                              planned: bool = False, quiet: bool = False) -> reconcile.Applied:
    """A planned replacement of a serving NAT: mark it DOWN and let the engine move the zone to a
    healthy NAT (the ordinary automatic path, so the zone comes back by itself once the new NAT is
    proven). ``hold_until``: the sweep reverts the zone no earlier (a planned replacement keeps it
    away while the old NAT drains and passes its probes again, until the new NAT is published).
    ``planned``: the old NAT is healthy (only marked DOWN to move the zone): the move hands its open
    flows back to it (a connection handoff) until the drain ends. ``quiet``: no failover alert per moved
    zone (the caller sends one alert itself: a spot warning).

    The mark and the move are one decision, committed at once: a sweep in between would find the zone
    DOWN and fail it over by itself, without the handoff. Only while ``old_instance_id`` is still the
    zone's NAT (a run that lost a race may decide again after another run has replaced it)."""
    engine = reconcile.engine_decider(deps.topology)

    def decider(snapshot, inputs, now):
        inputs = [replace(z, state=z.state.evolve(health=DOWN, fails=0, passes=0, since=now, health_reason=reason))
                  if z.az == az and z.nat_instance_id == old_instance_id else z for z in inputs]
        decision = engine(snapshot, inputs, now)
        if hold_until and decision.states[az].server != az:
            state = decision.states[az]
            decision.states[az] = state.evolve(hold_until=max(state.hold_until, hold_until))
        return replace(decision, alerts=()) if quiet else decision

    applied = reconcile.decide_and_apply(deps, decider, vouched=(az,) if planned else ())
    publish(deps, applied, [])
    return applied


def replace_alert(deps: Deps, rec: m.Record, phase: str, reason: str, now: float,
                  console: list[str] | tuple[str, ...] = ()) -> None:
    """Tell people about a replacement's ``phase`` (started, retry, done, failed) and keep it in the history."""
    details = {"phase": phase, "attempts": rec.attempts, "step": rec.step, "last_error": rec.last_error}
    if rec.roll_id:
        details["roll_id"] = rec.roll_id
    if console:
        details["console"] = list(console)   # where setup-nat.sh prints its "hanat-setup-nat: FAILED" line
    alert = Alert(type="replace", zone=rec.az, reason=reason, at=now, from_nat=rec.old_instance_id or None,
                  to_nat=rec.new_instance_id or None, stack=deps.topology.stack, details=details)
    history.record_alert(deps, alert)
    try:
        deps.alert_sink(alert)
    except HanatError as err:   # a lost alert must not undo a recorded step
        logger.error("alert not delivered", extra={"zone": rec.az, "type": "replace", "error": str(err)})


def console_tail(deps: Deps, instance_id: str) -> list[str]:
    """The last lines of the instance's console output, or one line saying why there are none (the
    output may be empty for a while after a launch: EC2 posts it shortly after a state transition)."""
    try:
        lines = instances.console_output_tail(deps.clients.ec2, instance_id, CONSOLE_LINES)
    except HanatError as err:
        return [f"(console output of {instance_id} not available: {err})"]
    return lines or [f"(console output of {instance_id} is empty so far)"]
