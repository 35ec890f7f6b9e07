"""NAT replacement (self-healing) end to end on in-process moto: a dead NAT is replaced, keeps its Elastic IP, and gets
its routes back only after scripted probes prove it (fake clock, real sweep/event code)."""
from __future__ import annotations

import base64
import threading
from dataclasses import replace

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib.alerts import format_body
from chalicelib.aws import params
from chalicelib.engine import DOWN, UP, ZoneState
from chalicelib.errors import InputError
from chalicelib.naming import STACK_TAG, stack_tags
from chalicelib.replacement import machine as m
from chalicelib.service import replacement, replacement_steps
from chalicelib.service.deps import Deps
from chalicelib.service.events import handle_instance_state
from chalicelib.service.heartbeat import run_sweep
from chalicelib.service.maintenance import after_sweep
from chalicelib.service.operations import operate
from chalicelib.service.status import collect_status
from chalicelib.settings import FailoverSettings, MaintenanceSettings
from tests.support.stack import (
    AZS,
    FakeClock,
    ScriptedProbes,
    build_stack,
    clients,
    default_targets,
)

A = AZS[0]
TEMPLATE_TYPE = "t3.micro"  # differs from the fixture's NAT type: proves the launch used the template


@pytest.fixture
def moto(aws_env):
    with mock_aws():
        yield


def replacement_stack(revert: str = "auto", replace_after_s: float = 300, maintenance: MaintenanceSettings | None = None):
    """The fixture stack plus what replacement needs: real, tagged EIPs on each NAT and a launch template."""
    topo = build_stack(revert=revert)
    c = clients()
    ami = c.ec2.describe_instances(InstanceIds=[topo.zones[0].nat_instance_id])[
        "Reservations"][0]["Instances"][0]["ImageId"]
    lt = c.ec2.create_launch_template(
        LaunchTemplateName=f"hanat-{topo.stack}-nat", LaunchTemplateData={"ImageId": ami, "InstanceType": TEMPLATE_TYPE},
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": stack_tags(topo.stack, "nat")}],
    )["LaunchTemplate"]["LaunchTemplateId"]
    zones = []
    for z in topo.zones:
        eip = c.ec2.allocate_address(Domain="vpc", TagSpecifications=[
            {"ResourceType": "elastic-ip", "Tags": stack_tags(topo.stack, "eip", z.az)}])
        c.ec2.associate_address(AllocationId=eip["AllocationId"], NetworkInterfaceId=z.nat_eni_id)
        zones.append(replace(z, nat_eip=eip["PublicIp"], nat_eip_allocation_id=eip["AllocationId"]))
    topo = replace(topo, zones=tuple(zones), launch_template_id=lt,
                   failover=FailoverSettings(revert=revert, replace_after_s=replace_after_s),
                   maintenance=maintenance or MaintenanceSettings())
    params.write_topology(c.ssm, topo)
    return topo


class World:
    """One stack, a fake clock, scripted probes; ``deps()`` is a fresh Lambda invocation (reads the
    topology parameter like the real handlers do)."""

    def __init__(self, revert="auto", replace_after_s=300, maintenance=None):
        self.topo0 = replacement_stack(revert, replace_after_s, maintenance)
        self.clock = FakeClock()
        self.probes = ScriptedProbes(self.clock)
        self.alerts: list = []
        self.clients = clients()
        self.ec2 = self.clients.ec2

    def deps(self, **overrides):
        # boto3 clients are thread-safe and shared; the Clients holder is per run
        deps = Deps(topology=self.topo(), clients=replace(self.clients), probe_runner=self.probes,
                    alert_sink=self.alerts.append, clock=self.clock, sleep=self.clock.sleep, owner="test")
        for k, v in overrides.items():
            setattr(deps, k, v)
        return deps

    def topo(self):
        return params.read_topology(self.clients.ssm, self.topo0.topology_parameter)

    def sweep(self, seconds: float = 5.0):
        self.clock.sleep(seconds)
        return run_sweep(self.deps(), then=after_sweep)

    def private_enis(self, az=A) -> set:
        zone = self.topo0.zone(az)
        targets = default_targets(self.ec2, self.topo0)
        return {targets[t] for t in zone.private_route_table_ids}

    def probe_eni(self, az=A):
        return default_targets(self.ec2, self.topo0)[self.topo0.zone(az).probe_route_table_id]

    def eip_eni(self, az=A):
        alloc = self.topo0.zone(az).nat_eip_allocation_id
        return self.ec2.describe_addresses(AllocationIds=[alloc])["Addresses"][0].get("NetworkInterfaceId")

    def instance(self, instance_id):
        return self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]

    def record(self, az=A):
        return replacement.status_for(self.deps(), az)

    def replace_alerts(self, phase=None):
        return [a for a in self.alerts if a.type == "replace" and (phase is None or a.details["phase"] == phase)]

    def nats_launched_in(self, az=A):
        out = self.ec2.describe_instances(Filters=[{"Name": "tag:hanat:launch-token", "Values": ["*"]},
                                                   {"Name": "tag:hanat:zone", "Values": [az]}])
        return [i for r in out["Reservations"] for i in r["Instances"]]

    def terminate_event(self, instance_id, event_id="evt-1"):
        self.ec2.terminate_instances(InstanceIds=[instance_id])
        return {"id": event_id, "detail-type": "EC2 Instance State-change Notification",
                "detail": {"instance-id": instance_id, "state": "terminated"}}


def test_terminated_nat_is_replaced_keeps_its_eip_and_gets_routes_back_only_when_proven(moto):
    w = World()
    old = w.topo0.zone(A)
    w.sweep()
    assert w.deps() and all(s == UP for s in run_sweep(w.deps(), then=after_sweep).health.values())

    result = handle_instance_state(w.deps(), w.terminate_event(old.nat_instance_id))

    # failover at once (the core), and a replacement launched and wired in the same call
    assert result["served_by"] != A and w.private_enis() == {w.topo0.zone(result["served_by"]).nat_eni_id}
    rep = result["replacement"]
    assert rep["started"] is True
    new_id = rep["replacement"]["new_instance_id"]
    new = w.instance(new_id)
    assert new["SubnetId"] == old.public_subnet_id and new["InstanceType"] == TEMPLATE_TYPE
    tags = {t["Key"]: t["Value"] for t in new["Tags"]}
    assert tags[STACK_TAG] == w.topo0.stack and tags["hanat:role"] == "nat" and tags["hanat:zone"] == A
    new_eni = new["NetworkInterfaces"][0]["NetworkInterfaceId"]
    assert new["SourceDestCheck"] is False
    assert w.eip_eni() == new_eni                       # the egress IP stays the zone's
    assert w.probe_eni() == new_eni                     # probes now test the new NAT
    topo = w.topo()
    assert (topo.zone(A).nat_instance_id, topo.zone(A).nat_eni_id) == (new_id, new_eni)
    assert topo.zone(A).nat_eip == old.nat_eip
    assert rep["replacement"]["step"] == m.STEP_PROVING
    assert [a.details["phase"] for a in w.replace_alerts()] == ["started"]
    # status (what `hanat status` and `operate status` show) reports the progress
    row = next(r for r in collect_status(w.deps()) if r["az"] == A)
    assert (row["replacement"]["step"], row["replacement"]["new_instance_id"]) == (m.STEP_PROVING, new_id)

    # scripted healthy probes: the routes come back only once the sweep has proven the new NAT
    published_at, health_seen = w.clock(), []
    for _ in range(15):
        report = w.sweep(2)
        health_seen.append((w.clock() - published_at, report.health[A]))
        if new_eni in w.private_enis():
            assert report.health[A] == UP, "a route pointed at an unproven NAT"
        if w.record()["status"] == m.DONE:
            break
    # reset on publish: the new NAT starts DOWN with zero passes and must earn UP afresh
    # (recover_after passes AND min_hold since the reset)
    first_up = next(t for t, h in health_seen if h == UP)
    assert health_seen[0][1] == DOWN and first_up >= w.topo0.probe.min_hold_s
    assert w.private_enis() == {new_eni}
    rec = w.record()
    assert rec["status"] == m.DONE and rec["step"] == m.STEP_DONE and rec["attempts"] == 1
    assert [a.details["phase"] for a in w.replace_alerts()] == ["started", "done"]
    done = w.replace_alerts("done")[0]
    assert (done.from_nat, done.to_nat, done.zone) == (old.nat_instance_id, new_id, A)
    assert w.instance(old.nat_instance_id)["State"]["Name"] == "terminated"


def test_stopped_nat_is_replaced_after_replace_after_and_the_old_instance_is_terminated(moto):
    w = World(replace_after_s=60)
    old = w.topo0.zone(A)
    w.sweep()
    w.ec2.stop_instances(InstanceIds=[old.nat_instance_id])
    w.sweep()                                           # DOWN at once (instance stopped), failed over
    assert old.nat_eni_id not in w.private_enis()
    for _ in range(10):                                 # 50 s: not yet replace_after
        w.sweep()
    assert w.record() is None and w.nats_launched_in() == []
    for _ in range(3):
        w.sweep()
    rec = w.record()
    assert rec["status"] == m.REPLACING and "stopped" in rec["reason"] and rec["step"] == m.STEP_PROVING
    published_at = next(float(h.split()[0]) for h in rec["history"] if h.split()[1] == m.STEP_PROVING)
    first_up = None
    for _ in range(15):
        report = w.sweep(2)
        if first_up is None and report.health[A] == UP:
            first_up = w.clock() - published_at
        if w.record()["status"] == m.DONE:
            break
    # the zone was DOWN for > min_hold already: only the reset on publish makes the new NAT wait
    assert first_up is not None and first_up >= w.topo0.probe.min_hold_s
    rec = w.record()
    assert rec["status"] == m.DONE
    new_eni = w.topo().zone(A).nat_eni_id
    assert w.private_enis() == {new_eni} and w.eip_eni() == new_eni
    # the old NAT still existed (stopped) and carries the tag: it was terminated at the end
    assert w.instance(old.nat_instance_id)["State"]["Name"] == "terminated"
    assert any("terminated" in h for h in rec["history"])


def test_duplicate_and_concurrent_events_start_exactly_one_replacement(moto):
    w = World()
    old = w.topo0.zone(A)
    w.sweep()
    event = w.terminate_event(old.nat_instance_id)
    errors, results = [], []

    def deliver(i):
        try:
            ev = dict(event, id=f"evt-{i % 3}")         # three distinct events, each delivered twice
            results.append(handle_instance_state(w.deps(owner=f"lambda-{i}"), ev))
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # a lost state race may surface as a ConflictError in one delivery (EventBridge retries it);
    # what matters is that no second replacement starts
    assert all(type(e).__name__ == "ConflictError" for e in errors), errors
    started = [r for r in results if r.get("replacement", {}).get("started")]
    assert len(started) == 1
    assert len(w.nats_launched_in()) == 1
    assert len(w.replace_alerts("started")) == 1
    # and a direct duplicate request afterwards starts nothing either
    again = replacement.on_nat_terminated(w.deps(), A, "duplicate")
    assert again["started"] is False and len(w.nats_launched_in()) == 1


class FailingLaunches:
    """An EC2 client whose run_instances fails like AWS does when capacity runs out."""

    def __init__(self, real, code="InsufficientInstanceCapacity"):
        self._real, self.code, self.calls = real, code, 0

    def run_instances(self, **kwargs):
        self.calls += 1
        raise ClientError({"Error": {"Code": self.code, "Message": "no capacity in this zone"}}, "RunInstances")

    def __getattr__(self, name):
        return getattr(self._real, name)


@pytest.mark.parametrize("code", ["InsufficientInstanceCapacity", "InstanceLimitExceeded"])
def test_launch_failure_keeps_the_backup_alerts_backs_off_and_retries(moto, code):
    w = World()
    old = w.topo0.zone(A)
    w.sweep()
    deps = w.deps()
    failing = FailingLaunches(deps.clients.ec2, code)
    deps.clients.ec2 = failing
    out = handle_instance_state(deps, w.terminate_event(old.nat_instance_id))
    backup_eni = w.topo0.zone(out["served_by"]).nat_eni_id
    rec = out["replacement"]["replacement"]
    assert failing.calls == 1 and rec["step"] == m.STEP_BACKOFF and code in rec["last_error"]
    assert rec["next_attempt_at"] == w.clock() + 60
    assert w.private_enis() == {backup_eni} and w.nats_launched_in() == []
    retry = w.replace_alerts("retry")
    assert len(retry) == 1 and code in retry[0].reason and "backup" in retry[0].reason

    # still failing on the next attempt: the back-off doubles
    w.clock.sleep(61)
    deps2 = w.deps()
    deps2.clients.ec2 = failing
    replacement.run_pass(deps2, {}, w.clock())
    assert failing.calls == 2 and w.record()["next_attempt_at"] == w.clock() + 120
    assert w.private_enis() == {backup_eni}

    # capacity is back: a later sweep launches and, once proven, the zone is served again
    w.clock.sleep(121)
    for _ in range(10):
        w.sweep()
        if w.record()["status"] == m.DONE:
            break
    rec = w.record()
    assert rec["status"] == m.DONE and rec["attempts"] == 3 and rec["failures"] == 2
    assert w.private_enis() == {w.topo().zone(A).nat_eni_id} != {backup_eni}


def test_a_replacement_that_never_passes_probes_never_gets_routes_and_is_retried(moto):
    w = World()
    old = w.topo0.zone(A)
    w.sweep()
    out = handle_instance_state(w.deps(), w.terminate_event(old.nat_instance_id))
    first = out["replacement"]["replacement"]["new_instance_id"]
    first_eni = w.instance(first)["NetworkInterfaces"][0]["NetworkInterfaceId"]
    backup_eni = w.topo0.zone(out["served_by"]).nat_eni_id
    w.probes.failing.add(A)                             # the new NAT's path never works
    for _ in range(25):                                 # > 600 s proving bound
        report = w.sweep(30)
        assert report.health[A] == DOWN
        assert w.private_enis() == {backup_eni}, "a route pointed at an unproven NAT"
        if w.record()["new_instance_id"] != first:
            break
    assert w.instance(first)["State"]["Name"] in ("shutting-down", "terminated")
    retry = w.replace_alerts("retry")
    assert retry and "not proven healthy" in retry[0].reason and retry[0].to_nat == first
    assert w.probe_eni() == first_eni                   # only the pinned probe route ever pointed at it
    # after the back-off a fresh instance is launched
    for _ in range(5):
        w.sweep(30)
        if w.record()["new_instance_id"] not in (None, first):
            break
    rec = w.record()
    assert rec["new_instance_id"] not in (None, first) and rec["attempts"] == 2 and rec["status"] == m.REPLACING
    assert w.private_enis() == {backup_eni}


def test_manual_revert_mode_finishes_when_proven_without_moving_routes(moto):
    w = World(revert="manual")
    old = w.topo0.zone(A)
    w.sweep()
    out = handle_instance_state(w.deps(), w.terminate_event(old.nat_instance_id))
    backup_eni = w.topo0.zone(out["served_by"]).nat_eni_id
    for _ in range(10):
        w.sweep()
        if w.record()["status"] == m.DONE:
            break
    assert w.record()["status"] == m.DONE
    assert w.private_enis() == {backup_eni}             # the operator decides when to revert


def test_operator_replacement_of_a_serving_nat_fails_over_then_drains_before_the_eip_moves(moto):
    """A planned replacement (the old NAT still forwards): the zone leaves the old NAT first, the old
    NAT keeps its Elastic IP for maintenance.drain_s so its open connections finish, and the zone does
    not go back to the old NAT meanwhile, although the old NAT passes its probes again."""
    w = World(maintenance=MaintenanceSettings(drain_s=60))
    old = w.topo0.zone(A)
    w.sweep()
    assert w.private_enis() == {old.nat_eni_id}
    out = replacement.request_replacement(w.deps(), A, "planned")
    assert out["started"] is True
    left_at = w.clock()
    assert old.nat_eni_id not in w.private_enis()        # the zone left the old NAT at once
    assert [a.type for a in w.alerts if a.type == "failover"]
    rec = w.record()
    assert rec["planned"] is True and rec["step"] == m.STEP_DRAINING and rec["drain_until"] == left_at + 60
    new_id = rec["new_instance_id"]
    while w.clock() < left_at + 60 - 5:                  # draining: the EIP stays with the old NAT
        w.sweep()
        assert w.eip_eni() == old.nat_eni_id
        assert old.nat_eni_id not in w.private_enis(), "the zone went back to the draining NAT"
    for _ in range(3):
        w.sweep()
    assert w.clock() >= left_at + 60
    assert w.eip_eni() == w.topo().zone(A).nat_eni_id == w.instance(new_id)["NetworkInterfaces"][0][
        "NetworkInterfaceId"]
    for _ in range(10):
        w.sweep()
        if w.record()["status"] == m.DONE:
            break
    assert w.record()["status"] == m.DONE
    assert w.private_enis() == {w.topo().zone(A).nat_eni_id}
    assert w.instance(old.nat_instance_id)["State"]["Name"] == "terminated"


def test_operator_replacement_with_no_drain_moves_the_eip_in_the_same_call(moto):
    w = World(maintenance=MaintenanceSettings(drain_s=0))
    old = w.topo0.zone(A)
    w.sweep()
    replacement.request_replacement(w.deps(), A, "planned")
    assert old.nat_eni_id not in w.private_enis()
    assert w.eip_eni() == w.topo().zone(A).nat_eni_id != old.nat_eni_id


def test_unknown_zone_is_bad_input_and_changes_nothing(moto):
    w = World()
    with pytest.raises(Exception) as exc:
        replacement.request_replacement(w.deps(), "mars-1a", "x")
    assert getattr(exc.value, "exit_code", None) == 2 and "mars-1a" in str(exc.value)
    assert w.nats_launched_in() == [] and replacement.status_for(w.deps(), A) is None


def test_adapters_refuse_resources_without_the_stack_tag(moto):
    from chalicelib.aws import instances, routes
    from chalicelib.errors import NotFoundError

    w = World()
    c = clients()
    foreign = c.ec2.run_instances(ImageId=w.instance(w.topo0.zone(A).nat_instance_id)["ImageId"], MinCount=1,
                                  MaxCount=1)["Instances"][0]
    assert instances.terminate_tagged_instance(c.ec2, foreign["InstanceId"], w.topo0.stack) is False
    assert w.instance(foreign["InstanceId"])["State"]["Name"] == "running"
    eip = c.ec2.allocate_address(Domain="vpc")["AllocationId"]
    with pytest.raises(NotFoundError):
        instances.move_eip(c.ec2, eip, w.topo0.zone(A).nat_eni_id, w.topo0.stack)
    with pytest.raises(NotFoundError):                  # a private (not pinned) table is not a probe table
        routes.repin_probe_route(c.ec2, w.topo0.zone(A).private_route_table_ids[0], "eni-x", w.topo0.stack)


def test_repeated_launch_failures_end_in_failed_with_an_alert_and_a_cool_down(moto):
    w = World()
    old = w.topo0.zone(A)
    w.sweep()
    failing = None

    def failing_deps():
        nonlocal failing
        deps = w.deps()
        failing = failing or FailingLaunches(deps.clients.ec2)
        deps.clients.ec2 = failing
        return deps

    handle_instance_state(failing_deps(), w.terminate_event(old.nat_instance_id))
    policy = m.ReplacementPolicy.for_replace_after(w.topo0.failover.replace_after_s)
    for _ in range(policy.max_attempts + 2):
        w.clock.sleep(policy.backoff_max_s + 1)
        deps = failing_deps()
        replacement.run_pass(deps, {}, w.clock())
        if w.record()["status"] != m.REPLACING:
            break
    rec = w.record()
    assert rec["status"] == m.FAILED and failing.calls == policy.max_attempts, rec
    assert [a.details["phase"] for a in w.replace_alerts()] == ["started"] + ["retry"] * policy.max_attempts + ["failed"]
    assert "InsufficientInstanceCapacity" in w.replace_alerts("failed")[0].reason
    # the zone is still DOWN: the next automatic replacement waits for the cool-down, then starts afresh
    deps = w.deps()
    states = {A: ZoneState(az=A, health=DOWN, since=0.0), AZS[1]: ZoneState(az=AZS[1], health=UP)}
    replacement.run_pass(deps, states, w.clock())
    assert w.record()["status"] == m.FAILED and w.nats_launched_in() == []
    w.clock.sleep(policy.backoff_max_s + 1)
    replacement.run_pass(deps, states, w.clock())
    rec = w.record()
    assert rec["status"] == m.REPLACING and rec["attempts"] == 1 and len(w.nats_launched_in()) == 1


def test_operator_replacement_is_refused_while_a_paused_zone_rides_on_that_nat(moto):
    """A paused zone is never moved automatically, so replacing the NAT that serves it (its EIP
    moves away, then it is terminated) would cut it off: refused, nothing launched or moved."""
    w = World()
    b = AZS[1]
    w.sweep()
    operate(w.deps(), {"action": "failover", "zone": A, "to_zone": b})
    operate(w.deps(), {"action": "pause", "zone": A})
    before = (w.private_enis(A), w.private_enis(b), w.eip_eni(b))
    with pytest.raises(InputError) as err:
        replacement.request_replacement(w.deps(), b, "planned")
    assert f"zone {A} is paused and served by {b}'s NAT" in str(err.value)
    assert (w.private_enis(A), w.private_enis(b), w.eip_eni(b)) == before
    assert w.nats_launched_in(b) == [] and replacement.status_for(w.deps(), b) is None
    operate(w.deps(), {"action": "resume", "zone": A})
    assert replacement.request_replacement(w.deps(), b, "planned")["started"] is True


BOOT_LOG = ("[    0.000000] Linux version 6.1.0 (Amazon Linux 2023)\n"
            "Cloud-init v. 22.2.2 running 'modules:final'\n"
            "hanat-setup-nat: forwarding on, rp_filter off\n"
            "hanat-setup-nat: FAILED nft: could not load the masquerade ruleset (exit 1)\n")


class ConsoleOutput:
    """The EC2 client, with a console output that moto cannot produce (its output is a fixed sample):
    ``Latest`` refused as on a Xen instance type (GetConsoleOutput: Latest needs the Nitro hypervisor)."""

    def __init__(self, ec2, text: str):
        self._ec2 = ec2
        self.text = text
        self.asked: list[dict] = []

    def get_console_output(self, **kwargs):
        self.asked.append(kwargs)
        if kwargs.get("Latest"):
            raise ClientError({"Error": {"Code": "UnsupportedOperation",
                                         "Message": "This instance type does not support the latest console output"}},
                              "GetConsoleOutput")
        return {"InstanceId": kwargs["InstanceId"], "Output": base64.b64encode(self.text.encode()).decode()}

    def __getattr__(self, name):
        return getattr(self._ec2, name)


def test_a_nat_that_never_comes_up_says_why_with_its_console_output(moto, monkeypatch):
    w = World()
    console = ConsoleOutput(w.clients.ec2, BOOT_LOG)
    w.clients = replace(w.clients, ec2=console)
    old = w.topo0.zone(A)
    w.sweep()
    out = handle_instance_state(w.deps(), w.terminate_event(old.nat_instance_id))
    first = out["replacement"]["replacement"]["new_instance_id"]
    w.probes.failing.add(A)                             # setup-nat.sh failed: the new NAT never forwards
    for _ in range(25):
        w.sweep(30)
        if w.record()["new_instance_id"] != first:
            break
    retry = w.replace_alerts("retry")
    assert retry and "not proven healthy" in retry[0].reason
    lines = retry[0].details["console"]
    assert lines[-1] == "hanat-setup-nat: FAILED nft: could not load the masquerade ruleset (exit 1)"
    assert len(lines) == 4 and w.record()["console_tail"] == lines
    assert [c.get("Latest") for c in console.asked] == [True, None]     # Latest refused: buffered output
    assert console.asked[0]["InstanceId"] == first
    # the SNS body people read carries it
    assert "hanat-setup-nat: FAILED" in format_body(retry[0])

    # the replacement gives up: the "failed" alert carries the last instance's console too
    monkeypatch.setattr(replacement_steps, "policy_for",
                        lambda topo: m.ReplacementPolicy(max_attempts=1, proving_timeout_s=600))
    for _ in range(10):
        w.sweep(60)
        if w.record()["status"] == m.FAILED:
            break
    failed = w.replace_alerts("failed")
    assert failed and failed[0].details["console"][-1].startswith("hanat-setup-nat: FAILED")


def test_an_empty_console_output_is_said_so(moto):
    w = World()
    w.clients = replace(w.clients, ec2=ConsoleOutput(w.clients.ec2, ""))
    w.sweep()
    out = handle_instance_state(w.deps(), w.terminate_event(w.topo0.zone(A).nat_instance_id))
    first = out["replacement"]["replacement"]["new_instance_id"]
    w.probes.failing.add(A)
    for _ in range(25):
        w.sweep(30)
        if w.record()["new_instance_id"] != first:
            break
    # EC2 posts the output shortly after a state transition: it may be empty for a while after a launch
    assert w.replace_alerts("retry")[0].details["console"] == [f"(console output of {first} is empty so far)"]
