"""The rolling replacement end to end on in-process moto (fake clock, scripted probes, the real sweep and
replacement pass): every NAT replaced in order, one zone at a time, each zone back on its own new NAT
with its Elastic IP; refused while a NAT is DOWN; stopped by an injected launch failure with every zone
served, and continued by a re-run; automatic inside the maintenance window."""
from __future__ import annotations

from dataclasses import replace

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib.aws import params
from chalicelib.engine import UP
from chalicelib.errors import HanatError
from chalicelib.replacement import machine as m
from chalicelib.replacement import roll_machine as r
from chalicelib.service import history, replacement, roll
from chalicelib.service.operations import operate
from chalicelib.settings import MaintenanceSettings
from tests.integration.test_replacement import World
from tests.support.stack import AZS

A, B, C = AZS
FAST = MaintenanceSettings(drain_s=20, max_instance_age_days=30)


@pytest.fixture
def moto(aws_env):
    with mock_aws():
        yield


class FailingLaunches:
    """The EC2 client, except that RunInstances into the given subnets fails as EC2 fails when a zone
    has no capacity (an injected launch failure; everything else goes to moto)."""

    def __init__(self, ec2, subnets: set[str]):
        self._ec2 = ec2
        self.subnets = subnets

    def run_instances(self, **kwargs):
        # the NAT's subnet is on its network interface (RunInstances NetworkInterfaces[].SubnetId)
        subnets = {kwargs.get("SubnetId"), *(i.get("SubnetId") for i in kwargs.get("NetworkInterfaces", []))}
        if subnets & self.subnets:
            raise ClientError({"Error": {"Code": "InsufficientInstanceCapacity",
                                         "Message": "We currently do not have sufficient capacity"}}, "RunInstances")
        return self._ec2.run_instances(**kwargs)

    def __getattr__(self, name):
        return getattr(self._ec2, name)


class RollWorld(World):
    def __init__(self, revert="auto", maintenance=FAST):
        super().__init__(revert=revert, maintenance=maintenance)
        self.away_seen: list[set[str]] = []

    def served(self) -> dict[str, str]:
        """zone -> the zone whose (current) NAT its private tables point at."""
        topo = self.topo()
        az_of = {z.nat_eni_id: z.az for z in topo.zones}
        return {z.az: ",".join(sorted({az_of.get(e, "?") for e in self.private_enis(z.az)})) for z in topo.zones}

    def sweep(self, seconds: float = 5.0):
        report = super().sweep(seconds)
        self.away_seen.append({az for az, s in self.served().items() if s != az})
        return report

    def roll_record(self):
        return roll.load_roll(self.deps())

    def until_roll_ends(self, max_sweeps: int = 200):
        for _ in range(max_sweeps):
            self.sweep()
            rec = self.roll_record()
            if not rec.active:
                return rec
        raise AssertionError(f"roll still running after {max_sweeps} sweeps: {self.roll_record()}")

    def eip_eni_of(self, az):
        return self.eip_eni(az)

    def running_nats(self, az):
        return [i["InstanceId"] for i in self.instances_in(az) if i["State"]["Name"] in ("pending", "running")]

    def instances_in(self, az):
        subnet = self.topo0.zone(az).public_subnet_id
        out = self.ec2.describe_instances(Filters=[{"Name": "subnet-id", "Values": [subnet]}])
        return [i for res in out["Reservations"] for i in res["Instances"]]


def max_away_from_history(w: RollWorld) -> int:
    """The most zones away from their own NAT at once, replayed from the recorded route moves (catches a
    moment inside one pass that a look after each sweep would miss)."""
    entries = list(reversed(history.list_history(w.deps(), since=0, limit=1000)))   # oldest first, as recorded
    away: set[str] = set()
    most = 0
    for e in entries:
        if e["kind"] == "failover":
            away.add(e["zone"])
        elif e["kind"] == "revert":
            away.discard(e["zone"])
        most = max(most, len(away))
    return most


def test_roll_of_3_zones_replaces_every_nat_in_order_one_zone_at_a_time(moto):
    w = RollWorld()
    before = {z.az: z for z in w.topo0.zones}
    w.sweep()
    w.sweep()
    assert set(w.sweep().health.values()) == {UP}

    result = operate(w.deps(), {"action": "roll", "reason": "new AMI"})

    assert result["ok"] and result["started"] is True and result["roll"]["zones"] == list(AZS)
    assert result["roll"]["current"] == A                     # started at once with the first zone
    rec = w.until_roll_ends()

    assert rec.status == r.ROLL_DONE and rec.done == AZS
    assert [res["az"] for res in rec.results] == list(AZS)    # in order
    finished = [next(float(h.split()[0]) for h in rec.history if h.split()[1:3] == [f"{az}:", "done,"]) for az in AZS]
    assert finished == sorted(finished)
    topo = w.topo()
    for z in topo.zones:
        old = before[z.az]
        assert z.nat_instance_id != old.nat_instance_id                       # a new NAT ...
        assert z.nat_eip == old.nat_eip                                       # ... with the zone's EIP
        assert w.eip_eni_of(z.az) == z.nat_eni_id
        assert w.private_enis(z.az) == {z.nat_eni_id}                         # the zone is back on it
        assert w.instance(old.nat_instance_id)["State"]["Name"] == "terminated"
        assert w.running_nats(z.az) == [z.nat_instance_id]
    assert max(len(away) for away in w.away_seen) == 1          # one zone at a time, seen after each sweep
    assert max_away_from_history(w) == 1                        # ... and move by move
    phases = [a.details["phase"] for a in w.alerts if a.type == "roll"]
    assert phases == ["started", "done"]
    planned = [a for a in w.replace_alerts("done")]
    assert len(planned) == 3 and all(a.details.get("roll_id") == rec.roll_id for a in planned)
    # the history tells the story, newest first
    entries = history.list_history(w.deps(), since=0, limit=1000)
    assert entries[0]["kind"] == "roll" and entries[0]["phase"] == "done"
    assert [e["at"] for e in entries] == sorted((e["at"] for e in entries), reverse=True)


def test_roll_refuses_to_start_while_another_nat_is_down_and_changes_nothing(moto):
    w = RollWorld()
    w.sweep()
    w.probes.failing.add(C)
    w.sweep()
    w.sweep()                                                   # C is DOWN (2 failed probes), failed over
    assert w.served()[C] != C
    tables_before = w.served()
    instances_before = {az: w.running_nats(az) for az in AZS}

    with pytest.raises(HanatError) as refused:
        operate(w.deps(), {"action": "roll", "zone": A})

    assert refused.value.exit_code == 1
    text = str(refused.value)
    assert w.topo0.zone(C).nat_instance_id in text and "DOWN" in text and f"zone {C}" in text
    assert w.roll_record() is None and replacement.status_for(w.deps(), A) is None
    assert w.served() == tables_before
    assert {az: w.running_nats(az) for az in AZS} == instances_before
    assert not [a for a in w.alerts if a.type in ("roll", "replace")]


def test_injected_launch_failure_stops_the_roll_at_that_zone_with_every_zone_served_and_a_rerun_continues(moto):
    w = RollWorld()
    w.sweep()
    w.sweep()
    failing = FailingLaunches(w.clients.ec2, {w.topo0.zone(B).public_subnet_id})
    w.clients = replace(w.clients, ec2=failing)                # every later run sees the failing launches
    first_a = w.topo0.zone(A).nat_instance_id

    operate(w.deps(), {"action": "roll"})
    rec = w.until_roll_ends()

    assert rec.status == r.STOPPED and rec.stopped_zone == B and rec.done == (A,)
    assert "InsufficientInstanceCapacity" in rec.stopped_because
    assert w.topo().zone(A).nat_instance_id != first_a                       # A was rolled
    assert w.topo().zone(B).nat_instance_id == w.topo0.zone(B).nat_instance_id
    # every zone is served, each by its own running, proven NAT; nothing half-built is left
    assert w.served() == {az: az for az in AZS}
    w.sweep()
    assert set(w.sweep().health.values()) == {UP}
    for az in AZS:
        assert w.running_nats(az) == [w.topo().zone(az).nat_instance_id]
    rep = replacement.status_for(w.deps(), B)
    assert rep["status"] == m.FAILED and rep["step"] == m.STEP_CANCELLED
    stopped = [a for a in w.alerts if a.type == "roll" and a.details["phase"] == "stopped"]
    assert len(stopped) == 1 and stopped[0].zone == B and "every zone is served" in stopped[0].reason

    # the cause is fixed; a re-run continues at B (A is not rolled again)
    failing.subnets.clear()
    rolled_a = w.topo().zone(A).nat_instance_id
    result = operate(w.deps(), {"action": "roll"})
    assert result["roll"]["roll_id"] == rec.roll_id and result["roll"]["current"] == B
    rec = w.until_roll_ends()
    assert rec.status == r.ROLL_DONE and rec.done == AZS
    assert w.topo().zone(A).nat_instance_id == rolled_a
    assert w.served() == {az: az for az in AZS}
    assert max_away_from_history(w) == 1


def test_roll_with_manual_revert_gives_each_zone_back_itself(moto):
    w = RollWorld(revert="manual")
    w.sweep()
    w.sweep()
    operate(w.deps(), {"action": "roll", "zone": C})
    rec = w.until_roll_ends()
    assert rec.status == r.ROLL_DONE and rec.done == (C,)
    assert w.served() == {az: az for az in AZS}
    assert w.private_enis(C) == {w.topo().zone(C).nat_eni_id}
    reverts = [a for a in w.alerts if a.type == "revert" and a.zone == C]
    assert reverts and rec.roll_id in reverts[-1].reason


def test_a_second_roll_request_while_one_runs_advances_it_and_a_roll_of_other_zones_is_refused(moto):
    w = RollWorld()
    w.sweep()
    w.sweep()
    first = operate(w.deps(), {"action": "roll"})["roll"]
    again = operate(w.deps(), {"action": "roll"})
    assert again["started"] is False and again["roll"]["roll_id"] == first["roll_id"]
    with pytest.raises(HanatError) as refused:
        operate(w.deps(), {"action": "roll", "zone": B})
    assert refused.value.exit_code == 1 and first["roll_id"] in str(refused.value)


def window_world(window: str) -> RollWorld:
    """The fixture's NATs were not launched from the launch template: all three are stale."""
    w = RollWorld(maintenance=replace(FAST, window=window))
    return w


def test_inside_the_window_the_controller_rolls_one_stale_nat_per_window_opening(moto):
    w = window_world("daily 00:00-23:59")
    first = {z.az: z.nat_instance_id for z in w.topo0.zones}
    w.sweep()
    w.sweep()
    rec = None
    for _ in range(200):
        w.sweep()
        rec = w.roll_record()
        if rec is not None and not rec.active:
            break
    assert rec is not None and rec.automatic and rec.status == r.ROLL_DONE and rec.done == (A,)
    assert "not launched from the launch template" in rec.reason
    for _ in range(5):                                          # same opening: nothing more is rolled
        w.sweep(60)
    topo = w.topo()
    assert topo.zone(A).nat_instance_id != first[A]
    assert (topo.zone(B).nat_instance_id, topo.zone(C).nat_instance_id) == (first[B], first[C])
    assert roll.load_roll(w.deps()).roll_id == rec.roll_id


def test_outside_the_window_nothing_is_rolled(moto):
    w = window_world("")                                       # no window: never automatically
    for _ in range(5):
        w.sweep(60)
    assert w.roll_record() is None
    assert {z.nat_instance_id for z in w.topo().zones} == {z.nat_instance_id for z in w.topo0.zones}


def test_roll_of_an_unknown_zone_is_bad_input(moto):
    w = RollWorld()
    with pytest.raises(HanatError) as bad:
        operate(w.deps(), {"action": "roll", "zone": "mars-1a"})
    assert bad.value.exit_code == 2 and "mars-1a" in str(bad.value)
    assert w.roll_record() is None


def test_status_shows_the_roll_and_each_nats_build(moto):
    w = RollWorld()
    w.sweep()
    status = operate(w.deps(), {"action": "status"})
    assert status["roll"] is None
    nat = status["zones"][0]["nat"]
    assert nat["instance_type"] == "t4g.nano" and nat["image_id"]
    assert nat["current_instance_type"] == "t3.micro"          # the launch template's
    assert any("not launched from the launch template" in s for s in nat["stale"])
    assert any("instance type t4g.nano (current t3.micro)" in s for s in nat["stale"])
    operate(w.deps(), {"action": "roll", "zone": A})
    status = operate(w.deps(), {"action": "status"})
    assert status["roll"]["status"] == r.ROLLING and status["roll"]["current"] == A
    params.read_topology(w.clients.ssm, w.topo0.topology_parameter)


def test_a_template_that_resolves_the_ami_alias_at_launch_makes_nats_on_an_older_ami_stale(moto):
    """nat.ami = "resolve:ssm:<alias>": EC2 resolves the parameter at each launch (a launch template may
    name an SSM parameter instead of an AMI id), so drift compares each NAT with the alias's AMI now."""
    from chalicelib.service.outdated import check_nat_builds

    w = RollWorld()
    alias = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
    latest = w.clients.ssm.get_parameter(Name=alias)["Parameter"]["Value"]
    version = w.ec2.create_launch_template_version(
        LaunchTemplateId=w.topo0.launch_template_id,
        LaunchTemplateData={"ImageId": f"resolve:ssm:{alias}", "InstanceType": "t4g.nano"})
    w.ec2.modify_launch_template(LaunchTemplateId=w.topo0.launch_template_id,
                                 DefaultVersion=str(version["LaunchTemplateVersion"]["VersionNumber"]))
    drift = check_nat_builds(w.clients.ec2, w.clients.ssm, w.topo(), w.clock())
    for az in AZS:
        assert drift[az].current.image_id == latest and drift[az].current.version == 2
        nat_ami = drift[az].build.image_id
        assert (f"AMI {nat_ami} (current {latest})" in drift[az].outdated) is (nat_ami != latest)
        assert not any("instance type" in s for s in drift[az].outdated)          # t4g.nano both
