"""EC2 state-change events: a stopping NAT fails over at once, exactly once per event id."""
from __future__ import annotations

import pytest

from chalicelib.errors import HanatError
from chalicelib.service.events import handle_instance_state
from chalicelib.service.heartbeat import run_sweep
from tests.support.stack import (
    AZS,
    FakeClock,
    make_deps,
    serving,
    table_items,
)

A, C, D = AZS


def event(instance_id, state, event_id="ev-1"):
    return {"version": "0", "id": event_id, "detail-type": "EC2 Instance State-change Notification",
            "source": "aws.ec2", "detail": {"instance-id": instance_id, "state": state}}


@pytest.fixture
def harness(stack):
    """(topology, deps, alerts) after a first sweep: every NAT UP."""
    deps, alerts = make_deps(stack, FakeClock())
    run_sweep(deps)   # all UP
    return stack, deps, alerts


@pytest.mark.parametrize("state", ["stopping", "stopped", "shutting-down", "terminated"])
def test_nat_leaving_running_fails_over_at_once(harness, state):
    topo, deps, alerts = harness
    result = handle_instance_state(deps, event(topo.zone(A).nat_instance_id, state))
    assert result["ok"] and result["served_by"] == C
    assert result["changed"] == list(topo.zone(A).private_route_table_ids)
    assert serving(deps.clients.ec2, topo) == {A: C, C: C, D: D}
    assert (alerts[0].type, alerts[0].reason) == ("failover", f"instance {state}")
    assert [a.type for a in alerts].count("failover") == 1
    assert ("replacement" in result) is (state == "terminated")


def test_duplicate_event_acts_once(harness):
    topo, deps, alerts = harness
    first = handle_instance_state(deps, event(topo.zone(A).nat_instance_id, "stopped", "ev-dup"))
    items = table_items(deps.clients.dynamodb, topo)
    second = handle_instance_state(deps, event(topo.zone(A).nat_instance_id, "stopped", "ev-dup"))
    assert first["ok"] and second == {"duplicate": True, "event_id": "ev-dup", "zone": A}
    assert len(alerts) == 1 and table_items(deps.clients.dynamodb, topo) == items
    marker = next(i for i in items if i["pk"]["S"] == "event")
    assert int(marker["expires_at"]["N"]) > deps.clock()   # TTL attribute set


def test_failed_handling_forgets_the_event_so_a_retry_acts(harness):
    topo, deps, _ = harness
    ec2 = deps.clients.ec2
    table = topo.zone(A).private_route_table_ids[0]
    ec2.delete_tags(Resources=[table], Tags=[{"Key": "hanat:stack"}])
    with pytest.raises(HanatError, match="refusing"):
        handle_instance_state(deps, event(topo.zone(A).nat_instance_id, "stopped", "ev-retry"))
    assert not any(i["pk"]["S"] == "event" for i in table_items(deps.clients.dynamodb, topo))
    ec2.create_tags(Resources=[table], Tags=[{"Key": "hanat:stack", "Value": topo.stack}])
    result = handle_instance_state(deps, event(topo.zone(A).nat_instance_id, "stopped", "ev-retry"))
    assert result["ok"] and serving(ec2, topo)[A] == C
