"""IAM is global: the same stack name in two regions must neither share nor delete each other's IAM
roles, instance profiles and policies (moto, like IAM, has one IAM for every region)."""
from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from bootstrap.config.schema import PermissionConfig
from bootstrap.deploy.roles import ensure_roles
from bootstrap.deploy.stage import policies_for
from bootstrap.stack import StackClients, build_stack, destroy_stack
from bootstrap.stack.api import remove_controller_roles
from chalicelib import naming
from tests.integration.test_stack_up import ACCOUNT, make_config

REGIONS = ("ap-northeast-1", "eu-west-1")


@pytest.fixture
def world(aws_env):
    with mock_aws():
        clients = {r: StackClients.from_session(boto3.session.Session(region_name=r), r) for r in REGIONS}
        clients[REGIONS[0]].iam.create_user(UserName="alice")
        yield clients


def config(region: str):
    azs = (f"{region}a", f"{region}c") if region.startswith("ap") else (f"{region}a", f"{region}b")
    return make_config(azs=azs, region=region, users=(PermissionConfig(f"arn:aws:iam::{ACCOUNT}:user/alice"),))


def iam_names(iam) -> set[str]:
    roles = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    profiles = {p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]}
    policies = {p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]}
    return roles | profiles | policies


def test_the_same_stack_in_two_regions_has_its_own_iam_and_down_leaves_the_other(world):
    tokyo, ireland = REGIONS
    for region in REGIONS:
        build_stack(config(region), world[region], wait_interval_s=0)
    iam = world[tokyo].iam
    assert {f"hanat-t-{r}-instance" for r in REGIONS} <= iam_names(iam)
    assert {f"hanat-t-{r}-session-alice" for r in REGIONS} <= iam_names(iam)
    profile = world[ireland].ec2.describe_launch_templates()["LaunchTemplates"]
    assert profile  # each region's template names its own profile:
    for region in REGIONS:
        data = world[region].ec2.describe_launch_template_versions(
            LaunchTemplateName="hanat-t-nat", Versions=["$Default"])["LaunchTemplateVersions"][0]["LaunchTemplateData"]
        assert data["IamInstanceProfile"]["Name"] == f"hanat-t-{region}-instance"

    destroy_stack(config(tokyo), world[tokyo], wait_interval_s=0)
    left = iam_names(iam)
    assert not {n for n in left if tokyo in n}
    assert {f"hanat-t-{ireland}-instance", f"hanat-t-{ireland}-session-alice"} <= left
    attached = [p["PolicyName"] for p in iam.list_attached_user_policies(UserName="alice")["AttachedPolicies"]]
    assert attached == [f"hanat-t-{ireland}-session-alice"]
    again = build_stack(config(ireland), world[ireland], wait_interval_s=0)
    assert again.changes == 0, [s.describe() for s in again.steps]


def test_down_still_removes_what_versions_before_region_names_made(world):
    region = REGIONS[0]
    clients = world[region]
    build_stack(config(region), clients, wait_interval_s=0)
    tags = [{"Key": "hanat:stack", "Value": "t"}]
    clients.iam.create_role(RoleName="hanat-t-instance", AssumeRolePolicyDocument="{}", Tags=tags)
    clients.iam.create_instance_profile(InstanceProfileName="hanat-t-instance", Tags=tags)
    policy = clients.iam.create_policy(PolicyName="hanat-t-session-alice", Tags=tags, PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ssm:StartSession", "Resource": "*"}]}))
    clients.iam.attach_user_policy(UserName="alice", PolicyArn=policy["Policy"]["Arn"])
    result = destroy_stack(config(region), clients, wait_interval_s=0)
    assert {"iam-role hanat-t-instance", "instance-profile hanat-t-instance", "iam-policy hanat-t-session-alice"} <= set(
        result.deleted)
    assert not {n for n in iam_names(clients.iam) if n.startswith("hanat-t-")}


def test_controller_roles_carry_the_region_and_down_removes_only_its_own(world):
    from chalicelib.topology import Topology

    arns = {}
    for region in REGIONS:
        topology = Topology(stack="t", region=region, vpc_id="vpc-1", vpc_cidr="10.0.0.0/16", table_name="hanat-t-state",
                            topic_arn=f"arn:aws:sns:{region}:{ACCOUNT}:hanat-t-alerts",
                            topology_parameter="/hanat/t/topology", zones=())
        arns[region] = ensure_roles(world[region].iam, topology, "t", policies_for(topology, "t"))
    assert arns[REGIONS[0]]["controller"] != arns[REGIONS[1]]["controller"]
    assert arns[REGIONS[0]]["probe"].endswith(f":role/{naming.controller_role_name('t', REGIONS[0], 'probe')}")
    assert remove_controller_roles("t", "t", region=REGIONS[0]) == [
        f"hanat-t-{REGIONS[0]}-controller", f"hanat-t-{REGIONS[0]}-probe"]
    left = {r["RoleName"] for r in world[REGIONS[1]].iam.list_roles()["Roles"]}
    assert {f"hanat-t-{REGIONS[1]}-controller", f"hanat-t-{REGIONS[1]}-probe"} <= left
    assert remove_controller_roles("t", "t", region=REGIONS[0]) == []   # idempotent
