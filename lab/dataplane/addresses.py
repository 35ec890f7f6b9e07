"""The lab public addresses standing for Elastic IPs (NAT instances' and NAT gateways'), and a NAT
gateway's private address (pure; both data planes read them from the spec).
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from chalicelib.errors import InputError

LAB_ADDRESS_FIRST = 101             # EIP n -> 203.0.113.(101 + n)
LAB_ADDRESS_LAST = 250
NAT_GATEWAY_ADDRESS_FIRST = 51      # an adopted VPC's NAT gateway n -> 203.0.113.(51 + n)
NAT_GATEWAY_ADDRESS_LAST = 100


def lab_address(n: int) -> str:
    """The lab public address standing for the n-th Elastic IP (0-based)."""
    if not 0 <= n <= LAB_ADDRESS_LAST - LAB_ADDRESS_FIRST:
        raise InputError(f"EIP index {n} is out of the lab range (0-{LAB_ADDRESS_LAST - LAB_ADDRESS_FIRST})")
    return str(ipaddress.ip_address("203.0.113.0") + LAB_ADDRESS_FIRST + n)


def lab_addresses(allocation_ids: Iterable[str]) -> dict[str, str]:
    """EIP allocation id -> stable lab address, in first-seen order (duplicates keep the first)."""
    out: dict[str, str] = {}
    for alloc in allocation_ids:
        if alloc not in out:
            out[alloc] = lab_address(len(out))
    return out


def nat_gateway_lab_addresses(gateway_ids: Iterable[str]) -> dict[str, str]:
    """NAT gateway id -> stable lab address standing for its Elastic IP, in first-seen order (a range of
    its own, so an adopted VPC's gateways never take a NAT instance's address)."""
    out: dict[str, str] = {}
    for gateway_id in gateway_ids:
        if gateway_id in out:
            continue
        n = len(out)
        if n > NAT_GATEWAY_ADDRESS_LAST - NAT_GATEWAY_ADDRESS_FIRST:
            raise InputError(f"NAT gateway {gateway_id}: more than "
                             f"{NAT_GATEWAY_ADDRESS_LAST - NAT_GATEWAY_ADDRESS_FIRST + 1} NAT gateways in the lab")
        out[gateway_id] = str(ipaddress.ip_address("203.0.113.0") + NAT_GATEWAY_ADDRESS_FIRST + n)
    return out


def nat_gateway_private_ip(reported: str | None, public_cidr: str) -> str:
    """The NAT gateway's private address in its subnet: the one EC2 reports, or (moto reports one outside
    the subnet; AWS never does) the subnet's last usable address, which moto, allocating upwards from .4,
    gives an instance last."""
    net = ipaddress.ip_network(public_cidr)
    try:
        if reported and ipaddress.ip_address(reported) in net:
            return reported
    except ValueError:
        pass
    return str(net.broadcast_address - 1)
