"""A managed NAT gateway in the lab (an adopted VPC's): what its namespace is configured with (pure).

AWS's NAT gateway translates the source of its subnets' traffic to its Elastic IP and forwards it; the
lab's stand-in does the same with one nftables masquerade rule on its public side, IP forwarding on and
reverse-path filtering off (the router hands it the private subnets' traffic on the public subnet). It
runs none of hanat's NAT script: it is the user's gateway, not a hanat NAT.
"""
from __future__ import annotations

import ipaddress

from chalicelib.errors import InputError

TABLE = "lab_nat_gateway"
SYSCTLS = (("net.ipv4.ip_forward", 1), ("net.ipv4.conf.all.rp_filter", 0), ("net.ipv4.conf.default.rp_filter", 0))


def ruleset(vpc_cidr: str, public_dev: str) -> str:
    """Masquerade everything from ``vpc_cidr`` leaving by ``public_dev`` (applying it twice changes nothing)."""
    try:
        ipaddress.ip_network(vpc_cidr)
    except ValueError as err:
        raise InputError(f"vpc_cidr={vpc_cidr!r} is not a CIDR") from err
    return (f"table ip {TABLE}\ndelete table ip {TABLE}\n"
            f"table ip {TABLE} {{\n"
            "    chain postrouting {\n"
            "        type nat hook postrouting priority srcnat; policy accept;\n"
            f"        oifname \"{public_dev}\" ip saddr {vpc_cidr} masquerade\n"
            "    }\n"
            "}\n")
