"""The emulator's EC2 throttling switch (lab.aws.moto_server), as botocore sees it: RequestLimitExceeded is
what EC2 answers an account over its request rate ("Request throttling for the Amazon EC2 API", EC2
Developer Guide), and the controller's retry layer (chalicelib/aws/calls.py) retries it as botocore's standard
mode would (it is in botocore's throttling error codes).
Only EC2 is throttled, the lab's observer clients never, and moto's reset switches it off.

The stale-read switch (``stale_reads_s``, lab.aws.stale_reads) is EC2's eventual consistency: "the result of
an API command you run that affects your Amazon EC2 resources might not be immediately visible to all
subsequent commands you run" (https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html)."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from chalicelib.aws.calls import aws_call
from chalicelib.aws.clients import CLIENT_CONFIG
from lab.aws.moto_server import FAULTS_PATH, OBSERVER_AGENT

REGION = "ap-northeast-1"
NO_RETRY = Config(retries={"mode": "standard", "total_max_attempts": 1})   # botocore: max_attempts counts retries


def test_every_ec2_call_throttled_at_rate_one_and_nothing_else(emulator_env):
    ec2 = boto3.client("ec2", region_name=REGION, config=NO_RETRY)
    ddb = boto3.client("dynamodb", region_name=REGION, config=NO_RETRY)
    observer = boto3.client("ec2", region_name=REGION, config=NO_RETRY.merge(Config(user_agent_extra=OBSERVER_AGENT)))
    emulator_env.faults(ec2_throttle=1.0)
    with pytest.raises(ClientError) as caught:
        ec2.describe_vpcs()
    assert caught.value.response["Error"]["Code"] == "RequestLimitExceeded"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    ddb.list_tables()                    # DynamoDB is not EC2
    observer.describe_vpcs()             # the lab's own look is never throttled
    state = emulator_env.faults()
    assert state["ec2_throttle"] == 1.0 and state["ec2_calls"] == state["ec2_throttled"] == 1, state
    emulator_env.reset()
    assert emulator_env.faults() == {"ec2_throttle": 0.0, "ec2_calls": 0, "ec2_throttled": 0, "stale_reads_s": 0.0,
                                     "ec2_reads": 0, "ec2_stale": 0, "ec2_writes": 0,
                                     "spot_capacity": True, "spot_refused": 0}
    ec2.describe_vpcs()


def test_the_retry_layer_rides_out_half_throttled(emulator_env):
    ec2 = boto3.client("ec2", region_name=REGION, config=CLIENT_CONFIG)   # the controller's: botocore retries off
    emulator_env.faults(ec2_throttle=0.5, seed=3)
    for _ in range(10):
        aws_call("ec2.DescribeVpcs", ec2.describe_vpcs)     # up to 6 attempts, botocore's back-off
    state = emulator_env.faults(ec2_throttle=0.0)
    assert state["ec2_throttled"] > 0 and state["ec2_calls"] == 10 + state["ec2_throttled"]


def test_bad_fault_settings_are_refused_naming_the_value(emulator_env):
    req = urllib.request.Request(f"{emulator_env.endpoint}{FAULTS_PATH}", data=json.dumps({"ec2_throttle": 2}).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(req, timeout=5)
    assert caught.value.code == 400 and "2" in json.loads(caught.value.read())["error"]
    assert emulator_env.faults()["ec2_throttle"] == 0.0


def _default_target(ec2, table: str) -> str | None:
    routes = ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"][0]["Routes"]
    return next((r.get("NetworkInterfaceId") or r.get("GatewayId") for r in routes
                 if r.get("DestinationCidrBlock") == "0.0.0.0/0"), None)


def test_stale_reads_answer_from_before_a_write_except_to_the_observer(emulator_env):
    """A window far longer than the test: every read below is deterministic."""
    ec2 = boto3.client("ec2", region_name=REGION, config=NO_RETRY)
    observer = boto3.client("ec2", region_name=REGION, config=NO_RETRY.merge(Config(user_agent_extra=OBSERVER_AGENT)))
    vpc = observer.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    table = observer.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    igw = observer.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    observer.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    emulator_env.faults(stale_reads_s=30)
    assert _default_target(ec2, table) is None                      # remembered: the view before the write
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    assert _default_target(ec2, table) is None                      # the writer's own read: stale
    assert _default_target(observer, table) == igw                  # the lab's look: the truth
    assert ec2.describe_route_tables(RouteTableIds=[table], DryRun=False)["RouteTables"][0]["Routes"]  # new shape: truth
    state = emulator_env.faults()
    assert (state["stale_reads_s"], state["ec2_stale"], state["ec2_writes"]) == (30.0, 1, 1), state
    observer.create_tags(Resources=[table], Tags=[{"Key": "fault", "Value": "by hand"}])   # the lab's change:
    assert _default_target(ec2, table) == igw                       # seen at once, with everything before it
    ec2.delete_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0")
    assert _default_target(ec2, table) == igw                       # stale again after the writer's own write
    emulator_env.faults(stale_reads_s=0)                            # off: the truth again
    assert _default_target(ec2, table) is None
    emulator_env.faults(stale_reads_s=30)
    emulator_env.reset()
    assert emulator_env.faults()["stale_reads_s"] == 0.0            # moto's reset switches it off


def test_bad_stale_read_windows_are_refused(emulator_env):
    for bad in (-1, 61, True, "1"):
        req = urllib.request.Request(f"{emulator_env.endpoint}{FAULTS_PATH}",
                                     data=json.dumps({"stale_reads_s": bad}).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(req, timeout=5)
        assert caught.value.code == 400 and "stale_reads_s" in json.loads(caught.value.read())["error"]
    assert emulator_env.faults()["stale_reads_s"] == 0.0
