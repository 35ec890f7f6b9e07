"""Reconcile: turn a decision into stored state and route changes so that overlapping runs never fight.

Protocol, per attempt: observe (ONE batched read, ``aws/observe.py``: the zone records with their
versions and claims, the NAT instance states, the route tables) -> decide (the engine, then
``engine.review``: route repairs of drifted tables, which moves hand flows off) -> claim: commit the new
states in ONE DynamoDB transaction conditioned on those versions, claiming every zone whose routes move
(no one else may write a claimed zone) -> write the routes at once -> verify by reading back -> drop the
claims. Claim to drop is ONE adapter entry (``aws/claims.py`` ``move``); a planned move takes the steps
one by one (below). A route is written only while its claim has more than ``CLAIM_MARGIN_S`` left (and
before ``Deps.deadline``): a slow run gives its write up (``OutOfTimeError``) rather than write after
its claim could have expired and been taken by another run; the record is already committed, so the
next sweep repairs the routes (route drift). A lost condition (ConflictError) means another run acted
first: observe and decide again, a bounded number of times. Routes that disagree with the recorded
``served_by`` of an unclaimed zone are route drift (a crashed run, a hand edit): ``engine.review`` finds
them and they are repaired under the same protocol. ``service/publish.py`` sends a run's alerts and
outcome metrics.

A planned move (away from a NAT that is alive: a revert, an operator's failover of a healthy NAT, a
roll's step) hands the zone's open flows back to that NAT (opens a connection handoff,
``service/handoff_open.py``): its tags are planned before the claim, written once the zone is claimed,
and the route moves once both NATs' agents report them applied (``service/handoff_ack.py``: at most
``failover.handoff_ack_timeout_s``, then the timed wait ``AGENT_SETTLE_S`` and an alert); an automatic
failover away from a dead NAT writes none, loses no time and enters no handoff module.

The sweep, the instance-state events and the manual operations all act through ``decide_and_apply``;
the first two with ``engine_decider``.
"""
from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace

from ..aws import adopted_vpc, claims, observe, params
from ..aws.claims import RouteWrite
from ..aws.observe import Observed, RouteTableView, Snapshot
from ..engine import ADOPTING, Decision, RouteMove, ZoneInput, ZoneState, decide, review
from ..engine.handoff import AGENT_SETTLE_S
from ..engine.model import BOOL_FIELDS, FLOAT_FIELDS, INT_FIELDS, RELEASE
from ..engine.window import parse_window
from ..errors import ConflictError, HanatError, OutOfTimeError
from ..observability import logger
from ..probes.results import ProbeResult
from ..topology import Topology
from . import handoff_ack, handoff_open
from .deps import Deps

CLAIM_TTL_S = 60.0
# A route write starts only while its claim has more than this left: longer than one route write
# (DescribeRouteTables + ReplaceRoute + read-back, each attempt bounded by the clients' timeouts,
# botocore's retries stopped at the write deadline), so every write lands while the claim is ours.
CLAIM_MARGIN_S = 15.0
# No claim is taken with less than this left before Deps.deadline: writing needs the time.
MIN_WRITE_S = 3.0
# A move that hands connections off also waits for the NATs' agents: with less than this left, it moves
# without the handoff (open flows get a reset, not a hang) rather than not at all. Its wait for their
# acknowledgement (handoff_ack) stops where only MIN_WRITE_S is left.
HANDOFF_WRITE_S = MIN_WRITE_S + AGENT_SETTLE_S
ATTEMPTS = 5

Decider = Callable[[Snapshot, list[ZoneInput], float], Decision]


# --- zone states <-> the state table's plain records ------------------------------------------
def zone_state(d: Mapping) -> ZoneState:
    """The engine's zone state of a stored record's data (unknown keys ignored, missing ones defaulted)."""
    known = {k: d[k] for k in ZoneState.__dataclass_fields__ if k in d}
    known["failovers"] = tuple(float(t) for t in known.get("failovers", ()))
    for keys, kind in ((INT_FIELDS, int), (FLOAT_FIELDS, float), (BOOL_FIELDS, bool)):
        for key in keys:
            if key in known:
                known[key] = kind(known[key])
    return ZoneState(**known)


def zone_states(snapshot: Snapshot, adopted: Collection[str] = ()) -> dict[str, ZoneState]:
    """The engine's zone states from the stored records (a zone never written is a fresh UNKNOWN); a zone
    of ``adopted`` tables never cut over is ``adopting`` (its record may not exist yet)."""
    out = {}
    for az, rec in snapshot.zones.items():
        body = {**rec.body, "az": az, "version": rec.version}
        if az in adopted and not body.get("adoption"):
            body["adoption"] = ADOPTING
        out[az] = zone_state(body)
    return out


def record_body(state: ZoneState) -> dict:
    """A zone state as the record stores it (JSON data, without its az and version)."""
    d = asdict(state)
    d["failovers"] = list(state.failovers)
    return {k: v for k, v in d.items() if k not in ("az", "version")}


def store_states(deps: Deps, snapshot: Snapshot, states: Mapping[str, ZoneState], *, now: float,
                 claim: list[str] | tuple[str, ...] = (), token: str = "",
                 critical_active: bool | None = None) -> dict[str, ZoneState]:
    """Commit ``states`` (and claims) against ``snapshot``'s versions; every zone's state afterwards.
    ConflictError when another run wrote first."""
    versions = claims.commit(deps.clients.dynamodb, deps.topology.table_name, snapshot,
                             {az: record_body(s) for az, s in states.items()}, now=now, claim=claim, owner=deps.owner,
                             token=token, claim_ttl_s=CLAIM_TTL_S, critical_active=critical_active,
                             deadline=deps.deadline)
    return _after_commit(snapshot, states, versions)


def _after_commit(snapshot: Snapshot, states: Mapping[str, ZoneState], versions: Mapping[str, int]) -> dict[str, ZoneState]:
    out = zone_states(snapshot)
    for az, version in versions.items():
        out[az] = replace(states.get(az, out[az]), version=version)
    return out


def load_states(deps: Deps) -> tuple[Snapshot, dict[str, ZoneState]]:
    """The zone records now (consistent read), as the engine sees them."""
    topo = deps.topology
    snapshot = observe.load_snapshot(deps.clients.dynamodb, topo.table_name, topo.azs, deps.clock(),
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

    snapshot: Snapshot
    inputs: list[ZoneInput]
    tables: dict[str, RouteTableView]
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


def read(deps: Deps, now: float) -> Observed:
    """The zone records, the NAT instance states and the private route tables (their guard problem for
    this stack): one batched read (the time is the slowest call's, not the sum)."""
    topo = deps.topology
    return observe.read_sweep(deps.clients.dynamodb, deps.clients.ec2, topo.table_name, topo.azs,
                              [z.nat_instance_id for z in topo.zones],
                              [t for z in topo.zones for t in z.private_route_table_ids], stack=topo.stack,
                              now=now, deadline=deps.deadline)


def observe_zones(deps: Deps, now: float, *, probes: Mapping[str, ProbeResult] | None = None,
                  instance_overrides: Mapping[str, str] | None = None,
                  confirmations: Mapping[str, Sequence[ProbeResult]] | None = None,
                  observed: Observed | None = None) -> Observation:
    """The world as the engine takes it, from one batched read (``read``; ``observed``: the read the
    caller made already in this run, not made again). ``confirmations``: per zone, the re-probes made at
    once after its probe failed (in order). Every fact the engine reads is a plain field of its input."""
    topo = deps.topology
    seen = observed if observed is not None else read(deps, now)
    inst = {**seen.instance_states, **(instance_overrides or {})}
    states = zone_states(seen.snapshot, adopted={z.az for z in topo.zones if z.adopted})
    records, tables, gray = seen.snapshot.zones, seen.tables, seen.gray
    inputs = [ZoneInput(az=z.az, state=states[z.az], nat_instance_id=z.nat_instance_id,
                        route_table_ids=z.private_route_table_ids, probe=(probes or {}).get(z.az),
                        confirmations=tuple((confirmations or {}).get(z.az, ())),
                        instance_state=inst.get(z.nat_instance_id), nat_eni_id=z.nat_eni_id,
                        tables=tuple((t, tables[t].default_eni) for t in z.private_route_table_ids
                                     if t in tables and tables[t].problem is None),
                        # ZoneRecord.is_pending, read as plain fields: another run holds the zone's claim
                        claimed=bool(records[z.az].pending_owner) and records[z.az].pending_until >= now,
                        degraded=gray[z.az].degraded if z.az in gray else "",
                        use_percent=gray[z.az].use_percent if z.az in gray else None)
              for z in topo.zones]
    return Observation(snapshot=seen.snapshot, inputs=inputs, tables=dict(tables), instance_states=inst, now=now,
                       missing_tables=list(seen.missing_tables))


# --- decide -----------------------------------------------------------------------------------
def engine_decider(topology: Topology, control: ProbeResult | None = None) -> Decider:
    """The automatic decision (sweep, instance-state events, a replacement's failover): the engine with
    the stack's probe and failover settings, its maintenance window (read only with ``revert = "window"``,
    the one rule that uses it) and the remembered targets-down incident."""
    window = parse_window(topology.maintenance.window) if topology.failover.revert == "window" else None

    def decider(snapshot: Snapshot, inputs: list[ZoneInput], now: float) -> Decision:
        return decide(inputs, topology.probe, topology.failover, now=now, control=control,
                      critical_active=snapshot.critical_active, stack=topology.stack, window=window)
    return decider


# --- claim, write, verify -----------------------------------------------------------------------
def decide_and_apply(deps: Deps, decide_with: Decider | None = None, *,
                     probes: Mapping[str, ProbeResult] | None = None, control: ProbeResult | None = None,
                     instance_overrides: Mapping[str, str] | None = None, attempts: int = ATTEMPTS,
                     confirmations: Mapping[str, Sequence[ProbeResult]] | None = None,
                     vouched: Collection[str] = (), observed: Observed | None = None) -> Applied:
    """Observe, decide, commit with version checks, write routes; retry on a lost condition.
    ``decide_with``: the decision (default: ``engine_decider`` with the ``control`` probe's verdict).
    ``vouched``: zones whose NAT the caller knows to be healthy although its record says DOWN (a
    planned replacement): moving away from it hands the open flows back like any planned move.
    ``observed``: the read the caller made in this run (``read``): the first attempt starts from it.
    A retry decides on the topology published now: the run that won may have replaced a NAT."""
    decide_with = decide_with or engine_decider(deps.topology, control)
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            deps = with_live_topology(deps)
            observed = None
        now = deps.clock()
        seen = observe_zones(deps, now, probes=probes, instance_overrides=instance_overrides,
                             confirmations=confirmations, observed=observed)
        decision = decide_with(seen.snapshot, seen.inputs, now)
        after = review(decision, seen.inputs, vouched=vouched)
        moves = list(after.moves)
        claim = [m.zone for m in moves]
        left = None if deps.deadline is None else deps.deadline - time.monotonic()
        if moves and left is not None and left < MIN_WRITE_S:
            raise OutOfTimeError(f"{left:.1f}s left: not claiming zone(s) {', '.join(claim)} for route writes "
                                 "that could not finish in time; nothing changed, the next run decides again")
        before = {z.az: z.state for z in seen.inputs}
        states = after.states
        plan = None
        if after.handoffs or after.ended:   # a planned move, or a move that ends an earlier handoff
            plan = handoff_open.plan(deps, moves=moves, handoffs=after.handoffs, before=before,
                                     tables=seen.tables, now=now)
            if plan.handoffs and left is not None and left < HANDOFF_WRITE_S:
                if {m.zone for m in moves} <= {h.zone for h in plan.handoffs}:
                    # only planned moves, which can wait: the next run makes them with their handoff
                    raise OutOfTimeError(f"{left:.1f}s left: not moving zone(s) {', '.join(claim)} without their "
                                         "connection handoff; nothing changed, the next run decides again")
                logger.warning("no time left to hand connections off: moving without it (they get a reset)",
                               extra={"zone": [h.zone for h in plan.handoffs]})
                plan = plan.without_handoffs()
            plan.record(states)
        changed = {az: s for az, s in states.items()
                   if az not in before or replace(s, version=before[az].version) != before[az]}
        try:
            stored, changed_tables = _claim_and_write(deps, seen, changed, moves, now=now, plan=plan,
                                                      critical_active=decision.critical_active)
        except ConflictError:
            if attempt == attempts:
                raise
            logger.info("state changed under us; deciding again", extra={"attempt": attempt})
            deps.sleep(_backoff(deps, seen, attempt))
            continue
        return Applied(decision=decision, moves=moves, changed_tables=changed_tables, states=stored,
                       attempts=attempt, missing_tables=seen.missing_tables,
                       handoffs=[h.to_dict() for h in plan.handoffs if h.zone not in plan.failed] if plan else [])
    raise ConflictError("unreachable")  # pragma: no cover


def _claim_and_write(deps: Deps, seen: Observation, changed: Mapping[str, ZoneState], moves: list[RouteMove], *,
                     now: float, plan: handoff_open.Plan | None,
                     critical_active: bool) -> tuple[dict[str, ZoneState], list[str]]:
    """Claim the moving zones with the new records, write their routes, verify, drop the claims: one
    adapter entry (``claims.move``) when nothing waits between claim and write; a planned move (its
    handoff tags, the NATs' agents) or a release takes the steps one by one. The states stored and the
    changed tables. ConflictError when the claim was lost (nothing written)."""
    topo, claim, token = deps.topology, [m.zone for m in moves], uuid.uuid4().hex
    claim_until = now + CLAIM_TTL_S
    if plan is not None or any(m.kind == RELEASE for m in moves):
        stored = store_states(deps, seen.snapshot, changed, now=now, claim=claim, token=token,
                              critical_active=critical_active)
        tables = (_write_claimed(deps, moves, token, claim_until=claim_until, plan=plan, tables=seen.tables)
                  if moves else [])
        return stored, tables
    write_by = claim_until - CLAIM_MARGIN_S
    versions, tables = claims.move(
        deps.clients.dynamodb, deps.clients.ec2, topo.table_name, seen.snapshot,
        {az: record_body(s) for az, s in changed.items()}, _writes(topo, moves, seen.tables), now=now, claim=claim,
        owner=deps.owner, token=token, claim_ttl_s=CLAIM_TTL_S, critical_active=critical_active,
        write_deadline=time.monotonic() + (write_by - deps.clock()), expires=(deps.clock, write_by),
        deadline=deps.deadline)
    _log_moved(topo, moves, tables)
    return _after_commit(seen.snapshot, changed, versions), tables


def _writes(topo: Topology, moves: Sequence[RouteMove], views: Mapping[str, RouteTableView]) -> list[RouteWrite]:
    """Every private table of each moved zone pointed at its new NAT's network interface (a release
    instead: each table at its own target)."""
    zones = {z.az: z for z in topo.zones}
    out: list[RouteWrite] = []
    for move in moves:
        if move.targets:
            pairs = list(move.targets)
        else:
            tables = zones[move.zone].private_route_table_ids
            pairs = [(table, zones[move.to_az].nat_eni_id) for table in tables]
        out += [RouteWrite(table, target, views.get(table)) for table, target in pairs]
    return out


def _log_moved(topo: Topology, moves: Sequence[RouteMove], changed: Collection[str]) -> None:
    zones = {z.az: z for z in topo.zones}
    for move in moves:
        tables = [t for t, _ in move.targets] if move.targets else zones[move.zone].private_route_table_ids
        for table in (t for t in tables if t in changed):
            logger.info("route moved", extra={"zone": move.zone, "nat": zones[move.to_az].nat_instance_id,
                                              "route_table": table, "kind": move.kind, "reason": move.reason})


def _backoff(deps: Deps, seen: Observation, attempt: int) -> float:
    """The pause before deciding again: a moment, or, while another run holds a zone's claim (a planned
    move holds it through its AGENT_SETTLE_S wait for the NATs' agents), long enough for it to finish;
    never past the time a write still needs before ``deps.deadline``."""
    if any(rec.is_pending(seen.now) for rec in seen.snapshot.zones.values()):
        pause = AGENT_SETTLE_S / 2 * attempt
    else:
        pause = random.uniform(0.005, 0.03) * attempt
    if deps.deadline is None:
        return pause
    return max(0.0, min(pause, deps.deadline - time.monotonic() - MIN_WRITE_S))


def _write_claimed(deps: Deps, moves: list[RouteMove], token: str, *, claim_until: float,
                   plan: handoff_open.Plan | None = None, tables: Mapping[str, RouteTableView] | None = None) -> list[str]:
    """Write the handoff tags (then wait for the NATs' agents) and the routes of the claimed zones
    (each route write starting while the claim has more than CLAIM_MARGIN_S left), clean up the
    handoffs the move ended, then drop the claims (also on failure)."""
    zones = [m.zone for m in moves]
    plan = plan or handoff_open.Plan()
    try:
        if handoff_open.open_handoffs(deps, plan):
            # never waiting into the time the route writes need (HANDOFF_WRITE_S left at least: the timed wait fits)
            limit_s = None if deps.deadline is None else deps.deadline - time.monotonic() - MIN_WRITE_S
            handoff_ack.wait_for_agents(deps, plan.written, written_at=deps.clock(), limit_s=limit_s,
                                        zones=tuple(h.zone for h in plan.handoffs if h.zone not in plan.failed))
            tables = None    # read again: the agents' wait is long enough for a hand edit
        changed = write_routes(deps, moves, write_by=claim_until - CLAIM_MARGIN_S, tables=tables)
        handoff_open.drop_prev_tags(deps, plan)
    except BaseException:
        try:
            claims.drop_claims(deps.clients.dynamodb, deps.topology.table_name, zones, token, deadline=deps.deadline)
        except HanatError as err:
            logger.warning("could not drop claims after a failed route write", extra={"error": str(err)})
        raise
    claims.drop_claims(deps.clients.dynamodb, deps.topology.table_name, zones, token, deadline=deps.deadline)
    return changed


def write_routes(deps: Deps, moves: list[RouteMove], *, write_by: float | None = None,
                 tables: Mapping[str, RouteTableView] | None = None) -> list[str]:
    """Point every private table of each moved zone at its new NAT, at once (a release: each adopted
    table back at its own target); changed table ids. ``tables``: the tables as observed (read now
    when not given).

    ``write_by`` (epoch seconds, ``deps.clock``): no write starts at or after it, and none (nor any AWS
    retry inside it) runs past it or ``deps.deadline``; a write given up raises OutOfTimeError."""
    topo = deps.topology
    writes = _writes(topo, moves, {})
    if not writes:
        return []
    if write_by is not None and deps.clock() >= write_by:
        logger.warning("route write given up: too late", extra={"zone": [m.zone for m in moves]})
        raise OutOfTimeError(f"gave up writing {', '.join(w.route_table_id for w in writes)}: its claim ends "
                             f"within {CLAIM_MARGIN_S:g}s or the run's time is up; the next sweep repairs it")
    write_deadline = None if write_by is None else time.monotonic() + (write_by - deps.clock())
    expires = None if write_by is None else (deps.clock, write_by)
    release = {t for m in moves if m.kind == RELEASE for t, _ in m.targets}
    if tables is None:
        tables = observe.describe_route_tables(deps.clients.ec2, [w.route_table_id for w in writes
                                                                  if w.route_table_id not in release],
                                               stack=topo.stack, deadline=deps.deadline)
    moved = [RouteWrite(w.route_table_id, w.eni_id, tables.get(w.route_table_id))
             for w in writes if w.route_table_id not in release]
    changed = claims.write_routes(deps.clients.ec2, moved, write_deadline=write_deadline, expires=expires,
                                  deadline=deps.deadline) if moved else []
    released = [w for w in writes if w.route_table_id in release]
    if released:   # back to the adopted table's own target (a NAT gateway, usually)
        deadline = deps.deadline if write_deadline is None else min(write_deadline, deps.deadline or write_deadline)
        with ThreadPoolExecutor(max_workers=min(8, len(released))) as pool:
            futures = [pool.submit(adopted_vpc.release_default_route, deps.clients.ec2, w.route_table_id, w.eni_id,
                                   stack=topo.stack, deadline=deadline) for w in released]
            errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            for extra in errors[1:]:
                logger.error("route write failed", extra={"error": str(extra)})
            raise errors[0]
        changed += [w.route_table_id for w, f in zip(released, futures, strict=True) if f.result()]
    _log_moved(topo, moves, changed)
    return changed
