"""The real `hanat` command against the loopback moto server: up, idempotent re-up, plan, down."""
from __future__ import annotations

import json
import os

import boto3

from tests.support.cli import hanat, hanat_process

REGION = "ap-northeast-1"
CONFIG = """
[stack]
name = "cli"
region = "ap-northeast-1"
vpc_cidr = "10.9.0.0/16"

[[zones]]
az = "ap-northeast-1a"

[[zones]]
az = "ap-northeast-1c"

[[zones]]
az = "ap-northeast-1d"

[probe]
targets = ["tcp://203.0.113.10:443"]

[alerts]
emails = ["ops@example.com"]
"""
BAD_CONFIG = """
[stack]
name = "Bad Name!"
region = "ap-northeast-1"
vpc_cidr = "10.0.0.0/33"

[[zones]]
az = "ap-northeast-1a"
"""
STACK_FILTER = [{"Name": "tag:hanat:stack", "Values": ["cli"]}]


def tagged_ec2(ec2) -> dict[str, int]:
    instances = [i for r in ec2.describe_instances(Filters=STACK_FILTER)["Reservations"] for i in r["Instances"]
                 if i["State"]["Name"] != "terminated"]
    return {"vpcs": len(ec2.describe_vpcs(Filters=STACK_FILTER)["Vpcs"]),
            "subnets": len(ec2.describe_subnets(Filters=STACK_FILTER)["Subnets"]),
            "route_tables": len(ec2.describe_route_tables(Filters=STACK_FILTER)["RouteTables"]),
            "instances": len(instances),
            "eips": len(ec2.describe_addresses(Filters=STACK_FILTER)["Addresses"])}


def test_up_up_plan_down_through_the_cli(emulator_env, tmp_path, capsys):
    path = tmp_path / "hanat.toml"
    path.write_text(CONFIG)
    ec2 = boto3.client("ec2", region_name=REGION)  # AWS_ENDPOINT_URL: the loopback server

    up = hanat(capsys, "up", "--config", str(path), "--json")
    assert up.code == 0, up.err
    result = json.loads(up.out)
    assert result["stack"] == "cli" and result["region"] == REGION and result["changes"] > 0
    assert [z["az"] for z in result["zones"]] == ["ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d"]
    assert set(result["zones"][0]) == {"az", "public_subnet_id", "private_subnet_id", "probe_subnet_id",
                                       "nat_instance_id", "nat_eni_id", "nat_eip", "private_route_table_ids",
                                       "probe_route_table_id"}
    assert "create vpc" in up.err  # progress goes to stderr
    assert tagged_ec2(ec2) == {"vpcs": 1, "subnets": 9, "route_tables": 7, "instances": 3, "eips": 3}
    assert result["vpc_id"] == ec2.describe_vpcs(Filters=STACK_FILTER)["Vpcs"][0]["VpcId"]
    stored = json.loads(boto3.client("ssm", region_name=REGION).get_parameter(
        Name=result["topology_parameter"])["Parameter"]["Value"])
    assert [z["nat_instance_id"] for z in stored["zones"]] == [z["nat_instance_id"] for z in result["zones"]]

    again = hanat(capsys, "up", "--config", str(path), "--json")
    assert again.code == 0, again.err
    assert json.loads(again.out)["changes"] == 0
    assert json.loads(again.out)["zones"] == result["zones"]

    os.environ["HANAT_CONFIG"] = str(path)  # --config from the environment
    try:
        plan = hanat(capsys, "plan", "--json")
    finally:
        del os.environ["HANAT_CONFIG"]
    assert plan.code == 0, plan.err
    assert json.loads(plan.out) == {"stack": "cli", "changes": 0, "steps": [], "capacity_warnings": []}

    down = hanat(capsys, "down", "--config", str(path), "--json")
    assert down.code == 0, down.err
    assert json.loads(down.out)["deleted"] > 20
    assert tagged_ec2(ec2) == dict.fromkeys(tagged_ec2(ec2), 0)
    plan = hanat(capsys, "plan", "--config", str(path))
    assert plan.code == 0 and "change(s) planned" in plan.out


def test_bad_config_exits_2_naming_every_problem_and_touches_nothing(emulator_env, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(BAD_CONFIG)
    for command in ("plan", "up", "down"):
        run = hanat_process(command, "--config", str(path))
        assert run.code == 2, (command, run.err)
        for key in ("stack.name", "stack.vpc_cidr", "zones"):
            assert key in run.err, (command, run.err)
    assert hanat_process("up").code == 2  # no --config at all
    assert boto3.client("ec2", region_name=REGION).describe_vpcs(Filters=STACK_FILTER)["Vpcs"] == []


def test_plan_warns_when_the_expected_peak_exceeds_the_nat_types_baseline(emulator_env, tmp_path, capsys):
    # t4g.nano: 32 Mbit/s baseline (EC2 DescribeInstanceTypes BaselineBandwidthInGbps 0.032); the warning
    # names a type whose baseline fits and the roll that gets there
    path = tmp_path / "hanat.toml"
    path.write_text(CONFIG + '\n[nat]\ninstance_type = "t4g.nano"\n\n[traffic]\npeak_mbps = 100\n')
    plan = hanat(capsys, "plan", "--config", str(path), "--json")
    assert plan.code == 0, plan.err
    [warning] = json.loads(plan.out)["capacity_warnings"]
    assert "100 Mbit/s exceeds t4g.nano's baseline bandwidth 32 Mbit/s" in warning and "hanat roll" in warning
    assert warning in " ".join(plan.err.split())       # also told to a person, on stderr
