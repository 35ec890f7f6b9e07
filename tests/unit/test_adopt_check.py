"""Adoption checked against the account (bootstrap/adopt/check.py): every rule of issue 11, table-driven,
each problem named by the config key and the AWS id; every problem at once."""
from __future__ import annotations

import copy

import pytest

from bootstrap.adopt.check import check_adoption
from bootstrap.adopt.facts import VpcFacts
from chalicelib.errors import InputError
from chalicelib.topology import AdoptedRouteTable, Topology, ZoneTopology

from .adoptfacts import (
    APP,
    DB,
    IGW,
    NAT,
    PCX,
    PUBLIC,
    RAW,
    RT_APP,
    RT_DB,
    RT_PUBLIC,
    VPC,
    base_facts,
    config,
    subnet,
    table,
    with_default,
)


def raw_with(zone: int, key: str, value) -> dict:
    raw = copy.deepcopy(RAW)
    raw["zones"][zone][key] = value
    return raw


def facts_with(**changes) -> VpcFacts:
    return VpcFacts(**{**base_facts().__dict__, **changes})


def other_vpc_facts() -> VpcFacts:
    f = base_facts()
    subnets = {**f.subnets, "subnet-0000009a": subnet("subnet-0000009a", "10.99.0.0/24", "eu-west-1a",
                                                       vpc="vpc-0999999a")}
    tables = {**f.route_tables, "rtb-0000009a": table("rtb-0000009a", [], vpc="vpc-0999999a")}
    return facts_with(subnets=subnets, route_tables=tables)


def tagged_table_facts(tags: dict) -> VpcFacts:
    f = base_facts()
    tables = copy.deepcopy(f.route_tables)
    tables[RT_APP["a"]]["Tags"] += [{"Key": k, "Value": v} for k, v in tags.items()]
    return facts_with(route_tables=tables)


def no_room_facts() -> VpcFacts:
    """The same VPC, but a /24 whose every address a subnet already holds."""
    f = base_facts()
    subnets = {s: {**v, "CidrBlock": c} for (s, v), c in zip(f.subnets.items(), [
        "10.42.0.0/27", "10.42.0.32/27", "10.42.0.64/27", "10.42.0.96/27", "10.42.0.128/26", "10.42.0.192/26"],
        strict=True)}
    return facts_with(subnets=subnets, cidr_blocks=("10.42.0.0/24",), vpc={**f.vpc, "CidrBlock": "10.42.0.0/24"})


# (id, facts, raw config, the problem as reported (start))
REFUSED = [
    ("vpc-missing", facts_with(vpc=None), RAW, f"stack.vpc_id {VPC} does not exist in region eu-west-1"),
    ("dns-support-off", facts_with(dns_support=False), RAW, f"stack.vpc_id {VPC} has enableDnsSupport off"),
    ("public-subnet-missing", base_facts(), raw_with(0, "public_subnet_id", "subnet-0000000e"),
     "zones[0].public_subnet_id subnet-0000000e does not exist in region eu-west-1"),
    ("public-subnet-other-vpc", other_vpc_facts(), raw_with(0, "public_subnet_id", "subnet-0000009a"),
     f"zones[0].public_subnet_id subnet-0000009a is in vpc-0999999a, not stack.vpc_id {VPC}"),
    ("public-subnet-wrong-az", base_facts(), raw_with(1, "public_subnet_id", DB["a"]),
     f"zones[1].public_subnet_id {DB['a']} is in eu-west-1a, not the zone's az eu-west-1b"),
    ("public-subnet-not-public", base_facts(), raw_with(0, "public_subnet_id", APP["a"]),
     (f"zones[0].public_subnet_id {APP['a']} is not a public subnet: its route table {RT_APP['a']} sends 0.0.0.0/0 "
     f"to NAT gateway {NAT['a']}")),
    ("public-subnet-no-default-route", base_facts(), raw_with(0, "public_subnet_id", DB["a"]),
     f"zones[0].public_subnet_id {DB['a']} is not a public subnet: its route table {RT_DB} has no default route"),
    ("public-subnet-igw-not-attached", facts_with(internet_gateways=()), RAW,
     (f"zones[0].public_subnet_id {PUBLIC['a']} is not a public subnet: its route table {RT_PUBLIC} sends 0.0.0.0/0 "
     f"to internet gateway {IGW}, which is not attached to {VPC}")),
    ("table-missing", base_facts(), raw_with(0, "private_route_table_ids", ["rtb-0000000e"]),
     "zones[0].private_route_table_ids[0] rtb-0000000e does not exist in region eu-west-1"),
    ("table-other-vpc", other_vpc_facts(), raw_with(0, "private_route_table_ids", ["rtb-0000009a"]),
     f"zones[0].private_route_table_ids[0] rtb-0000009a is in vpc-0999999a, not stack.vpc_id {VPC}"),
    ("table-of-a-public-subnet", base_facts(), raw_with(0, "private_route_table_ids", [RT_PUBLIC]),
     f"zones[0].private_route_table_ids[0] {RT_PUBLIC} is the route table of zones[0].public_subnet_id"),
    ("table-public-igw", with_default(base_facts(), RT_DB, GatewayId=IGW), raw_with(0, "private_route_table_ids",
                                                                                    [RT_DB]),
     f"zones[0].private_route_table_ids[0] {RT_DB} is a public route table (0.0.0.0/0 -> internet gateway {IGW})"),
    ("table-to-transit-gateway", with_default(base_facts(), RT_APP["a"], TransitGatewayId="tgw-0d0d0d0d"), RAW,
     (f"zones[0].private_route_table_ids[0] {RT_APP['a']} sends 0.0.0.0/0 to transit gateway tgw-0d0d0d0d: hanat "
     "takes over only a default route to a NAT gateway, a NAT instance or interface, a blackhole, or none")),
    ("table-to-peering", with_default(base_facts(), RT_APP["a"], VpcPeeringConnectionId=PCX), RAW,
     f"zones[0].private_route_table_ids[0] {RT_APP['a']} sends 0.0.0.0/0 to VPC peering connection {PCX}"),
    ("table-to-virtual-private-gateway", with_default(base_facts(), RT_APP["b"], GatewayId="vgw-0e0e0e0e"), RAW,
     f"zones[1].private_route_table_ids[0] {RT_APP['b']} sends 0.0.0.0/0 to virtual private gateway vgw-0e0e0e0e"),
    ("table-to-gateway-endpoint", with_default(base_facts(), RT_APP["b"], VpcEndpointId="vpce-0f0f0f0f"), RAW,
     f"zones[1].private_route_table_ids[0] {RT_APP['b']} sends 0.0.0.0/0 to VPC endpoint vpce-0f0f0f0f"),
    ("table-of-another-stack", tagged_table_facts({"hanat:stack": "ledger", "hanat:adopted": "true"}), RAW,
     f"zones[0].private_route_table_ids[0] {RT_APP['a']} already belongs to hanat stack 'ledger'"),
    ("table-built-by-this-stack", tagged_table_facts({"hanat:stack": "payments", "hanat:role": "private-rt"}), RAW,
     f"zones[0].private_route_table_ids[0] {RT_APP['a']} is one hanat built for stack 'payments'"),
    ("probe-cidr-outside", base_facts(), raw_with(0, "probe_cidr", "10.43.0.0/28"),
     f"zones[0].probe_cidr 10.43.0.0/28 is outside {VPC}'s CIDR blocks 10.42.0.0/16"),
    ("probe-cidr-taken", base_facts(), raw_with(1, "probe_cidr", "10.42.16.16/28"),
     f"zones[1].probe_cidr 10.42.16.16/28 is not free: it overlaps subnet {APP['a']} 10.42.16.0/22"),
    ("probe-cidr-no-room", no_room_facts(), RAW,
     (f"zones[0].probe_cidr: {VPC} (10.42.0.0/24) has no free /28 left for the probe subnet of eu-west-1a: add a "
     "secondary CIDR block to the VPC")),
]


@pytest.mark.parametrize("facts,raw,expected", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_refused_adoption_names_the_key_and_the_id(facts, raw, expected):
    with pytest.raises(InputError) as info:
        check_adoption(config(raw), facts)
    assert info.value.exit_code == 2
    assert any(p.startswith(expected) for p in info.value.problems), info.value.problems


ALLOWED = [
    # (id, the default route of zone a's table, the original target recorded)
    ("nat-gateway", {"NatGatewayId": NAT["a"]}, NAT["a"]),
    ("nat-instance", {"InstanceId": "i-0123456789abcdef0", "NetworkInterfaceId": "eni-0a1a1a1a"}, "eni-0a1a1a1a"),
    ("network-interface", {"NetworkInterfaceId": "eni-0a1a1a1a"}, "eni-0a1a1a1a"),
    ("blackhole-nat-gateway", {"NatGatewayId": "nat-0dead000", "State": "blackhole"}, "nat-0dead000"),
    ("blackhole-transit-gateway", {"TransitGatewayId": "tgw-0d0d0d0d", "State": "blackhole"}, "tgw-0d0d0d0d"),
    ("no-default-route", {}, ""),
]


@pytest.mark.parametrize("target,original", [c[1:] for c in ALLOWED], ids=[c[0] for c in ALLOWED])
def test_allowed_default_routes_are_adopted_with_their_original_target(target, original):
    adopted = check_adoption(config(), with_default(base_facts(), RT_APP["a"], **target))
    zone = adopted.zone("eu-west-1a")
    assert [(t.route_table_id, t.original_target) for t in zone.tables] == [(RT_APP["a"], original)]
    assert zone.public_subnet_id == PUBLIC["a"] and zone.public_route_table_id == RT_PUBLIC
    assert zone.private_subnet_ids == (APP["a"],)


def test_every_problem_is_reported_at_once():
    raw = raw_with(0, "public_subnet_id", APP["a"])
    raw["zones"][1]["private_route_table_ids"] = [RT_PUBLIC]
    facts = with_default(facts_with(dns_support=False), RT_APP["a"], TransitGatewayId="tgw-0d0d0d0d")
    with pytest.raises(InputError) as info:
        check_adoption(config(raw), facts)
    problems = info.value.problems
    assert len(problems) == 4, problems
    assert {p.split(" ")[0] for p in problems} == {"stack.vpc_id", "zones[0].public_subnet_id",
                                                   "zones[0].private_route_table_ids[0]",
                                                   "zones[1].private_route_table_ids[0]"}


def test_probe_cidrs_come_from_free_space_or_the_config():
    adopted = check_adoption(config(raw_with(1, "probe_cidr", "10.42.250.0/28")), base_facts())
    probes = {z.az: z.probe_cidr for z in adopted.zones}
    assert probes == {"eu-west-1a": "10.42.2.0/28", "eu-west-1b": "10.42.250.0/28"}  # 10.42.0-1 are public


def test_a_secondary_cidr_block_gives_room_when_the_primary_is_full():
    full = no_room_facts()
    roomy = VpcFacts(**{**full.__dict__, "cidr_blocks": ("10.42.0.0/24", "100.64.0.0/24")})
    adopted = check_adoption(config(), roomy)
    assert [z.probe_cidr for z in adopted.zones] == ["100.64.0.0/28", "100.64.0.16/28"]


def test_this_stacks_probe_subnet_keeps_its_cidr_on_a_second_run():
    f = base_facts()
    mine = subnet("subnet-0000004a", "10.42.7.0/28", "eu-west-1a",
                  tags=[{"Key": "hanat:stack", "Value": "payments"}, {"Key": "hanat:role", "Value": "probe"},
                        {"Key": "hanat:zone", "Value": "eu-west-1a"}])
    adopted = check_adoption(config(), facts_with(subnets={**f.subnets, mine["SubnetId"]: mine}))
    assert adopted.zone("eu-west-1a").probe_cidr == "10.42.7.0/28"


def stored_topology(original: str) -> Topology:
    zones = tuple(ZoneTopology(az=f"eu-west-1{z}", public_subnet_id=PUBLIC[z], private_subnet_id=APP[z],
                               probe_subnet_id="subnet-0000004" + z, nat_instance_id="i-0000000" + z,
                               nat_eni_id="eni-0000000" + z, nat_eip="", nat_eip_allocation_id="",
                               private_route_table_ids=(RT_APP[z],), probe_route_table_id="rtb-0000004" + z,
                               adopted=(AdoptedRouteTable(RT_APP[z], original if z == "a" else NAT[z]),))
                  for z in "ab")
    return Topology(stack="payments", region="eu-west-1", vpc_id=VPC, vpc_cidr="10.42.0.0/16", table_name="t",
                    topic_arn="", topology_parameter="/hanat/payments/topology", zones=zones)


def test_after_cutover_the_original_target_comes_from_the_stored_topology():
    facts = with_default(base_facts(), RT_APP["a"], NetworkInterfaceId="eni-0000000a")   # cut over
    adopted = check_adoption(config(), facts, stored=stored_topology(NAT["a"]),
                             stack_enis=frozenset({"eni-0000000a"}))
    assert adopted.zone("eu-west-1a").tables[0].original_target == NAT["a"]
    assert adopted.current_targets[RT_APP["a"]] == "eni-0000000a"


def test_a_table_on_this_stacks_nat_without_a_record_is_refused():
    facts = with_default(base_facts(), RT_APP["a"], NetworkInterfaceId="eni-0000000a")
    with pytest.raises(InputError, match=f"{RT_APP['a']} already points 0.0.0.0/0 at this stack's NAT"):
        check_adoption(config(), facts, stack_enis=frozenset({"eni-0000000a"}))


def test_an_adopted_table_no_longer_listed_is_refused():
    raw = copy.deepcopy(RAW)
    facts = tagged_table_facts({"hanat:stack": "payments", "hanat:adopted": "true"})
    raw["zones"][0]["private_route_table_ids"] = [RT_DB]
    with pytest.raises(InputError, match=f"route table {RT_APP['a']} carries hanat:stack=payments and hanat:adopted but "
                                         "no zone lists it any more"):
        check_adoption(config(raw), facts)
