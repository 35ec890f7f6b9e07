"""Zones of a stack that adopts an existing VPC (``stack.vpc_id``): the rules the file alone can check.

In adopt mode a zone names what exists instead of CIDRs to build: ``public_subnet_id`` (where the
zone's NAT instance goes) and ``private_route_table_ids`` (the tables whose default route hanat
takes over), with an optional ``probe_cidr`` for the probe subnet hanat creates (left out: a free
/28 of the VPC, found when the account is read). A route table belongs to one zone only. Whether the
ids exist, belong to the VPC and the zone's AZ, and whether the probe CIDR is free is checked against
the account before anything changes (``bootstrap/adopt/check.py``). Pure: no AWS call.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from .derive import SMALLEST_SUBNET_PREFIX
from .schema import ZoneConfig
from .table import Problems, Table
from .value_checks import ec2_id_problem, parse_cidr

ADOPT_ZONE_KEYS = ("public_subnet_id", "private_route_table_ids")
BUILD_ONLY_ZONE_KEYS = ("public_cidr", "private_cidr")   # subnets hanat would build; an adopted VPC has them
PROBE_PREFIX_RANGE = (16, SMALLEST_SUBNET_PREFIX)
Net = ipaddress.IPv4Network


def reject_adopt_keys(p: Problems, tables: Sequence[Table]) -> None:
    """In a stack that builds its VPC, the adopt-only keys are mistakes: say which and why."""
    for t in tables:
        for key in ADOPT_ZONE_KEYS:
            if key in t.data:
                p.add(t.key(key), f"only applies when {p.name('stack.vpc_id')} adopts an existing VPC "
                                  f"(this stack builds its VPC from {p.name('stack.vpc_cidr')})")


def adopted_zones(p: Problems, tables: Sequence[Table], azs: Sequence[str | None]) -> tuple[ZoneConfig, ...]:
    """The zones of an adopting stack, every problem reported by its key."""
    seen_subnets: dict[str, str] = {}
    seen_tables: dict[str, str] = {}
    probes: dict[str, Net] = {}
    zones = []
    for t, az in zip(tables, azs, strict=True):
        for key in BUILD_ONLY_ZONE_KEYS:
            if key in t.data:
                p.add(t.key(key), f"does not apply when {p.name('stack.vpc_id')} adopts a VPC (its subnets "
                                  "exist: name the zone's public_subnet_id and private_route_table_ids)")
        subnet = t.checked("public_subnet_id", t.string("public_subnet_id", required=True),
                           lambda value: ec2_id_problem(value, "subnet"))
        if subnet is not None and subnet in seen_subnets:
            p.add(t.key("public_subnet_id"), f"{subnet} repeats {p.name(seen_subnets[subnet])}")
            subnet = None
        elif subnet is not None:
            seen_subnets[subnet] = t.key("public_subnet_id")
        route_tables = _route_tables(p, t, seen_tables)
        probe = _probe_cidr(p, t, probes)
        zones.append(ZoneConfig(az=az, public_cidr="", private_cidr="", probe_cidr=probe,
                                public_subnet_id=subnet or "", private_route_table_ids=route_tables))
    return tuple(zones)


def _route_tables(p: Problems, t: Table, seen: dict[str, str]) -> tuple[str, ...]:
    key = "private_route_table_ids"
    if key not in t.data:
        if t.is_table:
            p.add(t.key(key), "is required (the route tables whose default route hanat takes over)")
        return ()
    ids = t.string_list(key, ())
    if ids is None:
        return ()
    if not ids:
        p.add(t.key(key), "must list at least one route table id (rtb-...)")
    out = []
    for i, table_id in enumerate(ids):
        item = f"{t.key(key)}[{i}]"
        problem = ec2_id_problem(table_id, "rtb")
        if problem:
            p.add(item, f"{table_id!r} {problem}")
            continue
        if table_id in seen:
            earlier = seen[table_id]
            same_zone = earlier.startswith(t.key(key))
            p.add(item, f"{table_id} repeats {p.name(earlier)}" if same_zone else
                  f"{table_id} is listed for {p.name(earlier)} too: a route table belongs to one zone only")
            continue
        seen[table_id] = item
        out.append(table_id)
    return tuple(out)


def _probe_cidr(p: Problems, t: Table, earlier: dict[str, Net]) -> str:
    text = t.string("probe_cidr")
    if text is None:
        return ""
    net = parse_cidr(text)
    if isinstance(net, str):
        p.add(t.key("probe_cidr"), f"{text!r} {net}")
        return ""
    low, high = PROBE_PREFIX_RANGE
    if not low <= net.prefixlen <= high:
        p.add(t.key("probe_cidr"), f"{text} must be a /{low} to /{high} subnet (AWS limit), got /{net.prefixlen}")
        return ""
    for key, other in earlier.items():
        if net.overlaps(other):
            p.add(t.key("probe_cidr"), f"{net} overlaps {p.name(key)} {other}")
            return ""
    earlier[t.key("probe_cidr")] = net
    return str(net)
