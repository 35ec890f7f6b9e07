"""Operator decisions (failover, revert, pause, resume): pure, over the same zone state as the sweep."""
from __future__ import annotations

from collections.abc import Sequence

from ..errors import HanatError, InputError
from .decide import choose_target, move_alert, moves_routes, serving_loads
from .model import (
    DOWN,
    FAILOVER,
    MANUAL_FAILOVER,
    NORMAL,
    PAUSED,
    REVERT,
    RUNNING,
    UNKNOWN,
    UP,
    Decision,
    RouteMove,
    ZoneInput,
)


def _zone(zones: Sequence[ZoneInput], az: str) -> ZoneInput:
    for z in zones:
        if z.az == az:
            return z
    raise InputError(f"zone {az!r} is unknown (valid zones: {', '.join(z.az for z in zones)})")


def _routes_are_ours(z: ZoneInput, action: str) -> None:
    """An adopting or released zone's routes are the user's: no failover or revert moves them."""
    if not moves_routes(z.state):
        raise InputError(f"zone {z.az} is {z.state.adoption}: its route tables still point where the user had "
                         f"them, so there is nothing to {action}; `hanat cutover --zone {z.az}` takes them over")


def _states(zones: Sequence[ZoneInput]) -> dict:
    return {z.az: z.state for z in zones}


def decide_manual_failover(zones: Sequence[ZoneInput], az: str, to_az: str | None, *, now: float,
                         reason: str = "", stack: str = "") -> Decision:
    """Move ``az`` to ``to_az``'s NAT (or the least-loaded healthy one); the sweep will not revert it."""
    z = _zone(zones, az)
    _routes_are_ours(z, "fail over")
    states = _states(zones)
    ring = [x.az for x in zones]
    if to_az is None:
        loads = serving_loads({x: s.server for x, s in states.items()}, exclude=[az])
        to_az = choose_target(az, ring, loads, lambda x: states[x].health == UP)
        if to_az is None:
            raise HanatError(f"no healthy NAT to fail zone {az} over to (every other NAT is DOWN or UNKNOWN); "
                                 "name the zone whose NAT takes over with to_zone (hanat failover --to AZ)")
    else:
        target = _zone(zones, to_az)
        if to_az == az:
            raise InputError(f"to_zone {to_az!r} must differ from zone {az!r}")
        if target.state.health == DOWN:
            raise InputError(f"to_zone {to_az!r}: its NAT is DOWN ({target.state.health_reason})")
    why = reason or "manual failover"
    new = z.state.evolve(served_by=to_az, mode=MANUAL_FAILOVER, last_change=now, last_reason=why)
    states[az] = new
    moves = () if z.state.server == to_az else (RouteMove(az, z.state.server, to_az, FAILOVER, why),)
    alerts = tuple(move_alert(m, {x.az: x for x in zones}, now, stack) for m in moves)
    return Decision(states=states, moves=moves, alerts=alerts, outcomes=("manual_failover",))


def decide_revert(zones: Sequence[ZoneInput], az: str, *, now: float, reason: str = "", stack: str = "") -> Decision:
    """Give ``az`` its own NAT back; only when that NAT's instance is running."""
    z = _zone(zones, az)
    _routes_are_ours(z, "revert")
    if z.instance_state != RUNNING:
        raise HanatError(f"cannot revert zone {az}: its NAT {z.nat_instance_id} is "
                         f"{z.instance_state or 'in an unknown state'}, not running")
    why = reason or "manual revert"
    states = _states(zones)
    s = z.state
    # The operator vouches for the NAT: forget a DOWN verdict so probes judge it afresh.
    health = UNKNOWN if s.health == DOWN else s.health
    states[az] = s.evolve(served_by="", mode=NORMAL, health=health, fails=0, hold_until=0.0,
                          last_change=now, last_reason=why,
                          health_reason=s.health_reason if health == s.health else why)
    moves = () if s.is_home else (RouteMove(az, s.server, az, REVERT, why),)
    alerts = tuple(move_alert(m, {x.az: x for x in zones}, now, stack) for m in moves)
    return Decision(states=states, moves=moves, alerts=alerts, outcomes=("manual_revert",))


def decide_pause(zones: Sequence[ZoneInput], az: str, *, now: float, reason: str = "") -> Decision:
    """The sweep never moves a paused zone's routes (routes stay where they are)."""
    z = _zone(zones, az)
    states = _states(zones)
    states[az] = z.state.evolve(mode=PAUSED, last_reason=reason or "paused")
    return Decision(states=states, outcomes=("pause",))


def decide_resume(zones: Sequence[ZoneInput], az: str, *, now: float, reason: str = "") -> Decision:
    """Hand the zone back to the sweep (which may then revert or fail it over)."""
    z = _zone(zones, az)
    states = _states(zones)
    states[az] = z.state.evolve(mode=NORMAL, last_reason=reason or "resumed")
    return Decision(states=states, outcomes=("resume",))


