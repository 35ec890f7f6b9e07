"""Connection handoff on planned moves (pure): the tags that say so, and when a handoff is over. Which
moves hand open flows back is decided with the round (``engine/decide.py`` ``hands_off``).

When a zone moves away from a NAT X that is still alive (a revert after recovery, an operator's
failover of a healthy NAT, each step of a roll), the NAT that now serves it (Y) sends the mid-stream
TCP packets of flows it does not know, from the zone's private subnets, through a tunnel to X, which
still holds their connection tracking. The controller writes the handoff as instance tags, each NAT's
agent reads its own from IMDSv2 and applies them (the contract: bootstrap/nat/hanat-nat-agent):

    on Y   hanat:handoff:<az> = "to <X's private ip> <until> <cidr>[,<cidr>...]"
    on X   hanat:handoff:<az> = "from <Y's private ip> <until> <cidr>[,<cidr>...]"

A value holds at most 256 characters; CIDRs that do not fit go to ``hanat:handoff:<az>:2``, ``:3``, ...
with the same fields. While a zone moves between two NATs that already hand it off in the other
direction (a revert after an operator's failover), both directions must hold until the route has
moved: the previous tags are kept under ``hanat:handoff:<az>:prev[:<n>]`` and removed once the route
points at the new NAT (the agent applies every ``hanat:handoff:*`` tag the same way).

An automatic failover away from a dead NAT writes no handoff: X could not serve the flows, which
instead get Y's TCP reset at once (setup-nat.sh). A handoff ends when ``until`` passes, when a NAT of
it leaves ``running``, when X's probes fail, when the zone moves again, or at the end of a roll's drain.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from ..naming import HANDOFF_TAG_PREFIX
from .model import RUNNING, ZoneState

TO, FROM = "to", "from"
PREV = "prev"
MAX_TAG_VALUE = 256   # EC2: "Tag values ... accept a maximum of 256 Unicode characters" (API Reference, Tag)
# The agent polls IMDS every second and applies within about one more (HANDOFF.md, NAT-NOTES: measured
# 0.7-1.1 s from the tag write to the kernel in the lab): the route moves no sooner than this after the
# tags are written, and a roll's Elastic IP no sooner than this after they are removed.
AGENT_SETTLE_S = 2.0


# --- tags ---------------------------------------------------------------------------------------
def zone_key(az: str) -> str:
    """``hanat:handoff:<az>``: the key of the zone's handoff on a NAT."""
    return f"{HANDOFF_TAG_PREFIX}{az}"


def tag_key(az: str, n: int = 1, *, prev: bool = False) -> str:
    """The key of the ``n``-th value (1: the zone key itself) of the zone's handoff, or of its previous
    direction kept while the route moves (``prev``)."""
    parts = [zone_key(az)] + ([PREV] if prev else []) + ([str(n)] if n > 1 else [])
    return ":".join(parts)


def _suffix(key: str, az: str) -> list[str] | None:
    base = zone_key(az)
    if key == base:
        return []
    if not key.startswith(base + ":"):
        return None
    return key[len(base) + 1:].split(":")


def is_zone_key(key: str, az: str) -> bool:
    """A key of zone ``az``'s handoff: the zone key, ``:<n>``, ``:prev`` or ``:prev:<n>``."""
    rest = _suffix(key, az)
    if rest is None:
        return False
    if rest[:1] == [PREV]:
        rest = rest[1:]
    return rest == [] or (len(rest) == 1 and rest[0].isdigit() and int(rest[0]) > 1)


def is_prev_key(key: str, az: str) -> bool:
    rest = _suffix(key, az)
    return bool(rest) and rest[0] == PREV and is_zone_key(key, az)


def as_prev(key: str, az: str) -> str:
    """``hanat:handoff:<az>[:<n>]`` -> ``hanat:handoff:<az>:prev[:<n>]``."""
    rest = _suffix(key, az) or []
    return tag_key(az, int(rest[0]) if rest else 1, prev=True)


def tag_values(az: str, direction: str, peer_ip: str, until: int, cidrs: Sequence[str]) -> dict[str, str]:
    """The tags of one side of a handoff: key -> value, the CIDRs spread over as many values as needed
    (each at most MAX_TAG_VALUE characters)."""
    if direction not in (TO, FROM):
        raise ValueError(f"direction {direction!r} is not {TO!r} or {FROM!r}")
    if not cidrs:
        raise ValueError(f"zone {az}: a handoff needs at least one CIDR")
    head = f"{direction} {peer_ip} {int(until)} "
    values: list[list[str]] = [[]]
    for cidr in cidrs:
        if len(head) + len(",".join(values[-1] + [cidr])) > MAX_TAG_VALUE and values[-1]:
            values.append([])
        values[-1].append(cidr)
    return {tag_key(az, n): head + ",".join(group) for n, group in enumerate(values, start=1)}


def parse_value(value: str) -> tuple[str, str, int, tuple[str, ...]] | None:
    """(direction, peer ip, until, cidrs) of a handoff tag value; None when it is not one."""
    parts = value.split()
    if len(parts) != 4 or parts[0] not in (TO, FROM) or not parts[2].isdigit():
        return None
    return parts[0], parts[1], int(parts[2]), tuple(parts[3].split(","))


# --- when a handoff ends ------------------------------------------------------------------------
def close_reason(state: ZoneState, now: float, instance_states: Mapping[str, str | None],
                 failing: Collection[str] = ()) -> str | None:
    """Why the zone's handoff is over (None: it goes on, or there is none). ``instance_states``: the
    handoff NATs' EC2 states (absent = not known: not judged); ``failing``: NATs whose probes fail now
    (their zone's record counts ``fail_after`` failed probes in a row)."""
    if not state.has_handoff:
        return None
    if now >= state.handoff_until:
        return "its time is up"
    for nat in (state.handoff_from, state.handoff_to):
        ec2_state = instance_states.get(nat)
        if ec2_state is not None and ec2_state != RUNNING:
            return f"NAT {nat} is {ec2_state}"
    if state.handoff_from in failing:
        return f"NAT {state.handoff_from} fails its probes"
    return None
