"""CIDR derivation: the documented layout, disjoint and inside the VPC for 2..6 zones, stable per zone."""
from __future__ import annotations

import ipaddress
import itertools

import pytest

from bootstrap.config.derive import MAX_ZONES, NoRoomToDerive, derive_subnet, derive_zones
from bootstrap.config.validate import build_config
from chalicelib.errors import ConfigError

LAYOUT = [
    # (vpc, zone index, public, private, probe) as documented in derive.py
    ("10.0.0.0/16", 0, "10.0.0.0/24", "10.0.16.0/20", "10.0.8.0/28"),
    ("10.0.0.0/16", 1, "10.0.1.0/24", "10.0.32.0/20", "10.0.9.0/28"),
    ("10.0.0.0/16", 5, "10.0.5.0/24", "10.0.96.0/20", "10.0.13.0/28"),
    ("172.16.0.0/20", 0, "172.16.0.0/28", "172.16.1.0/24", "172.16.0.128/28"),
    ("10.0.0.0/24", 0, "10.0.0.0/28", "10.0.0.16/28", "10.0.0.112/28"),
    ("10.0.0.0/24", 1, "10.0.0.128/28", "10.0.0.32/28", "10.0.0.144/28"),
    ("10.0.0.0/24", 4, "10.0.0.224/28", "10.0.0.80/28", "10.0.0.240/28"),
]


@pytest.mark.parametrize("vpc,index,public,private,probe", LAYOUT)
def test_layout_matches_the_documented_scheme(vpc, index, public, private, probe):
    network = ipaddress.ip_network(vpc)
    got = tuple(str(derive_subnet(network, index, kind)) for kind in ("public", "private", "probe"))
    assert got == (public, private, probe)


FITTING = [(f"10.0.0.0/{p}", n) for p in range(16, 25) for n in range(2, MAX_ZONES + 1)
           if not (p == 24 and n == 6)]


@pytest.mark.parametrize("vpc,zone_count", FITTING)
def test_derived_subnets_are_disjoint_inside_the_vpc_and_stable(vpc, zone_count):
    network = ipaddress.ip_network(vpc)
    layout = derive_zones(vpc, zone_count)
    subnets = [ipaddress.ip_network(c) for z in layout for c in (z.public_cidr, z.private_cidr, z.probe_cidr)]
    assert len(subnets) == 3 * zone_count
    assert all(s.subnet_of(network) and s.prefixlen <= 28 for s in subnets)
    assert all(ipaddress.ip_network(z.probe_cidr).prefixlen == 28 for z in layout)
    for a, b in itertools.combinations(subnets, 2):
        assert not a.overlaps(b), (a, b)
    # adding zones never moves existing ones
    assert derive_zones(vpc, zone_count)[:2] == derive_zones(vpc, 2)


def test_private_subnets_are_the_largest():
    for z in derive_zones("10.0.0.0/16", 6):
        private = ipaddress.ip_network(z.private_cidr).num_addresses
        assert private > ipaddress.ip_network(z.public_cidr).num_addresses
        assert private > ipaddress.ip_network(z.probe_cidr).num_addresses


def test_slash_24_has_no_room_for_a_sixth_zone():
    with pytest.raises(NoRoomToDerive):
        derive_zones("10.0.0.0/24", 6)


def test_too_small_vpc_error_names_the_keys_to_set():
    raw = {"stack": {"name": "s", "region": "ap-northeast-1", "vpc_cidr": "10.0.0.0/24"},
           "zones": [{"az": f"ap-northeast-1{c}"} for c in "abcdef"]}
    with pytest.raises(ConfigError) as info:
        build_config(raw, source="t.toml")
    assert info.value.problems == [
        ("stack.vpc_cidr 10.0.0.0/24 is too small to derive zones[5].public_cidr, zones[5].probe_cidr: "
        "set them explicitly or use a larger vpc_cidr")]


def test_validated_config_carries_derived_cidrs_and_keeps_explicit_ones():
    raw = {"stack": {"name": "s", "region": "ap-northeast-1", "vpc_cidr": "10.20.0.0/16"},
           "zones": [{"az": "ap-northeast-1a", "private_cidr": "10.20.128.0/17"}, {"az": "ap-northeast-1c"}]}
    cfg = build_config(raw, source="t.toml")
    assert [(z.public_cidr, z.private_cidr, z.probe_cidr) for z in cfg.zones] == [
        ("10.20.0.0/24", "10.20.128.0/17", "10.20.8.0/28"),
        ("10.20.1.0/24", "10.20.32.0/20", "10.20.9.0/28"),
    ]
