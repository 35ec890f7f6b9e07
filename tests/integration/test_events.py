"""EC2 state-change events: a stopping NAT fails over at once, exactly once per event id."""
from __future__ import annotations

import pytest
from moto import mock_aws

from chalicelib.errors import HanatError, InputError
from chalicelib.service.events import handle_instance_state
from chalicelib.service.sweep import run_sweep
from tests.integration.stackfixture import AZS, FakeClock, build_stack, default_targets, make_deps, serving, table_items

A, C, D = AZS


def event(instance_id, state, event_id="ev-1"):
    return {"version": "0", "id": event_id, "detail-type": "EC2 Instance State-change Notification",
            "source": "aws.ec2", "detail": {"instance-id": instance_id, "state": state}}


@pytest.fixture
def stack(aws_env):
    with mock_aws():
        topo = build_stack()
        clock = FakeClock()
        deps, alerts = make_deps(topo, clock)
        run_sweep(deps)   # all UP
        yield topo, deps, alerts


@pytest.mark.parametrize("state", ["stopping", "stopped", "shutting-down", "terminated"])
def test_nat_leaving_running_fails_over_at_once(stack, state):
    topo, deps, alerts = stack
    result = handle_instance_state(deps, event(topo.zone(A).nat_instance_id, state))
    assert result["ok"] and result["served_by"] == C
    assert result["changed"] == list(topo.zone(A).private_route_table_ids)
    assert serving(deps.clients.ec2, topo) == {A: C, C: C, D: D}
    assert [(a.type, a.reason) for a in alerts][0] == ("failover", f"instance {state}")
    assert [a.type for a in alerts].count("failover") == 1
    assert ("replacement" in result) is (state == "terminated")


def test_duplicate_event_acts_once(stack):
    topo, deps, alerts = stack
    first = handle_instance_state(deps, event(topo.zone(A).nat_instance_id, "stopped", "ev-dup"))
    items = table_items(deps.clients.dynamodb, topo)
    second = handle_instance_state(deps, event(topo.zone(A).nat_instance_id, "stopped", "ev-dup"))
    assert first["ok"] and second == {"duplicate": True, "event_id": "ev-dup", "zone": A}
    assert len(alerts) == 1 and table_items(deps.clients.dynamodb, topo) == items
    marker = next(i for i in items if i["pk"]["S"] == "event")
    assert int(marker["expires_at"]["N"]) > deps.clock()   # TTL attribute set


def test_other_instances_and_harmless_states_are_ignored(stack):
    topo, deps, alerts = stack
    before = default_targets(deps.clients.ec2, topo)
    assert "not a NAT" in handle_instance_state(deps, event("i-0123456789abcdef0", "stopped"))["ignored"]
    assert "nothing to do" in handle_instance_state(deps, event(topo.zone(A).nat_instance_id, "running"))["ignored"]
    assert default_targets(deps.clients.ec2, topo) == before and alerts == []


@pytest.mark.parametrize("bad, named", [
    ({}, ["id:", "detail:", "detail.instance-id", "detail.state"]),
    ({"id": "e", "detail": {}}, ["detail.instance-id", "detail.state"]),
    ({"id": 7, "detail": {"instance-id": "i-1", "state": "exploded"}}, ["id:", "'exploded'"]),
    ("not a dict", ["JSON object"]),
])
def test_malformed_event_names_every_problem_and_changes_nothing(stack, bad, named):
    topo, deps, _ = stack
    before = (default_targets(deps.clients.ec2, topo), table_items(deps.clients.dynamodb, topo))
    with pytest.raises(InputError) as err:
        handle_instance_state(deps, bad)
    assert err.value.exit_code == 2
    for word in named:
        assert word in str(err.value)
    assert (default_targets(deps.clients.ec2, topo), table_items(deps.clients.dynamodb, topo)) == before


def test_failed_handling_forgets_the_event_so_a_retry_acts(stack):
    topo, deps, alerts = stack
    ec2 = deps.clients.ec2
    table = topo.zone(A).private_route_table_ids[0]
    ec2.delete_tags(Resources=[table], Tags=[{"Key": "hanat:stack"}])
    with pytest.raises(HanatError, match="refusing"):
        handle_instance_state(deps, event(topo.zone(A).nat_instance_id, "stopped", "ev-retry"))
    assert not any(i["pk"]["S"] == "event" for i in table_items(deps.clients.dynamodb, topo))
    ec2.create_tags(Resources=[table], Tags=[{"Key": "hanat:stack", "Value": topo.stack}])
    result = handle_instance_state(deps, event(topo.zone(A).nat_instance_id, "stopped", "ev-retry"))
    assert result["ok"] and serving(ec2, topo)[A] == C
