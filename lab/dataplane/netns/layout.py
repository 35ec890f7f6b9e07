"""Pure decisions of the data plane: names, addresses, routing tables and what ``sync`` must do.

Nothing here runs a command; ``Namespaces`` turns these plans into ``ip``/``nft`` calls.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.engine.model import TERMINATED
from chalicelib.errors import InputError

from ..spec import DataPlaneSpec

NS_PREFIX = "hanat-"
IFNAME_MAX = 15  # IFNAMSIZ - 1

# The lab "internet": documentation ranges only (RFC 5737), never routed anywhere real.
INTERNET_CIDR = "203.0.113.0/24"
INET_BRIDGE_ADDRESS = "203.0.113.1"   # the internet's own address on its bridge (its router)
AWS_NS_ADDRESS = "203.0.113.2"      # the control namespace standing for AWS's own network
TARGETS = ("198.51.100.10", "198.51.100.11", "203.0.113.10")
EGRESS_URL = f"http://{TARGETS[0]}/"

ROUTER_TABLE_BASE = 100             # private subnet of zone i -> 100 + 2i, probe subnet -> 101 + 2i
RULE_PRIORITY_VPC_LOCAL = 900       # `to <vpc cidr> lookup main` comes before the per-subnet rules
RULE_PRIORITY_BASE = 1000

_RUN_ID = re.compile(r"^[a-z0-9]{1,8}$")


# --- names --------------------------------------------------------------------------------
def check_run_id(run_id: str) -> str:
    if not _RUN_ID.match(run_id):
        raise InputError(f"run_id={run_id!r} must be 1-8 lowercase letters or digits")
    return run_id


def run_prefix(run_id: str) -> str:
    """Every namespace of one run starts with this (``hanat lab down`` removes ``hanat-*``)."""
    return f"{NS_PREFIX}{check_run_id(run_id)}-"


def netns_name(run_id: str, role: str) -> str:
    """Full namespace name for a logical role (``inet``, ``vpc``, ``aws``, ``nat-0``, ``priv-1``...)."""
    return run_prefix(run_id) + role


def ifname(*parts: object) -> str:
    """An interface name, refused when the kernel would refuse it."""
    name = "".join(str(p) for p in parts)
    if not name or len(name) > IFNAME_MAX or not re.match(r"^[A-Za-z0-9_.-]+$", name):
        raise InputError(f"interface name {name!r} must be 1-{IFNAME_MAX} chars of [A-Za-z0-9_.-]")
    return name


def bridge_name(kind: str, zone_index: int) -> str:
    """Router-side bridge for a subnet: kind is ``pub``, ``prv`` or ``prb``."""
    return ifname("br-", kind, zone_index)


def host_role(kind: str, index: int) -> str:
    """Logical namespace role of a host: ``priv-0``, ``probe-1``, ``nat-3``."""
    return f"{kind}-{index}"


def router_port(kind: str, index: int) -> str:
    """The router-side (or inet-side) end of a host's veth: ``priv0``, ``probe1``, ``nat3``."""
    return ifname(kind, index)


HOST_UPLINK = "vpc0"     # inside priv/probe/nat/ngw namespaces: the one interface, facing the VPC router
AWS_UPLINK = "inet0"     # inside the aws namespace
INET_BRIDGE = "br-inet"
AWS_PORT = "aws"         # inet-side end of the aws namespace's veth

# The internet gateway (namespace ``igw``) between the VPC router and the internet: it holds every
# Elastic IP (lab address) on its internet side and translates each 1:1 to its private address
# (lab.dataplane.netns.igw). The router reaches it over a link of its own, as the VPC's implicit
# router reaches the internet gateway: a public subnet's default route.
IGW_ROLE = "igw"
IGW_INTERNET_DEV = "inet0"         # inside igw, on br-inet
IGW_VPC_DEV = "vpc0"               # inside igw, facing the VPC router
IGW_PORT = "igw"                   # the inet-side and the router-side ends of those links
IGW_INTERNET_ADDRESS = "203.0.113.3"
IGW_LINK_PREFIX = 30
ROUTER_IGW_ADDRESS, IGW_VPC_ADDRESS = "169.254.255.1", "169.254.255.2"   # link-local: never an EC2 address

# Bridge MACs are pinned. A Linux bridge with no address of its own takes the lowest MAC of its
# ports, so adding or deleting a NAT's port would change the gateway's MAC (a subnet's .1, the
# internet's 203.0.113.1) under every other NAT's ARP cache: their traffic would go to the old MAC and be dropped until
# the entry expired (seconds). With a fixed address, a NAT replacement in one zone leaves every
# other zone's path untouched.
_MAC_PREFIX = "02:68:6e"          # locally administered, "hn"
_BRIDGE_KINDS = ("inet", "pub", "prv", "prb")
INET_BRIDGE_MAC = f"{_MAC_PREFIX}:00:00:01"


def bridge_mac(kind: str, zone_index: int) -> str:
    """The fixed MAC of a router bridge (``pub``/``prv``/``prb`` of a zone); unique in the lab."""
    if kind not in _BRIDGE_KINDS[1:]:
        raise InputError(f"kind={kind!r} must be one of {', '.join(_BRIDGE_KINDS[1:])}")
    if not 0 <= zone_index <= 0xFFFF:
        raise InputError(f"zone_index={zone_index} must be 0-65535")
    return f"{_MAC_PREFIX}:{_BRIDGE_KINDS.index(kind):02x}:{zone_index >> 8:02x}:{zone_index & 0xFF:02x}"


# --- addresses ----------------------------------------------------------------------------
def gateway(cidr: str) -> str:
    """The VPC router's address in a subnet (AWS: network + 1)."""
    return str(ipaddress.ip_network(cidr).network_address + 1)


def host_address(cidr: str) -> str:
    """The lab host in a private/probe subnet (network + 4: AWS reserves .0-.3)."""
    return str(ipaddress.ip_network(cidr).network_address + 4)


def prefixlen(cidr: str) -> int:
    return ipaddress.ip_network(cidr).prefixlen


# --- routing ------------------------------------------------------------------------------
def table_id(zone_index: int, kind: str) -> int:
    """Router policy-routing table of a zone's private (``prv``) or probe (``prb``) subnet."""
    if kind not in ("prv", "prb"):
        raise InputError(f"kind={kind!r} must be 'prv' or 'prb'")
    return ROUTER_TABLE_BASE + 2 * zone_index + (0 if kind == "prv" else 1)


@dataclass(frozen=True)
class TableRoute:
    """The default route of one router table: via a NAT's (or a NAT gateway's) private IP, or a blackhole."""

    subnet_cidr: str
    table: int
    via: str | None           # None -> blackhole (no target, or the target is not a known NAT)
    nat_instance_id: str | None = None
    nat_gateway_id: str | None = None


def router_tables(spec: DataPlaneSpec) -> list[TableRoute]:
    """One ``TableRoute`` per private and probe subnet, following ``spec.routes``."""
    out = []
    for i, z in enumerate(spec.zones):
        for kind, cidr in (("prv", z.private_cidr), ("prb", z.probe_cidr)):
            key = str(ipaddress.ip_network(cidr))
            target = spec.routes.get(key, spec.routes.get(cidr))
            nat, gateway = spec.nat_by_eni(target), spec.nat_gateway(target)
            if nat is None and gateway is not None and gateway.available:
                out.append(TableRoute(key, table_id(i, kind), gateway.private_ip, nat_gateway_id=gateway.gateway_id))
                continue
            out.append(TableRoute(key, table_id(i, kind), nat.private_ip if nat else None,
                                  nat.instance_id if nat else None))
    return out


# --- NAT life cycle -------------------------------------------------------------------------
@dataclass(frozen=True)
class NatRuntime:
    """What the data plane has built for one NAT instance (its one interface holds only its private IP;
    its Elastic IP lives in the internet gateway)."""

    instance_id: str
    index: int                 # its namespace is nat-<index>
    private_ip: str
    public_cidr: str
    links_up: bool


@dataclass(frozen=True)
class NatAction:
    """One step of a sync: ``create`` | ``delete`` | ``link_up`` | ``link_down``."""

    kind: str
    instance_id: str
    index: int


def plan_nat_actions(spec: DataPlaneSpec, built: Mapping[str, NatRuntime]) -> list[NatAction]:
    """What to do so the built NATs follow the spec, in a safe order: deletions and links down first,
    then creations and links up.

    A NAT the spec no longer lists, or lists as terminated, loses its namespace; a NAT id never
    seen before gets a fresh namespace (a new index, never reused); a NAT that is not ``running``
    has its link down. An Elastic IP that moved changes nothing here: the internet gateway's
    translation follows it (``DataPlaneSpec.eip_translations``).
    """
    actions: list[NatAction] = []
    next_index = max((r.index for r in built.values()), default=-1) + 1
    for nat in spec.nats:
        rt = built.get(nat.instance_id)
        if nat.state == TERMINATED:
            continue
        if rt is None:
            actions.append(NatAction("create", nat.instance_id, next_index))
            if nat.running:
                actions.append(NatAction("link_up", nat.instance_id, next_index))
            next_index += 1
            continue
        if nat.running and not rt.links_up:
            actions.append(NatAction("link_up", nat.instance_id, rt.index))
        elif not nat.running and rt.links_up:
            actions.append(NatAction("link_down", nat.instance_id, rt.index))
    live = {n.instance_id for n in spec.nats if n.state != TERMINATED}
    for instance_id, rt in sorted(built.items(), key=lambda kv: kv[1].index):
        if instance_id not in live:
            actions.append(NatAction("delete", instance_id, rt.index))
    return sorted(actions, key=lambda a: (ACTION_ORDER.index(a.kind), a.index))


ACTION_ORDER = ("delete", "link_down", "create", "link_up")
