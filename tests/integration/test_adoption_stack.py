"""The stack builder in an adopted VPC, against moto: every CIDR block of the VPC is admitted by the NAT
security group and masqueraded by the NAT; a table dropped from the config while still adopted is refused;
a destroy that finds no topology never deletes or re-routes an adopted table; `up` and `down` never
touch a tag of the user's VPC, subnets or route tables but hanat's two on the listed tables."""
from __future__ import annotations

import base64
import gzip

import boto3
import pytest
from moto import mock_aws

from bootstrap.config.toml_loader import parse_toml
from bootstrap.config.validate import build_config
from bootstrap.stack import StackClients, build_stack, destroy_stack, plan_stack
from chalicelib.errors import InputError
from lab.aws.foreignvpc import adopt_config, build_foreign_vpc, routes_of
from tests.support.stack import AZS, REGION


@pytest.fixture
def world(aws_env):
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        foreign = build_foreign_vpc(ec2, AZS)
        clients = StackClients.from_session(boto3.session.Session(region_name=REGION), REGION)
        yield ec2, foreign, clients


def config_of(text: str):
    return build_config(parse_toml(text, source="t.toml"), source="t.toml")


def user_data(ec2, template_id: str) -> str:
    data = ec2.describe_launch_template_versions(LaunchTemplateId=template_id, Versions=["$Default"])[
        "LaunchTemplateVersions"][0]["LaunchTemplateData"]["UserData"]
    raw = base64.b64decode(data)
    return (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode()


def test_every_cidr_block_is_admitted_and_masqueraded(world):
    ec2, foreign, clients = world
    ec2.associate_vpc_cidr_block(VpcId=foreign.vpc_id, CidrBlock="100.64.0.0/16")
    topo = build_stack(config_of(adopt_config(foreign, region=REGION)), clients, wait_interval_s=0).topology
    group = ec2.describe_security_groups(GroupIds=[topo.nat_security_group_id])["SecurityGroups"][0]
    admitted = {r["CidrIp"] for p in group["IpPermissions"] for r in p["IpRanges"]}
    assert admitted == {"10.42.0.0/16", "100.64.0.0/16"}
    assert 'VPC_CIDR="${1:-${VPC_CIDR:-10.42.0.0/16,100.64.0.0/16}}"' in user_data(ec2, topo.launch_template_id)
    assert topo.vpc_cidr == "10.42.0.0/16"                                  # the primary block
    assert all(z.probe_subnet_id for z in topo.zones)


def test_a_table_dropped_from_the_config_while_adopted_is_refused(world):
    _ec2, foreign, clients = world
    build_stack(config_of(adopt_config(foreign, region=REGION)), clients, wait_interval_s=0)
    dropped = foreign.zones[0].private_route_table_ids[1]
    text = adopt_config(foreign, region=REGION).replace(f', "{dropped}"', "")
    with pytest.raises(InputError, match=f"route table {dropped} carries hanat:stack=payments and hanat:adopted but "
                                         "no zone lists it any more"):
        plan_stack(config_of(text), clients)


def test_destroy_without_a_topology_leaves_adopted_tables_routed_as_they_are(world):
    ec2, foreign, clients = world
    build_stack(config_of(adopt_config(foreign, region=REGION)), clients, wait_interval_s=0)
    before = routes_of(ec2, foreign.vpc_id)
    boto3.client("ssm", region_name=REGION).delete_parameter(Name="/hanat/payments/topology")
    result = destroy_stack("payments", clients, region=REGION, wait_interval_s=0)   # not cut over: nothing to give
    assert result.released == []
    after = routes_of(ec2, foreign.vpc_id)
    assert {t: after[t] for t in foreign.private_route_table_ids} == {t: before[t] for t in foreign.private_route_table_ids}
    tables = ec2.describe_route_tables(RouteTableIds=foreign.private_route_table_ids)["RouteTables"]
    assert all(not any(t["Key"].startswith("hanat:") for t in table.get("Tags", [])) for table in tables)


def test_destroy_refuses_a_cut_over_table_with_no_record_of_its_original_target(world):
    ec2, foreign, clients = world
    topo = build_stack(config_of(adopt_config(foreign, region=REGION)), clients, wait_interval_s=0).topology
    table = foreign.zones[0].private_route_table_ids[0]
    ec2.replace_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NetworkInterfaceId=topo.zones[0].nat_eni_id)
    boto3.client("ssm", region_name=REGION).delete_parameter(Name="/hanat/payments/topology")
    with pytest.raises(InputError, match=f"route table {table} \\(adopted\\) points 0.0.0.0/0 at this stack's NAT"):
        destroy_stack("payments", clients, region=REGION, wait_interval_s=0)
    instances = ec2.describe_instances(InstanceIds=[topo.zones[0].nat_instance_id])["Reservations"][0]["Instances"]
    assert instances[0]["State"]["Name"] == "running"                       # nothing was deleted


def user_tags(ec2, vpc_id: str) -> dict[str, dict[str, str]]:
    """resource id -> tags of the VPC and of every subnet and route table in it that hanat did not create."""
    in_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
    found = (ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"] + ec2.describe_subnets(Filters=in_vpc)["Subnets"]
             + ec2.describe_route_tables(Filters=in_vpc)["RouteTables"])
    out = {}
    for resource in found:
        tags = {t["Key"]: t["Value"] for t in resource.get("Tags", [])}
        if tags.get("hanat:role"):          # hanat's own (probe subnets and their tables)
            continue
        ident = resource.get("RouteTableId") or resource.get("SubnetId") or resource["VpcId"]
        out[ident] = tags
    return out


def test_up_and_down_leave_the_users_names_and_tags_alone(world):
    """Issue 18, fault 3: `up` renamed an adopted VPC and its public subnets (Name=hanat-<stack>-vpc)."""
    ec2, foreign, clients = world
    config = config_of(adopt_config(foreign, region=REGION))
    before = user_tags(ec2, foreign.vpc_id)
    assert not any(k.startswith("hanat:") for tags in before.values() for k in tags)
    own = [foreign.vpc_id, *(z.public_subnet_id for z in foreign.zones), *foreign.private_route_table_ids]
    assert all(before[r]["Name"] for r in own)          # the user's own names (the main table has none)
    steps = plan_stack(config, clients).steps
    assert [s for s in steps if s.kind == "name-tag" or "Name=" in s.detail] == []
    named = {foreign.vpc_id, *(z.public_subnet_id for z in foreign.zones)}
    assert [s.describe() for s in steps if s.name in named] == []
    build_stack(config, clients, wait_interval_s=0)
    after_up = user_tags(ec2, foreign.vpc_id)
    listed = set(foreign.private_route_table_ids)
    assert {t: {k: v for k, v in tags.items() if not (t in listed and k in ("hanat:stack", "hanat:adopted"))}
            for t, tags in after_up.items()} == before
    assert all(after_up[t]["hanat:stack"] == "payments" and after_up[t]["hanat:adopted"] == "true" for t in listed)
    assert plan_stack(config, clients).steps == []
    destroy_stack("payments", clients, region=REGION, wait_interval_s=0)
    assert user_tags(ec2, foreign.vpc_id) == before
