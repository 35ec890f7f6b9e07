"""`hanat adopt` discovery (pure over the VPC's facts): public subnets by their route to an internet gateway,
private route tables by the AZ of their subnets with a default route to a NAT gateway or none; what is
left out is listed with the reason; the file it writes loads as a valid config."""
from __future__ import annotations

import pytest

from bootstrap.adopt.discover import discover, probe_hints, render, stack_name_for
from bootstrap.adopt.facts import VpcFacts
from bootstrap.config.toml_loader import parse_toml
from bootstrap.config.validate import build_config
from chalicelib.errors import InputError

from .adoptfacts import (
    APP,
    NAT,
    PUBLIC,
    RT_APP,
    RT_DB,
    RT_MAIN,
    VPC,
    base_facts,
    route,
    subnet,
    table,
    with_default,
)


def facts_with(**changes) -> VpcFacts:
    return VpcFacts(**{**base_facts().__dict__, **changes})


def test_zones_are_the_azs_with_a_public_subnet_and_private_tables():
    found = discover(base_facts())
    assert [(z.az, z.public_subnet_id, [t.route_table_id for t in z.tables]) for z in found.zones] == [
        ("eu-west-1a", PUBLIC["a"], [RT_APP["a"]]), ("eu-west-1b", PUBLIC["b"], [RT_APP["b"]])]
    assert found.zones[0].tables[0].target == NAT["a"]
    assert found.name == "payments"                                  # from the VPC's Name tag
    assert found.left_out == [f"{RT_MAIN} (main): no subnet uses it",
                              (f"{RT_DB} (database): its subnets are in eu-west-1a, eu-west-1b (a zone's tables serve "
                              "one AZ)")]


SPARE = "rtb-0000003a"
LEFT_OUT = [
    ("transit-gateway", {"TransitGatewayId": "tgw-0d0d0d0d"}, f"{SPARE} (spare): 0.0.0.0/0 -> transit gateway tgw-0d0d0d0d"),
    ("nat-instance", {"NetworkInterfaceId": "eni-0a0a0a0a"}, f"{SPARE} (spare): 0.0.0.0/0 -> network interface eni-0a0a0a0a"),
    ("peering", {"VpcPeeringConnectionId": "pcx-0c0c0c0c"}, (f"{SPARE} (spare): 0.0.0.0/0 -> VPC peering connection "
                                                            "pcx-0c0c0c0c")),
]


def with_spare_table(target: dict) -> VpcFacts:
    """A second private table in eu-west-1a (its own subnet) whose default route goes to ``target``."""
    f = base_facts()
    extra = subnet("subnet-0000005a", "10.42.60.0/24", "eu-west-1a")
    spare = table(SPARE, [route("0.0.0.0/0", **target)] if target else [], [extra["SubnetId"]], name="spare")
    return VpcFacts(**{**f.__dict__, "route_tables": {**f.route_tables, SPARE: spare},
                       "subnets": {**f.subnets, extra["SubnetId"]: extra}})


@pytest.mark.parametrize("target,why", [c[1:] for c in LEFT_OUT], ids=[c[0] for c in LEFT_OUT])
def test_tables_left_out_say_why(target, why):
    found = discover(with_spare_table(target))
    assert why in found.left_out
    assert [t.route_table_id for t in found.zones[0].tables] == [RT_APP["a"]]


def test_a_second_private_table_of_an_az_joins_its_zone():
    found = discover(with_spare_table({"NatGatewayId": NAT["a"]}))
    assert [t.route_table_id for t in found.zones[0].tables] == [RT_APP["a"], SPARE]


def test_a_table_without_a_default_route_is_taken_over_too():
    found = discover(with_default(base_facts(), RT_APP["a"]))
    assert found.zones[0].tables[0].target == ""


def test_fewer_than_two_zones_is_refused_naming_what_was_found():
    f = with_default(with_default(base_facts(), RT_APP["b"], TransitGatewayId="tgw-0d0d0d0d"), RT_APP["a"])
    with pytest.raises(InputError) as info:
        discover(f)
    assert info.value.problems[0].startswith(f"{VPC} has 1 zone(s) with both a public subnet and a private route "
                                             "table to take over; hanat needs 2 to 6")
    assert "found eu-west-1a" in info.value.problems


def test_a_missing_vpc_is_refused():
    with pytest.raises(InputError, match=f"--vpc-id {VPC} does not exist in region eu-west-1"):
        discover(facts_with(vpc=None))


@pytest.mark.parametrize("tag,given,expected", [("Payments Prod!", None, "payments-prod"), ("", None, "adopted"),
                                                 ("42", None, "adopted"), ("x", "ledger", "ledger")])
def test_stack_name(tag, given, expected):
    f = facts_with(vpc={"VpcId": VPC, "CidrBlock": "10.42.0.0/16", "Tags": [{"Key": "Name", "Value": tag}]})
    assert stack_name_for(f, given) == expected


def test_a_bad_name_is_refused():
    with pytest.raises(InputError, match="--name 'Bad Name'"):
        stack_name_for(base_facts(), "Bad Name")


def test_the_written_file_is_a_valid_adopting_config_with_review_comments():
    facts = base_facts()
    found = discover(facts)
    text = render(found, command="hanat adopt --vpc-id x --region eu-west-1", at="2025-01-01 00:00:00Z",
                  probe_hint=probe_hints(facts, ["eu-west-1a", "eu-west-1b"]))
    config = build_config(parse_toml(text, source="x"), source="x")
    assert config.adopts_vpc and config.stack.vpc_id == VPC
    assert [(z.public_subnet_id, z.private_route_table_ids, z.probe_cidr) for z in config.zones] == [
        (PUBLIC["a"], (RT_APP["a"],), ""), (PUBLIC["b"], (RT_APP["b"],), "")]
    assert f'"{RT_APP["a"]}",   # app-eu-west-1a: 0.0.0.0/0 -> {NAT["a"]}; subnets {APP["a"]} 10.42.16.0/22' in text
    assert '# probe_cidr = "10.42.2.0/28"' in text and '# probe_cidr = "10.42.2.16/28"' in text
    assert f"#   {RT_DB} (database): its subnets are in" in text
