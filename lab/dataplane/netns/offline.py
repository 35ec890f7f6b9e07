"""The nftables rules of an offline boot (``nat-boot-offline``): what a booting NAT sends outside the VPC
is counted and dropped. Text builders and a counter reader; only ``sent_outside`` runs a command.
"""
from __future__ import annotations

import json

OFFLINE_TABLE = "hanat_lab_offline"
OFFLINE_COUNTER = "outside"
# What the lab sets for the NAT script of an offline boot: persist stays off (the lab shares the host's
# /etc), everything else is the shipped default.
OFFLINE_SCRIPT_ENV = {"HANAT_NAT_PERSIST": "0"}



def offline_ruleset(on: bool, vpc_cidr: str) -> str:
    """In a booting NAT's namespace: count and drop what the NAT itself sends outside the VPC (loopback,
    where its metadata service lives, and the VPC stay open; so do IPv6 link-local and link-scope
    multicast destinations — the kernel's own neighbour discovery and MLD when a link comes up, which
    no router forwards)."""
    reset = f"table inet {OFFLINE_TABLE}\ndelete table inet {OFFLINE_TABLE}\n"
    if not on:
        return reset
    return reset + (
        f"table inet {OFFLINE_TABLE} {{\n"
        f"    counter {OFFLINE_COUNTER} {{ }}\n"
        "    chain output {\n"
        "        type filter hook output priority filter - 10; policy accept;\n"
        '        oifname "lo" accept\n'
        f"        ip daddr {vpc_cidr} accept\n"
        "        ip6 daddr { fe80::/10, ff02::/16 } accept\n"
        f'        counter name "{OFFLINE_COUNTER}" drop\n'
        "    }\n"
        "}\n")


def counted_packets(nft_json: dict) -> int:
    """The packet count of the offline counter in ``nft -j list counter ...`` output."""
    for item in nft_json.get("nftables", []):
        counter = item.get("counter")
        if counter and counter.get("name") == OFFLINE_COUNTER:
            return int(counter.get("packets", 0))
    raise ValueError(f"no counter {OFFLINE_COUNTER!r} in the nft output")


def sent_outside(ns: str) -> int:
    """Packets the NAT in ``ns`` has sent outside the VPC since its offline ruleset was loaded."""
    from .shell import ns_exec
    listed = ns_exec(ns, ["nft", "-j", "list", "counter", "inet", OFFLINE_TABLE, OFFLINE_COUNTER], timeout=10)
    return counted_packets(json.loads(listed.stdout or "{}"))
