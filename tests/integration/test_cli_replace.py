"""``hanat replace --zone AZ`` against a moto server on loopback: the stack is built by ``hanat up``,
proven by in-process sweeps (scripted probes, fake clock), then the CLI replaces one zone's NAT and it
keeps its Elastic IP; later sweeps give the zone its routes back."""
from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import pytest

from chalicelib.aws import params
from chalicelib.engine import UP
from chalicelib.naming import topology_parameter
from chalicelib.replacement import machine as m
from chalicelib.service import replacement
from chalicelib.service.deps import Clients, Deps
from chalicelib.service.heartbeat import run_sweep
from chalicelib.service.maintenance import after_sweep
from tests.support.cli import hanat
from tests.support.stack import FakeClock, ScriptedProbes

ROOT = Path(__file__).resolve().parents[2]
REGION = "ap-northeast-1"
A = "ap-northeast-1a"

CONFIG = """
[stack]
name = "heal"
region = "ap-northeast-1"
vpc_cidr = "10.0.0.0/16"

[[zones]]
az = "ap-northeast-1a"

[[zones]]
az = "ap-northeast-1c"

[nat]
instance_type = "t4g.nano"

[probe]
interval_s = 5
fail_after = 2
recover_after = 2
min_hold_s = 10
targets = ["tcp://203.0.113.10:443"]

[failover]
revert = "auto"
replace_after_s = 300

[maintenance]
drain_s = 0      # this test follows the EIP move in the command itself (draining: test_replacement.py)

[alerts]
emails = []
"""


def last_json(stdout: str) -> dict:
    """The JSON object ``--json`` printed: stdout must hold exactly that one object (logs go to stderr)."""
    return json.loads(stdout)


@pytest.fixture
def built(emulator_env, tmp_path, capsys):
    config = tmp_path / "hanat.toml"
    config.write_text(CONFIG)
    up = hanat(capsys, "up", "--config", str(config), "--json")
    assert up.code == 0, up.err
    c = Clients(ec2=boto3.client("ec2", region_name=REGION), dynamodb=boto3.client("dynamodb", region_name=REGION),
                ssm=boto3.client("ssm", region_name=REGION))
    return config, c


def deps_for(c: Clients, clock: FakeClock, probes: ScriptedProbes) -> Deps:
    topo = params.read_topology(c.ssm, topology_parameter("heal"))
    return Deps(topology=topo, clients=c, probe_runner=probes, clock=clock, sleep=clock.sleep, owner="test")


def eip_eni(c: Clients, allocation_id: str) -> str:
    return c.ec2.describe_addresses(AllocationIds=[allocation_id])["Addresses"][0].get("NetworkInterfaceId", "")


def default_eni(c: Clients, route_table_id: str) -> str:
    table = c.ec2.describe_route_tables(RouteTableIds=[route_table_id])["RouteTables"][0]
    return next(r.get("NetworkInterfaceId", "") for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0")


def test_cli_replace_keeps_the_eip_and_the_zone_gets_its_routes_back(built, capsys):
    config, c = built
    clock = FakeClock(start=time.time())
    probes = ScriptedProbes(clock)
    for _ in range(2):                                   # the heartbeat proves every NAT first
        clock.sleep(5)
        report = run_sweep(deps_for(c, clock, probes), then=after_sweep)
    assert set(report.health.values()) == {UP}
    before = deps_for(c, clock, probes).topology.zone(A)

    out = hanat(capsys, "replace", "--zone", A, "--config", str(config), "--json")

    assert out.code == 0, out.err
    result = last_json(out.out)["replacement"]
    assert result["started"] is True
    new_id = result["replacement"]["new_instance_id"]
    after = deps_for(c, clock, probes).topology.zone(A)
    assert (after.nat_instance_id, after.nat_eip, after.nat_eip_allocation_id) == (
        new_id, before.nat_eip, before.nat_eip_allocation_id)
    assert after.nat_eni_id != before.nat_eni_id
    assert eip_eni(c, before.nat_eip_allocation_id) == after.nat_eni_id      # same egress IP, new NAT
    assert default_eni(c, after.probe_route_table_id) == after.nat_eni_id    # probes test the new NAT
    # the zone was moved to its backup before the EIP left the old NAT; no route at the new one yet
    private = {default_eni(c, t) for t in after.private_route_table_ids}
    assert private.isdisjoint({before.nat_eni_id, after.nat_eni_id})

    for _ in range(10):                                  # the routes come back once the sweep proves it
        clock.sleep(5)
        run_sweep(deps_for(c, clock, probes), then=after_sweep)
        if replacement.status_for(deps_for(c, clock, probes), A)["status"] == m.DONE:
            break
    assert replacement.status_for(deps_for(c, clock, probes), A)["status"] == m.DONE
    assert {default_eni(c, t) for t in after.private_route_table_ids} == {after.nat_eni_id}
    old = c.ec2.describe_instances(InstanceIds=[before.nat_instance_id])["Reservations"][0]["Instances"][0]
    assert old["State"]["Name"] in ("shutting-down", "terminated")


def test_cli_replace_of_an_unknown_zone_exits_2_and_launches_nothing(built, capsys):
    config, c = built
    count = len([i for r in c.ec2.describe_instances()["Reservations"] for i in r["Instances"]])
    out = hanat(capsys, "replace", "--zone", "mars-1a", "--config", str(config))
    assert out.code == 2 and "mars-1a" in out.err
    assert len([i for r in c.ec2.describe_instances()["Reservations"] for i in r["Instances"]]) == count
