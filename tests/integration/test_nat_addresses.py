"""``nat.addresses`` (Elastic IPs per NAT) on the loopback moto server: ``plan`` shows the extra ones, ``up``
allocates them and puts each on its own secondary private address of the NAT's one interface, a
replacement moves every one to the new NAT, ``down`` releases them all.

AWS: an Elastic IP per private IPv4 address (EC2 User Guide, "Multiple IP addresses"); AssociateAddress
``PrivateIpAddress``; the launch template's ``SecondaryPrivateIpAddressCount``. The lab's moto server does
what EC2 does with both (lab/aws/moto_fidelity.py: moto alone ignores them)."""
from __future__ import annotations

import json
import time

import boto3
import pytest

from chalicelib.aws import params
from chalicelib.engine import UP
from chalicelib.naming import ADDRESS_TAG, STACK_TAG, topology_parameter
from chalicelib.replacement import machine as m
from chalicelib.service import replacement, roll
from chalicelib.service.deps import Clients, Deps
from chalicelib.service.heartbeat import run_sweep
from chalicelib.service.maintenance import after_sweep
from tests.integration.test_cli_replace import CONFIG as REPLACE_CONFIG
from tests.support.cli import hanat
from tests.support.stack import FakeClock, ScriptedProbes

REGION, A, C = "ap-northeast-1", "ap-northeast-1a", "ap-northeast-1c"
CONFIG = REPLACE_CONFIG.replace('name = "heal"', 'name = "ports"').replace(
    'instance_type = "t4g.nano"', 'instance_type = "t4g.nano"\naddresses = 2')
STACK_FILTER = [{"Name": f"tag:{STACK_TAG}", "Values": ["ports"]}]


@pytest.fixture
def config(emulator_env, tmp_path):
    assert "addresses = 2" in CONFIG
    path = tmp_path / "hanat.toml"
    path.write_text(CONFIG)
    return path


def ec2():
    return boto3.client("ec2", region_name=REGION)


def addresses() -> list[dict]:
    return ec2().describe_addresses(Filters=STACK_FILTER)["Addresses"]


def nat_interface(instance_id: str) -> dict:
    instance = ec2().describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return instance["NetworkInterfaces"][0]


def zone_eips_on(zone, eni: dict) -> dict[str, str]:
    """allocation id -> private address, for each of the zone's Elastic IPs; all must be on ``eni``."""
    ids = [zone.nat_eip_allocation_id, *(a.allocation_id for a in zone.extra_addresses)]
    found = {a["AllocationId"]: a for a in ec2().describe_addresses(AllocationIds=ids)["Addresses"]}
    assert {a.get("NetworkInterfaceId") for a in found.values()} == {eni["NetworkInterfaceId"]}
    return {aid: found[aid]["PrivateIpAddress"] for aid in ids}


def topology():
    return params.read_topology(boto3.client("ssm", region_name=REGION), topology_parameter("ports"))


def test_plan_up_and_down_handle_every_address_of_every_nat(config, capsys):
    plan = hanat(capsys, "plan", "--config", str(config), "--json")
    assert plan.code == 0, plan.err
    steps = json.loads(plan.out)["steps"]
    eips = [(s["zone"], s["name"]) for s in steps if s["kind"] == "elastic-ip"]
    assert sorted(eips) == [(A, ""), (A, "address-1"), (C, ""), (C, "address-1")]
    assert {s["zone"] for s in steps if s["kind"] == "place-extra-elastic-ips"} == {A, C}

    up = hanat(capsys, "up", "--config", str(config), "--json")
    assert up.code == 0, up.err
    assert len(addresses()) == 4
    assert sorted(a["Tags"] and {t["Key"]: t["Value"] for t in a["Tags"]}.get(ADDRESS_TAG, "-")
                  for a in addresses()) == ["-", "-", "1", "1"]
    topo = topology()
    for zone in topo.zones:
        [extra] = zone.extra_addresses
        interface = nat_interface(zone.nat_instance_id)
        privates = zone_eips_on(zone, interface)
        # the first on the primary address, the extra one on the interface's secondary address
        assert privates[zone.nat_eip_allocation_id] == interface["PrivateIpAddress"]
        secondaries = [p["PrivateIpAddress"] for p in interface["PrivateIpAddresses"] if not p["Primary"]]
        assert privates[extra.allocation_id] in secondaries and len(secondaries) == 1
        assert zone.egress_ips == (zone.nat_eip, extra.public_ip)
    template = ec2().describe_launch_template_versions(
        LaunchTemplateId=topo.launch_template_id, Versions=["$Default"])["LaunchTemplateVersions"][0]
    assert template["LaunchTemplateData"]["NetworkInterfaces"][0]["SecondaryPrivateIpAddressCount"] == 1

    again = hanat(capsys, "plan", "--config", str(config), "--json")
    assert json.loads(again.out)["changes"] == 0, again.out        # placed once, stays placed

    down = hanat(capsys, "down", "--config", str(config), "--json")
    assert down.code == 0, down.err
    assert addresses() == []                                       # all four released
    assert sum(r.startswith("elastic-ip ") for r in json.loads(down.out)["resources"]) == 4


def test_fewer_addresses_later_releases_the_extra_ones(config, capsys):
    assert hanat(capsys, "up", "--config", str(config)).code == 0
    config.write_text(CONFIG.replace("addresses = 2", "addresses = 1"))
    plan = hanat(capsys, "plan", "--config", str(config), "--json")
    assert {s["zone"] for s in json.loads(plan.out)["steps"] if s["kind"] == "release-elastic-ip"} == {A, C}
    assert hanat(capsys, "up", "--config", str(config)).code == 0
    assert len(addresses()) == 2 and all(z.extra_addresses == () for z in topology().zones)


def deps_for(c: Clients, clock: FakeClock, probes: ScriptedProbes) -> Deps:
    return Deps(topology=topology(), clients=c, probe_runner=probes, clock=clock, sleep=clock.sleep, owner="test")


def test_a_replaced_nat_keeps_every_elastic_ip_of_its_zone(config, capsys):
    assert hanat(capsys, "up", "--config", str(config)).code == 0
    c = Clients(ec2=ec2(), dynamodb=boto3.client("dynamodb", region_name=REGION),
                ssm=boto3.client("ssm", region_name=REGION))
    clock = FakeClock(start=time.time())
    probes = ScriptedProbes(clock)
    for _ in range(2):
        clock.sleep(5)
        report = run_sweep(deps_for(c, clock, probes), then=after_sweep)
    assert set(report.health.values()) == {UP}
    before = topology().zone(A)

    out = hanat(capsys, "replace", "--zone", A, "--config", str(config), "--json")
    assert out.code == 0, out.err
    for _ in range(10):
        clock.sleep(5)
        run_sweep(deps_for(c, clock, probes), then=after_sweep)
        if replacement.status_for(deps_for(c, clock, probes), A)["status"] == m.DONE:
            break
    assert replacement.status_for(deps_for(c, clock, probes), A)["status"] == m.DONE
    after = topology().zone(A)
    assert after.nat_instance_id != before.nat_instance_id
    assert (after.nat_eip_allocation_id, after.extra_addresses) == (before.nat_eip_allocation_id,
                                                                    before.extra_addresses)
    interface = nat_interface(after.nat_instance_id)
    privates = zone_eips_on(after, interface)                     # both on the new NAT
    assert privates[after.nat_eip_allocation_id] == interface["PrivateIpAddress"]
    assert len(set(privates.values())) == 2                       # each on its own private address
    # the new NAT was launched with its secondary address (not only assigned afterwards)
    assert len(interface["PrivateIpAddresses"]) == 2


def test_a_rolled_nat_keeps_every_elastic_ip_of_its_zone(config, capsys):
    assert hanat(capsys, "up", "--config", str(config)).code == 0
    c = Clients(ec2=ec2(), dynamodb=boto3.client("dynamodb", region_name=REGION),
                ssm=boto3.client("ssm", region_name=REGION))
    clock = FakeClock(start=time.time())
    probes = ScriptedProbes(clock)
    for _ in range(2):
        clock.sleep(5)
        run_sweep(deps_for(c, clock, probes), then=after_sweep)
    before = topology()

    out = hanat(capsys, "roll", "--zone", A, "--config", str(config), "--json")
    assert out.code == 0, out.err
    def rolling() -> bool:
        record = roll.load_roll(deps_for(c, clock, probes))
        return record is not None and record.active

    assert rolling()
    for _ in range(200):
        clock.sleep(5)
        run_sweep(deps_for(c, clock, probes), then=after_sweep)
        if not rolling():
            break
    assert not rolling()
    after = topology()
    for az in (A, C):
        old, new = before.zone(az), after.zone(az)
        assert (new.nat_eip_allocation_id, new.extra_addresses) == (old.nat_eip_allocation_id, old.extra_addresses)
        privates = zone_eips_on(new, nat_interface(new.nat_instance_id))
        assert len(set(privates.values())) == 2
    assert after.zone(A).nat_instance_id != before.zone(A).nat_instance_id        # rolled
    assert after.zone(C).nat_instance_id == before.zone(C).nat_instance_id        # not asked
