"""The emulator's EC2 throttling switch (lab.aws.moto_server), as botocore sees it: RequestLimitExceeded is
what EC2 answers an account over its request rate ("Request throttling for the Amazon EC2 API", EC2
Developer Guide), and the controller's retry layer (chalicelib/aws/calls.py) retries it as botocore's standard
mode would (it is in botocore's throttling error codes).
Only EC2 is throttled, the lab's observer clients never, and moto's reset switches it off."""
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
    assert emulator_env.faults() == {"ec2_throttle": 0.0, "ec2_calls": 0, "ec2_throttled": 0}
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
