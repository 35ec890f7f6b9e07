"""The recorder (lab/iam/recorder.py): each call decided under its caller's policies, a denied or unmodelled
call kept as a finding naming principal, action, resource and frame; setup calls never decided."""
from __future__ import annotations

import dataclasses

from lab.iam.callers import unrecorded
from lab.iam.recorder import Recorder
from tests.unit.test_alerts import TOPOLOGY
from tests.unit.test_iam_requests import FakeLook

REGION = TOPOLOGY.region
ZONE = TOPOLOGY.zones[0]


class StackLook(FakeLook):
    def __init__(self, region, endpoint=None, launched_eni_tags=None):
        super().__init__()
        self.region, self.endpoint = region, endpoint
        self.launched = launched_eni_tags if launched_eni_tags is not None else {}

    def ec2_tags(self, resource_id):
        return {"hanat:stack": TOPOLOGY.stack} if resource_id.startswith(("rtb-", "i-", "eipalloc-")) else \
            dict(self.launched.get(resource_id, {}))

    def topologies(self):
        return [dataclasses.replace(TOPOLOGY, launch_template_id="")]

    def controller_role_policies(self, kind):
        return {}

    def adoptable_vpc_exists(self):
        return False


SWEEP = ["chalicelib/aws/routes.py:replace_route", "chalicelib/service/sweep.py:sweep", "app.py:heartbeat"]
LOCAL = "http://127.0.0.1:5000"


def recorder() -> Recorder:
    r = Recorder(look=StackLook)
    r.active = True
    return r


def move_route(r: Recorder, table: str) -> None:
    r.on_call("ec2", "ReplaceRoute", {"RouteTableId": table, "DestinationCidrBlock": "0.0.0.0/0",
                                      "NetworkInterfaceId": "eni-1"}, REGION, endpoint=LOCAL, frames=SWEEP)


def test_a_controller_call_is_decided_under_the_controller_policy():
    r = recorder()
    move_route(r, ZONE.private_route_table_ids[0])
    assert r.calls == 1 and r.drain() == []
    r.on_call("ec2", "ReplaceRoute", {"RouteTableId": "rtb-1"}, REGION, endpoint=LOCAL,
              frames=[*SWEEP[:2], "controller/commands/ops.py:failover"])   # the operator: its own policy
    assert r.calls == 2 and r.drain() == []


def test_a_denied_call_names_principal_action_resource_and_frame():
    r = recorder()
    r.on_call("ec2", "CreateVpc", {"CidrBlock": "10.0.0.0/16"}, REGION, endpoint=LOCAL, frames=SWEEP)
    move_route(r, "sg-not-a-table")
    first, second = r.drain()
    assert (first.principal, first.call, first.frame) == ("controller", "ec2.CreateVpc", SWEEP[0])
    assert "ec2:CreateVpc arn:aws:ec2:ap-northeast-1:123456789012:vpc/* (vpc): implicit deny" in first.verdict
    assert "route-table/sg-not-a-table (route-table): implicit deny" in second.verdict     # not the stack's


def test_setup_calls_and_an_inactive_recorder_decide_nothing():
    r = recorder()
    with unrecorded():
        move_route(r, "sg-x")
    r.on_call("ec2", "ReplaceRoute", {}, REGION, user_agent="Boto3 hanat-lab-observer", endpoint=LOCAL, frames=SWEEP)
    r.on_call("ec2", "ReplaceRoute", {}, REGION, endpoint=LOCAL)     # from this test's own frame: setup
    r.active = False
    move_route(r, "sg-x")
    assert r.calls == 0 and r.drain() == []


def test_a_call_to_anything_but_loopback_or_in_process_moto_is_a_finding():
    r = recorder()
    r.on_call("ec2", "DescribeInstances", {}, REGION, endpoint="https://ec2.ap-northeast-1.amazonaws.com", frames=SWEEP)
    [finding] = r.drain()
    assert "loopback" in finding.verdict
    r.on_call("ec2", "DescribeInstances", {}, REGION, endpoint="https://ec2.ap-northeast-1.amazonaws.com",
              in_process=True, frames=SWEEP)
    assert r.drain() == []


def test_an_untagged_interface_is_denied_unless_the_launch_that_made_it_tagged_it():
    """moto does not tag RunInstances' interfaces; the recorder keeps what the launch asked for them."""
    r = recorder()
    associate = {"AllocationId": "eipalloc-1", "NetworkInterfaceId": "eni-new"}
    r.on_call("ec2", "AssociateAddress", associate, REGION, endpoint=LOCAL, frames=SWEEP)
    assert len(r.drain()) == 1          # the interface carries no stack tag
    launch = {"TagSpecifications": [{"ResourceType": "network-interface",
                                     "Tags": [{"Key": "hanat:stack", "Value": TOPOLOGY.stack}]}]}
    r.on_result("ec2", "RunInstances", launch, {"Instances": [{"NetworkInterfaces": [
        {"NetworkInterfaceId": "eni-new"}]}]})
    r.on_call("ec2", "AssociateAddress", associate, REGION, endpoint=LOCAL, frames=SWEEP)
    assert r.drain() == []


def test_a_drill_collects_its_own_findings_and_gives_the_test_its_own_back():
    r = recorder()
    assert r.begin() is None            # no hook installed: nothing is recorded, no check is added
    r.installed = True
    move_route(r, "sg-outer")
    token = r.begin("lab")
    move_route(r, "sg-drill")
    [drill] = r.end(token)
    assert "sg-drill" in drill.verdict
    [outer] = r.drain()
    assert "sg-outer" in outer.verdict and r.active


def test_subprocess_findings_count_for_the_drill_that_ran_them_whole_lines_only(tmp_path):
    """lab/iam/child/sitecustomize.py appends one JSON line per finding; a drill's ``end`` takes in what its
    subprocesses (chalice deploy) wrote, a line still being written waits for the next look."""
    from lab.iam.recorder import Finding

    r = recorder()
    r.installed = True
    log = tmp_path / "child.log"
    log.write_text("")
    r.swap_child_log(str(log))
    denied = Finding("operator", "iam.PutRolePolicy", "denied under [...]", "bootstrap/deploy/roles.py:put")
    token = r.begin("lab")
    with log.open("a") as out:
        out.write(denied.to_line() + denied.to_line()[:20])
    [drill] = r.end(token)
    assert drill == Finding("operator", "iam.PutRolePolicy", "denied under [...]",
                            "(subprocess) bootstrap/deploy/roles.py:put")
    assert r.drain() == []
    with log.open("a") as out:
        out.write(denied.to_line()[20:])
    assert [f.call for f in r.drain()] == ["iam.PutRolePolicy"]
