"""The namespaces a plane builds once: the internet, AWS's own network, the internet gateway, the VPC router, hosts.

Each builder takes the plane (``lab.dataplane.netns.namespaces.Namespaces``: its ``ns``, ``add_namespace``
and ``popen``) and runs ``ip``/``nft`` through ``shell``. The internet gateway's translation is reloaded on
every sync by ``load_translations``.

  inet  --br-inet--  igw (inet0: 203.0.113.3 + every Elastic IP)  --169.254.255.0/30--  vpc (router)
  aws   --br-inet                                                  vpc: br-pub<i>, br-prv<i>, br-prb<i>
"""
from __future__ import annotations

import subprocess
from collections.abc import Mapping

from chalicelib.errors import InputError

from . import igw, layout
from .shell import NetnsError, ip, nft, python_argv, sysctl

HTTP_PORT = 80


def add_bridge(plane, role: str, name: str, mac: str) -> None:
    """A bridge with a MAC of its own, so ports coming and going never change it (see layout)."""
    ip(plane.ns(role), "link", "add", name, "address", mac, "type", "bridge")


def veth(plane, role: str, inner: str, peer_role: str, peer: str, master: str | None) -> None:
    """A veth from ``role`` (named ``inner``) to ``peer_role`` (named ``peer``, on ``master``)."""
    ip(plane.ns(role), "link", "add", inner, "type", "veth", "peer", "name", peer, "netns", plane.ns(peer_role))
    if master:
        ip(plane.ns(peer_role), "link", "set", peer, "master", master)
    ip(plane.ns(peer_role), "link", "set", peer, "up")


def build_internet(plane) -> None:
    """``inet`` (its bridge, the targets, the HTTP server) and ``aws`` (AWS's own network, on the internet)."""
    inet = plane.add_namespace("inet")
    sysctl(inet, "net.ipv4.ip_forward", 0)
    add_bridge(plane, "inet", layout.INET_BRIDGE, layout.INET_BRIDGE_MAC)
    ip(inet, "addr", "add", f"{layout.INET_BRIDGE_ADDRESS}/24", "dev", layout.INET_BRIDGE)
    ip(inet, "link", "set", layout.INET_BRIDGE, "up")
    for target in layout.TARGETS:
        ip(inet, "addr", "add", f"{target}/32", "dev", "lo")
    server = plane.popen("inet", python_argv("lab.dataplane.netns.httpserver", "--port", str(HTTP_PORT)),
                         stdout=subprocess.PIPE, text=True)
    if server.stdout.readline().strip() != "ready":
        raise NetnsError(f"the internet's HTTP server did not start (exit {server.poll()})")
    aws = plane.add_namespace("aws")
    veth(plane, "aws", layout.AWS_UPLINK, "inet", layout.AWS_PORT, layout.INET_BRIDGE)
    ip(aws, "addr", "add", f"{layout.AWS_NS_ADDRESS}/24", "dev", layout.AWS_UPLINK)
    ip(aws, "link", "set", layout.AWS_UPLINK, "up")
    ip(aws, "route", "add", "default", "via", layout.INET_BRIDGE_ADDRESS)


def build_gateway(plane, vpc_cidr: str) -> None:
    """``igw``: on the internet's bridge and linked to the VPC router (built before it), which sends the
    public subnets' traffic (the main table's default route) there; translating nothing yet."""
    ns = plane.add_namespace(layout.IGW_ROLE)
    for key, value in igw.SYSCTLS:   # before the links exist, so they take the defaults
        sysctl(ns, key, value)
    veth(plane, layout.IGW_ROLE, layout.IGW_INTERNET_DEV, "inet", layout.IGW_PORT, layout.INET_BRIDGE)
    veth(plane, layout.IGW_ROLE, layout.IGW_VPC_DEV, "vpc", layout.IGW_PORT, None)
    vpc = plane.ns("vpc")
    ip(vpc, "addr", "add", f"{layout.ROUTER_IGW_ADDRESS}/{layout.IGW_LINK_PREFIX}", "dev", layout.IGW_PORT)
    ip(vpc, "route", "add", "default", "via", layout.IGW_VPC_ADDRESS)
    ip(ns, "addr", "add", f"{layout.IGW_INTERNET_ADDRESS}/24", "dev", layout.IGW_INTERNET_DEV)
    ip(ns, "addr", "add", f"{layout.IGW_VPC_ADDRESS}/{layout.IGW_LINK_PREFIX}", "dev", layout.IGW_VPC_DEV)
    for dev in (layout.IGW_INTERNET_DEV, layout.IGW_VPC_DEV):
        ip(ns, "link", "set", dev, "up")
    ip(ns, "route", "add", "default", "via", layout.INET_BRIDGE_ADDRESS)
    ip(ns, "route", "add", vpc_cidr, "via", layout.ROUTER_IGW_ADDRESS)
    load_translations(plane, {}, set())


def load_translations(plane, translations: Mapping[str, str], held: set[str]) -> set[str]:
    """Make the gateway translate exactly ``translations`` (Elastic IP -> private address) and hold exactly
    their Elastic IPs on its internet side (so the internet's ARP finds them); returns the addresses held."""
    ns = plane.ns(layout.IGW_ROLE)
    nft(ns, igw.ruleset(translations, layout.IGW_INTERNET_DEV, layout.IGW_VPC_DEV))
    wanted = set(translations)
    for address in sorted(held - wanted):
        ip(ns, "addr", "del", f"{address}/32", "dev", layout.IGW_INTERNET_DEV, check=False)
    for address in sorted(wanted - held):
        ip(ns, "addr", "add", f"{address}/32", "dev", layout.IGW_INTERNET_DEV)
    return wanted


def build_router(plane, spec) -> None:
    """``vpc``: one bridge per subnet holding its .1, policy routing per private and probe subnet (the
    public subnets use the main table, whose default route ``build_gateway`` adds)."""
    vpc = plane.add_namespace("vpc")
    sysctl(vpc, "net.ipv4.ip_forward", 1)
    for key in ("all", "default"):
        sysctl(vpc, f"net.ipv4.conf.{key}.rp_filter", 0)
    ip(vpc, "rule", "add", "to", spec.vpc_cidr, "lookup", "main", "priority", str(layout.RULE_PRIORITY_VPC_LOCAL))
    for i, z in enumerate(spec.zones):
        for kind, cidr in (("pub", z.public_cidr), ("prv", z.private_cidr), ("prb", z.probe_cidr)):
            br = layout.bridge_name(kind, i)
            add_bridge(plane, "vpc", br, layout.bridge_mac(kind, i))
            ip(vpc, "addr", "add", f"{layout.gateway(cidr)}/{layout.prefixlen(cidr)}", "dev", br)
            ip(vpc, "link", "set", br, "up")
            if kind != "pub":
                table = str(layout.table_id(i, kind))
                ip(vpc, "rule", "add", "from", cidr, "lookup", table,
                   "priority", str(layout.RULE_PRIORITY_BASE + int(table)))
                ip(vpc, "route", "replace", "blackhole", "default", "table", table)


def build_host(plane, role: str, port: str, bridge: str, cidr: str) -> None:
    """A host of a private or probe subnet: one interface on the subnet's bridge, default via the router."""
    ns = plane.add_namespace(role)
    sysctl(ns, "net.ipv4.ip_forward", 0)
    veth(plane, role, layout.HOST_UPLINK, "vpc", port, bridge)
    ip(ns, "addr", "add", f"{layout.host_address(cidr)}/{layout.prefixlen(cidr)}", "dev", layout.HOST_UPLINK)
    ip(ns, "link", "set", layout.HOST_UPLINK, "up")
    ip(ns, "route", "add", "default", "via", layout.gateway(cidr))


def public_zone_index(spec, public_cidr: str, what: str) -> int:
    """The zone whose public subnet is ``public_cidr`` (its bridge is ``br-pub<i>``)."""
    for i, z in enumerate(spec.zones):
        if z.public_cidr == public_cidr:
            return i
    raise InputError(f"{what}: public_cidr={public_cidr} is no zone's public subnet")
