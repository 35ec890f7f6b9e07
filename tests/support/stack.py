"""The moto test stack for the controller's tests and bench/: what `hanat up` would build, minus the
parts the controller never reads, and the fakes (clock, probes) that drive the controller over it.

Independent of bootstrap/stack on purpose. The clients follow the environment: in-process moto
(``mock_aws``, ``moto_stack``) or a moto server (``AWS_ENDPOINT_URL``: the ``emulator_env`` fixture,
bench's ``pointed_at``)."""
from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import boto3
import pytest
from moto import mock_aws

from chalicelib.aws.params import write_topology
from chalicelib.naming import STACK_TAG, stack_tags, table_name, topology_parameter
from chalicelib.probes.results import ProbeResult
from chalicelib.service.deps import Clients, Deps
from chalicelib.settings import FailoverSettings, ProbeSettings
from chalicelib.topology import Topology, ZoneTopology
from lab.aws.emulator import FAKE_CREDENTIALS
from lab.dataplane.base import LAB_TARGETS

REGION = "ap-northeast-1"
MOTO_AMI = "ami-03cf127a"  # one of moto's built-in images (listing them all is slow)
AZS = ("ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d")
# fast settings: 2 fails down, 2 passes + 10 s up
# Stacks built by tests probe only the lab's own documentation addresses, never the real defaults.
LAB_PROBE = ProbeSettings(targets=LAB_TARGETS)
FAST_PROBE = ProbeSettings(interval_s=5, fail_after=2, recover_after=2, min_hold_s=10,
                           targets=("tcp://203.0.113.10:443",))


def clients(region: str = REGION) -> Clients:
    return Clients(ec2=boto3.client("ec2", region_name=region), dynamodb=boto3.client("dynamodb", region_name=region),
                   ssm=boto3.client("ssm", region_name=region))


def _tags(stack: str, role: str, az: str | None = None, extra: dict | None = None) -> list[dict]:
    return [{"ResourceType": role, "Tags": stack_tags(stack, role, az) + [
        {"Key": k, "Value": v} for k, v in (extra or {}).items()]}]


def build_stack(stack: str = "t", azs: Sequence[str] = AZS, tables_per_zone: int | Sequence[int] = 1,
                probe: ProbeSettings = FAST_PROBE, revert: str = "auto", region: str = REGION) -> Topology:
    """VPC, per zone: subnets, a NAT instance, private tables (0.0.0.0/0 -> NAT ENI), a pinned probe
    table; the state table; the topology parameter. Returns the Topology.

    ``tables_per_zone``: private tables of every zone, or one count per zone."""
    c = clients(region)
    tables = [tables_per_zone] * len(azs) if isinstance(tables_per_zone, int) else list(tables_per_zone)
    ec2 = c.ec2
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=_tags(stack, "vpc"))["Vpc"]["VpcId"]
    # the NATs' own group, as `hanat up` makes it: a replacement launches into it (a launch without a group
    # gets the VPC's untagged default group, which the controller's policy does not allow)
    nat_sg = ec2.create_security_group(GroupName=f"hanat-{stack}-nat", Description="hanat NAT", VpcId=vpc,
                                       TagSpecifications=_tags(stack, "security-group"))["GroupId"]
    ami = MOTO_AMI
    zones = []
    for i, az in enumerate(azs):
        def subnet(n: int, _az=az, _i=i) -> str:
            return ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{_i * 4 + n}.0/24", AvailabilityZone=_az,
                                     TagSpecifications=_tags(stack, "subnet", _az))["Subnet"]["SubnetId"]
        public, private, probe_subnet = subnet(0), subnet(1), subnet(2)
        # the instance, its interface and its volume carry the stack's tags, as `hanat up` launches them
        inst = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t4g.nano", SubnetId=public,
                                 SecurityGroupIds=[nat_sg], TagSpecifications=[
                                     {"ResourceType": kind, "Tags": stack_tags(stack, "instance", az)}
                                     for kind in ("instance", "network-interface", "volume")])["Instances"][0]
        eni = inst["NetworkInterfaces"][0]["NetworkInterfaceId"]

        def table(pinned: bool = False, _az=az, _eni=eni) -> str:
            rtb = ec2.create_route_table(VpcId=vpc, TagSpecifications=_tags(
                stack, "route-table", _az, {"hanat:pinned": "true"} if pinned else None))["RouteTable"]
            ec2.create_route(RouteTableId=rtb["RouteTableId"], DestinationCidrBlock="0.0.0.0/0",
                             NetworkInterfaceId=_eni)
            return rtb["RouteTableId"]
        zones.append(ZoneTopology(
            az=az, public_subnet_id=public, private_subnet_id=private, probe_subnet_id=probe_subnet,
            nat_instance_id=inst["InstanceId"], nat_eni_id=eni, nat_eip=f"203.0.113.{i + 1}",
            nat_eip_allocation_id=f"eipalloc-{i}", private_route_table_ids=tuple(table() for _ in range(tables[i])),
            probe_route_table_id=table(pinned=True)))
    c.dynamodb.create_table(TableName=table_name(stack), BillingMode="PAY_PER_REQUEST",
                            AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in ("pk", "sk")],
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                       {"AttributeName": "sk", "KeyType": "RANGE"}],
                            Tags=[{"Key": STACK_TAG, "Value": stack}])
    c.dynamodb.update_time_to_live(TableName=table_name(stack),
                                   TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})
    topo = Topology(stack=stack, region=region, vpc_id=vpc, vpc_cidr="10.0.0.0/16", table_name=table_name(stack),
                    topic_arn="", topology_parameter=topology_parameter(stack), zones=tuple(zones), probe=probe,
                    nat_security_group_id=nat_sg,
                    failover=FailoverSettings(revert=revert))
    write_topology(c.ssm, topo)
    return topo


@contextmanager
def moto_stack(**kwargs) -> Iterator[Topology]:
    """An in-process moto stack for a module-scoped fixture (function-scoped tests use aws_env)."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {**FAKE_CREDENTIALS, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION}.items():
            mp.setenv(key, value)
        mp.delenv("AWS_ENDPOINT_URL", raising=False)
        mp.delenv("AWS_PROFILE", raising=False)
        with mock_aws():
            yield build_stack(**kwargs)


class FakeClock:
    """A clock tests move by hand; ``sleep`` advances it (thread-safe)."""

    def __init__(self, start: float = 1_700_000_000.0):
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


class ScriptedProbes:
    """A ProbeRunner whose verdict per zone is set by the test (default: every path passes).

    ``failing``: zones whose probes fail; ``blind``: zones whose probe Lambda cannot run (no evidence);
    ``script``: per zone, the verdicts of its next calls in order (True pass, False fail, None no
    evidence), used up before ``failing``/``blind`` apply."""

    def __init__(self, clock: FakeClock):
        self.clock = clock
        self.failing: set[str] = set()
        self.blind: set[str] = set()
        self.script: dict[str, list[bool | None]] = {}
        self.calls: list[tuple[str, ...]] = []

    def _verdict(self, az: str) -> bool | None:
        if self.script.get(az):
            return self.script[az].pop(0)
        if az in self.blind:
            return None
        return az not in self.failing

    def __call__(self, azs: Sequence[str]) -> dict[str, ProbeResult]:
        self.calls.append(tuple(azs))
        out = {}
        for az in azs:
            verdict = self._verdict(az)
            out[az] = (ProbeResult.no_evidence(az, self.clock(), "invoke failed: TooManyRequestsException: "
                                                                 "Rate exceeded") if verdict is None
                       else ProbeResult(zone=az, passed=verdict, at=self.clock()))
        return out


class AtomicDynamoDB:
    """A DynamoDB client served to racing threads as AWS serves them: one request at a time.

    In AWS each conditional write is atomic and TransactWriteItems is serializable with the single-item
    reads and writes around it (developerguide/transaction-apis.html#transaction-isolation). In-process
    moto applies a transaction item by item and rolls a failed one back by restoring a copy of the whole
    table taken before it started, which erases what other threads wrote meanwhile (a claim vanishes
    and its owner sees it "taken over"). The lab's moto server serializes DynamoDB the same way
    (lab/aws/moto_server.py)."""

    _lock = threading.Lock()

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name: str):
        attr = getattr(self._real, name)
        if name.startswith("_") or name in ("meta", "exceptions", "get_paginator", "get_waiter") \
                or not callable(attr):
            return attr

        def call(*args, **kwargs):
            with AtomicDynamoDB._lock:
                return attr(*args, **kwargs)
        return call


def make_deps(topo: Topology, clock: FakeClock | None = None, probes: ScriptedProbes | None = None,
              owner: str = "test", control_passes: bool | None = None) -> tuple[Deps, list]:
    """Deps over moto with a fake clock and scripted probes; returns (deps, alerts received)."""
    clock = clock or FakeClock()
    alerts: list = []
    control = None
    if control_passes is not None:
        def control() -> ProbeResult:
            return ProbeResult(zone="control", passed=control_passes, at=clock())
    deps = Deps(topology=topo, clients=clients(), probe_runner=probes or ScriptedProbes(clock),
                control_probe=control, alert_sink=alerts.append, clock=clock, sleep=clock.sleep, owner=owner)
    return deps, alerts


def default_targets(ec2, topo: Topology) -> dict[str, str | None]:
    """route table id -> ENI its 0.0.0.0/0 points at, for every private and probe table."""
    ids = [t for z in topo.zones for t in (*z.private_route_table_ids, z.probe_route_table_id)]
    out = {}
    for t in ec2.describe_route_tables(RouteTableIds=ids)["RouteTables"]:
        route = next((r for r in t["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"), {})
        out[t["RouteTableId"]] = route.get("NetworkInterfaceId")
    return out


def serving(ec2, topo: Topology) -> dict[str, str]:
    """zone -> az whose NAT its (first) private table points at."""
    az_of = {z.nat_eni_id: z.az for z in topo.zones}
    targets = default_targets(ec2, topo)
    return {z.az: az_of.get(targets[z.private_route_table_ids[0]], "?") for z in topo.zones}


def table_items(ddb, topo: Topology) -> list[dict]:
    return sorted(ddb.scan(TableName=topo.table_name, ConsistentRead=True)["Items"],
                  key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def write_config(topo: Topology, path) -> str:
    """A hanat config naming ``topo``'s stack and zones (what the CLI needs to find the stack)."""
    zones = "\n".join(f'[[zones]]\naz = "{az}"\n' for az in topo.azs)
    path.write_text(f'[stack]\nname = "{topo.stack}"\nregion = "{topo.region}"\nvpc_cidr = "{topo.vpc_cidr}"\n\n'
                    f'{zones}\n[probe]\ntargets = {list(LAB_TARGETS)!r}\n'.replace("'", '"'))
    return str(path)

