"""A sweep's AWS reads are batched: the same calls for 1 zone as for 3 (moto, in-process)."""
from __future__ import annotations

from collections import Counter

import boto3
import pytest
from moto import mock_aws

from chalicelib.aws.observe import describe_instance_states
from chalicelib.service.heartbeat import run_sweep
from tests.support.stack import AZS, MOTO_AMI, build_stack, make_deps


def count_calls(*boto_clients) -> Counter:
    """service.Operation -> how many times it was called from now on."""
    calls: Counter = Counter()

    def before_call(model, **_kwargs):
        calls[f"{model.service_model.service_name}.{model.name}"] += 1

    for client in boto_clients:
        client.meta.events.register("before-call", before_call)
    return calls


def steady_sweep_calls(azs) -> Counter:
    topo = build_stack(stack=f"s{len(azs)}", azs=azs)
    deps, _ = make_deps(topo)
    run_sweep(deps)  # first sweep creates the zone records
    calls = count_calls(deps.clients.ec2, deps.clients.dynamodb)
    report = run_sweep(deps)
    assert report.error is None and report.skipped is None and report.moves == []
    return calls


def test_a_steady_sweep_makes_the_same_reads_for_one_zone_as_for_three(aws_env):
    with mock_aws():
        one, three = steady_sweep_calls(AZS[:1]), steady_sweep_calls(AZS)
    assert one == three
    # one read each: zone records, control record, NAT states, private route tables
    assert one["dynamodb.GetItem"] == one["ec2.DescribeInstanceStatus"] == one["ec2.DescribeRouteTables"] == 1
    assert one["ec2.DescribeInstances"] == 0


@pytest.fixture
def ec2(aws_env):
    with mock_aws():
        yield boto3.client("ec2", region_name="ap-northeast-1")


def test_instance_states_in_one_call_and_unknown_ids_as_terminated(ec2):
    ids = [i["InstanceId"] for i in ec2.run_instances(ImageId=MOTO_AMI, MinCount=3, MaxCount=3)["Instances"]]
    ec2.stop_instances(InstanceIds=[ids[1]])
    ec2.terminate_instances(InstanceIds=[ids[2]])
    calls = count_calls(ec2)
    assert describe_instance_states(ec2, ids) == dict(zip(ids, ("running", "stopped", "terminated"), strict=True))
    assert calls == Counter({"ec2.DescribeInstanceStatus": 1})

    gone = "i-0000000000000dead"  # EC2 refuses the whole status call: the by-filter read answers
    assert describe_instance_states(ec2, [ids[0], gone, ""]) == {ids[0]: "running", gone: "terminated"}
    assert calls == Counter({"ec2.DescribeInstanceStatus": 2, "ec2.DescribeInstances": 1})
    assert describe_instance_states(ec2, []) == {}
