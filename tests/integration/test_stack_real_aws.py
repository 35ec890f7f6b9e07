"""`hanat up` as AWS (not moto) takes it: NAT launch, tags on everything RunInstances creates, the NAT
security group, the topology parameter's tier. moto accepts the old behaviour; ``awsrules`` makes it
refuse what AWS refuses, each rule citing AWS's documentation."""
from __future__ import annotations

import base64
import dataclasses
import gzip

import boto3
import pytest
from moto import mock_aws

from bootstrap.nat import render
from bootstrap.stack import StackClients, build_stack, plan_stack, read_topology
from chalicelib.aws import instances
from chalicelib.naming import stack_tags
from tests.integration import awsrules
from tests.integration.test_stack_up import REGION, STACK_FILTER, make_config, tagged_instances, tags

SEEN: dict[str, list] = {}


@pytest.fixture
def aws(aws_env):
    with mock_aws():
        clients = StackClients.from_session(boto3.session.Session(region_name=REGION), REGION)
        SEEN.update(ec2=awsrules.install(clients.ec2), ssm=awsrules.install(clients.ssm))
        yield clients


def run_instances_calls(_aws) -> list[dict]:
    return [params for op, params in SEEN["ec2"] if op == "RunInstances"]


def nat_group(aws) -> dict:
    groups = aws.ec2.describe_security_groups(Filters=STACK_FILTER)["SecurityGroups"]
    return next(g for g in groups if tags(g)["hanat:role"] == "nat-sg")


def template_data(aws, template_id: str) -> dict:
    return aws.ec2.describe_launch_template_versions(LaunchTemplateId=template_id, Versions=["$Default"])[
        "LaunchTemplateVersions"][0]["LaunchTemplateData"]


def test_nat_template_gives_a_public_address_from_boot_imds_tags_and_the_shipped_user_data(aws):
    topology = build_stack(make_config(), aws, wait_interval_s=0).topology
    data = template_data(aws, topology.launch_template_id)
    # a NAT must reach the internet before its EIP is associated: public address on device 0
    [interface] = data["NetworkInterfaces"]
    assert interface["DeviceIndex"] == 0 and interface["AssociatePublicIpAddress"] is True
    assert interface["Groups"] == [topology.nat_security_group_id] and "SubnetId" not in interface
    assert "SecurityGroupIds" not in data  # groups go inside the interface when there is one
    assert data["MetadataOptions"] == {"HttpTokens": "required", "HttpPutResponseHopLimit": 1,
                                       "HttpEndpoint": "enabled", "InstanceMetadataTags": "enabled"}
    raw = base64.b64decode(data["UserData"])
    probe_ids = [z.probe_subnet_id for z in topology.zones]
    cidr_of = {s["SubnetId"]: s["CidrBlock"] for s in aws.ec2.describe_subnets(SubnetIds=probe_ids)["Subnets"]}
    probe_cidrs = tuple(cidr_of[i] for i in probe_ids)   # in zone order, as the template renders them
    assert len(probe_cidrs) == len(topology.zones)   # the NAT's counters listener answers these alone
    assert raw == render.nat_user_data("10.0.0.0/16", probe_cidrs=probe_cidrs) and len(raw) <= render.USER_DATA_LIMIT
    script = gzip.decompress(raw).decode()  # cloud-init un-gzips user data itself
    assert "hanat-nat-agent" in script and "10.0.0.0/16" in script and render.AGENT_MARKER not in script


def test_every_run_instances_names_the_subnet_in_the_interface_and_tags_all_it_creates(aws):
    build_stack(make_config(admin=True), aws, wait_interval_s=0)  # awsrules refuses SubnetId + interface
    calls = run_instances_calls(aws)
    assert len(calls) == 3  # two NATs, the admin instance
    for params in calls:
        assert "SubnetId" not in params and "SecurityGroupIds" not in params
        [interface] = params["NetworkInterfaces"]
        assert interface["SubnetId"].startswith("subnet-") and interface["AssociatePublicIpAddress"] is True
        # the operator policy conditions instance, network-interface and volume on aws:RequestTag:
        # each created type must be named in TagSpecifications (RunInstances tags nothing else)
        kinds = {spec["ResourceType"]: spec["Tags"] for spec in params["TagSpecifications"]}
        assert set(kinds) == {"instance", "network-interface", "volume"}
        assert all({"Key": "hanat:stack", "Value": "t"} in t for t in kinds.values())
        assert params["MetadataOptions"]["InstanceMetadataTags"] == "enabled"
    admin = next(p for p in calls if "LaunchTemplate" not in p)
    # botocore base64-encodes RunInstances' UserData once (handler base64_encode_user_data)
    assert base64.b64decode(admin["UserData"]).decode() == render.admin_user_data()
    assert "useradd" in render.admin_user_data()
    [admin_instance] = tagged_instances(aws.ec2, "admin")
    assert admin_instance["PublicIpAddress"]


def test_the_controllers_replacement_launch_is_valid_against_the_template_up_made(aws):
    topology = build_stack(make_config(), aws, wait_interval_s=0).topology
    zone = topology.zones[0]
    nat = instances.launch_from_template(
        aws.ec2, launch_template_id=topology.launch_template_id, subnet_id=zone.public_subnet_id,
        security_group_id=topology.nat_security_group_id, tags=stack_tags("t", "nat", zone.az), client_token="tok-1")
    [params] = run_instances_calls(aws)[-1:]
    assert "SubnetId" not in params
    assert params["NetworkInterfaces"][0]["Groups"] == [topology.nat_security_group_id]
    raw = aws.ec2.describe_instances(InstanceIds=[nat.instance_id])["Reservations"][0]["Instances"][0]
    assert raw["SubnetId"] == zone.public_subnet_id and raw["PublicIpAddress"]


def test_nat_group_accepts_vxlan_only_from_nats_and_tcp_udp_icmp_from_the_vpc(aws):
    topology = build_stack(make_config(), aws, wait_interval_s=0).topology
    group = nat_group(aws)
    rules = set()
    for perm in group["IpPermissions"]:
        ports = (perm.get("FromPort"), perm.get("ToPort"))
        rules |= {(perm["IpProtocol"], *ports, r["CidrIp"]) for r in perm.get("IpRanges", [])}
        rules |= {(perm["IpProtocol"], *ports, g["GroupId"]) for g in perm.get("UserIdGroupPairs", [])}
    assert rules == {("tcp", 0, 65535, "10.0.0.0/16"), ("udp", 0, 4788, "10.0.0.0/16"),
                     ("udp", 4790, 65535, "10.0.0.0/16"), ("icmp", -1, -1, "10.0.0.0/16"),
                     ("udp", 4789, 4789, topology.nat_security_group_id)}
    assert plan_stack(make_config(), aws).steps == []


def test_up_moves_an_older_stack_to_the_new_template_and_group_rules(aws):
    config = make_config()
    topology = build_stack(config, aws, wait_interval_s=0).topology
    group_id = topology.nat_security_group_id
    # what the previous version built: all traffic from the VPC, groups at template level, no IMDS tags
    for perm in nat_group(aws)["IpPermissions"]:
        aws.ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=[perm])
    aws.ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}])
    old = dict(template_data(aws, topology.launch_template_id))
    old.pop("NetworkInterfaces")
    old.update(SecurityGroupIds=[group_id], MetadataOptions={"HttpTokens": "required", "HttpPutResponseHopLimit": 1})
    version = aws.ec2.create_launch_template_version(LaunchTemplateId=topology.launch_template_id,
                                                     LaunchTemplateData=old)["LaunchTemplateVersion"]["VersionNumber"]
    aws.ec2.modify_launch_template(LaunchTemplateId=topology.launch_template_id, DefaultVersion=str(version))

    steps = [(s.kind, s.name) for s in plan_stack(config, aws).steps]
    assert steps == [("security-group-ingress", "nat-sg"), ("launch-template", "hanat-t-nat")]
    build_stack(config, aws, wait_interval_s=0)
    assert ("-1", "10.0.0.0/16") not in {(p["IpProtocol"], r["CidrIp"]) for p in nat_group(aws)["IpPermissions"]
                                         for r in p.get("IpRanges", [])}
    assert template_data(aws, topology.launch_template_id)["MetadataOptions"]["InstanceMetadataTags"] == "enabled"
    assert plan_stack(config, aws).steps == []


def test_six_zone_topology_with_long_targets_is_stored_past_the_standard_4kb(aws_env):
    region = "us-east-1"
    azs = tuple(f"us-east-1{x}" for x in "abcdef")
    targets = tuple(f"https://probe-{i}.very-long-health-check-name.example.com:8443/health/check/path/{i}"
                    for i in range(8))
    with mock_aws():
        clients = StackClients.from_session(boto3.session.Session(region_name=region), region)
        seen = awsrules.install(clients.ssm)
        config = make_config(azs=azs, region=region)
        config = dataclasses.replace(config, probe=dataclasses.replace(config.probe, targets=targets))
        topology = build_stack(config, clients, wait_interval_s=0).topology
        assert len(topology.to_json().encode()) > awsrules.SSM_STANDARD_MAX_BYTES
        assert read_topology(clients.ssm, "t") == topology
        puts = [p for op, p in seen if op == "PutParameter" and p["Name"] == "/hanat/t/topology"]
        assert puts and all(p["Tier"] == "Intelligent-Tiering" for p in puts)
