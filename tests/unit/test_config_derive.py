"""CIDR derivation: the documented layout, disjoint and inside the VPC for 2..6 zones, stable per zone;
around explicit subnets; the free-block allocator."""
from __future__ import annotations

import ipaddress
import itertools

import pytest

from bootstrap.config.derive import (
    MAX_ZONES,
    SUBNET_KINDS,
    NoRoomToDerive,
    derive_missing,
    derive_subnet,
    derive_zones,
    free_block,
)
from bootstrap.config.validate import build_config
from chalicelib.errors import ConfigError

LAYOUT = {
    # id: (vpc, zone index, public, private, probe) as documented in derive.py
    "slash16-zone0": ("10.0.0.0/16", 0, "10.0.0.0/24", "10.0.16.0/20", "10.0.8.0/28"),
    "slash16-zone1": ("10.0.0.0/16", 1, "10.0.1.0/24", "10.0.32.0/20", "10.0.9.0/28"),
    "slash16-zone5": ("10.0.0.0/16", 5, "10.0.5.0/24", "10.0.96.0/20", "10.0.13.0/28"),
    "slash20-zone0": ("172.16.0.0/20", 0, "172.16.0.0/28", "172.16.1.0/24", "172.16.0.128/28"),
    "slash24-zone0": ("10.0.0.0/24", 0, "10.0.0.0/28", "10.0.0.16/28", "10.0.0.112/28"),
    "slash24-zone1": ("10.0.0.0/24", 1, "10.0.0.128/28", "10.0.0.32/28", "10.0.0.144/28"),
    "slash24-zone4": ("10.0.0.0/24", 4, "10.0.0.224/28", "10.0.0.80/28", "10.0.0.240/28"),
}


@pytest.mark.parametrize("case", LAYOUT)
def test_layout_matches_the_documented_scheme(case):
    vpc, index, public, private, probe = LAYOUT[case]
    network = ipaddress.ip_network(vpc)
    got = tuple(str(derive_subnet(network, index, kind)) for kind in ("public", "private", "probe"))
    assert got == (public, private, probe)


FITTING = {f"slash{p}-{n}-zones": (f"10.0.0.0/{p}", n) for p in range(16, 25) for n in range(2, MAX_ZONES + 1)
           if not (p == 24 and n == 6)}


@pytest.mark.parametrize("case", FITTING)
def test_derived_subnets_are_disjoint_inside_the_vpc_and_stable(case):
    vpc, zone_count = FITTING[case]
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
        ("stack.vpc_cidr 10.0.0.0/24 has no free room left for zones[5].public_cidr (/28), zones[5].probe_cidr (/28): "
         "use a larger vpc_cidr or smaller explicit subnets")]


def test_validated_config_carries_derived_cidrs_and_keeps_explicit_ones():
    raw = {"stack": {"name": "s", "region": "ap-northeast-1", "vpc_cidr": "10.20.0.0/16"},
           "zones": [{"az": "ap-northeast-1a", "private_cidr": "10.20.128.0/17"}, {"az": "ap-northeast-1c"}]}
    cfg = build_config(raw, source="t.toml")
    assert [(z.public_cidr, z.private_cidr, z.probe_cidr) for z in cfg.zones] == [
        ("10.20.0.0/24", "10.20.128.0/17", "10.20.8.0/28"),
        ("10.20.1.0/24", "10.20.32.0/20", "10.20.9.0/28"),
    ]


def nets(*cidrs: str) -> list[ipaddress.IPv4Network]:
    return [ipaddress.ip_network(c) for c in cidrs]


FREE_BLOCK = {
    # id: (VPC blocks, taken, prefix length, expected block or None)
    "empty-vpc-gives-its-start": (["10.0.0.0/16"], [], 24, "10.0.0.0/24"),
    "skips-a-taken-block": (["10.0.0.0/16"], ["10.0.0.0/24"], 24, "10.0.1.0/24"),
    "lowest-hole-that-fits": (["10.0.0.0/24"], ["10.0.0.0/28", "10.0.0.32/27"], 28, "10.0.0.16/28"),
    "hole-too-small-for-the-size": (["10.0.0.0/24"], ["10.0.0.0/28", "10.0.0.32/27"], 27, "10.0.0.64/27"),
    "aligned-not-first-address": (["10.0.0.0/24"], ["10.0.0.0/28"], 25, "10.0.0.128/25"),
    "taken-covers-a-whole-half": (["10.0.0.0/24"], ["10.0.0.0/25"], 26, "10.0.0.128/26"),
    "full-vpc": (["10.0.0.0/24"], ["10.0.0.0/25", "10.0.0.128/25"], 28, None),
    "taken-bigger-than-the-vpc": (["10.0.0.0/24"], ["10.0.0.0/16"], 28, None),
    "block-bigger-than-the-vpc": (["10.0.0.0/24"], [], 23, None),
    "secondary-block-when-primary-is-full": (["10.0.0.0/24", "100.64.0.0/22"], ["10.0.0.0/24"], 24,
                                             "100.64.0.0/24"),
    "primary-first-even-if-secondary-is-lower": (["10.1.0.0/24", "10.0.0.0/24"], [], 28, "10.1.0.0/28"),
    "taken-outside-the-vpc-is-irrelevant": (["10.0.0.0/24"], ["192.168.0.0/16"], 24, "10.0.0.0/24"),
    "overlapping-taken": (["10.0.0.0/24"], ["10.0.0.0/26", "10.0.0.0/27", "10.0.0.64/26"], 26, "10.0.0.128/26"),
}


@pytest.mark.parametrize("case", FREE_BLOCK)
def test_free_block(case):
    blocks, taken, prefix, expected = FREE_BLOCK[case]
    got = free_block(nets(*blocks), nets(*taken), prefix)
    assert got == (None if expected is None else ipaddress.ip_network(expected))
    if got is not None:
        assert not any(got.overlaps(t) for t in nets(*taken))


def test_free_block_finds_every_block_until_the_vpc_is_full():
    vpc, taken = nets("10.0.0.0/24"), []
    while (block := free_block(vpc, taken, 28)) is not None:
        taken.append(block)
    assert sorted(taken) == list(vpc[0].subnets(new_prefix=28))


AROUND_EXPLICIT = {
    # id: (vpc, zone count, explicit {(zone, kind): cidr}, expected derived {(zone, kind): cidr} (others: layout))
    "the-reported-case": ("172.31.0.0/16", 3, {(1, "public"): "172.31.10.0/24"},
                          {(2, "probe"): "172.31.6.0/28"}),
    "explicit-on-zone0-probe": ("10.0.0.0/16", 2, {(1, "public"): "10.0.8.0/24"},
                                {(0, "probe"): "10.0.6.0/28"}),
    "explicit-on-a-private-slot": ("10.0.0.0/16", 3, {(0, "public"): "10.0.40.0/24"},
                                   {(1, "private"): "10.0.112.0/20"}),
    "explicit-on-a-future-zone-slot-moves-nothing": ("10.0.0.0/16", 2, {(0, "private"): "10.0.48.0/20"}, {}),
    "small-vpc-sixth-zone-has-no-layout": ("10.0.0.0/23", 6, {}, {}),
    "slash24-explicit-leaves-room": ("10.0.0.0/24", 2, {(0, "public"): "10.0.0.16/28"},
                                     {(0, "private"): "10.0.0.0/28"}),   # zone 0's unused public slot
}


@pytest.mark.parametrize("case", AROUND_EXPLICIT)
def test_derivation_goes_around_explicit_subnets_and_keeps_the_layout_elsewhere(case):
    vpc_text, count, explicit_text, moved = AROUND_EXPLICIT[case]
    vpc = ipaddress.ip_network(vpc_text)
    explicit = {key: ipaddress.ip_network(c) for key, c in explicit_text.items()}
    derivation = derive_missing(vpc, count, explicit)
    assert derivation.no_room == ()
    wanted = {(i, kind) for i in range(count) for kind in SUBNET_KINDS} - set(explicit)
    assert set(derivation.subnets) == wanted
    for key, net in derivation.subnets.items():
        expected = moved.get(key)
        assert str(net) == (expected or str(derive_subnet(vpc, *key))), key
    everything = [*explicit.values(), *derivation.subnets.values()]
    for a, b in itertools.combinations(everything, 2):
        assert not a.overlaps(b), (a, b)
    assert all(n.subnet_of(vpc) for n in everything)


def test_adding_a_zone_does_not_move_a_subnet_moved_around_an_explicit_one():
    vpc = ipaddress.ip_network("172.31.0.0/16")
    explicit = {(1, "public"): ipaddress.ip_network("172.31.10.0/24")}
    three = derive_missing(vpc, 3, explicit).subnets
    six = derive_missing(vpc, 6, explicit).subnets
    assert {key: net for key, net in six.items() if key[0] < 3} == three


def test_full_vpc_names_what_did_not_fit():
    vpc = ipaddress.ip_network("10.0.0.0/24")
    explicit = {(0, "private"): ipaddress.ip_network("10.0.0.0/25"), (1, "private"): ipaddress.ip_network("10.0.0.128/26")}
    derivation = derive_missing(vpc, 3, explicit)
    # 4 /28s are left for 7 subnets (in a /24 every subnet is a /28): zone order
    assert len(derivation.subnets) == 4
    assert derivation.no_room == ((2, "public"), (2, "private"), (2, "probe"))


def test_the_reported_config_is_accepted_with_zone_2s_probe_moved():
    raw = {"stack": {"name": "s", "region": "ap-northeast-1", "vpc_cidr": "172.31.0.0/16"},
           "zones": [{"az": "ap-northeast-1a"}, {"az": "ap-northeast-1c", "public_cidr": "172.31.10.0/24"},
                     {"az": "ap-northeast-1d"}]}
    cfg = build_config(raw, source="t.toml")
    assert [(z.public_cidr, z.private_cidr, z.probe_cidr) for z in cfg.zones] == [
        ("172.31.0.0/24", "172.31.16.0/20", "172.31.8.0/28"),
        ("172.31.10.0/24", "172.31.32.0/20", "172.31.9.0/28"),
        ("172.31.2.0/24", "172.31.48.0/20", "172.31.6.0/28"),
    ]
