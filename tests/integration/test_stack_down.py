"""`hanat down`: every tagged resource goes, untagged neighbours survive, a re-run is harmless."""
from __future__ import annotations

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
from bootstrap.stack import StackClients, build_stack, destroy_stack, plan_stack
from tests.support.stack import LAB_PROBE

REGION = "ap-northeast-1"
TAG_KEY = "hanat:stack"


def config(stack: str = "d", users=()) -> HanatConfig:
    zones = (ZoneConfig("ap-northeast-1a", "10.2.0.0/24", "10.2.16.0/20", "10.2.8.0/28"),
             ZoneConfig("ap-northeast-1d", "10.2.1.0/24", "10.2.32.0/20", "10.2.9.0/28"))
    return HanatConfig(stack=StackConfig(stack, REGION, "10.2.0.0/16"), zones=zones, probe=LAB_PROBE,
                       alerts=AlertsConfig(emails=("ops@example.com",)), admin=AdminConfig(enabled=True),
                       permissions=tuple(users))


@pytest.fixture
def aws(aws_env):
    with mock_aws():
        yield StackClients.from_session(boto3.session.Session(region_name=REGION), REGION)


def tagged_anything(clients: StackClients, stack: str) -> dict[str, list]:
    """Everything still carrying the stack tag, by kind (raw reads, independent of the code under test)."""
    ec2, f = clients.ec2, [{"Name": f"tag:{TAG_KEY}", "Values": [stack]}]
    left = {
        "vpcs": ec2.describe_vpcs(Filters=f)["Vpcs"],
        "igws": ec2.describe_internet_gateways(Filters=f)["InternetGateways"],
        "subnets": ec2.describe_subnets(Filters=f)["Subnets"],
        "route_tables": ec2.describe_route_tables(Filters=f)["RouteTables"],
        "security_groups": ec2.describe_security_groups(Filters=f)["SecurityGroups"],
        "instances": [i for r in ec2.describe_instances(Filters=f)["Reservations"] for i in r["Instances"]
                      if i["State"]["Name"] != "terminated"],
        "eips": ec2.describe_addresses(Filters=f)["Addresses"],
        "launch_templates": ec2.describe_launch_templates(Filters=f)["LaunchTemplates"],
        "roles": [r for r in clients.iam.list_roles()["Roles"] if r["RoleName"].startswith(f"hanat-{stack}-")],
        "profiles": [p for p in clients.iam.list_instance_profiles()["InstanceProfiles"]
                     if p["InstanceProfileName"].startswith(f"hanat-{stack}-")],
        "policies": [p for p in clients.iam.list_policies(Scope="Local")["Policies"]
                     if p["PolicyName"].startswith(f"hanat-{stack}-")],
        "parameters": clients.ssm.get_parameters_by_path(Path=f"/hanat/{stack}/", Recursive=True)["Parameters"],
        "tables": [t for t in clients.dynamodb.list_tables()["TableNames"] if t == f"hanat-{stack}-state"],
        "topics": [t for t in clients.sns.list_topics()["Topics"] if t["TopicArn"].endswith(f"hanat-{stack}-alerts")],
        "subscriptions": [s for s in clients.sns.list_subscriptions()["Subscriptions"]
                          if s["TopicArn"].endswith(f"hanat-{stack}-alerts")],
    }
    return {kind: items for kind, items in left.items() if items}


# moto's, not hanat's: a re-run of down (``again`` below) may list, from a stale DescribeInstances, a NAT the
# first run terminated, and terminates it again. EC2: "This operation is idempotent; if you terminate an
# instance more than once, each call succeeds" (EC2 API Reference, TerminateInstances); moto 5 deletes the
# instance's DeleteOnTermination interfaces again and fails InvalidNetworkInterfaceID.NotFound.
@pytest.mark.stale_reads_off("moto: TerminateInstances of a terminated instance fails InvalidNetworkInterfaceID.NotFound "
                             "(EC2: idempotent)")
def test_down_removes_every_tagged_resource_and_spares_the_rest(aws):
    ec2, iam = aws.ec2, aws.iam
    iam.create_user(UserName="alice")
    iam.tag_user(UserName="alice", Tags=[{"Key": "team", "Value": "net"}])
    # neighbours that do not carry the tag: an unrelated VPC with an instance, a foreign parameter
    other_vpc = ec2.create_vpc(CidrBlock="172.16.0.0/16")["Vpc"]["VpcId"]
    other_subnet = ec2.create_subnet(VpcId=other_vpc, CidrBlock="172.16.0.0/24")["Subnet"]["SubnetId"]
    image = aws.ssm.get_parameter(
        Name="/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")["Parameter"]["Value"]
    other_instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=other_subnet,
                                       InstanceType="t3.micro")["Instances"][0]["InstanceId"]
    other_eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    aws.ssm.put_parameter(Name="/hanat/d/operator-notes", Value="keep me", Type="String")

    users = (PermissionConfig("arn:aws:iam::123456789012:user/alice"),)
    build_stack(config(users=users), aws, wait_interval_s=0)
    other_stack = build_stack(config("other"), aws, wait_interval_s=0)  # a second stack, same account
    assert set(tagged_anything(aws, "d")) >= {"vpcs", "instances", "eips", "roles", "policies", "topics"}

    result = destroy_stack(config(users=users), aws, wait_interval_s=0)
    left = tagged_anything(aws, "d")
    assert list(left) == ["parameters"], left  # only the operator's own untagged parameter is left
    assert [p["Name"] for p in left["parameters"]] == ["/hanat/d/operator-notes"]
    kinds = [d.split()[0] for d in result.deleted]
    assert kinds.count("instance") == 3 and kinds.count("elastic-ip") == 2 and kinds.count("vpc") == 1

    # untouched: the untagged VPC, its running instance, the foreign EIP, alice and her own tag
    assert ec2.describe_vpcs(VpcIds=[other_vpc])["Vpcs"]
    state = ec2.describe_instances(InstanceIds=[other_instance])["Reservations"][0]["Instances"][0]["State"]
    assert state["Name"] == "running"
    assert ec2.describe_addresses(AllocationIds=[other_eip])["Addresses"]
    assert iam.list_user_tags(UserName="alice")["Tags"] == [{"Key": "team", "Value": "net"}]
    assert iam.list_attached_user_policies(UserName="alice")["AttachedPolicies"] == []
    # the other stack is complete and unchanged
    assert build_stack(config("other"), aws, wait_interval_s=0).changes == 0
    assert other_stack.topology.vpc_id in [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]]

    again = destroy_stack("d", aws, region=REGION, wait_interval_s=0)
    assert again.deleted == []
    assert len(plan_stack(config(users=users), aws).steps) > 40  # everything would be rebuilt


def test_down_after_a_half_built_stack(aws, stale_reads):
    clients = aws
    calls = []

    class Crash(Exception):
        pass

    def after_call(model, **_kwargs):
        if model.name == "RunInstances":
            calls.append(model.name)
            raise Crash()

    clients.ec2.meta.events.register("after-call", after_call)
    with pytest.raises(Crash):
        build_stack(config(), clients, wait_interval_s=0)
    clients.ec2.meta.events.unregister("after-call", after_call)
    assert tagged_anything(clients, "d")["instances"]
    # The operator runs `down` after reading why `up` died: EC2's reads show the dead run's parts by then
    # (within EC2's lag, `down` could miss a part just made; a second `down` removes it).
    stale_reads.settle()
    destroy_stack(config(), clients, wait_interval_s=0)
    assert tagged_anything(clients, "d") == {}
