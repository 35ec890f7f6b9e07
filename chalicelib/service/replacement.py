"""Replacement of NAT instances (use-cases): a dead NAT is replaced automatically, keeps its Elastic IP,
and gets traffic back only after the sweep has proven it; an operator can ask for one.

- ``on_nat_terminated``: the instance-state event handler, after the zone failed over;
- ``request_replacement``: an operator's ``replace`` (CLI / operate Lambda);
- ``run_pass``: the replacement pass run after each sweep (``service/maintenance.py``): advances
  replacements in progress and starts the ones that are due (NAT DOWN/stopped for longer than
  replace_after_s);
- ``newest_topology``: the topology the next sweep must use (a replaced NAT is published there);
- ``status_for``: the progress ``hanat status`` shows.

The steps themselves live in ``replacement_steps``; the decisions in the pure ``chalicelib.replacement``.
"""
from __future__ import annotations

from collections.abc import Mapping

from ..aws import observe
from ..engine import DOWN, PAUSED, ZoneState
from ..errors import HanatError, InputError
from ..observability import logger
from ..replacement import triggers
from ..topology import Topology
from . import reconcile
from .deps import Deps
from .replacement_steps import Outcome, advance, start
from .replacement_store import load, load_all, summary

__all__ = ["Outcome", "begin", "newest_topology", "on_nat_terminated", "paused_zones_on", "request_replacement",
           "run_pass", "status_for", "summary"]


def begin(deps: Deps, az: str, reason: str, now: float | None = None, *, planned: bool = False,
          roll_id: str = "", drain_floor: float = 0.0) -> Outcome:
    """Start replacing ``az``'s NAT (unless a replacement is already running) and advance it.

    Duplicate or concurrent requests start exactly one replacement (conditional put); the others
    just advance the one in progress. ``planned``: the NAT is healthy (roll, operator): it drains
    for ``maintenance.drain_s`` after the zone left it (at least until ``drain_floor``), before its
    Elastic IP moves.
    """
    now = deps.clock() if now is None else now
    deps.topology.zone(az)  # an unknown zone is bad input, before anything changes
    previous = load(deps, az)
    started = start(deps, az, reason, now, previous=previous, planned=planned, roll_id=roll_id,
                    drain_floor=drain_floor)
    outcome = advance(deps, az, now, rec=started)
    outcome.started = started is not None
    return outcome


def run_pass(deps: Deps, zone_states: Mapping[str, ZoneState], now: float) -> dict[str, Outcome]:
    """Advance every replacement in progress and start the ones now due.

    A failure in one zone is logged, reported in its outcome and does not stop the others (the
    record keeps the progress; the next pass continues).
    """
    topo = deps.topology
    records = load_all(deps)
    # the NATs of DOWN zones not already being replaced: one batched read, not one call per zone
    down = [az for az, state in zone_states.items()
            if state.health == DOWN and not (records.get(az) and records[az].active)]
    nat_of = {az: topo.zone(az).nat_instance_id for az in down}
    states = observe.describe_instance_states(deps.clients.ec2, list(nat_of.values())) if down else {}
    instance_states: dict[str, str | None] = {az: states.get(nat, observe.GONE) for az, nat in nat_of.items()}
    due = triggers.zones_to_replace(zone_states, records, instance_states, now, topo.failover.replace_after_s)
    outcomes: dict[str, Outcome] = {}
    for az in [az for az, rec in records.items() if rec.active and az in topo.azs]:
        outcomes[az] = _guarded(az, lambda az=az: advance(deps, az, now, rec=records[az]))
    for trig in due:
        outcomes[trig.az] = _guarded(trig.az, lambda t=trig: begin(deps, t.az, t.reason, now))
    return outcomes


def _guarded(az: str, step) -> Outcome:
    try:
        return step()
    except HanatError as err:
        logger.exception("replacement step failed", extra={"zone": az, "error": str(err)})
        return Outcome(None, [], f"error: {err}")


def newest_topology(topology: Topology, outcomes: list[Outcome]) -> Topology:
    """The topology a step published last (a replaced NAT), else ``topology``."""
    for outcome in outcomes:
        if outcome.topology is not None and outcome.topology != topology:
            topology = outcome.topology
    return topology


def _result(az: str, outcome: Outcome) -> dict:
    return {"zone": az, "started": outcome.started, "actions": outcome.actions,
            "waiting_for": outcome.stopped_because,
            "replacement": summary(outcome.record) if outcome.record else None}


def on_nat_terminated(deps: Deps, az: str, reason: str) -> dict:
    """Called after zone ``az`` failed over because its NAT was terminated: start replacing it.

    Duplicate events start nothing new; they advance the replacement already in progress.
    """
    return _result(az, begin(deps, az, reason))


def paused_zones_on(deps: Deps, az: str) -> list[str]:
    """Paused zones whose traffic goes through ``az``'s NAT. The controller never moves a paused
    zone, so replacing that NAT (its Elastic IP moves, then it is terminated) would cut them off."""
    _, states = reconcile.load_states(deps)
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
    return _result(az, begin(deps, az, reason or "operator request", planned=True))


def status_for(deps: Deps, az: str) -> dict | None:
    """The zone's latest replacement (step, new instance id, attempts, started_at, last_error...),
    or None when it never had one."""
    rec = load(deps, az)
    return summary(rec) if rec else None
