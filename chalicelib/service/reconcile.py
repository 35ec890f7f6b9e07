"""Reconcile: turn a decision into stored state and route changes so that overlapping runs never fight.

Protocol, per attempt: observe the zones (records with their versions, NAT instance states, route tables)
-> decide (the engine) -> claim: commit the new states in ONE DynamoDB transaction conditioned on those
versions, claiming every zone whose routes move (no one else may write a claimed zone) -> write the
routes in parallel -> verify by reading back -> drop the claims. A route is written only while its
claim has more than ``CLAIM_MARGIN_S`` left (and before ``Deps.deadline``): a slow run gives its write
up (``OutOfTimeError``, logged) rather than write after its claim could have expired and been taken
by another run; the record is already committed, so the next sweep repairs the routes (route drift).
A lost condition (ConflictError) means another run acted first: observe and decide again, a bounded number of times. Routes that
disagree with the recorded ``served_by`` of an unclaimed zone are route drift (a crashed run, a hand
edit): ``service/repair.py`` finds them and they are repaired under the same protocol.
``service/publish.py`` sends a run's alerts and outcome metrics.

A planned move (away from a NAT that is alive: a revert, an operator's failover of a healthy NAT, a
roll's step) hands the zone's open flows back to that NAT (opens a connection handoff,
``service/handoff_open.py``): its tags are planned before the claim, written once the zone is claimed,
and the route moves ``AGENT_SETTLE_S`` later, so both NATs' agents have applied them; an automatic failover away from a dead NAT writes none and loses no time.

The sweep, the instance-state events and the manual operations all act through ``decide_and_apply``;
the first two with ``engine_decider``.
"""
from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from ..aws import adopted_vpc, claims, instances, params, routes, zone_records
from ..engine import Decision, RouteMove, ZoneInput, ZoneState, decide
from ..engine.cutover import with_adoption
from ..engine.handoff import AGENT_SETTLE_S
from ..engine.model import RELEASE
from ..engine.window import parse_window
from ..errors import ConflictError, HanatError, OutOfTimeError
from ..observability import logger
from ..probes.results import ProbeResult
from ..topology import Topology
from . import handoff_open, repair
from .deps import Deps

CLAIM_TTL_S = 60.0
# A route write starts only while its claim has more than this left: longer than one route write
# (DescribeRouteTables + ReplaceRoute + read-back, each attempt bounded by the clients' timeouts,
# botocore's retries stopped at the write deadline), so every write lands while the claim is ours.
CLAIM_MARGIN_S = 15.0
# No claim is taken with less than this left before Deps.deadline: writing needs the time.
MIN_WRITE_S = 3.0
# A move that hands connections off also waits for the NATs' agents: with less than this left, it moves
# without the handoff (open flows get a reset, not a hang) rather than not at all.
HANDOFF_WRITE_S = MIN_WRITE_S + AGENT_SETTLE_S
ATTEMPTS = 5

Decider = Callable[[zone_records.Snapshot, list[ZoneInput], float], Decision]


# --- zone states <-> the state table's plain records ------------------------------------------
def zone_states(snapshot: zone_records.Snapshot) -> dict[str, ZoneState]:
    """The engine's zone states from the stored records (a zone never written is a fresh UNKNOWN)."""
    return {az: ZoneState.from_dict({**rec.body, "az": az, "version": rec.version})
            for az, rec in snapshot.zones.items()}


def _body(state: ZoneState) -> dict:
    return {k: v for k, v in state.to_dict().items() if k not in ("az", "version")}


def store_states(deps: Deps, snapshot: zone_records.Snapshot, states: Mapping[str, ZoneState], *, now: float,
                 claim: list[str] | tuple[str, ...] = (), token: str = "",
                 critical_active: bool | None = None) -> dict[str, ZoneState]:
    """Commit ``states`` (and claims) against ``snapshot``'s versions; every zone's state afterwards.
    ConflictError when another run wrote first."""
    versions = zone_records.commit(deps.clients.dynamodb, deps.topology.table_name, snapshot,
                            {az: _body(s) for az, s in states.items()}, now=now, claim=claim, owner=deps.owner,
                            token=token, claim_ttl_s=CLAIM_TTL_S, critical_active=critical_active,
                            deadline=deps.deadline)
    out = zone_states(snapshot)
    for az, version in versions.items():
        out[az] = replace(states.get(az, out[az]), version=version)
    return out


def load_states(deps: Deps) -> tuple[zone_records.Snapshot, dict[str, ZoneState]]:
    """The zone records now (consistent read), as the engine sees them."""
    topo = deps.topology
    snapshot = zone_records.load_snapshot(deps.clients.dynamodb, topo.table_name, topo.azs, deps.clock(),
                                   deadline=deps.deadline)
    return snapshot, zone_states(snapshot)


def with_live_topology(deps: Deps) -> Deps:
    """``deps`` with the topology parameter as it is now (another run may have published a new NAT
    since ``deps`` was made; its old NAT may be terminated already); unchanged without SSM. GetParameter
    without a version returns the latest one (SSM user guide, "Working with parameter versions")."""
    if deps.clients.ssm is None:
        return deps
    live = params.read_topology(deps.clients.ssm, deps.topology.topology_parameter)
    return deps if live == deps.topology else replace(deps, topology=live)


# --- observe ----------------------------------------------------------------------------------
@dataclass
class Observation:
    """One consistent look at the world: stored records, zone inputs, route tables."""

    snapshot: zone_records.Snapshot
    inputs: list[ZoneInput]
    tables: dict[str, routes.RouteTableView]
    instance_states: dict[str, str]
    now: float
    missing_tables: list[str] = field(default_factory=list)   # listed in the topology, not found in EC2


@dataclass
class Applied:
    """What a decide-and-apply run did."""

    decision: Decision
    moves: list[RouteMove] = field(default_factory=list)   # including route repairs
    changed_tables: list[str] = field(default_factory=list)
    states: dict[str, ZoneState] = field(default_factory=dict)
    attempts: int = 1
    missing_tables: list[str] = field(default_factory=list)
    handoffs: list[dict] = field(default_factory=list)   # connection handoffs written for planned moves


def observe_zones(deps: Deps, now: float, *, probes: Mapping[str, ProbeResult] | None = None,
                  instance_overrides: Mapping[str, str] | None = None,
                  confirmations: Mapping[str, Sequence[ProbeResult]] | None = None,
                  snapshot: zone_records.Snapshot | None = None) -> Observation:
    """Read the zone records, the NAT instance states and the private route tables: one batched
    read each, all three at once (they are independent), so the time is the slowest, not the sum.
    ``confirmations``: per zone, the re-probes made at once after its probe failed (in order).
    ``snapshot``: the zone records the caller read already in this run (not read again)."""
    topo = deps.topology
    wanted_tables = [t for z in topo.zones for t in z.private_route_table_ids]
    with ThreadPoolExecutor(max_workers=3) as pool:
        snapshot_f = None if snapshot is not None else pool.submit(
            zone_records.load_snapshot, deps.clients.dynamodb, topo.table_name, topo.azs, now, deadline=deps.deadline)
        inst_f = pool.submit(instances.describe_instance_states, deps.clients.ec2,
                             [z.nat_instance_id for z in topo.zones], deadline=deps.deadline)
        tables_f = pool.submit(routes.describe_route_tables, deps.clients.ec2, wanted_tables,
                               deadline=deps.deadline)
        inst, tables = inst_f.result(), tables_f.result()
        if snapshot_f is not None:
            snapshot = snapshot_f.result()
    inst.update(instance_overrides or {})
    states = zone_states(snapshot)
    inputs = [ZoneInput(az=z.az, state=with_adoption(states[z.az], z.is_adopted), nat_instance_id=z.nat_instance_id,
                        route_table_ids=z.private_route_table_ids, probe=(probes or {}).get(z.az),
                        confirmations=tuple((confirmations or {}).get(z.az, ())),
                        instance_state=inst.get(z.nat_instance_id))
              for z in topo.zones]
    return Observation(snapshot=snapshot, inputs=inputs, tables=tables, instance_states=inst, now=now,
                       missing_tables=[t for t in wanted_tables if t not in tables])


# --- decide -----------------------------------------------------------------------------------
def engine_decider(topology: Topology, control: ProbeResult | None = None) -> Decider:
    """The automatic decision (sweep, instance-state events, a replacement's failover): the engine with
    the stack's probe and failover settings, its maintenance window (``revert = "window"``) and the
    remembered targets-down incident."""
    window = parse_window(topology.maintenance.window)

    def decider(snapshot: zone_records.Snapshot, inputs: list[ZoneInput], now: float) -> Decision:
        return decide(inputs, topology.probe, topology.failover, now=now, control=control,
                      critical_active=snapshot.critical_active, stack=topology.stack, window=window)
    return decider


# --- claim, write, verify -----------------------------------------------------------------------
def decide_and_apply(deps: Deps, decide_with: Decider | None = None, *,
                     probes: Mapping[str, ProbeResult] | None = None, control: ProbeResult | None = None,
                     instance_overrides: Mapping[str, str] | None = None, attempts: int = ATTEMPTS,
                     confirmations: Mapping[str, Sequence[ProbeResult]] | None = None,
                     vouched: Collection[str] = (), snapshot: zone_records.Snapshot | None = None) -> Applied:
    """Observe, decide, commit with version checks, write routes; retry on a lost condition.
    ``decide_with``: the decision (default: ``engine_decider`` with the ``control`` probe's verdict).
    ``vouched``: zones whose NAT the caller knows to be healthy although its record says DOWN (a
    planned replacement): moving away from it hands the open flows back like any planned move.
    ``snapshot``: zone records the caller read in this run: the first attempt starts from them.
    A retry decides on the topology published now: the run that won may have replaced a NAT."""
    decide_with = decide_with or engine_decider(deps.topology, control)
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            deps = with_live_topology(deps)
            snapshot = None
        now = deps.clock()
        seen = observe_zones(deps, now, probes=probes, instance_overrides=instance_overrides,
                             confirmations=confirmations, snapshot=snapshot)
        decision = decide_with(seen.snapshot, seen.inputs, now)
        moved = {m.zone for m in decision.moves}
        moves = list(decision.moves) + repair.find_drift(deps.topology, seen.snapshot, seen.tables, decision.states,
                                                       moved, now=seen.now)
        claim = [m.zone for m in moves]
        left = deps.time_left()
        if moves and left is not None and left < MIN_WRITE_S:
            raise OutOfTimeError(f"{left:.1f}s left: not claiming zone(s) {', '.join(claim)} for route writes "
                                 "that could not finish in time; nothing changed, the next run decides again")
        before = {z.az: z.state for z in seen.inputs}
        plan = handoff_open.plan(deps, decision=decision, moves=moves, before=before,
                            instance_states=seen.instance_states, tables=seen.tables, now=now, vouched=vouched)
        if plan.handoffs and left is not None and left < HANDOFF_WRITE_S:
            if {m.zone for m in moves} <= {h.zone for h in plan.handoffs}:
                # only planned moves, which can wait: the next run makes them with their handoff
                raise OutOfTimeError(f"{left:.1f}s left: not moving zone(s) {', '.join(claim)} without their "
                                     "connection handoff; nothing changed, the next run decides again")
            logger.warning("no time left to hand connections off: moving without it (they get a reset)",
                           extra={"zone": [h.zone for h in plan.handoffs]})
            plan = plan.without_handoffs()
        plan.record(decision.states)
        changed = set(decision.changed_zones(before))
        token = uuid.uuid4().hex
        try:
            states = store_states(deps, seen.snapshot, {az: decision.states[az] for az in changed}, now=now,
                                  claim=claim, token=token, critical_active=decision.critical_active)
        except ConflictError:
            if attempt == attempts:
                raise
            logger.info("state changed under us; deciding again", extra={"attempt": attempt})
            deps.sleep(_backoff(deps, seen, attempt))
            continue
        changed_tables = (_write_claimed(deps, moves, token, claim_until=now + CLAIM_TTL_S, plan=plan)
                          if moves else [])
        return Applied(decision=decision, moves=moves, changed_tables=changed_tables, states=states,
                       attempts=attempt, missing_tables=seen.missing_tables,
                       handoffs=[h.to_dict() for h in plan.handoffs if h.zone not in plan.failed])
    raise ConflictError("unreachable")  # pragma: no cover


def _backoff(deps: Deps, seen: Observation, attempt: int) -> float:
    """The pause before deciding again: a moment, or, while another run holds a zone's claim (a planned
    move holds it through its AGENT_SETTLE_S wait for the NATs' agents), long enough for it to finish;
    never past the time a write still needs before ``deps.deadline``."""
    if any(rec.is_pending(seen.now) for rec in seen.snapshot.zones.values()):
        pause = AGENT_SETTLE_S / 2 * attempt
    else:
        pause = random.uniform(0.005, 0.03) * attempt
    left = deps.time_left()
    return pause if left is None else max(0.0, min(pause, left - MIN_WRITE_S))


def _write_claimed(deps: Deps, moves: list[RouteMove], token: str, *, claim_until: float,
                   plan: handoff_open.Plan | None = None) -> list[str]:
    """Write the handoff tags (then wait for the NATs' agents) and the routes of the claimed zones
    (each route write starting while the claim has more than CLAIM_MARGIN_S left), clean up the
    handoffs the move ended, then drop the claims (also on failure)."""
    zones = [m.zone for m in moves]
    plan = plan or handoff_open.Plan()
    try:
        if handoff_open.open_handoffs(deps, plan):
            deps.sleep(AGENT_SETTLE_S)
        changed = write_routes(deps, moves, write_by=claim_until - CLAIM_MARGIN_S)
        handoff_open.drop_prev_tags(deps, plan)
    except BaseException:
        try:
            claims.drop_claims(deps.clients.dynamodb, deps.topology.table_name, zones, token,
                                 deadline=deps.deadline)
        except HanatError as err:
            logger.warning("could not drop claims after a failed route write", extra={"error": str(err)})
        raise
    claims.drop_claims(deps.clients.dynamodb, deps.topology.table_name, zones, token, deadline=deps.deadline)
    return changed


def write_routes(deps: Deps, moves: list[RouteMove], *, write_by: float | None = None) -> list[str]:
    """Point every private table of each moved zone at its new NAT, in parallel; changed table ids.

    ``write_by`` (epoch seconds, ``deps.clock``): no write starts at or after it, and none (nor any AWS
    retry inside it) runs past it or ``deps.deadline``; a write given up raises OutOfTimeError."""
    topo = deps.topology
    jobs: list[tuple[RouteMove, str, str]] = []
    for move in moves:
        if move.targets:
            jobs += [(move, table, target) for table, target in move.targets]
        else:
            tables = topo.zone(move.zone).private_route_table_ids
            eni = topo.zone(move.to_az).nat_eni_id if tables else ""
            jobs += [(move, table, eni) for table in tables]
    if not jobs:
        return []
    deadline = deps.deadline
    if write_by is not None:   # the same instant on the monotonic clock the AWS calls are bounded by
        by_claim = time.monotonic() + (write_by - deps.clock())
        deadline = by_claim if deadline is None else min(deadline, by_claim)

    def one(job: tuple[RouteMove, str, str]) -> tuple[str, bool]:
        move, table, target = job
        late = (write_by is not None and deps.clock() >= write_by) or \
            (deadline is not None and time.monotonic() >= deadline)
        if late:
            logger.warning("route write given up: too late", extra={"zone": move.zone, "route_table": table,
                                                                   "nat": topo.zone(move.to_az).nat_instance_id})
            raise OutOfTimeError(f"gave up writing {table} (zone {move.zone} -> NAT of {move.to_az}): its claim "
                                 f"ends within {CLAIM_MARGIN_S:g}s or the run's time is up; the next sweep "
                                 "repairs it")
        if move.kind == RELEASE:   # back to the adopted table's own target (a NAT gateway, usually)
            changed = adopted_vpc.release_default_route(deps.clients.ec2, table, target, stack=topo.stack,
                                                        deadline=deadline)
        else:
            changed = routes.point_default_route(deps.clients.ec2, table, target, stack=topo.stack,
                                                 deadline=deadline)
        if changed:
            logger.info("route moved", extra={"zone": move.zone, "nat": topo.zone(move.to_az).nat_instance_id,
                                              "route_table": table, "kind": move.kind, "reason": move.reason})
        return table, changed

    with ThreadPoolExecutor(max_workers=min(8, len(jobs))) as pool:
        futures = [pool.submit(one, job) for job in jobs]
        errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        for extra in errors[1:]:
            logger.error("route write failed", extra={"error": str(extra)})
        raise errors[0]
    return [table for table, changed in (f.result() for f in futures) if changed]
