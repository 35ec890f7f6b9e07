"""NAT gateways that are not the classic zonal, public kind (issue 18, faults 8 and 10), in the pure
adoption rules (bootstrap/adopt/check.py) and discovery (bootstrap/adopt/discover.py).

- A PRIVATE NAT gateway (NatGateway.ConnectivityType "private") reaches other networks, never the
  internet: https://docs.aws.amazon.com/vpc/latest/userguide/vpc-nat-gateway.html ("Connectivity type").
  Taking over its table would send that traffic to the internet instead: refused.
- A REGIONAL NAT gateway (NatGateway.AvailabilityMode "regional", botocore ec2 2016-11-15 model; no
  SubnetId; one per VPC for every AZ): https://docs.aws.amazon.com/vpc/latest/userguide/nat-gateways-regional.html.
  Taken over table by table like a zonal one; each zone records the same gateway to give back to.
"""
from __future__ import annotations

import copy

import pytest

from bootstrap.adopt.check import check_adoption
from bootstrap.adopt.discover import discover
from bootstrap.adopt.facts import VpcFacts
from chalicelib.errors import InputError

from .adoptfacts import NAT, RT_APP, VPC, base_facts, config, with_default

REGIONAL = "nat-0regional"


def with_gateway(facts: VpcFacts, gateway_id: str, **fields) -> VpcFacts:
    gateways = copy.deepcopy(facts.nat_gateways)
    gateways[gateway_id] = {**gateways.get(gateway_id, {"NatGatewayId": gateway_id, "VpcId": VPC,
                                                         "State": "available"}), **fields}
    return VpcFacts(**{**facts.__dict__, "nat_gateways": gateways})


def private_gateway_facts() -> VpcFacts:
    return with_gateway(base_facts(), NAT["a"], ConnectivityType="private")


def regional_facts() -> VpcFacts:
    """Both zones' tables route to one regional NAT gateway (which has no subnet)."""
    facts = with_gateway(base_facts(), REGIONAL, ConnectivityType="public", AvailabilityMode="regional")
    for z in "ab":
        facts = with_default(facts, RT_APP[z], NatGatewayId=REGIONAL)
    return facts


def test_a_table_routed_to_a_private_nat_gateway_is_refused_by_name():
    with pytest.raises(InputError) as info:
        check_adoption(config(), private_gateway_facts())
    assert info.value.exit_code == 2
    assert info.value.problems == [
        (f"zones[0].private_route_table_ids[0] {RT_APP['a']} sends 0.0.0.0/0 to private NAT gateway {NAT['a']} "
        "(ConnectivityType private): it reaches other networks, not the internet; hanat takes over only a table "
        "whose default route is internet egress")]


def test_a_public_zonal_nat_gateway_stated_as_such_is_still_adopted():
    facts = with_gateway(base_facts(), NAT["a"], ConnectivityType="public", AvailabilityMode="zonal")
    assert check_adoption(config(), facts).zone("eu-west-1a").tables[0].original_target == NAT["a"]


def test_a_regional_nat_gateway_is_adopted_table_by_table_and_recorded_for_give_back():
    adopted = check_adoption(config(), regional_facts())
    assert {z.az: [(t.route_table_id, t.original_target) for t in z.tables] for z in adopted.zones} == {
        "eu-west-1a": [(RT_APP["a"], REGIONAL)], "eu-west-1b": [(RT_APP["b"], REGIONAL)]}
    assert adopted.current_targets == {RT_APP["a"]: REGIONAL, RT_APP["b"]: REGIONAL}


def test_discovery_leaves_out_a_private_nat_gateways_table_and_says_why():
    with pytest.raises(InputError) as info:                # zone a has nothing left to take over: one zone
        discover(private_gateway_facts())
    assert f"{RT_APP['a']} (app-eu-west-1a): 0.0.0.0/0 -> private NAT gateway {NAT['a']}" in info.value.problems
    assert "eu-west-1a: public subnets but no private route table to take over" in info.value.problems


def test_discovery_of_one_table_for_every_az_names_the_regional_gateway_and_what_to_change():
    facts = regional_facts()
    tables = copy.deepcopy(facts.route_tables)
    tables[RT_APP["a"]]["Associations"] += tables[RT_APP["b"]]["Associations"]   # one table, both AZs
    del tables[RT_APP["b"]]
    with pytest.raises(InputError) as info:
        discover(VpcFacts(**{**facts.__dict__, "route_tables": tables}))
    assert (f"{RT_APP['a']} (app-eu-west-1a): its subnets are in eu-west-1a, eu-west-1b, through regional NAT "
            f"gateway {REGIONAL} (a zone's tables serve one AZ: give each AZ its own table to adopt them)"
            in info.value.problems), info.value.problems
