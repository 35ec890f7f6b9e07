"""[names] templates (DupsWorks' *_name_template) become the Name tags of the VPC, internet gateway,
subnets and route tables; "" keeps hanat's own names. Resources are found by role/zone tags, never by
Name, so renaming is a tag change `up` makes in place."""
from __future__ import annotations

import dataclasses

import boto3
import pytest
from moto import mock_aws

from bootstrap.config.schema import NameTemplates
from bootstrap.stack import StackClients, build_stack, plan_stack
from tests.integration.test_stack_up import REGION, STACK_FILTER, make_config, tags

DUPSWORKS = NameTemplates(vpc="MyVPC", subnet="MyVPC {kind} segment AZ{zone}",
                          route_table="MyVPC {kind} segment AZ{zone}", internet_gateway="MyVPC Internet Gateway")


@pytest.fixture
def aws(aws_env):
    with mock_aws():
        yield StackClients.from_session(boto3.session.Session(region_name=REGION), REGION)


def names(aws) -> dict[tuple[str, str], str]:
    ec2, out = aws.ec2, {}
    for kind, key in (("vpc", "Vpcs"), ("internet-gateway", "InternetGateways"), ("subnet", "Subnets"),
                      ("route-table", "RouteTables")):
        method = getattr(ec2, f"describe_{kind.replace('-', '_')}s")
        for resource in method(Filters=STACK_FILTER)[key]:
            t = tags(resource)
            out[(t["hanat:role"], t.get("hanat:zone", ""))] = t["Name"]
    return out


def test_templates_name_every_resource_they_cover(aws):
    config = dataclasses.replace(make_config(), names=DUPSWORKS)
    build_stack(config, aws, wait_interval_s=0)
    got = names(aws)
    assert got[("vpc", "")] == "MyVPC" and got[("igw", "")] == "MyVPC Internet Gateway"
    assert got[("private", "ap-northeast-1a")] == "MyVPC private segment AZ1"
    assert got[("probe", "ap-northeast-1c")] == "MyVPC probe segment AZ2"
    assert got[("private-rt", "ap-northeast-1c")] == "MyVPC private segment AZ2"
    assert got[("public-rt", "")] == "MyVPC public segment AZ0"   # shared by every zone
    assert plan_stack(config, aws).steps == []


def test_changing_a_template_renames_in_place_and_empty_gives_hanats_names_back(aws):
    build_stack(make_config(), aws, wait_interval_s=0)
    assert names(aws)[("public", "ap-northeast-1a")] == "hanat-t-public-ap-northeast-1a"
    before = names(aws)
    renamed = dataclasses.replace(make_config(), names=dataclasses.replace(NameTemplates(), subnet="{stack}-{kind}-{az}"))
    steps = plan_stack(renamed, aws).steps
    assert {s.kind for s in steps} == {"name-tag"} and len(steps) == 6      # the six subnets, nothing else
    result = build_stack(renamed, aws, wait_interval_s=0)
    assert result.changes == 6 and names(aws)[("probe", "ap-northeast-1c")] == "t-probe-ap-northeast-1c"
    assert plan_stack(renamed, aws).steps == []
    build_stack(make_config(), aws, wait_interval_s=0)                      # "" again: hanat's own names
    assert names(aws) == before
