"""Adoption checked against the account (pure: config + the VPC's facts in, an ``AdoptedVpc`` out).

Every rule runs and every problem is reported at once (InputError, exit 2), each named by the key of
the config it is about and the AWS id that breaks it; nothing is created or changed before this
passes. The rules (issue 11): the VPC exists in the region; each subnet belongs to it and to the
zone's AZ; each public subnet's route table sends 0.0.0.0/0 to an internet gateway; each private
route table belongs to the VPC, is listed for one zone only, is not a public one, and its default
route goes to a NAT gateway, a NAT instance/interface, a blackhole or nowhere (never a transit
gateway, peering connection, virtual private gateway, internet gateway or anything else); the probe
CIDR is free and inside the VPC, or a free /28 exists for it.

NAT gateways (issue 18): a PRIVATE one (``ConnectivityType=private``) is refused: it routes to other
networks, not the internet, so hanat's NATs would change where the table's traffic goes. A REGIONAL
one (``AvailabilityMode=regional``: one gateway for all AZs, no subnet) is taken over like a zonal one,
table by table; several zones may record the same gateway, and give-back points each table back at it.
A VPC that relies on one usually has no public subnets and one table for all AZs: the public-subnet and
one-zone-per-table rules then say what to add (a public subnet per zone, a route table per AZ).
"""
from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chalicelib import naming
from chalicelib.aws.adopted_vpc import REGIONAL_MODE, is_private_nat_gateway
from chalicelib.aws.tags import tag_map
from chalicelib.errors import InputError
from chalicelib.topology import AdoptedRouteTable, Topology

from ..config.derive import free_block
from ..config.schema import HanatConfig
from .facts import VpcFacts, default_route, default_target

PROBE_PREFIX = 28
ROLE_PROBE = "probe"
# Default-route targets hanat may take over, by id prefix; the rest are refused by name.
TAKEOVER_KINDS = {"nat-": "NAT gateway", "eni-": "network interface", "i-": "NAT instance"}
REFUSED_KINDS = {"tgw-": "transit gateway", "pcx-": "VPC peering connection", "vgw-": "virtual private gateway",
                 "igw-": "internet gateway", "vpce-": "VPC endpoint", "lgw-": "local gateway",
                 "cagw-": "carrier gateway", "eigw-": "egress-only internet gateway",
                 "arn:": "Cloud WAN core network"}
Net = ipaddress.IPv4Network


@dataclass(frozen=True)
class AdoptedZone:
    az: str
    public_subnet_id: str
    public_route_table_id: str
    probe_cidr: str
    tables: tuple[AdoptedRouteTable, ...]    # each with its original default target
    private_subnet_ids: tuple[str, ...] = ()  # the subnets that use those tables

    @property
    def route_table_ids(self) -> tuple[str, ...]:
        return tuple(t.route_table_id for t in self.tables)


@dataclass(frozen=True)
class AdoptedVpc:
    """An existing VPC, checked: what hanat builds in it and which default routes it takes over."""

    vpc_id: str
    cidr_blocks: tuple[str, ...]
    zones: tuple[AdoptedZone, ...]
    current_targets: Mapping[str, str]       # route table id -> what 0.0.0.0/0 points at now ("" = none)

    @property
    def primary_cidr(self) -> str:
        return self.cidr_blocks[0]

    def zone(self, az: str) -> AdoptedZone:
        return next(z for z in self.zones if z.az == az)


def kind_of(target: str, nat_gateways: Mapping[str, dict] | None = None) -> str:
    """A readable name of what a route target id is (a NAT gateway's kind from ``nat_gateways`` when given)."""
    gateway = (nat_gateways or {}).get(target)
    if gateway is not None and is_private_nat_gateway(gateway):
        return "private NAT gateway"
    if gateway is not None and gateway.get("AvailabilityMode") == REGIONAL_MODE:
        return "regional NAT gateway"
    for prefix, kind in {**TAKEOVER_KINDS, **REFUSED_KINDS}.items():
        if target.startswith(prefix):
            return kind
    return "target"


def stored_originals(stored: Topology | None) -> dict[str, str]:
    """route table id -> original default target, as recorded by an earlier ``up``."""
    if stored is None:
        return {}
    return {t.route_table_id: t.original_target for z in stored.zones for t in z.adopted}


def check_adoption(config: HanatConfig, facts: VpcFacts, *, stored: Topology | None = None,
                   stack_enis: frozenset[str] = frozenset()) -> AdoptedVpc:
    """The adopted VPC, or InputError naming every problem. ``stored`` is the topology an earlier
    ``up`` recorded (the original targets live there once a table is cut over); ``stack_enis`` are the
    network interfaces of this stack's NAT instances."""
    problems: list[str] = []
    stack, region = config.stack.name, config.stack.region
    if not facts.exists:
        raise InputError(f"stack.vpc_id {facts.vpc_id} does not exist in region {region}",
                         title=f"cannot adopt into stack {stack!r}")
    if not facts.dns_support:
        problems.append(f"stack.vpc_id {facts.vpc_id} has enableDnsSupport off: the probe functions resolve "
                        "their targets by DNS; turn it on (hanat changes nothing of a VPC it adopts)")
    public_tables: dict[str, list[str]] = {}
    for i, z in enumerate(config.zones):
        if z.public_subnet_id in facts.subnets:
            table_id = (facts.route_table_of(z.public_subnet_id) or {}).get("RouteTableId", "")
            public_tables.setdefault(table_id, []).append(f"zones[{i}].public_subnet_id")
    originals = stored_originals(stored)
    listed = {t for z in config.zones for t in z.private_route_table_ids}
    probes = _probe_cidrs(config, facts, problems)
    zones = []
    for i, zone in enumerate(config.zones):
        public_table = _public_subnet(i, zone.az, zone.public_subnet_id, facts, problems)
        tables = tuple(_private_table(f"zones[{i}].private_route_table_ids[{j}]", table_id, facts, stack,
                                      public_tables, originals, stack_enis, problems)
                       for j, table_id in enumerate(zone.private_route_table_ids))
        private = tuple(s["SubnetId"] for t in zone.private_route_table_ids for s in facts.subnets_of(t))
        zones.append(AdoptedZone(az=zone.az, public_subnet_id=zone.public_subnet_id,
                                 public_route_table_id=public_table, probe_cidr=probes.get(i, ""), tables=tables,
                                 private_subnet_ids=private))
    for table in facts.vpc_tables():
        tags = tag_map(table)
        if tags.get(naming.STACK_TAG) == stack and naming.ADOPTED_TAG in tags and table["RouteTableId"] not in listed:
            problems.append(f"route table {table['RouteTableId']} carries {naming.STACK_TAG}={stack} and "
                            f"{naming.ADOPTED_TAG} but no zone lists it any more: list it again in "
                            "private_route_table_ids, or give it back first (`hanat release`, `hanat down`)")
    if problems:
        raise InputError(problems, title=f"cannot adopt {facts.vpc_id} into stack {stack!r}")
    current = {t: default_target(facts.route_tables.get(t)) for z in zones for t in z.route_table_ids}
    return AdoptedVpc(vpc_id=facts.vpc_id, cidr_blocks=facts.cidr_blocks, zones=tuple(zones), current_targets=current)


def _public_subnet(i: int, az: str, subnet_id: str, facts: VpcFacts, problems: list[str]) -> str:
    key = f"zones[{i}].public_subnet_id"
    subnet = facts.subnets.get(subnet_id)
    if subnet is None:
        problems.append(f"{key} {subnet_id} does not exist in region {facts.region}")
        return ""
    if subnet.get("VpcId") != facts.vpc_id:
        problems.append(f"{key} {subnet_id} is in {subnet.get('VpcId')}, not stack.vpc_id {facts.vpc_id}")
        return ""
    if subnet.get("AvailabilityZone") != az:
        problems.append(f"{key} {subnet_id} is in {subnet.get('AvailabilityZone')}, not the zone's az {az}")
    table = facts.route_table_of(subnet_id)
    target = default_target(table)
    table_id = (table or {}).get("RouteTableId", "")
    if not target.startswith("igw-") or target not in facts.internet_gateways:
        where = f"route table {table_id}" if table_id else "no route table"
        sends = f"sends 0.0.0.0/0 to {kind_of(target)} {target}" if target else "has no default route"
        if target.startswith("igw-"):
            sends += f", which is not attached to {facts.vpc_id}"
        problems.append(f"{key} {subnet_id} is not a public subnet: its {where} {sends}; the NAT instance needs "
                        "a route to an internet gateway")
    return table_id


def _private_table(key: str, table_id: str, facts: VpcFacts, stack: str, public_tables: Mapping[str, list[str]],
                   originals: Mapping[str, str], stack_enis: frozenset[str],
                   problems: list[str]) -> AdoptedRouteTable:
    table = facts.route_tables.get(table_id)
    if table is None:
        problems.append(f"{key} {table_id} does not exist in region {facts.region}")
        return AdoptedRouteTable(table_id, "")
    if table.get("VpcId") != facts.vpc_id:
        problems.append(f"{key} {table_id} is in {table.get('VpcId')}, not stack.vpc_id {facts.vpc_id}")
        return AdoptedRouteTable(table_id, "")
    tags = tag_map(table)
    owner = tags.get(naming.STACK_TAG)
    if owner and owner != stack:
        problems.append(f"{key} {table_id} already belongs to hanat stack {owner!r} ({naming.STACK_TAG}={owner})")
    elif owner == stack and naming.ADOPTED_TAG not in tags:
        problems.append(f"{key} {table_id} is one hanat built for stack {stack!r}, not one to adopt")
    route = default_route(table)
    target = default_target(table)
    state = (route or {}).get("State", "active")
    if table_id in public_tables:
        problems.append(f"{key} {table_id} is the route table of {', '.join(public_tables[table_id])}: "
                        "a public table is never taken over")
    elif target.startswith("igw-"):
        problems.append(f"{key} {table_id} is a public route table (0.0.0.0/0 -> internet gateway {target}): "
                        "hanat takes over only private tables")
    elif target and state != "blackhole" and not target.startswith(tuple(TAKEOVER_KINDS)):
        problems.append(f"{key} {table_id} sends 0.0.0.0/0 to {kind_of(target)} {target}: hanat takes over only "
                        "a default route to a NAT gateway, a NAT instance or interface, a blackhole, or none")
    elif state != "blackhole" and is_private_nat_gateway(facts.nat_gateways.get(target)):
        problems.append(f"{key} {table_id} sends 0.0.0.0/0 to private NAT gateway {target} (ConnectivityType "
                        "private): it reaches other networks, not the internet; hanat takes over only a table "
                        "whose default route is internet egress")
    if table_id in originals:
        original = originals[table_id]
    elif target in stack_enis:
        problems.append(f"{key} {table_id} already points 0.0.0.0/0 at this stack's NAT ({target}) but its "
                        "original target is not recorded: point it back by hand, then run `hanat up` again")
        original = ""
    else:
        original = target
    return AdoptedRouteTable(table_id, original)


def _probe_cidrs(config: HanatConfig, facts: VpcFacts, problems: list[str]) -> dict[int, str]:
    """zone index -> the probe subnet's CIDR: as configured (checked free and inside the VPC), the one
    this stack's probe subnet already has, or the lowest free /28 of the VPC's CIDR blocks."""
    blocks = [ipaddress.ip_network(b) for b in facts.cidr_blocks]
    own = {tag_map(s).get(naming.ZONE_TAG): s for s in facts.vpc_subnets()
           if tag_map(s).get(naming.STACK_TAG) == config.stack.name and tag_map(s).get(naming.ROLE_TAG) == ROLE_PROBE}
    own_ids = {s["SubnetId"] for s in own.values()}
    others = [(s["SubnetId"], ipaddress.ip_network(s["CidrBlock"])) for s in facts.vpc_subnets()
              if s["SubnetId"] not in own_ids]
    out: dict[int, str] = {}
    for i, zone in enumerate(config.zones):
        key, mine = f"zones[{i}].probe_cidr", own.get(zone.az)
        if zone.probe_cidr:
            net = ipaddress.ip_network(zone.probe_cidr)
            if not any(net.subnet_of(b) for b in blocks):
                problems.append(f"{key} {net} is outside {facts.vpc_id}'s CIDR blocks {', '.join(facts.cidr_blocks)}")
            elif mine is not None and mine["CidrBlock"] != str(net):
                problems.append(f"{key} {net}: this stack's probe subnet {mine['SubnetId']} of {zone.az} is "
                                f"{mine['CidrBlock']}; hanat cannot change it in place (run `hanat down` first)")
            else:
                clash = [f"subnet {sid} {other}" for sid, other in others if net.overlaps(other)]
                if clash:
                    problems.append(f"{key} {net} is not free: it overlaps {', '.join(clash)}")
            out[i] = str(net)
        elif mine is not None:
            out[i] = mine["CidrBlock"]
    for i, zone in enumerate(config.zones):
        if i in out:
            continue
        taken: Sequence[Net] = [net for _, net in others] + [ipaddress.ip_network(c) for c in out.values()]
        block = free_block(blocks, taken, PROBE_PREFIX)
        if block is None:
            problems.append(f"zones[{i}].probe_cidr: {facts.vpc_id} ({', '.join(facts.cidr_blocks)}) has no free "
                            f"/{PROBE_PREFIX} left for the probe subnet of {zone.az}: add a secondary CIDR block to "
                            "the VPC (aws ec2 associate-vpc-cidr-block), or free one and name it in probe_cidr")
        else:
            out[i] = str(block)
    return out
