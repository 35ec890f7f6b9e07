"""The calls hanat makes in an ADOPTED VPC, evaluated under the policies it ships or writes (lab/iam).

The adopted VPC, its subnets and its route tables carry no hanat tag: they are the user's. The controller
(``hanat deploy``'s policy) must launch a replacement NAT into the user's public subnet, re-point the
stack's alarm and dashboard, and read a stack NAT's console; the operator (examples/iam-policy-operator.json
with examples/iam-policy-operator-adopt.json) must build hanat's own parts in the user's VPC (issue 18,
faults 2, 4, 5, 6). Which resources each action authorizes, and which keys each carries, is the Service
Authorization Reference's (Amazon EC2, Amazon CloudWatch, IAM:
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html).
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from bootstrap.deploy.policy import controller_policy
from chalicelib import monitoring
from chalicelib.naming import instance_role_name, stack_tags
from chalicelib.topology import AdoptedRouteTable
from lab.iam.evaluate import Request, Resource, evaluate
from tests.unit.test_alerts import TOPOLOGY

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT, REGION = "123456789012", TOPOLOGY.region
EC2 = f"arn:aws:ec2:{REGION}:{ACCOUNT}"
ADOPTED = dataclasses.replace(TOPOLOGY, launch_template_id="lt-0123456789abcdef0", nat_security_group_id="sg-nat",
                              zones=tuple(dataclasses.replace(z, adopted=(AdoptedRouteTable(
                                  z.private_route_table_ids[0], "nat-0123456789abcdef0"),)) for z in TOPOLOGY.zones))
STACK, ZONE = ADOPTED.stack, ADOPTED.zones[0]
USER_VPC = f"{EC2}:vpc/{ADOPTED.vpc_id}"                         # no tag at all
USER_PUBLIC_SUBNET = f"{EC2}:subnet/{ZONE.public_subnet_id}"      # no tag at all
OWN = {"hanat:stack": STACK}


def tags(role: str, zone: str | None = None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in stack_tags(STACK, role, zone)}


def run_nat_instance(role_tags: dict[str, str]) -> Request:
    """RunInstances from the stack's launch template into the user's public subnet with the stack's group;
    the instance, its interface and its volume are tagged at launch (chalicelib/aws/instances.py)."""
    on_net = {"ec2:Vpc": USER_VPC}
    return Request("ec2:RunInstances", [
        Resource(f"{EC2}:launch-template/{ADOPTED.launch_template_id}", tags=OWN),
        Resource(f"arn:aws:ec2:{REGION}::image/ami-0123456789abcdef0"),
        Resource(USER_PUBLIC_SUBNET, keys=on_net),
        Resource(f"{EC2}:security-group/{ADOPTED.nat_security_group_id}", tags=OWN, keys=on_net),
        Resource(f"{EC2}:network-interface/*", request_tags=role_tags,
                 keys={**on_net, "ec2:Subnet": USER_PUBLIC_SUBNET}),
        Resource(f"{EC2}:instance/*", request_tags=role_tags),
        Resource(f"{EC2}:volume/*", request_tags=role_tags)])


def tag_on_launch(role_tags: dict[str, str]) -> Request:
    return Request("ec2:CreateTags", [Resource(f"{EC2}:{kind}/*", request_tags=role_tags)
                                      for kind in ("instance", "network-interface", "volume")],
                   {"ec2:CreateAction": "RunInstances"})


def create_in_user_vpc(action: str, kind: str, role: str) -> Request:
    """CreateSubnet/CreateRouteTable/CreateSecurityGroup: the new, tagged resource and the user's VPC."""
    return Request(action, [Resource(f"{EC2}:{kind}/*", request_tags=tags(role, ZONE.az)), Resource(USER_VPC)])


def pass_nat_role(name: str) -> Request:
    return Request("iam:PassRole", [Resource(f"arn:aws:iam::{ACCOUNT}:role/{name}")],
                   {"iam:PassedToService": "ec2.amazonaws.com", "iam:AssociatedResourceArn": None})


ALARM = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{monitoring.nat_alarm_name(STACK, ZONE.az)}"
DASHBOARD = f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/{monitoring.dashboard_name(STACK, REGION)}"
NAT = f"{EC2}:instance/{ZONE.nat_instance_id}"

CONTROLLER_CALLS = [
    ("fault2-replacement-launch-into-user-public-subnet", run_nat_instance(tags("nat", ZONE.az))),
    ("replacement-tags-on-launch", tag_on_launch(tags("nat", ZONE.az))),
    ("replacement-passes-nat-role", pass_nat_role(instance_role_name(STACK, REGION))),
    ("replacement-moves-eip", Request("ec2:AssociateAddress", [
        Resource(NAT, tags=OWN), Resource(f"{EC2}:elastic-ip/{ZONE.nat_eip_allocation_id}", tags=OWN)])),
    # service/nat_alarms.py: find the zone's alarm, re-point it (no Tags on update), then the dashboard
    ("fault5-describe-nat-alarm", Request("cloudwatch:DescribeAlarms", [Resource(ALARM)])),
    ("fault5-put-nat-alarm", Request("cloudwatch:PutMetricAlarm", [Resource(ALARM)], {
        "cloudwatch:AlarmActions": [ADOPTED.topic_arn]})),
    ("fault5-get-dashboard", Request("cloudwatch:GetDashboard", [Resource(DASHBOARD)])),
    ("fault5-put-dashboard", Request("cloudwatch:PutDashboard", [Resource(DASHBOARD)])),
    ("fault6-console-of-stack-nat", Request("ec2:GetConsoleOutput", [Resource(NAT, tags=OWN)])),
    # planned moves: handoff tags on the stack's NAT (chalicelib/aws/nat_tags.py), not at creation
    ("handoff-tag-on-stack-nat", Request("ec2:CreateTags", [Resource(NAT, tags=OWN, request_tags={
        "hanat:handoff:10.0.1.0/24": "eni-2"})], {"ec2:CreateAction": None})),
    ("handoff-untag-on-stack-nat", Request("ec2:DeleteTags", [Resource(NAT, tags=OWN, keys={
        "aws:TagKeys": ["hanat:handoff:10.0.1.0/24"]})], {"ec2:CreateAction": None})),
]
OPERATOR_CALLS = [
    ("fault4-probe-subnet-in-user-vpc", create_in_user_vpc("ec2:CreateSubnet", "subnet", "probe")),
    ("fault4-probe-route-table-in-user-vpc", create_in_user_vpc("ec2:CreateRouteTable", "route-table", "probe")),
    ("fault4-security-group-in-user-vpc", create_in_user_vpc("ec2:CreateSecurityGroup", "security-group", "nat-sg")),
    ("fault4-nat-into-user-public-subnet", run_nat_instance(tags("nat", ZONE.az))),
    ("tags-on-create", Request("ec2:CreateTags", [Resource(f"{EC2}:subnet/*", request_tags=tags("probe", ZONE.az))],
                               {"ec2:CreateAction": "CreateSubnet"})),
    ("passes-nat-role", pass_nat_role(instance_role_name(STACK, REGION))),
    # up's name-tag step (bootstrap/stack/executor.py _name_tag): only the stack's own resources (fault 3)
    ("name-tag-on-stack-subnet", Request("ec2:CreateTags", [Resource(f"{EC2}:subnet/subnet-probe", tags=OWN,
                                                                     request_tags={"Name": "hanat-x-probe-a"})],
                                         {"ec2:CreateAction": None})),
]


def operator_policies() -> dict[str, dict]:
    return {name: json.loads((ROOT / "examples" / f"{name}.json").read_text())
            for name in ("iam-policy-operator", "iam-policy-operator-adopt")}


@pytest.mark.parametrize("request_", [c[1] for c in CONTROLLER_CALLS], ids=[c[0] for c in CONTROLLER_CALLS])
def test_controller_policy_allows_its_calls_in_an_adopted_vpc(request_):
    decision = evaluate({"controller": controller_policy(ADOPTED, "dev")}, request_)
    assert decision.allowed, decision.reason


@pytest.mark.parametrize("request_", [c[1] for c in OPERATOR_CALLS], ids=[c[0] for c in OPERATOR_CALLS])
def test_operator_adopt_policies_allow_building_in_an_adopted_vpc(request_):
    decision = evaluate(operator_policies(), request_)
    assert decision.allowed, decision.reason


OTHER_VPC = f"{EC2}:vpc/vpc-someone-else"
NOT_THE_STACKS = [
    ("launch-into-another-subnet", dataclasses.replace(run_nat_instance(tags("nat", ZONE.az)), resources=[
        r if "subnet/" not in r.arn else Resource(f"{EC2}:subnet/subnet-other", keys={"ec2:Vpc": OTHER_VPC})
        for r in run_nat_instance(tags("nat", ZONE.az)).resources])),
    ("launch-untagged-instance", run_nat_instance({"Name": "x"})),
    ("alarm-of-another-stack", Request("cloudwatch:PutMetricAlarm", [Resource(
        f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:hanat-other-nat-a-status-check")],
        {"cloudwatch:AlarmActions": [ADOPTED.topic_arn]})),
    ("alarm-that-terminates", Request("cloudwatch:PutMetricAlarm", [Resource(ALARM)], {
        "cloudwatch:AlarmActions": [f"arn:aws:automate:{REGION}:ec2:terminate"]})),
    ("dashboard-of-another-stack", Request("cloudwatch:PutDashboard", [Resource(
        f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/hanat-other-{REGION}")])),
    ("console-of-another-instance", Request("ec2:GetConsoleOutput", [Resource(f"{EC2}:instance/i-0theirs")])),
    ("tag-other-keys-on-stack-nat", Request("ec2:CreateTags", [Resource(NAT, tags=OWN, request_tags={
        "hanat:stack": "other"})], {"ec2:CreateAction": None})),
    ("delete-every-tag-of-stack-nat", Request("ec2:DeleteTags", [Resource(NAT, tags=OWN, keys={"aws:TagKeys": None})],
                                              {"ec2:CreateAction": None})),
]


@pytest.mark.parametrize("request_", [c[1] for c in NOT_THE_STACKS], ids=[c[0] for c in NOT_THE_STACKS])
def test_controller_policy_stays_on_the_stacks_own_resources(request_):
    decision = evaluate({"controller": controller_policy(ADOPTED, "dev")}, request_)
    assert not decision.allowed, decision.reason


def test_operator_cannot_rename_the_users_untagged_vpc():
    """What fault 3's fix stops hanat from asking: the Name tag of the adopted VPC is the user's."""
    rename = Request("ec2:CreateTags", [Resource(USER_VPC, request_tags={"Name": f"hanat-{STACK}-vpc"})],
                     {"ec2:CreateAction": None})
    decision = evaluate(operator_policies(), rename)
    assert not decision.allowed, decision.reason


def test_operator_cannot_launch_an_untagged_instance_into_the_user_vpc():
    decision = evaluate(operator_policies(), run_nat_instance({"Name": "x"}))
    assert not decision.allowed, decision.reason


def test_in_a_vpc_hanat_built_the_launch_still_goes_by_the_stack_tag():
    owned = dataclasses.replace(ADOPTED, zones=TOPOLOGY.zones)
    launch = run_nat_instance(tags("nat", ZONE.az))
    tagged = dataclasses.replace(launch, resources=[
        dataclasses.replace(r, tags=OWN) if "subnet/" in r.arn else r for r in launch.resources])
    policy = {"controller": controller_policy(owned, "dev")}
    assert "LaunchIntoAdoptedPublicSubnets" not in {s["Sid"] for s in policy["controller"]["Statement"]}
    assert evaluate(policy, tagged).allowed
    assert not evaluate(policy, launch).allowed      # an untagged subnet is not the stack's


AMI_ALIAS = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"


@pytest.mark.parametrize("action", ["ssm:GetParameters", "ssm:GetParameter"])
def test_controller_reads_the_nat_ami_alias_at_launch_and_for_the_stale_check(action):
    """Found by the IAM recorder (tests/integration, test_roll): EC2 resolves ``resolve:ssm:`` with
    ssm:GetParameters at launch, and service/outdated.py reads the alias with ssm:GetParameter to tell a
    NAT on an older AMI; the policy granted only the first, so AMI staleness was never seen on AWS.
    AWS's public parameters have no account in their ARN (Systems Manager User Guide, public parameters)."""
    policy = {"controller": controller_policy(ADOPTED, "dev", nat_ami=f"resolve:ssm:{AMI_ALIAS}")}
    read = Request(action, [Resource(f"arn:aws:ssm:{REGION}::parameter{AMI_ALIAS}")])
    decision = evaluate(policy, read)
    assert decision.allowed, decision.reason
    other = Request(action, [Resource(f"arn:aws:ssm:{REGION}::parameter/aws/service/other")])
    assert not evaluate(policy, other).allowed
