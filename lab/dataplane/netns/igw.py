"""The lab's internet gateway: each Elastic IP translated 1:1 to the private address it is associated with (pure).

AWS: "The internet gateway logically provides the one-to-one NAT on behalf of your instance, so that when
traffic leaves your VPC subnet and goes to the internet, the reply address field is set to the public IPv4
address or Elastic IP address of your instance, and not its private IP address. Conversely, traffic that's
destined for the public IPv4 address or Elastic IP address of your instance has its destination address
translated into the instance's private IPv4 address" (Amazon VPC User Guide, Internet gateways,
"Configuration for internet access", https://docs.aws.amazon.com/vpc/latest/userguide/vpc-igw-internet-access.html).
A public NAT gateway goes the same way: "the internet gateway then maps the private IPv4 address of the
public NAT Gateway to the Elastic IP address associated with the NAT Gateway" (Amazon VPC User Guide, NAT
gateways, https://docs.aws.amazon.com/vpc/latest/userguide/vpc-nat-gateway.html).

The translation is stateless, as a static 1:1 NAT is: the destination of what comes from the internet is
rewritten before routing, the source of what leaves for it after; nothing is tracked, so re-associating an
Elastic IP moves it at once. A private address with no Elastic IP has no way out (its packets are counted
and dropped), and the lab's internet sees only Elastic IPs. ``ruleset`` is one nftables transaction.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from chalicelib.errors import InputError

TABLE = "lab_igw"
UNTRANSLATED = "untranslated"     # counter: packets dropped for having no Elastic IP on either side
SYSCTLS = (("net.ipv4.ip_forward", 1), ("net.ipv4.conf.all.rp_filter", 0), ("net.ipv4.conf.default.rp_filter", 0),
           ("net.ipv4.conf.all.send_redirects", 0), ("net.ipv4.conf.default.send_redirects", 0))


def _checked(translations: Mapping[str, str]) -> list[tuple[str, str]]:
    problems, pairs, seen = [], [], {}
    for public, private in sorted(translations.items()):
        try:
            ipaddress.IPv4Address(public), ipaddress.IPv4Address(private)
        except ValueError:
            problems.append(f"{public!r} -> {private!r}: not two IPv4 addresses")
            continue
        if private in seen:
            problems.append(f"{private} has two Elastic IPs ({seen[private]}, {public}); AWS gives a private address one")
        seen[private] = public
        pairs.append((public, private))
    if problems:
        raise InputError(problems, title="invalid Elastic IP translations")
    return pairs


def _elements(items: list[str]) -> str:
    return f"        elements = {{ {', '.join(items)} }}\n" if items else ""


def ruleset(translations: Mapping[str, str], internet_dev: str, vpc_dev: str) -> str:
    """The gateway's table for ``translations`` (Elastic IP -> private address); loading it twice changes nothing."""
    pairs = _checked(translations)
    return (f"table ip {TABLE}\ndelete table ip {TABLE}\n"
            f"table ip {TABLE} {{\n"
            "    map to_private {\n        type ipv4_addr : ipv4_addr\n"
            + _elements([f"{pub} : {prv}" for pub, prv in pairs]) + "    }\n"
            "    map to_public {\n        type ipv4_addr : ipv4_addr\n"
            + _elements([f"{prv} : {pub}" for pub, prv in pairs]) + "    }\n"
            "    set translated {\n        type ipv4_addr\n"
            + _elements([prv for _, prv in pairs]) + "    }\n"
            f"    counter {UNTRANSLATED} {{ }}\n"
            "    chain prerouting {\n"
            "        type filter hook prerouting priority raw; policy accept;\n"
            "        notrack\n"
            f'        iifname "{internet_dev}" ip daddr set ip daddr map @to_private\n'
            "    }\n"
            "    chain forward {\n"
            "        type filter hook forward priority filter; policy drop;\n"
            f'        iifname "{internet_dev}" oifname "{vpc_dev}" ip daddr @translated accept\n'
            f'        iifname "{vpc_dev}" oifname "{internet_dev}" ip saddr @translated accept\n'
            f'        counter name "{UNTRANSLATED}" drop\n'
            "    }\n"
            "    chain postrouting {\n"
            "        type filter hook postrouting priority srcnat; policy accept;\n"
            f'        oifname "{internet_dev}" ip saddr set ip saddr map @to_public\n'
            "    }\n"
            "}\n")


def untranslated_packets(nft_json: dict) -> int:
    """The packet count of the ``untranslated`` counter in ``nft -j list counter ip lab_igw untranslated``."""
    for item in nft_json.get("nftables", []):
        counter = item.get("counter")
        if counter and counter.get("name") == UNTRANSLATED:
            return int(counter.get("packets", 0))
    raise ValueError(f"no counter {UNTRANSLATED!r} in the nft output")
