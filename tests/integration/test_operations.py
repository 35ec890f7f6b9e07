"""Manual operations: validated first (bad input changes nothing), then applied like the sweep."""
from __future__ import annotations

import pytest

from chalicelib.errors import HanatError
from chalicelib.service.events import handle_instance_state
from chalicelib.service.heartbeat import run_sweep
from chalicelib.service.operations import operate
from tests.support.stack import (
    AZS,
    FakeClock,
    ScriptedProbes,
    default_targets,
    make_deps,
    serving,
    table_items,
)

A, C, D = AZS


@pytest.fixture
def harness(stack):
    """(topology, deps, clock, probes, alerts) after a first sweep."""
    clock = FakeClock()
    probes = ScriptedProbes(clock)
    deps, alerts = make_deps(stack, clock, probes)
    run_sweep(deps)
    return stack, deps, clock, probes, alerts


def sweeps(deps, clock, n):
    for _ in range(n):
        clock.sleep(5)
        run_sweep(deps)


def test_status_reports_every_zone_from_the_routes(harness):
    topo, deps, *_ = harness
    out = operate(deps, {"action": "status"})
    rows = {r["az"]: r for r in out["zones"]}
    assert list(rows) == list(AZS)
    assert rows[A]["nat_instance_id"] == topo.zone(A).nat_instance_id
    assert [(r["nat_health"], r["served_by"], r["mode"]) for r in rows.values()] == [
        ("UP", az, "normal") for az in AZS]
    deps.clients.ec2.replace_route(RouteTableId=topo.zone(D).private_route_table_ids[0],
                                   DestinationCidrBlock="0.0.0.0/0", NetworkInterfaceId=topo.zone(A).nat_eni_id)
    rows = {r["az"]: r for r in operate(deps, {"action": "status"})["zones"]}
    assert rows[D]["served_by"] == A and rows[D]["recorded_served_by"] == D   # actual targets, not memory


def test_manual_failover_sticks_until_revert(harness):
    topo, deps, clock, _, alerts = harness
    out = operate(deps, {"action": "failover", "zone": A, "to_zone": D, "reason": "patch kernel"})
    assert out["ok"] and out["changed"] == list(topo.zone(A).private_route_table_ids) and out["mode"] == "manual-failover"
    assert alerts[-1].reason == "patch kernel" and alerts[-1].to_zone == D
    sweeps(deps, clock, 5)
    assert serving(deps.clients.ec2, topo)[A] == D                # never auto-reverted
    row = next(r for r in operate(deps, {"action": "status"})["zones"] if r["az"] == A)
    assert (row["served_by"], row["mode"], row["last_reason"]) == (D, "manual-failover", "patch kernel")
    assert row["last_change"].endswith("Z")
    back = operate(deps, {"action": "revert", "zone": A})
    assert back["changed"] == list(topo.zone(A).private_route_table_ids) and serving(deps.clients.ec2, topo)[A] == A


def test_failover_without_target_uses_the_engine_choice(harness):
    _, deps, *_ = harness
    assert operate(deps, {"action": "failover", "zone": D})["served_by"] == A   # ring order after D


def test_paused_zone_is_never_moved_until_resumed(harness):
    topo, deps, clock, probes, _ = harness
    operate(deps, {"action": "pause", "zone": C})
    probes.failing = {C}
    sweeps(deps, clock, 3)
    assert serving(deps.clients.ec2, topo)[C] == C
    operate(deps, {"action": "resume", "zone": C})
    sweeps(deps, clock, 1)
    assert serving(deps.clients.ec2, topo)[C] == D


def test_revert_of_a_stopped_nat_fails_and_changes_nothing(harness):
    topo, deps, *_ = harness
    handle_instance_state(deps, {"id": "e1", "detail": {"instance-id": topo.zone(A).nat_instance_id,
                                                        "state": "stopped"}})
    deps.clients.ec2.stop_instances(InstanceIds=[topo.zone(A).nat_instance_id])
    before = (default_targets(deps.clients.ec2, topo), table_items(deps.clients.dynamodb, topo))
    with pytest.raises(HanatError, match="not running") as err:
        operate(deps, {"action": "revert", "zone": A})
    assert err.value.exit_code == 1
    assert (default_targets(deps.clients.ec2, topo), table_items(deps.clients.dynamodb, topo)) == before


def test_replace_hands_the_zone_to_self_healing(harness):
    _, deps, *_ = harness
    out = operate(deps, {"action": "replace", "zone": A, "reason": "bad disk"})
    assert (out["ok"], out["action"], out["zone"]) == (True, "replace", A) and "replacement" in out
