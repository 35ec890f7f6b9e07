"""Bad operate payloads: every problem named, exit code 2, nothing changed (one shared stack: these
tests must not change it, and each one checks that)."""
from __future__ import annotations

import pytest

from chalicelib.errors import InputError
from chalicelib.service.events import handle_instance_state
from chalicelib.service.heartbeat import run_sweep
from chalicelib.service.operations import operate
from tests.support.stack import AZS, FakeClock, default_targets, make_deps, moto_stack, table_items

A, C, D = AZS


@pytest.fixture(scope="module")
def shared():
    with moto_stack() as topo:
        deps, _ = make_deps(topo, FakeClock())
        run_sweep(deps)
        yield topo, deps


def snapshot(topo, deps):
    return default_targets(deps.clients.ec2, topo), table_items(deps.clients.dynamodb, topo)


BAD = [
    ({"action": "explode", "zone": A}, ["'explode'", "valid actions: status, failover"]),
    ({"action": "failover"}, ["zone: missing"]),
    ({"action": "failover", "zone": "mars-1a", "to_zone": "venus-1b"}, ["'mars-1a'", "'venus-1b'"]),
    ({"action": "failover", "zone": A, "to_zone": A}, ["the zone itself"]),
    ({"action": "pause", "zone": A, "to_zone": C}, ["only applies to failover"]),
    ({"action": "status", "colour": "red", "force": True}, ["'colour'", "'force'"]),
    ({"action": 3, "zone": ["a"], "reason": 5}, ["action: 3", "zone: ['a']", "reason: must be a string"]),
    ([], ["JSON object"]),
]


@pytest.mark.parametrize("payload, named", BAD)
def test_bad_payload_names_every_problem_and_changes_nothing(shared, payload, named):
    topo, deps = shared
    before = snapshot(topo, deps)
    with pytest.raises(InputError) as err:
        operate(deps, payload)
    assert err.value.exit_code == 2
    for word in named:
        assert word in str(err.value)
    assert f"valid zones: {', '.join(AZS)}" in str(err.value)
    assert snapshot(topo, deps) == before


def test_failover_to_a_down_nat_is_bad_input(shared):
    topo, deps = shared
    handle_instance_state(deps, {"id": "e2", "detail": {"instance-id": topo.zone(C).nat_instance_id,
                                                        "state": "stopping"}})
    before = snapshot(topo, deps)
    with pytest.raises(InputError, match="to_zone.*DOWN"):
        operate(deps, {"action": "failover", "zone": A, "to_zone": C})
    assert snapshot(topo, deps) == before
