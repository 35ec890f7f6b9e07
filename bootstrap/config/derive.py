"""Zone subnets the configuration leaves out, derived from ``stack.vpc_cidr`` by one fixed layout.

Layout for a VPC of prefix /p (hanat accepts /16 to /24). The VPC is cut into 16 equal
*slots* of /(p+4); zone i (0-based, at most ``MAX_ZONES``) gets:

- private subnet: slot i+1 (slots 1..6), the big one, e.g. 10.0.16.0/20, 10.0.32.0/20, ... in a /16.
- public and probe subnets come from *small blocks*:
  * p <= 20: slot 0 is cut into 16 small blocks of /(p+8); public i = small block i,
    probe i = the first /28 of small block 8+i. In 10.0.0.0/16: public 10.0.<i>.0/24,
    probe 10.0.<8+i>.0/28. Slots 7..15 (9/16 of the VPC) stay free for later subnets.
  * p > 20 (small VPCs): the small blocks are the /28s of slot 0 then of slots 7..15, in address
    order; public i = small block 2i, probe i = small block 2i+1. A /24 (16 /28 slots) therefore
    has room for 5 zones; a /23 or larger for all 6.

A subnet's position depends only on its zone's index, never on how many zones there are, so
adding a zone never moves the subnets of the existing ones. Explicit CIDRs are not steered
around: the validator reports any overlap between explicit and derived subnets.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from itertools import islice

MAX_ZONES = 6
MIN_ZONES = 2
SUBNET_KINDS = ("public", "private", "probe")
SMALLEST_SUBNET_PREFIX = 28  # AWS: a subnet is /16 to /28
_SLOTS_BITS = 4              # 16 slots
_PROBE_PREFIX = 28


class NoRoomToDerive(ValueError):
    """The VPC has no room for this zone's subnet in the layout: the caller must name the key to set."""


@dataclass(frozen=True)
class DerivedZone:
    public_cidr: str
    private_cidr: str
    probe_cidr: str


def derive_subnet(vpc: ipaddress.IPv4Network, zone_index: int, kind: str) -> ipaddress.IPv4Network:
    """The layout's ``kind`` subnet ("public", "private", "probe") of zone ``zone_index``."""
    if kind not in SUBNET_KINDS:
        raise ValueError(f"unknown subnet kind {kind!r}")
    if not 0 <= zone_index < MAX_ZONES:
        raise NoRoomToDerive(f"zone index {zone_index} is outside 0..{MAX_ZONES - 1}")
    slot_prefix = vpc.prefixlen + _SLOTS_BITS
    if slot_prefix > SMALLEST_SUBNET_PREFIX:
        raise NoRoomToDerive(f"{vpc} is smaller than a /{SMALLEST_SUBNET_PREFIX - _SLOTS_BITS}")
    slots = list(vpc.subnets(new_prefix=slot_prefix))
    if kind == "private":
        return slots[zone_index + 1]
    small = _small_blocks(vpc, slots)
    position = _small_block_position(vpc, zone_index, kind)
    block = next(islice(small, position, None), None)
    if block is None:
        raise NoRoomToDerive(f"{vpc} has no room for the {kind} subnet of zone {zone_index}")
    return next(block.subnets(new_prefix=_PROBE_PREFIX)) if kind == "probe" else block


def derive_zones(vpc_cidr: str, zone_count: int) -> tuple[DerivedZone, ...]:
    """The whole layout for ``zone_count`` zones (raises NoRoomToDerive if it does not fit)."""
    vpc = ipaddress.IPv4Network(vpc_cidr)
    return tuple(
        DerivedZone(*(str(derive_subnet(vpc, i, kind)) for kind in SUBNET_KINDS)) for i in range(zone_count)
    )


def _is_roomy(vpc: ipaddress.IPv4Network) -> bool:
    return vpc.prefixlen + 2 * _SLOTS_BITS <= SMALLEST_SUBNET_PREFIX


def _small_block_position(vpc: ipaddress.IPv4Network, zone_index: int, kind: str) -> int:
    if _is_roomy(vpc):
        return zone_index if kind == "public" else 8 + zone_index
    return 2 * zone_index + (0 if kind == "public" else 1)


def _small_blocks(vpc: ipaddress.IPv4Network, slots: list[ipaddress.IPv4Network]):
    if _is_roomy(vpc):
        yield from slots[0].subnets(new_prefix=vpc.prefixlen + 2 * _SLOTS_BITS)
        return
    for slot in [slots[0], *slots[MAX_ZONES + 1:]]:
        yield from slot.subnets(new_prefix=SMALLEST_SUBNET_PREFIX)
