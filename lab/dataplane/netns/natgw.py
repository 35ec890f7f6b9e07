"""A managed NAT gateway in the lab (an adopted VPC's): what its namespace is configured with (pure).

AWS's public NAT gateway maps the source of its subnets' traffic to its own private address, and "the
internet gateway then maps the private IPv4 address of the public NAT Gateway to the Elastic IP address
associated with the NAT Gateway" (Amazon VPC User Guide, NAT gateways,
https://docs.aws.amazon.com/vpc/latest/userguide/vpc-nat-gateway.html). The lab's stand-in has one
interface in its public subnet (lab.dataplane.netns.nats) and one nftables masquerade rule on it, IP
forwarding on, reverse-path filtering and ICMP redirects off (traffic arrives and leaves on that one
interface); the lab's internet gateway translates its private address to its Elastic IP's lab address.
It runs none of hanat's NAT script: it is the user's gateway, not a hanat NAT.
"""
from __future__ import annotations

import ipaddress

from chalicelib.errors import InputError

TABLE = "lab_nat_gateway"
SYSCTLS = (("net.ipv4.ip_forward", 1), ("net.ipv4.conf.all.rp_filter", 0), ("net.ipv4.conf.default.rp_filter", 0),
           ("net.ipv4.conf.all.send_redirects", 0), ("net.ipv4.conf.default.send_redirects", 0))


def ruleset(vpc_cidr: str, dev: str) -> str:
    """Masquerade what comes from ``vpc_cidr`` and leaves ``dev`` for outside it (applying it twice changes nothing)."""
    try:
        ipaddress.ip_network(vpc_cidr)
    except ValueError as err:
        raise InputError(f"vpc_cidr={vpc_cidr!r} is not a CIDR") from err
    return (f"table ip {TABLE}\ndelete table ip {TABLE}\n"
            f"table ip {TABLE} {{\n"
            "    chain postrouting {\n"
            "        type nat hook postrouting priority srcnat; policy accept;\n"
            f"        oifname \"{dev}\" ip saddr {vpc_cidr} ip daddr != {vpc_cidr} masquerade\n"
            "    }\n"
            "}\n")
