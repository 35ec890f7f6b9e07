"""The lab's spot interruption (lab/aws/spot.py, issue 20 item 6) against in-process moto and the real
handler: the warning events EventBridge would deliver, the metadata notices, the termination a scaled two
minutes later, and what the controller does in between (routes moved well within 10 s of the warning; the
zone keeps its Elastic IP after the replacement). The network-namespace drill is not part of this test."""
from __future__ import annotations

import time

import pytest
from moto import mock_aws

from chalicelib.naming import stack_tags
from chalicelib.replacement import machine as m
from chalicelib.replacement.advance_notice import INTERRUPTION_WARNING, REBALANCE_RECOMMENDATION
from chalicelib.service.events import handle_instance_state
from chalicelib.service.spot_warnings import handle_spot_warning
from lab.aws.spot import SpotInterrupter, warning_event
from lab.timeline import Timeline
from tests.integration.test_replacement import A
from tests.integration.test_spot import spot_world


@pytest.fixture
def moto(aws_env):
    with mock_aws():
        yield


def test_warning_event_has_ec2s_shape():
    event = warning_event("i-0abc", "ap-northeast-1", at=0)
    assert event["detail-type"] == INTERRUPTION_WARNING and event["source"] == "aws.ec2"
    assert event["detail"] == {"instance-id": "i-0abc", "instance-action": "terminate"}
    assert event["resources"] == ["arn:aws:ec2:ap-northeast-1:123456789012:instance/i-0abc"]
    rebalance = warning_event("i-0abc", "ap-northeast-1", kind=REBALANCE_RECOMMENDATION)
    assert rebalance["detail"] == {"instance-id": "i-0abc"} and rebalance["id"] != event["id"]


def test_lab_interruption_moves_routes_at_once_terminates_later_and_the_zone_keeps_its_egress_ip(moto):
    w = spot_world()
    old = w.topo0.zone(A)
    # tagged as `hanat up` tags a NAT (the fixture's are not): the lab interrupts only its stack's NATs
    w.ec2.create_tags(Resources=[old.nat_instance_id], Tags=stack_tags(w.topo0.stack, "nat", A))
    w.sweep()
    timeline, marked = Timeline(), []
    interrupter = SpotInterrupter(
        ec2=w.ec2, stack=w.topo0.stack, region=w.topo0.region, timeline=timeline, scale=0.01,   # 1.2 s
        deliver=lambda event: handle_spot_warning(w.deps(), event),
        mark_metadata=lambda *notice: marked.append(notice))
    try:
        warned = time.time()
        terminate_at = interrupter.interrupt(old.nat_instance_id, zone=A, rebalance_first=True)
        moved_s = time.time() - warned
        assert old.nat_eni_id not in w.private_enis() and moved_s < 10       # routes moved well within 10 s
        assert [o.get("zones_moved", o.get("already_replacing")) for o in interrupter.outcomes] == [[A], True]
        assert [n[1] is None for n in marked] == [True, False]              # rebalance notice, then the action
        assert marked[1][2] is None and marked[1][1]["action"] == "terminate"
        assert w.instance(old.nat_instance_id)["State"]["Name"] == "running"   # not before the two (scaled) minutes
        assert [(a.type, a.details.get("phase")) for a in w.alerts] == [("replace", "started")]   # one alert
        # the drain outlasts maintenance.drain_s (60 s): the old NAT serves its handed-back flows until EC2 takes it
        assert w.record()["drain_until"] >= w.record()["started_at"] + 120
        interrupter.wait(timeout=10)
        assert time.time() >= terminate_at - 0.05
        assert w.instance(old.nat_instance_id)["State"]["Name"] in ("shutting-down", "terminated")
        kinds = [e.event for e in timeline.events()]
        assert kinds.index("spot_warning_handled") < kinds.index("spot_interrupted")
    finally:
        interrupter.cancel()   # never a termination after the emulator is gone
    handle_instance_state(w.deps(), {"id": "ev-term", "source": "aws.ec2",
                                     "detail-type": "EC2 Instance State-change Notification",
                                     "detail": {"instance-id": old.nat_instance_id, "state": "terminated"}})
    for _ in range(40):
        w.sweep()
        if w.record()["status"] == m.DONE:
            break
    assert w.record()["status"] == m.DONE
    assert w.eip_eni() == w.topo().zone(A).nat_eni_id and w.private_enis() == {w.topo().zone(A).nat_eni_id}
    # the warning (and the rebalance recommendation before it) alerted once; then the replacement's own news
    assert [(a.type, a.details.get("phase")) for a in w.alerts if "warning" in a.reason or "rebalance" in a.reason
            ] == [("replace", "started")]
