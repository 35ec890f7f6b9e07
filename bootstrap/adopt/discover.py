"""``hanat adopt``: a configuration written from what an existing VPC holds, for the user to review.

Pure over ``VpcFacts``. Public subnets are found by their route to an internet gateway; private
route tables by the AZ of the subnets that use them, when their default route goes to a NAT gateway
or nowhere. A zone is an AZ with both. What is left out (tables spanning AZs, routes to a transit
gateway, tables no subnet uses, ...) is listed in the file with the reason, so the review sees it.
"""
from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from chalicelib import naming
from chalicelib.aws.tags import tag_map
from chalicelib.errors import InputError

from ..config.derive import MAX_ZONES, MIN_ZONES, free_block
from ..config.value_checks import STACK_NAME_RULE, stack_name_problem
from .check import kind_of
from .facts import VpcFacts, default_target


@dataclass(frozen=True)
class FoundTable:
    route_table_id: str
    target: str                  # "" = no default route
    subnets: tuple[str, ...]     # "subnet-... 10.0.16.0/22"
    name: str = ""


@dataclass(frozen=True)
class FoundZone:
    az: str
    public_subnet_id: str
    public_note: str
    tables: tuple[FoundTable, ...]


@dataclass
class Discovery:
    vpc_id: str
    region: str
    name: str
    vpc_note: str
    zones: list[FoundZone] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)


def _name(resource: dict) -> str:
    return tag_map(resource).get("Name", "")


def stack_name_for(facts: VpcFacts, given: str | None) -> str:
    """``given``, or the VPC's Name tag made a valid stack name, or ``adopted``."""
    if given:
        problem = stack_name_problem(given)
        if problem:
            raise InputError(f"--name {given!r} {problem}")
        return given
    name = re.sub(r"[^a-z0-9-]+", "-", _name(facts.vpc or {}).lower()).strip("-")
    name = re.sub(r"^[^a-z]+", "", name)[:32].rstrip("-")
    return name if name and not stack_name_problem(name) else "adopted"


def discover(facts: VpcFacts, *, name: str | None = None) -> Discovery:
    """The zones an adoption config would list; InputError when the VPC has fewer than two."""
    if not facts.exists:
        raise InputError(f"--vpc-id {facts.vpc_id} does not exist in region {facts.region}")
    found = Discovery(vpc_id=facts.vpc_id, region=facts.region, name=stack_name_for(facts, name),
                      vpc_note=" ".join(x for x in (_name(facts.vpc), f"({', '.join(facts.cidr_blocks)})") if x))
    public: dict[str, list[dict]] = {}
    for subnet in facts.vpc_subnets():
        target = default_target(facts.route_table_of(subnet["SubnetId"]))
        if target.startswith("igw-") and target in facts.internet_gateways:
            public.setdefault(subnet["AvailabilityZone"], []).append(subnet)
    public_tables = {(facts.route_table_of(s["SubnetId"]) or {}).get("RouteTableId") for ss in public.values()
                     for s in ss}
    private: dict[str, list[FoundTable]] = {}
    for table in facts.vpc_tables():
        table_id, target = table["RouteTableId"], default_target(table)
        label = f"{table_id}{' (' + _name(table) + ')' if _name(table) else ''}"
        subnets = facts.subnets_of(table_id)
        azs = sorted({s["AvailabilityZone"] for s in subnets})
        owner = tag_map(table).get(naming.STACK_TAG)
        if table_id in public_tables or target.startswith("igw-"):
            continue                                      # public: never a candidate, not worth a line
        if owner:
            found.left_out.append(f"{label}: already belongs to hanat stack {owner!r}")
        elif target and not target.startswith("nat-"):
            found.left_out.append(f"{label}: 0.0.0.0/0 -> {kind_of(target)} {target}")
        elif not subnets:
            found.left_out.append(f"{label}: no subnet uses it")
        elif len(azs) > 1:
            found.left_out.append(f"{label}: its subnets are in {', '.join(azs)} (a zone's tables serve one AZ)")
        elif azs[0] not in public:
            found.left_out.append(f"{label}: {azs[0]} has no public subnet for a NAT instance")
        else:
            private.setdefault(azs[0], []).append(FoundTable(
                table_id, target, tuple(f"{s['SubnetId']} {s['CidrBlock']}" for s in subnets), _name(table)))
    for az in sorted(public):
        if az not in private:
            found.left_out.append(f"{az}: public subnets but no private route table to take over")
            continue
        subnet = _pick_public(public[az], private[az], facts)
        others = [s["SubnetId"] for s in public[az] if s is not subnet]
        table = facts.route_table_of(subnet["SubnetId"]) or {}
        note = (f"{subnet['CidrBlock']}, route table {table.get('RouteTableId')} -> {default_target(table)}"
                + (f"; other public subnets here: {', '.join(others)}" if others else ""))
        found.zones.append(FoundZone(az, subnet["SubnetId"], note, tuple(private[az])))
    if not MIN_ZONES <= len(found.zones) <= MAX_ZONES:
        count = (f"{facts.vpc_id} has {len(found.zones)} zone(s) with both a public subnet and a private route "
                 f"table to take over; hanat needs {MIN_ZONES} to {MAX_ZONES}")
        raise InputError([count, *[f"found {z.az}" for z in found.zones], *found.left_out],
                         title=f"cannot write an adoption config for {facts.vpc_id}")
    return found


def _pick_public(subnets: Sequence[dict], tables: Sequence[FoundTable], facts: VpcFacts) -> dict:
    """The public subnet of the AZ's NAT gateway (where the user already runs NAT), else the first."""
    gateway_subnets = {facts.nat_gateways.get(t.target, {}).get("SubnetId") for t in tables}
    return next((s for s in subnets if s["SubnetId"] in gateway_subnets), subnets[0])


def probe_hints(facts: VpcFacts, azs: Sequence[str]) -> dict[str, str]:
    """az -> the /28 ``up`` would take for its probe subnet today (free space of the VPC)."""
    blocks = [ipaddress.ip_network(b) for b in facts.cidr_blocks]
    taken = [ipaddress.ip_network(s["CidrBlock"]) for s in facts.vpc_subnets()]
    out = {}
    for az in azs:
        block = free_block(blocks, taken, 28)
        if block is not None:
            out[az] = str(block)
            taken.append(block)
    return out


def _toml(value: str) -> str:
    return json.dumps(value)   # a TOML basic string is a JSON string for these characters


def render(found: Discovery, *, command: str, at: str, probe_hint: dict[str, str] | None = None) -> str:
    """The configuration file text, with comments for the review."""
    lines = [
        f"# hanat configuration written by `{command}` on {at}.",
        "# Review it before `hanat plan`: hanat takes over the default route (0.0.0.0/0) of every table in",
        "# private_route_table_ids (it records where each one points now and gives it back on `hanat release`",
        "# and `hanat down`); it changes nothing else of this VPC. Stack names: " + STACK_NAME_RULE + ".",
        "",
        "[stack]",
        f"name = {_toml(found.name)}",
        f"region = {_toml(found.region)}",
        f"vpc_id = {_toml(found.vpc_id)}   # {found.vpc_note}",
    ]
    for zone in found.zones:
        lines += ["", "[[zones]]", f"az = {_toml(zone.az)}",
                  f"public_subnet_id = {_toml(zone.public_subnet_id)}   # {zone.public_note}",
                  "private_route_table_ids = ["]
        for t in zone.tables:
            now = f"0.0.0.0/0 -> {t.target}" if t.target else "no default route"
            lines.append(f"    {_toml(t.route_table_id)},   # {t.name + ': ' if t.name else ''}{now}; "
                         f"subnets {', '.join(t.subnets)}")
        lines.append("]")
        hint = (probe_hint or {}).get(zone.az)
        if hint:
            lines.append(f"# probe_cidr = {_toml(hint)}   # optional; left out, hanat takes a free /28 like this one")
    if found.left_out:
        lines += ["", "# Not taken over (review):"] + [f"#   {item}" for item in found.left_out]
    return "\n".join(lines) + "\n"
