"""Closing connection handoffs (use-cases): remove a zone's handoff tags from both NATs, then forget the
handoff in the zone's record. After that the new NAT resets the flows it does not know (setup-nat.sh).

- ``close_handoffs``: the handoffs of the given zones (a roll's drain is over, a NAT left ``running``);
- ``close_handoffs_of_nat``: every handoff a NAT takes part in (the instance-state event of a NAT leaving
  ``running``: it can serve no flow);
- ``close_expired_handoffs``: the cleanup after a sweep: expired handoffs (their ``until`` passed),
  and those with a NAT that is not running or whose old NAT fails its probes (handed-off flows would hang there; the reset is better).

Tags are deleted only while they still carry this handoff's values (a newer handoff of the zone is
left alone), and the record is cleared only while it still names this handoff.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from ..aws import nat_tags, observe
from ..engine import ZoneState
from ..engine.handoff import close_reason, is_zone_key, parse_value
from ..errors import ConflictError, HanatError
from ..observability import logger
from .deps import Deps
from .reconcile import load_states, store_states

CLEAR_ATTEMPTS = 5


def _tags_of(nat: nat_tags.NatView, az: str, until: float) -> dict[str, str]:
    """The zone's handoff tags on ``nat`` that belong to a handoff ending no later than ``until``."""
    out = {}
    for key, value in nat.tags.items():
        parsed = parse_value(value)
        if is_zone_key(key, az) and (parsed is None or parsed[2] <= int(until)):
            out[key] = value
    return out


def close_handoffs(deps: Deps, zones: Iterable[str], reason: str, *,
                 states: Mapping[str, ZoneState] | None = None,
                 removed: dict[str, dict[str, str | None]] | None = None) -> list[str]:
    """Close the handoffs of ``zones`` (those without one are skipped); the zones closed. ``removed``
    (when given) gets, per sending NAT (``handoff_to``), the keys removed from it mapped to None: what its
    agent must report gone before the sender has stopped tunnelling (service/handoff_ack.py)."""
    if states is None:
        states = load_states(deps)[1]
    ending = {az: states[az] for az in dict.fromkeys(zones) if az in states and states[az].has_handoff}
    if not ending:
        return []
    ec2, stack = deps.clients.ec2, deps.topology.stack
    views = nat_tags.describe_nats(ec2, [n for s in ending.values() for n in (s.handoff_from, s.handoff_to)],
                                   stack, deadline=deps.deadline)
    for az, s in ending.items():
        for nat_id in (s.handoff_to, s.handoff_from):   # the sender first: nothing is tunnelled to a NAT that drops it
            nat = views.get(nat_id)
            if nat is not None and nat.tagged:
                gone = _tags_of(nat, az, s.handoff_until)
                nat_tags.delete_handoff_tags(ec2, nat, gone, stack, deadline=deps.deadline)
                if removed is not None and nat_id == s.handoff_to and gone:
                    removed.setdefault(nat_id, {}).update(dict.fromkeys(gone))
        logger.info("connection handoff ended", extra={"zone": az, "nat": s.handoff_to, "from_nat": s.handoff_from,
                                                        "reason": reason})
    _forget(deps, ending)
    return list(ending)


def _forget(deps: Deps, ending: Mapping[str, ZoneState]) -> None:
    """Clear the handoff from the zone records that still name it (versioned; retried on a lost race)."""
    for attempt in range(CLEAR_ATTEMPTS):
        snapshot, now_states = load_states(deps)
        clear = {az: now_states[az].without_handoff() for az, s in ending.items()
                 if (now_states[az].handoff_from, now_states[az].handoff_to, now_states[az].handoff_until)
                 == (s.handoff_from, s.handoff_to, s.handoff_until)}
        if not clear:
            return
        try:
            store_states(deps, snapshot, clear, now=deps.clock())
            return
        except ConflictError:
            if attempt == CLEAR_ATTEMPTS - 1:
                logger.warning("handoff tags removed, record not cleared yet (the next sweep retries)",
                               extra={"zone": list(clear)})
                return
            deps.sleep(0.1 * (attempt + 1))


def zones_where(states: Mapping[str, ZoneState], test: Callable[[ZoneState], bool]) -> list[str]:
    return [az for az, s in states.items() if s.has_handoff and test(s)]


def close_handoffs_of_nat(deps: Deps, instance_id: str, reason: str,
                          removed: dict[str, dict[str, str | None]] | None = None) -> list[str]:
    """End every handoff NAT ``instance_id`` takes part in (``removed``: as ``close_handoffs``)."""
    states = load_states(deps)[1]
    zones = zones_where(states, lambda s: instance_id in (s.handoff_from, s.handoff_to))
    return close_handoffs(deps, zones, reason, states=states, removed=removed) if zones else []


def close_expired_handoffs(deps: Deps, states: Mapping[str, ZoneState], now: float) -> list[str]:
    """The sweep's cleanup (``states``: the zone states the sweep stored). No AWS call unless a zone
    has a handoff."""
    active = {az: s for az, s in states.items() if s.has_handoff}
    if not active:
        return []
    topo = deps.topology
    ids = sorted({n for s in active.values() for n in (s.handoff_from, s.handoff_to) if n})
    ec2_states = observe.describe_instance_states(deps.clients.ec2, ids, deadline=deps.deadline)
    nat_of = {z.az: z.nat_instance_id for z in topo.zones}
    failing = {nat_of[az] for az, s in states.items() if az in nat_of and s.fails >= topo.probe.fail_after}
    over: dict[str, str] = {}
    for az, s in active.items():
        why = close_reason(s, now, ec2_states, failing)
        if why:
            over[az] = why
    for az, why in over.items():
        try:
            close_handoffs(deps, [az], why, states=states)
        except HanatError as err:
            logger.warning("connection handoff not ended yet", extra={"zone": az, "error": str(err)})
    return list(over)
