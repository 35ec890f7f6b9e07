"""Zone subnets the configuration leaves out, derived from ``stack.vpc_cidr``.

**Layout** for a VPC of prefix /p (hanat accepts /16 to /24). The VPC is cut into 16 equal
*slots* of /(p+4); zone i (0-based, at most ``MAX_ZONES``) gets:

- private subnet: slot i+1 (slots 1..6), the big one, e.g. 10.0.16.0/20, 10.0.32.0/20, ... in a /16.
- public and probe subnets come from *small blocks*:
  * p <= 20: slot 0 is cut into 16 small blocks of /(p+8); public i = small block i,
    probe i = the first /28 of small block 8+i. In 10.0.0.0/16: public 10.0.<i>.0/24,
    probe 10.0.<8+i>.0/28. Slots 7..15 (9/16 of the VPC) stay free for later subnets.
  * p > 20 (small VPCs): the small blocks are the /28s of slot 0 then of slots 7..15, in address
    order; public i = small block 2i, probe i = small block 2i+1. A /24 (16 /28 slots) therefore
    has room for 5 zones; a /23 or larger for all 6.

A subnet's layout position depends only on its zone's index, never on how many zones there are,
so adding a zone never moves the subnets of the existing ones.

**Around explicit subnets** (``derive_missing``): a derived subnet keeps its layout position when
that is free of every explicit subnet (so a stack built before keeps its CIDRs). One whose position
is taken (or that has none: zone 6 of a /24) gets a block of the same size from the space left,
the lowest such block: first outside every layout position of any zone (so adding a zone later
moves nothing), then anywhere free. Only when no free block of
that size is left does derivation fail, naming the subnets that did not fit. ``free_block`` is the allocator: pure, several VPC CIDR blocks,
usable for adopted VPCs too.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice

Net = ipaddress.IPv4Network

MAX_ZONES = 6
MIN_ZONES = 2
SUBNET_KINDS = ("public", "private", "probe")
SMALLEST_SUBNET_PREFIX = 28  # AWS: a subnet is /16 to /28
_SLOTS_BITS = 4              # 16 slots
_PROBE_PREFIX = 28


class NoRoomToDerive(ValueError):
    """The layout has no position for this zone's subnet in this VPC."""


@dataclass(frozen=True)
class DerivedZone:
    public_cidr: str
    private_cidr: str
    probe_cidr: str


@dataclass(frozen=True)
class Derivation:
    """``derive_missing``'s answer: the subnets it placed, and those that found no free block."""

    subnets: Mapping[tuple[int, str], Net]       # (zone index, kind) -> subnet
    no_room: tuple[tuple[int, str], ...] = ()    # (zone index, kind) in zone, kind order


def free_block(vpc_blocks: Sequence[Net], taken: Iterable[Net], prefixlen: int) -> Net | None:
    """The lowest free /``prefixlen`` block of the VPC that overlaps nothing ``taken``, or None.

    ``vpc_blocks`` are the VPC's IPv4 CIDR blocks, searched in the order given (primary first).
    """
    taken = list(taken)
    for block in vpc_blocks:
        if prefixlen < block.prefixlen:
            continue
        for piece in sorted(_free_pieces(block, taken)):
            if piece.prefixlen <= prefixlen:
                return next(piece.subnets(new_prefix=prefixlen))
    return None


def _free_pieces(block: Net, taken: Sequence[Net]) -> list[Net]:
    """``block`` minus ``taken``, as CIDR pieces: every free aligned block lies inside one piece."""
    pieces = [block]
    for used in taken:
        remaining = []
        for piece in pieces:
            if not piece.overlaps(used):
                remaining.append(piece)
            elif used.prefixlen > piece.prefixlen:          # used is inside the piece
                remaining.extend(piece.address_exclude(used))
            # else: the piece is inside used, nothing of it is free
        pieces = remaining
    return pieces


def layout_prefix(vpc: Net, kind: str) -> int:
    """The prefix length the layout gives a ``kind`` subnet in ``vpc``."""
    if kind == "private":
        return vpc.prefixlen + _SLOTS_BITS
    if kind == "public" and _is_roomy(vpc):
        return vpc.prefixlen + 2 * _SLOTS_BITS
    return _PROBE_PREFIX


def derive_subnet(vpc: Net, zone_index: int, kind: str) -> Net:
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


def derive_missing(vpc: Net, zone_count: int, explicit: Mapping[tuple[int, str], Net]) -> Derivation:
    """Place every (zone, kind) of ``zone_count`` zones that ``explicit`` leaves out (see module doc)."""
    wanted = [(i, kind) for i in range(zone_count) for kind in SUBNET_KINDS if (i, kind) not in explicit]
    taken = list(explicit.values())
    placed: dict[tuple[int, str], Net] = {}
    moved = []
    for key in wanted:                                   # 1. layout positions that are free
        position = _layout_or_none(vpc, *key)
        if position is not None and not _overlaps_any(position, taken):
            placed[key] = position
            taken.append(position)
        else:
            moved.append(key)
    layout = [net for i in range(MAX_ZONES) for kind in SUBNET_KINDS
              if (net := _layout_or_none(vpc, i, kind)) is not None]
    no_room = []
    # 2. the rest, biggest first (less fragmentation), each in the lowest free block of its size
    for key in sorted(moved, key=lambda k: (layout_prefix(vpc, k[1]), _order(k))):
        prefix = layout_prefix(vpc, key[1])
        block = free_block([vpc], [*taken, *layout], prefix) or free_block([vpc], taken, prefix)
        if block is None:
            no_room.append(key)
        else:
            placed[key] = block
            taken.append(block)
    no_room.sort(key=_order)
    return Derivation(subnets=placed, no_room=tuple(no_room))


def derive_zones(vpc_cidr: str, zone_count: int) -> tuple[DerivedZone, ...]:
    """Every subnet of ``zone_count`` zones with none given (raises NoRoomToDerive if they do not fit)."""
    derivation = derive_missing(ipaddress.IPv4Network(vpc_cidr), zone_count, {})
    if derivation.no_room:
        names = ", ".join(f"zone {i} {kind}" for i, kind in derivation.no_room)
        raise NoRoomToDerive(f"{vpc_cidr} has no room for {names}")
    return tuple(DerivedZone(*(str(derivation.subnets[i, kind]) for kind in SUBNET_KINDS))
                 for i in range(zone_count))


def _order(key: tuple[int, str]) -> tuple[int, int]:
    return key[0], SUBNET_KINDS.index(key[1])


def _layout_or_none(vpc: Net, zone_index: int, kind: str) -> Net | None:
    try:
        return derive_subnet(vpc, zone_index, kind)
    except NoRoomToDerive:
        return None


def _overlaps_any(net: Net, others: Iterable[Net]) -> bool:
    return any(net.overlaps(other) for other in others)


def _is_roomy(vpc: Net) -> bool:
    return vpc.prefixlen + 2 * _SLOTS_BITS <= SMALLEST_SUBNET_PREFIX


def _small_block_position(vpc: Net, zone_index: int, kind: str) -> int:
    if _is_roomy(vpc):
        return zone_index if kind == "public" else 8 + zone_index
    return 2 * zone_index + (0 if kind == "public" else 1)


def _small_blocks(vpc: Net, slots: list[Net]):
    if _is_roomy(vpc):
        yield from slots[0].subnets(new_prefix=vpc.prefixlen + 2 * _SLOTS_BITS)
        return
    for slot in [slots[0], *slots[MAX_ZONES + 1:]]:
        yield from slot.subnets(new_prefix=SMALLEST_SUBNET_PREFIX)
