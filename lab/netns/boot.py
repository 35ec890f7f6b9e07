"""A NAT that boots like a small instance with no way out: the ``nat-boot-offline`` drill's rules (pure).

Once armed (``BootGate.arm(delay_s, known)``), a NAT instance the lab has not seen before
- gets its namespace only ``delay_s`` after it was first seen running (EC2 says ``running`` long before
  the OS has booted and user data has run: a t4g.nano takes tens of seconds);
- boots with no public address (its Elastic IP is associated after ``running``; the data plane's next
  sync gives it the address) and with no package repository anywhere: every packet the NAT itself sends
  outside the VPC while its setup runs is counted and dropped (``offline_ruleset``);
- runs the NAT script as it ships (``HANAT_NAT_INSTALL`` at its default: it may try to install, and
  must not need to).
NATs known when the gate is armed (the stack's own) are not affected. The clock is passed in; only
``sent_outside`` runs a command.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

OFFLINE_TABLE = "hanat_lab_offline"
OFFLINE_COUNTER = "outside"
# What the lab sets for the NAT script of an offline boot: persist stays off (the lab shares the host's
# /etc), everything else is the shipped default.
OFFLINE_SCRIPT_ENV = {"HANAT_NAT_PERSIST": "0"}


@dataclass
class Boot:
    """One NAT's boot, as the drill reports it (epoch seconds; setup figures once it ran)."""

    instance_id: str
    seen_at: float
    created_at: float | None = None
    setup_s: float | None = None
    setup_rc: int | None = None
    setup_log: str = ""
    sent_outside: int | None = None    # packets the NAT itself sent outside the VPC during its setup

    def ran(self, rc: int, log: str, seconds: float, sent_outside: int) -> None:
        self.setup_rc, self.setup_log = rc, (log or "")[-2000:]
        self.setup_s, self.sent_outside = round(seconds, 3), sent_outside

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class BootGate:
    """Which NATs boot offline and when their namespaces may appear."""

    def __init__(self) -> None:
        self.delay_s: float | None = None
        self._known: frozenset[str] = frozenset()
        self.boots: dict[str, Boot] = {}

    def arm(self, delay_s: float, known: Iterable[str]) -> None:
        if delay_s < 0:
            raise ValueError(f"boot delay must be >= 0 seconds, got {delay_s:g}")
        self.delay_s = float(delay_s)
        self._known = frozenset(known)

    def disarm(self) -> None:
        """NATs launched from now on boot at once again."""
        self.delay_s = None
        self._known = frozenset()

    def applies_to(self, instance_id: str) -> bool:
        return self.delay_s is not None and instance_id not in self._known

    def hold(self, instance_id: str, now: float) -> bool:
        """True while ``instance_id`` is still booting (its namespace must not appear yet)."""
        if not self.applies_to(instance_id):
            return False
        boot = self.boots.setdefault(instance_id, Boot(instance_id, seen_at=now))
        return now - boot.seen_at < self.delay_s


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
