"""Self-healing: a dead NAT is replaced automatically, keeps its Elastic IP, and gets traffic back
only after the sweep has proven it.

Entry points (called by ``chalicelib.service.healing_hook``):
- ``begin(deps, az, reason, health)``: start (at most one per zone) and advance a replacement;
- ``sweep(deps, zone_states, now, health)``: advance replacements in progress, start due ones;
- ``status_for(deps, az)``: the progress ``hanat status`` shows.
"""
from __future__ import annotations

from collections.abc import Mapping

from ..aws import instances
from ..engine.state import DOWN, ZoneState
from ..errors import HanatError
from ..observability import logger
from . import machine, runner, triggers
from .health import StateTableHealth
from .runner import HealthPort, Outcome

__all__ = ["HealthPort", "Outcome", "StateTableHealth", "begin", "machine", "status_for", "sweep"]


def begin(deps, az: str, reason: str, health: HealthPort, now: float | None = None) -> Outcome:
    """Start replacing ``az``'s NAT (unless a replacement is already running) and advance it.

    Duplicate or concurrent requests start exactly one replacement (conditional put); the others
    just advance the one in progress.
    """
    now = deps.clock() if now is None else now
    deps.topology.zone(az)  # an unknown zone is bad input, before anything changes
    previous = runner.load(deps, az)
    started = runner.start(deps, az, reason, now, previous=previous)
    outcome = runner.advance(deps, az, now, health, rec=started)
    outcome.started = started is not None
    return outcome


def sweep(deps, zone_states: Mapping[str, ZoneState], now: float, health: HealthPort) -> dict[str, Outcome]:
    """Once per sweep: advance every replacement in progress and start the ones now due.

    A failure in one zone is logged, reported in its outcome and does not stop the others (the
    record keeps the progress; the next sweep continues).
    """
    topo = deps.topology
    records = runner.load_all(deps)
    # the NATs of DOWN zones not already being replaced: one batched read, not one call per zone
    down = [az for az, state in zone_states.items()
            if state.health == DOWN and not (records.get(az) and records[az].active)]
    nat_of = {az: topo.zone(az).nat_instance_id for az in down}
    states = instances.describe_instance_states(deps.clients.ec2, list(nat_of.values())) if down else {}
    instance_states: dict[str, str | None] = {az: states.get(nat, instances.GONE) for az, nat in nat_of.items()}
    due = triggers.zones_to_replace(zone_states, records, instance_states, now,
                                    topo.failover.replace_after_s)
    outcomes: dict[str, Outcome] = {}
    for az in [az for az, rec in records.items() if rec.active and az in topo.azs]:
        outcomes[az] = _guarded(az, lambda az=az: runner.advance(deps, az, now, health, rec=records[az]))
    for trig in due:
        outcomes[trig.az] = _guarded(trig.az, lambda t=trig: begin(deps, t.az, t.reason, health, now))
    return outcomes


def _guarded(az: str, step) -> Outcome:
    try:
        return step()
    except HanatError as err:
        logger.exception("replacement step failed", extra={"zone": az, "error": str(err)})
        return Outcome(None, [], f"error: {err}")


def status_for(deps, az: str) -> dict | None:
    """The zone's latest replacement (step, new instance id, attempts, started_at, last_error...),
    or None when it never had one."""
    rec = runner.load(deps, az)
    return runner.summary(rec) if rec else None
