"""Events hanat must not act on: other instances, harmless states, malformed payloads (one shared
stack: these tests must not change it, and each one checks that)."""
from __future__ import annotations

import pytest

from chalicelib.errors import InputError
from chalicelib.service.events import handle_instance_state
from chalicelib.service.heartbeat import run_sweep
from tests.support.stack import AZS, FakeClock, default_targets, make_deps, moto_stack, table_items

A, C, D = AZS


def event(instance_id, state, event_id="ev-1"):
    return {"version": "0", "id": event_id, "detail-type": "EC2 Instance State-change Notification",
            "source": "aws.ec2", "detail": {"instance-id": instance_id, "state": state}}


@pytest.fixture(scope="module")
def shared():
    with moto_stack() as topo:
        deps, alerts = make_deps(topo, FakeClock())
        run_sweep(deps)
        yield topo, deps, alerts


def test_other_instances_and_harmless_states_are_ignored(shared):
    topo, deps, alerts = shared
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
def test_malformed_event_names_every_problem_and_changes_nothing(shared, bad, named):
    topo, deps, _ = shared
    before = (default_targets(deps.clients.ec2, topo), table_items(deps.clients.dynamodb, topo))
    with pytest.raises(InputError) as err:
        handle_instance_state(deps, bad)
    assert err.value.exit_code == 2
    for word in named:
        assert word in str(err.value)
    assert (default_targets(deps.clients.ec2, topo), table_items(deps.clients.dynamodb, topo)) == before
