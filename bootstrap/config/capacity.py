"""Capacity settings: ``nat.addresses`` (Elastic IPs per NAT, checked against the NAT type's addresses per
interface) and the ``[traffic]`` section (expected GB/month and peak Mbit/s, for ``plan``/``cost`` warnings).

Each extra Elastic IP needs its own secondary private IPv4 address on the NAT's one interface: "You can
associate an Elastic IP address with each private IPv4 address" (EC2 User Guide, "Multiple IP addresses"),
and an interface holds at most ``Ipv4AddressesPerInterface`` addresses, primary included (EC2 User Guide,
"Maximum IP addresses per network interface"; a t4g.nano: 2). The table is chalicelib/instance_types.py.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

from chalicelib import instance_types

from .schema import HanatConfig, TrafficConfig
from .table import Problems, Table, describe

MAX_NAT_ADDRESSES = 8
TRAFFIC_KEYS = ("gb_per_month", "peak_mbps")


def addresses_problem(addresses: int, instance_type: str | None) -> str | None:
    """Why ``nat.addresses`` cannot be ``addresses`` on ``instance_type`` (None: it can)."""
    if addresses > MAX_NAT_ADDRESSES:
        return f"must be 1 to {MAX_NAT_ADDRESSES} Elastic IPs per NAT, got {addresses}"
    limit = instance_types.max_nat_addresses(instance_type) if instance_type else None
    if limit is not None and addresses > limit:
        bigger = instance_types.smallest_fitting(0, instance_type, addresses=addresses)
        return (f"{addresses} needs {addresses} private IPv4 addresses on the NAT's one network interface, but "
                f"nat.instance_type {instance_type!r} holds at most {limit} per interface "
                f"({instance_types.SOURCE}): use nat.addresses <= {limit}"
                + (f", or a type such as {bigger!r}" if bigger else ""))
    return None


def _amount(t: Table, key: str) -> float | None:
    present, value = key in t.data, t.data.get(key, 0.0)
    if not present:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        t.problems.add(t.key(key), f"must be a number >= 0, got {describe(value)}")
        return None
    return float(value)


def traffic_config(p: Problems, raw: Mapping) -> TrafficConfig:
    t = Table(p, "traffic", raw.get("traffic", {}), set(TRAFFIC_KEYS))
    gb, peak = _amount(t, "gb_per_month"), _amount(t, "peak_mbps")
    return TrafficConfig(gb_per_month=gb or 0.0, peak_mbps=peak or 0.0)


def capacity_notes(cfg: HanatConfig, *, gb_per_month: float | None = None) -> list[str]:
    """``plan``'s and ``cost``'s warnings: the expected traffic against one NAT's baseline bandwidth.

    ``traffic.peak_mbps`` is the busiest NAT's peak; ``gb_per_month`` (``traffic.gb_per_month`` unless
    given, e.g. ``hanat cost --gb-per-month``) is the whole stack's, each NAT carrying its zone's share."""
    gb = cfg.traffic.gb_per_month if gb_per_month is None else gb_per_month
    per_nat = gb / max(1, len(cfg.zones))
    return instance_types.capacity_warnings(cfg.nat.instance_type, peak_mbps=cfg.traffic.peak_mbps,
                                            gb_per_month=per_nat, addresses=cfg.nat.addresses)
