"""An `up` that dies half way finishes on the next run, with exactly one of everything."""
from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from bootstrap.config.schema import AlertsConfig, HanatConfig, StackConfig, ZoneConfig
from bootstrap.stack import StackClients, build_stack, read_topology
from tests.support.stack import LAB_PROBE

REGION = "ap-northeast-1"
STACK_FILTER = [{"Name": "tag:hanat:stack", "Values": ["r"]}]
READ_PREFIXES = ("Describe", "Get", "List", "Query")


class Crash(Exception):
    """Stands for the operator's laptop dying right after an AWS call succeeded."""


def config() -> HanatConfig:
    zones = (ZoneConfig("ap-northeast-1a", "10.1.0.0/24", "10.1.16.0/20", "10.1.8.0/28"),
             ZoneConfig("ap-northeast-1c", "10.1.1.0/24", "10.1.32.0/20", "10.1.9.0/28"))
    return HanatConfig(stack=StackConfig("r", REGION, "10.1.0.0/16"), zones=zones, probe=LAB_PROBE,
                       alerts=AlertsConfig(emails=("ops@example.com",)))


def crash_after(clients: StackClients, k: int) -> list[str]:
    """Raise Crash right after the k-th successful write call (create/modify/...); returns the log."""
    writes: list[str] = []

    def after_call(model, **_kwargs):
        if model.name.startswith(READ_PREFIXES):
            return
        writes.append(model.name)
        if len(writes) == k:
            raise Crash(f"died after write #{k}: {model.name}")

    for client in clients.all():
        client.meta.events.register("after-call", after_call)
    return writes


def counts(clients: StackClients) -> dict:
    ec2 = clients.ec2
    instances = [i for r in ec2.describe_instances(Filters=STACK_FILTER)["Reservations"] for i in r["Instances"]
                 if i["State"]["Name"] != "terminated"]
    return {
        "vpcs": len(ec2.describe_vpcs(Filters=STACK_FILTER)["Vpcs"]),
        "igws": len(ec2.describe_internet_gateways(Filters=STACK_FILTER)["InternetGateways"]),
        "subnets": len(ec2.describe_subnets(Filters=STACK_FILTER)["Subnets"]),
        "route_tables": len(ec2.describe_route_tables(Filters=STACK_FILTER)["RouteTables"]),
        "security_groups": len(ec2.describe_security_groups(Filters=STACK_FILTER)["SecurityGroups"]),
        "instances": len(instances),
        "eips": len(ec2.describe_addresses(Filters=STACK_FILTER)["Addresses"]),
        "launch_templates": len(ec2.describe_launch_templates(Filters=STACK_FILTER)["LaunchTemplates"]),
        "instance_profiles": len(clients.iam.list_instance_profiles()["InstanceProfiles"]),
        "topics": len(clients.sns.list_topics()["Topics"]),
        "subscriptions": len(clients.sns.list_subscriptions()["Subscriptions"]),
        "tables": len(clients.dynamodb.list_tables()["TableNames"]),
    }


EXPECTED = {"vpcs": 1, "igws": 1, "subnets": 6, "route_tables": 5, "security_groups": 2, "instances": 2,
            "eips": 2, "launch_templates": 1, "instance_profiles": 1, "topics": 1, "subscriptions": 1,
            "tables": 1}


@pytest.fixture
def session(aws_env):
    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


def test_a_clean_run_makes_the_expected_number_of_writes(session):
    clients = StackClients.from_session(session, REGION)
    writes = crash_after(clients, 10_000)
    result = build_stack(config(), clients, wait_interval_s=0)
    assert len(writes) == result.changes == max(CRASH_POINTS)  # one write per step on a fresh build
    assert counts(clients) == EXPECTED


# 2 zones make 48 writes: 1 CreateVpc, 5 AttachInternetGateway, 13 CreateRoute (public), 17 ingress rule,
# 22 AddRoleToInstanceProfile, 24 RunInstances, 27 AssociateAddress, 34 private route, 44 CreateTable,
# 45 UpdateTimeToLive, 48 PutParameter (the last)
CRASH_POINTS = [1, 5, 13, 17, 22, 24, 27, 34, 44, 45, 48]


@pytest.mark.parametrize("k", CRASH_POINTS)
def test_up_that_died_after_write_k_finishes_on_the_next_run(session, k, stale_reads):
    crashing = StackClients.from_session(session, REGION)
    writes = crash_after(crashing, k)
    with pytest.raises(Crash):
        build_stack(config(), crashing, wait_interval_s=0)
    assert len(writes) == k
    # The operator runs `up` again after reading why it died: EC2's reads show the dead run's writes by
    # then. A re-run within EC2's lag could miss them (e.g. a second CreateVpc, which takes no client token).
    stale_reads.settle()

    clients = StackClients.from_session(session, REGION)
    resumed = build_stack(config(), clients, wait_interval_s=0)
    if k == max(CRASH_POINTS):  # died after the very last write: nothing left to do
        assert resumed.changes == 0
    else:
        assert resumed.changes > 0
    assert counts(clients) == EXPECTED
    assert read_topology(clients.ssm, "r") == resumed.topology
    assert build_stack(config(), clients, wait_interval_s=0).changes == 0
