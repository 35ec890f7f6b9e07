"""Opening connection handoffs on planned moves (use-case, inside ``reconcile.decide_and_apply``).

Per attempt: ``plan`` (before the claim) takes the moves that hand open flows back (picked by the
engine's ``review`` with the pure rule ``chalicelib.engine.decide.hands_off``) and reads what their tags need: both NATs' private addresses (and the
handoff tags they carry) and the CIDRs of the subnets the zone's route tables serve; ``Plan.record``
puts each handoff in the moved zone's record (committed with the claim). Once the zones are claimed,
``open_handoffs`` writes the tags (the old NAT's ``from`` first, so a half-written handoff never sends flows to
a NAT that would drop them) and the caller waits for the agents to report them applied
(``handoff_ack.wait_for_agents``, with ``Plan.written``); then the routes move and ``drop_prev_tags`` removes what the move ended: the previous direction kept during the move
(``:prev`` keys) and the zone's earlier handoff on NATs it no longer involves.

A handoff that cannot be planned or written (an AWS error, a NAT without the stack tag, no CIDR) is
logged and the move goes on without it: open flows then get the new NAT's TCP reset, never a hang.
Closing handoffs later (time up, a NAT stopped, a roll's drain over) is ``handoff_close``.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from ..aws import nat_tags
from ..engine import REPAIR, RouteMove, ZoneState
from ..engine.handoff import (
    FROM,
    TO,
    as_prev,
    is_prev_key,
    is_zone_key,
    tag_values,
)
from ..errors import HanatError
from ..observability import logger
from ..topology import Topology
from .deps import Deps


@dataclass(frozen=True)
class ZoneHandoff:
    """One zone's handoff: ``x`` held the zone (and its flows), ``y`` serves it now."""

    zone: str
    x: nat_tags.NatView
    y: nat_tags.NatView
    cidrs: tuple[str, ...]
    until: int
    x_az: str = ""      # the zones whose probe subnets are pinned to x and y (they ask the NATs: issue 21)
    y_az: str = ""

    def tags_on_x(self) -> dict[str, str]:
        return tag_values(self.zone, FROM, self.y.private_ip, self.until, self.cidrs)

    def tags_on_y(self) -> dict[str, str]:
        return tag_values(self.zone, TO, self.x.private_ip, self.until, self.cidrs)

    def to_dict(self) -> dict:
        return {"zone": self.zone, "from_nat": self.x.instance_id, "to_nat": self.y.instance_id,
                "until": self.until, "cidrs": list(self.cidrs)}


@dataclass
class Plan:
    """The handoffs of one decision, the moved zones whose earlier handoff ends, and what ``start``
    wrote that ``finish`` removes."""

    handoffs: list[ZoneHandoff] = field(default_factory=list)
    moving: tuple[str, ...] = ()                                 # zones whose routes move (not repairs)
    ended: dict[str, ZoneState] = field(default_factory=dict)    # zone -> its record before the move
    prev_written: dict[str, tuple[nat_tags.NatView, dict[str, str]]] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)              # zones whose tags could not be written
    # NAT id -> (its zone, the handoff tags written to it): what the NATs must report applied
    written: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)

    def record(self, states: dict[str, ZoneState]) -> None:
        """Put each handoff in its zone's decided state; a zone moving without one forgets the old one."""
        by_zone = {h.zone: h for h in self.handoffs}
        for az in self.moving:
            h = by_zone.get(az)
            states[az] = (states[az].evolve(handoff_from=h.x.instance_id, handoff_to=h.y.instance_id,
                                            handoff_until=float(h.until))
                          if h else states[az].without_handoff())

    def without_handoffs(self) -> Plan:
        return Plan(moving=self.moving, ended=self.ended)


# --- planning (before the claim) ---------------------------------------------------------------------
def plan(deps: Deps, *, moves: Sequence[RouteMove], handoffs: Collection[str], before: Mapping[str, ZoneState],
         tables: Mapping, now: float) -> Plan:
    """What the moves hand off: those of the zones in ``handoffs`` (the engine's ``review`` picked them,
    ``engine.decide.hands_off``). EC2 is read only when a move hands off."""
    topo = deps.topology
    moving = tuple(m.zone for m in moves if m.kind != REPAIR)
    out = Plan(moving=moving, ended={az: before[az] for az in moving if az in before and before[az].has_handoff})
    if float(topo.failover.handoff_s) <= 0:
        return out
    nat_of = {z.az: z.nat_instance_id for z in topo.zones}
    wanted = [m for m in moves if m.kind != REPAIR and m.zone in handoffs]
    if not wanted:
        return out
    try:
        nats = nat_tags.describe_nats(deps.clients.ec2, [nat_of[a] for m in wanted for a in (m.from_az, m.to_az)],
                                      topo.stack, deadline=deps.deadline)
        cidrs = zone_cidrs(deps, tables, [m.zone for m in wanted])
    except HanatError as err:
        logger.warning("no connection handoff: its facts could not be read; open connections get a reset",
                       extra={"zone": [m.zone for m in wanted], "error": str(err)})
        return out
    until = int(now + float(topo.failover.handoff_s))
    for m in wanted:
        x, y = nats.get(nat_of[m.from_az]), nats.get(nat_of[m.to_az])
        problem = _problem(m, x, y, cidrs.get(m.zone, ()), topo)
        if problem:
            logger.warning("no connection handoff: open connections get a reset",
                           extra={"zone": m.zone, "reason": problem})
            continue
        out.handoffs.append(ZoneHandoff(m.zone, x, y, cidrs[m.zone], until, x_az=m.from_az, y_az=m.to_az))
    return out


def _problem(m: RouteMove, x: nat_tags.NatView | None, y: nat_tags.NatView | None, cidrs: Sequence[str],
             topo: Topology) -> str | None:
    for role, az, nat in (("old", m.from_az, x), ("new", m.to_az, y)):
        if nat is None:
            return f"the {role} NAT {topo.zone(az).nat_instance_id} was not found"
        if not nat.tagged:
            return f"the {role} NAT {nat.instance_id} does not carry the stack tag"
        if not nat.private_ip:
            return f"the {role} NAT {nat.instance_id} has no private address"
    if not cidrs:
        return f"no subnet is associated with the route tables of {m.zone}"
    return None


def zone_cidrs(deps: Deps, tables: Mapping, zones: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """zone -> the CIDRs of the subnets its private route tables serve: the subnets explicitly
    associated with them, the zone's private subnet, and for a VPC's main table every subnet with no
    explicit association."""
    topo = deps.topology
    ec2 = deps.clients.ec2
    subnets: dict[str, set[str]] = {}
    unassociated: list[str] | None = None
    for az in zones:
        zone = topo.zone(az)
        ids = {zone.private_subnet_id} - {""}
        for table_id in zone.private_route_table_ids:
            view = tables.get(table_id)
            if view is None:
                continue
            ids.update(view.subnet_ids)
            if view.main:
                if unassociated is None:
                    unassociated = nat_tags.unassociated_subnets(ec2, topo.vpc_id, deadline=deps.deadline)
                ids.update(unassociated)
        subnets[az] = ids
    cidr_of = nat_tags.subnet_cidrs(ec2, sorted({s for ids in subnets.values() for s in ids}), deadline=deps.deadline)
    return {az: tuple(sorted({cidr_of[s] for s in ids if s in cidr_of})) for az, ids in subnets.items()}


# --- writing (inside the claim) ------------------------------------------------------------------------
@dataclass
class _Writes:
    nat: nat_tags.NatView
    prev: dict[str, str] = field(default_factory=dict)     # the previous direction, kept while the route moves
    new: dict[str, str] = field(default_factory=dict)
    unwanted: dict[str, str] = field(default_factory=dict)    # old numbered values the new handoff does not reuse


def _writes(h: ZoneHandoff, nat: nat_tags.NatView, new: dict[str, str]) -> _Writes:
    w = _Writes(nat, new=new)
    for key, value in nat.tags.items():
        if not is_zone_key(key, h.zone) or is_prev_key(key, h.zone) or new.get(key) == value:
            continue
        w.prev[as_prev(key, h.zone)] = value
        if key not in new:
            w.unwanted[key] = value
    return w


def open_handoffs(deps: Deps, p: Plan) -> bool:
    """Write the handoff tags of ``p``; True when any were written (the caller then waits for the
    agents, ``p.written``, before moving the routes). Per zone: the previous direction is kept under
    ``:prev`` keys on both NATs, then X's ``from`` is written, then Y's ``to``."""
    ec2, stack, wrote = deps.clients.ec2, deps.topology.stack, False
    for h in p.handoffs:
        on_x, on_y = _writes(h, h.x, h.tags_on_x()), _writes(h, h.y, h.tags_on_y())
        try:
            for w in (on_x, on_y):
                if w.prev:
                    nat_tags.put_handoff_tags(ec2, w.nat, w.prev, stack, deadline=deps.deadline)
                    wrote = True
                    kept = p.prev_written.setdefault(w.nat.instance_id, (w.nat, {}))[1]
                    kept.update(w.prev)
            for w in (on_x, on_y):
                nat_tags.put_handoff_tags(ec2, w.nat, w.new, stack, deadline=deps.deadline)
                wrote = True
                nat_tags.delete_handoff_tags(ec2, w.nat, w.unwanted, stack, deadline=deps.deadline)
        except HanatError as err:
            p.failed.append(h.zone)
            logger.warning("connection handoff not written: open connections get a reset",
                           extra={"zone": h.zone, "nat": h.y.instance_id, "error": str(err)})
            continue
        for w, az in ((on_x, h.x_az), (on_y, h.y_az)):
            p.written.setdefault(w.nat.instance_id, (az, {}))[1].update(w.new)
        logger.info("connection handoff", extra={"zone": h.zone, "nat": h.y.instance_id,
                                                  "from_nat": h.x.instance_id, "until": h.until,
                                                  "cidrs": list(h.cidrs)})
    return wrote


def drop_prev_tags(deps: Deps, p: Plan) -> None:
    """After the routes moved: remove the ``:prev`` tags ``open_handoffs`` kept, and the moved zones' earlier
    handoffs from NATs the new one does not involve. Failures are logged (the tags expire by
    themselves at their ``until``; the sweep's cleanup retries)."""
    ec2, stack = deps.clients.ec2, deps.topology.stack
    try:
        for nat, tags in p.prev_written.values():
            nat_tags.delete_handoff_tags(ec2, nat, tags, stack, deadline=deps.deadline)
        involved = {h.zone: {h.x.instance_id, h.y.instance_id} for h in p.handoffs}
        others = {az: {s.handoff_from, s.handoff_to} - involved.get(az, set()) - {""} for az, s in p.ended.items()}
        ids = sorted({i for nats in others.values() for i in nats})
        views = nat_tags.describe_nats(ec2, ids, stack, deadline=deps.deadline) if ids else {}
        for az, nats in others.items():
            for nat in (views[i] for i in sorted(nats) if i in views):
                nat_tags.delete_handoff_tags(ec2, nat, {k: v for k, v in nat.tags.items() if is_zone_key(k, az)},
                                             stack, deadline=deps.deadline)
    except HanatError as err:
        logger.warning("handoff tags not cleaned up after the move", extra={"error": str(err)})
