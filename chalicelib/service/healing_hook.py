"""Where the controller asks for a NAT replacement (self-healing, ``chalicelib.healing``).

- ``on_nat_terminated``: the instance-state event handler, after the zone failed over;
- ``request_replacement``: an operator's ``replace`` (CLI / operate Lambda);
- ``on_sweep``: once per sweep, after the sweep recorded its states: advances replacements in
  progress and starts the ones that are due (NAT DOWN/stopped for longer than replace_after_s).
"""
from __future__ import annotations

from collections.abc import Mapping

from .. import healing
from ..aws import state as store
from ..engine import ZoneState, decide
from ..engine.state import PAUSED
from ..errors import HanatError, InputError
from ..observability import logger
from .acting import decide_and_apply
from .deps import Deps


def _failover_for_replacement(deps: Deps, health: healing.StateTableHealth, az: str, reason: str) -> None:
    """A planned replacement of a serving NAT: mark it DOWN and let the engine move the zone to a
    healthy NAT (the ordinary automatic path, so the zone comes back by itself once the new NAT is
    proven)."""
    from .sweep import publish  # late import: the sweep imports this module

    topo = deps.topology
    health.reset(az, deps.clock(), reason)
    applied = decide_and_apply(
        deps, lambda snapshot, inputs, now: decide(inputs, topo.probe, topo.failover, now=now,
                                                   critical_active=snapshot.critical_active, stack=topo.stack))
    publish(deps, applied, [])


def _health(deps: Deps) -> healing.StateTableHealth:
    def failover(az: str, reason: str) -> None:
        _failover_for_replacement(deps, health, az, reason)

    health = healing.StateTableHealth(deps, failover=failover)
    return health


def _result(az: str, outcome: healing.Outcome) -> dict:
    return {"zone": az, "started": outcome.started, "actions": outcome.actions,
            "waiting_for": outcome.stopped_because,
            "replacement": healing.runner.summary(outcome.record) if outcome.record else None}


def on_nat_terminated(deps: Deps, az: str, reason: str) -> dict:
    """Called after zone ``az`` failed over because its NAT was terminated: start replacing it.

    Duplicate events start nothing new; they advance the replacement already in progress.
    """
    return _result(az, healing.begin(deps, az, reason, _health(deps)))


def paused_zones_on(deps: Deps, az: str) -> list[str]:
    """Paused zones whose traffic goes through ``az``'s NAT. The controller never moves a paused
    zone, so replacing that NAT (its Elastic IP moves, then it is terminated) would cut them off."""
    topo = deps.topology
    states = store.load_snapshot(deps.clients.dynamodb, topo.table_name, topo.azs, deps.clock()).states()
    return [z for z, st in states.items() if st.mode == PAUSED and st.server == az]


def request_replacement(deps: Deps, az: str, reason: str) -> dict:
    """An operator asked to replace zone ``az``'s NAT (unknown zone: InputError, nothing changed).

    Refused, with nothing changed, while a paused zone is served by that NAT: the operator paused
    it to keep it where it is, so they decide where it goes (resume, or fail it over by hand).
    """
    deps.topology.zone(az)
    blocked = paused_zones_on(deps, az)
    if blocked:
        raise InputError([f"zone {z} is paused and served by {az}'s NAT: resume it, or `hanat failover "
                          f"--zone {z} --to <another zone>`, before replacing {az}'s NAT" for z in blocked],
                         title=f"cannot replace {az}'s NAT now")
    return _result(az, healing.begin(deps, az, reason or "operator request", _health(deps)))


def on_sweep(deps: Deps, zone_states: Mapping[str, ZoneState], now: float) -> dict:
    """Advance/start replacements; never lets a replacement problem fail the sweep itself."""
    try:
        outcomes = healing.sweep(deps, zone_states, now, _health(deps))
    except HanatError as err:
        logger.exception("self-healing pass failed", extra={"error": str(err)})
        return {"error": str(err)}
    return {az: _result(az, o) for az, o in outcomes.items()}
