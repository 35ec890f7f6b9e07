"""`hanat up` against in-process moto: exactly the resources promised, idempotent, safe with neighbours."""
from __future__ import annotations

import base64
import gzip
import json

import boto3
import pytest
from moto import mock_aws

from bootstrap.config.schema import (
    AdminConfig,
    AlertsConfig,
    HanatConfig,
    PermissionConfig,
    StackConfig,
    ZoneConfig,
)
from bootstrap.stack import StackClients, build_stack, plan_stack, read_topology
from chalicelib.errors import InputError, NotFoundError
from chalicelib.settings import FailoverSettings, ProbeSettings

REGION = "ap-northeast-1"
AZS = ("ap-northeast-1a", "ap-northeast-1c")
ACCOUNT = "123456789012"
STACK_FILTER = [{"Name": "tag:hanat:stack", "Values": ["t"]}]


def make_config(azs=AZS, *, admin=False, users=(), stack="t", region=REGION) -> HanatConfig:
    zones = tuple(ZoneConfig(az, f"10.0.{i}.0/24", f"10.0.{16 * (i + 1)}.0/20", f"10.0.{8 + i}.0/28")
                  for i, az in enumerate(azs))
    return HanatConfig(
        stack=StackConfig(stack, region, "10.0.0.0/16"), zones=zones,
        probe=ProbeSettings(interval_s=3, targets=("tcp://203.0.113.10:443",)),
        failover=FailoverSettings(revert="manual", replace_after_s=120),
        alerts=AlertsConfig(emails=("ops@example.com", "oncall@example.com"),
                            slack_webhook_parameter="/hanat/t/slack"),
        admin=AdminConfig(enabled=admin, instance_type="t3.micro"),
        permissions=tuple(users),
    )


@pytest.fixture
def aws(aws_env):
    with mock_aws():
        yield StackClients.from_session(boto3.session.Session(region_name=REGION), REGION)


def tagged_instances(ec2, role=None):
    out = [i for r in ec2.describe_instances(Filters=STACK_FILTER)["Reservations"] for i in r["Instances"]
           if i["State"]["Name"] != "terminated"]
    return [i for i in out if role is None or tags(i).get("hanat:role") == role]


def tags(resource: dict) -> dict:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def default_route(table: dict) -> dict:
    return next(r for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0")


def resource_counts(ec2) -> dict:
    return {
        "vpcs": len(ec2.describe_vpcs(Filters=STACK_FILTER)["Vpcs"]),
        "igws": len(ec2.describe_internet_gateways(Filters=STACK_FILTER)["InternetGateways"]),
        "subnets": len(ec2.describe_subnets(Filters=STACK_FILTER)["Subnets"]),
        "route_tables": len(ec2.describe_route_tables(Filters=STACK_FILTER)["RouteTables"]),
        "security_groups": len(ec2.describe_security_groups(Filters=STACK_FILTER)["SecurityGroups"]),
        "instances": len(tagged_instances(ec2)),
        "eips": len(ec2.describe_addresses(Filters=STACK_FILTER)["Addresses"]),
        "launch_templates": len(ec2.describe_launch_templates(Filters=STACK_FILTER)["LaunchTemplates"]),
    }


def test_up_builds_exactly_the_promised_network(aws):
    ec2 = aws.ec2
    result = build_stack(make_config(), aws, wait_interval_s=0)
    assert result.changes == len(result.steps) > 0
    assert resource_counts(ec2) == {"vpcs": 1, "igws": 1, "subnets": 6, "route_tables": 5, "security_groups": 2,
                                    "instances": 2, "eips": 2, "launch_templates": 1}
    vpc = ec2.describe_vpcs(Filters=STACK_FILTER)["Vpcs"][0]
    assert vpc["CidrBlock"] == "10.0.0.0/16" and vpc["VpcId"] == result.topology.vpc_id
    for attr, key in (("enableDnsSupport", "EnableDnsSupport"), ("enableDnsHostnames", "EnableDnsHostnames")):
        assert ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute=attr)[key]["Value"] is True
    igw = ec2.describe_internet_gateways(Filters=STACK_FILTER)["InternetGateways"][0]
    assert [a["VpcId"] for a in igw["Attachments"]] == [vpc["VpcId"]]

    tables = {(tags(t)["hanat:role"], tags(t).get("hanat:zone")): t
              for t in ec2.describe_route_tables(Filters=STACK_FILTER)["RouteTables"]}
    public = tables[("public-rt", None)]
    assert default_route(public)["GatewayId"] == igw["InternetGatewayId"]
    public_subnets = {a["SubnetId"] for a in public["Associations"] if not a.get("Main")}
    assert public_subnets == {z.public_subnet_id for z in result.topology.zones}

    for zone, cfg_zone in zip(result.topology.zones, make_config().zones, strict=True):
        subnets = ec2.describe_subnets(SubnetIds=[zone.public_subnet_id, zone.private_subnet_id,
                                                  zone.probe_subnet_id])["Subnets"]
        assert {(s["CidrBlock"], s["AvailabilityZone"]) for s in subnets} == {
            (cfg_zone.public_cidr, zone.az), (cfg_zone.private_cidr, zone.az), (cfg_zone.probe_cidr, zone.az)}
        nat = ec2.describe_instances(InstanceIds=[zone.nat_instance_id])["Reservations"][0]["Instances"][0]
        assert nat["State"]["Name"] == "running" and nat["SubnetId"] == zone.public_subnet_id
        assert tags(nat)["hanat:zone"] == zone.az and tags(nat)["hanat:role"] == "nat"
        assert nat["SourceDestCheck"] is False
        assert nat["MetadataOptions"]["HttpTokens"] == "required"
        assert nat["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
        assert nat["NetworkInterfaces"][0]["NetworkInterfaceId"] == zone.nat_eni_id
        eip = ec2.describe_addresses(AllocationIds=[zone.nat_eip_allocation_id])["Addresses"][0]
        assert eip["InstanceId"] == zone.nat_instance_id and eip["PublicIp"] == zone.nat_eip
        assert tags(eip)["hanat:zone"] == zone.az
        private, probe = tables[("private-rt", zone.az)], tables[("probe-rt", zone.az)]
        assert [private["RouteTableId"]] == list(zone.private_route_table_ids)
        assert probe["RouteTableId"] == zone.probe_route_table_id
        assert default_route(private)["NetworkInterfaceId"] == zone.nat_eni_id
        assert default_route(probe)["NetworkInterfaceId"] == zone.nat_eni_id
        assert tags(probe).get("hanat:pinned") == "true" and "hanat:pinned" not in tags(private)
        assert [a["SubnetId"] for a in private["Associations"]] == [zone.private_subnet_id]
        assert [a["SubnetId"] for a in probe["Associations"]] == [zone.probe_subnet_id]


def test_security_groups_launch_template_and_iam(aws):
    ec2, iam = aws.ec2, aws.iam
    topology = build_stack(make_config(), aws, wait_interval_s=0).topology
    groups = {tags(g)["hanat:role"]: g for g in ec2.describe_security_groups(Filters=STACK_FILTER)["SecurityGroups"]}
    nat_sg, probe_sg = groups["nat-sg"], groups["probe-sg"]
    assert (nat_sg["GroupId"], probe_sg["GroupId"]) == (topology.nat_security_group_id,
                                                        topology.probe_security_group_id)
    assert {(p["IpProtocol"], r["CidrIp"]) for p in nat_sg["IpPermissions"] for r in p["IpRanges"]} == {
        ("tcp", "10.0.0.0/16"), ("udp", "10.0.0.0/16"), ("icmp", "10.0.0.0/16")}  # rules: test_stack_real_aws
    assert probe_sg["IpPermissions"] == []
    for group in (nat_sg, probe_sg):
        assert [(p["IpProtocol"], [r["CidrIp"] for r in p["IpRanges"]])
                for p in group["IpPermissionsEgress"]] == [("-1", ["0.0.0.0/0"])]

    data = ec2.describe_launch_template_versions(LaunchTemplateId=topology.launch_template_id,
                                                 Versions=["$Default"])["LaunchTemplateVersions"][0]
    data = data["LaunchTemplateData"]
    alias = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"  # t4g is Graviton
    assert data["ImageId"] == aws.ssm.get_parameter(Name=alias)["Parameter"]["Value"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    assert data["NetworkInterfaces"][0]["Groups"] == [nat_sg["GroupId"]]
    user_data = gzip.decompress(base64.b64decode(data["UserData"])).decode()
    assert "10.0.0.0/16" in user_data and "@@VPC_CIDR@@" not in user_data and "ip_forward" in user_data
    nat = tagged_instances(ec2, "nat")[0]
    assert nat["ImageId"] == data["ImageId"] and nat["InstanceType"] == "t4g.nano"

    profile = iam.get_instance_profile(InstanceProfileName="hanat-t-ap-northeast-1-instance")["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == ["hanat-t-ap-northeast-1-instance"]
    assert tags(profile)["hanat:stack"] == "t"
    assert tags(iam.get_role(RoleName="hanat-t-ap-northeast-1-instance")["Role"])["hanat:stack"] == "t"
    assert iam.list_attached_role_policies(RoleName="hanat-t-ap-northeast-1-instance")["AttachedPolicies"] == []
    [policy_name] = iam.list_role_policies(RoleName="hanat-t-ap-northeast-1-instance")["PolicyNames"]
    doc = iam.get_role_policy(RoleName="hanat-t-ap-northeast-1-instance", PolicyName=policy_name)["PolicyDocument"]
    actions = [a for s in doc["Statement"] for a in s["Action"]]
    assert "ssmmessages:CreateControlChannel" in actions
    assert not [a for a in actions if a.startswith("ec2:")], "NAT instances must not write EC2"


def test_topology_parameter_table_topic_and_subscriptions(aws):
    config = make_config()
    result = build_stack(config, aws, wait_interval_s=0)
    stored = read_topology(aws.ssm, "t")
    assert stored == result.topology
    assert stored.probe == config.probe and stored.failover == config.failover
    assert stored.slack_webhook_parameter == "/hanat/t/slack"
    for key, value in stored.to_dict().items():
        assert value not in ("", None, [], {}), f"topology field {key} left empty"
    for zone in stored.to_dict()["zones"]:
        assert all(zone.values()), zone
    param_tags = aws.ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/hanat/t/topology")
    assert {"Key": "hanat:stack", "Value": "t"} in param_tags["TagList"]
    with pytest.raises(NotFoundError):
        read_topology(aws.ssm, "other")

    table = aws.dynamodb.describe_table(TableName="hanat-t-state")["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]} == {("pk", "HASH"), ("sk", "RANGE")}
    assert stored.table_name == "hanat-t-state"
    ttl = aws.dynamodb.describe_time_to_live(TableName="hanat-t-state")["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
    subs = aws.sns.list_subscriptions_by_topic(TopicArn=stored.topic_arn)["Subscriptions"]
    assert sorted((s["Protocol"], s["Endpoint"]) for s in subs) == [
        ("email", "oncall@example.com"), ("email", "ops@example.com")]


def test_rerun_changes_nothing_and_plan_agrees(aws):
    config = make_config(admin=True)
    first = build_stack(config, aws, wait_interval_s=0)
    assert plan_stack(config, aws).steps == []
    second = build_stack(config, aws, wait_interval_s=0)
    assert second.changes == 0 and second.topology == first.topology
    assert resource_counts(aws.ec2)["instances"] == 3


def test_plan_on_empty_account_lists_everything_and_changes_nothing(aws):
    steps = plan_stack(make_config(azs=("ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d")), aws).steps
    kinds = [(s.action, s.kind) for s in steps]
    assert kinds.count(("create", "vpc")) == 1
    assert kinds.count(("create", "subnet")) == 9
    assert kinds.count(("create", "route-table")) == 7
    assert kinds.count(("create", "nat-instance")) == 3
    assert kinds.count(("create", "elastic-ip")) == 3
    assert kinds.count(("modify", "source-dest-check")) == 3
    assert kinds.count(("create", "subscription")) == 2
    assert kinds.index(("create", "table")) + 1 == kinds.index(("modify", "table-ttl"))
    assert kinds[-1] == ("create", "topology-parameter")
    assert resource_counts(aws.ec2) == dict.fromkeys(resource_counts(aws.ec2), 0)
    assert aws.sns.list_topics()["Topics"] == []


def test_table_ttl_is_switched_on_once_and_never_moved_off_another_attribute(aws):
    config = make_config()
    build_stack(config, aws, wait_interval_s=0)
    aws.dynamodb.update_time_to_live(TableName="hanat-t-state",  # a stack built before TTL existed
                                     TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires_at"})
    assert [(s.action, s.kind, s.name) for s in plan_stack(config, aws).steps] == [
        ("modify", "table-ttl", "hanat-t-state")]
    assert build_stack(config, aws, wait_interval_s=0).changes == 1
    ttl = aws.dynamodb.describe_time_to_live(TableName="hanat-t-state")["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
    assert build_stack(config, aws, wait_interval_s=0).changes == 0

    aws.dynamodb.update_time_to_live(TableName="hanat-t-state",
                                     TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires_at"})
    aws.dynamodb.update_time_to_live(TableName="hanat-t-state",
                                     TimeToLiveSpecification={"Enabled": True, "AttributeName": "gone_at"})
    with pytest.raises(InputError) as err:
        build_stack(config, aws, wait_interval_s=0)
    assert "'gone_at'" in str(err.value) and "'expires_at'" in str(err.value)
    ttl = aws.dynamodb.describe_time_to_live(TableName="hanat-t-state")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "gone_at"  # refused before any change


def test_admin_instance_and_session_permissions(aws):
    for name in ("alice", "bob"):
        aws.iam.create_user(UserName=name)
    users = (PermissionConfig(f"arn:aws:iam::{ACCOUNT}:user/alice", allow_ssh=False, allow_sudo=False),
             PermissionConfig(f"arn:aws:iam::{ACCOUNT}:user/team/bob", allow_sudo=True))
    build_stack(make_config(admin=True, users=users), aws, wait_interval_s=0)
    [admin] = tagged_instances(aws.ec2, "admin")
    assert admin["InstanceType"] == "t3.micro" and admin["MetadataOptions"]["HttpTokens"] == "required"
    alias = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    assert admin["ImageId"] == aws.ssm.get_parameter(Name=alias)["Parameter"]["Value"]
    iam = aws.iam
    alice_tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName="alice")["Tags"]}
    bob_tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName="bob")["Tags"]}
    assert alice_tags == {"SSMSessionRunAs": "hanat-user"} and bob_tags == {}
    for user in ("alice", "bob"):
        [attached] = iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]
        policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
        assert {"Key": "hanat:stack", "Value": "t"} in iam.list_policy_tags(PolicyArn=policy["Arn"])["Tags"]
        doc = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])
        statements = doc["PolicyVersion"]["Document"]["Statement"]
        doc_text = json.dumps(statements)
        assert statements[0]["Condition"] == {"StringEquals": {"ssm:resourceTag/hanat:stack": "t"}}
        assert ("AWS-StartSSHSession" in doc_text) == (user == "bob")


def test_missing_users_and_foreign_resources_are_refused_before_any_change(aws):
    aws.dynamodb.create_table(TableName="hanat-t-state", BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    users = (PermissionConfig(f"arn:aws:iam::{ACCOUNT}:user/ghost"), PermissionConfig(f"arn:aws:iam::{ACCOUNT}:user/nobody"))
    with pytest.raises(InputError) as err:
        build_stack(make_config(users=users), aws, wait_interval_s=0)
    message = str(err.value)
    assert "'ghost'" in message and "'nobody'" in message and "hanat-t-state" in message
    assert err.value.exit_code == 2
    assert resource_counts(aws.ec2)["vpcs"] == 0
    assert aws.iam.list_roles()["Roles"] == []


def test_up_keeps_failover_but_repairs_pinned_probe_routes_and_dead_nats(aws):
    ec2, config = aws.ec2, make_config()
    topology = build_stack(config, aws, wait_interval_s=0).topology
    a, c = topology.zones
    # the controller moved zone a's private route to NAT c: up must not undo that ...
    ec2.replace_route(RouteTableId=a.private_route_table_ids[0], DestinationCidrBlock="0.0.0.0/0",
                      NetworkInterfaceId=c.nat_eni_id)
    # ... but a probe route is pinned to its own NAT: up puts it back
    ec2.replace_route(RouteTableId=a.probe_route_table_id, DestinationCidrBlock="0.0.0.0/0",
                      NetworkInterfaceId=c.nat_eni_id)
    result = build_stack(config, aws, wait_interval_s=0)
    assert [(s.kind, s.name, s.zone) for s in result.steps] == [("default-route", "probe", a.az)]
    tables = {t["RouteTableId"]: t for t in ec2.describe_route_tables(Filters=STACK_FILTER)["RouteTables"]}
    assert default_route(tables[a.probe_route_table_id])["NetworkInterfaceId"] == a.nat_eni_id
    assert default_route(tables[a.private_route_table_ids[0]])["NetworkInterfaceId"] == c.nat_eni_id

    ec2.terminate_instances(InstanceIds=[a.nat_instance_id])  # a dead NAT: up replaces it
    replaced = build_stack(config, aws, wait_interval_s=0).topology.zone(a.az)
    assert replaced.nat_instance_id != a.nat_instance_id
    assert replaced.nat_eip_allocation_id == a.nat_eip_allocation_id  # same egress IP
    assert [i["InstanceId"] for i in tagged_instances(ec2, "nat") if tags(i)["hanat:zone"] == a.az] == [
        replaced.nat_instance_id]
    tables = {t["RouteTableId"]: t for t in ec2.describe_route_tables(Filters=STACK_FILTER)["RouteTables"]}
    assert default_route(tables[a.probe_route_table_id])["NetworkInterfaceId"] == replaced.nat_eni_id
    assert read_topology(aws.ssm, "t").zone(a.az).nat_instance_id == replaced.nat_instance_id
    assert build_stack(config, aws, wait_interval_s=0).changes == 0


def test_config_drift_that_cannot_be_changed_in_place_is_reported(aws):
    build_stack(make_config(), aws, wait_interval_s=0)
    moved = make_config()
    zones = (moved.zones[0].__class__(moved.zones[0].az, "10.0.100.0/24", "10.0.128.0/20", "10.0.101.0/28"),
             moved.zones[1])
    with pytest.raises(InputError) as err:
        plan_stack(HanatConfig(stack=moved.stack, zones=zones), aws)
    text = str(err.value)
    assert "10.0.100.0/24" in text and "10.0.128.0/20" in text and "10.0.101.0/28" in text
