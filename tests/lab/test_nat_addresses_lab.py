"""``nat.addresses = 2`` end to end on the netns data plane: ``hanat up`` on the lab's moto server, the data
plane built from what EC2 reports (spec_from_emulator), flows from a private host to ONE destination
leave from both of its zone's Elastic IPs; after ``hanat replace`` the new NAT sends from the same two.

The lab stands for AWS as follows: the NAT's namespace holds the secondary private address EC2 assigned
(amazon-ec2-net-utils does it on Amazon Linux 2023), the internet gateway translates each Elastic IP to
the private address DescribeAddresses names (lab/aws/moto_fidelity.py makes moto report it as EC2 does).
"""
from __future__ import annotations

import time

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
from lab.dataplane.emulator_sync import spec_from_emulator
from lab.dataplane.netns.namespaces import Namespaces
from tests.integration.test_nat_addresses import CONFIG
from tests.support.cli import hanat
from tests.support.stack import FakeClock, ScriptedProbes

pytestmark = pytest.mark.netns
REGION, A = "ap-northeast-1", "ap-northeast-1a"


def sources(dp, az: str, n: int = 6) -> list[str]:
    out = []
    for _ in range(n):
        got = dp.http_get(dp.priv_role(az))
        assert got.ok, got
        out.append(got.you)
    return out


def test_flows_to_one_destination_leave_from_every_elastic_ip_and_keep_them_after_a_replacement(
        emulator_env, tmp_path, capsys):
    config = tmp_path / "hanat.toml"
    config.write_text(CONFIG)
    assert hanat(capsys, "up", "--config", str(config)).code == 0
    c = Clients(ec2=boto3.client("ec2", region_name=REGION), dynamodb=boto3.client("dynamodb", region_name=REGION),
                ssm=boto3.client("ssm", region_name=REGION))

    def topology():
        return params.read_topology(c.ssm, topology_parameter("ports"))

    spec = spec_from_emulator(c.ec2, topology())
    nat = spec.zone(A).nat
    egress = {lab for _, lab in nat.addresses}
    assert len(egress) == 2 and None not in egress
    with Namespaces(spec) as dp:
        seen = sources(dp, A)
        assert set(seen) == egress and seen.count(seen[0]) == 3       # round robin, one destination

        clock = FakeClock(start=time.time())
        probes = ScriptedProbes(clock)

        def deps() -> Deps:
            return Deps(topology=topology(), clients=c, probe_runner=probes, clock=clock, sleep=clock.sleep,
                        owner="test")
        for _ in range(2):
            clock.sleep(5)
            report = run_sweep(deps(), then=after_sweep)
        assert set(report.health.values()) == {UP}
        assert hanat(capsys, "replace", "--zone", A, "--config", str(config)).code == 0
        for _ in range(10):
            clock.sleep(5)
            run_sweep(deps(), then=after_sweep)
            if replacement.status_for(deps(), A)["status"] == m.DONE:
                break
        assert replacement.status_for(deps(), A)["status"] == m.DONE
        after = spec_from_emulator(c.ec2, topology())
        assert after.zone(A).nat.instance_id != nat.instance_id
        assert {lab for _, lab in after.zone(A).nat.addresses} == egress
        dp.sync(after)
        assert set(sources(dp, A)) == egress                           # same two egress addresses, new NAT
