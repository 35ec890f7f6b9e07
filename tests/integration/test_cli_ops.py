"""`hanat status|failover|revert|...` against the loopback moto server (emulator_env)."""
from __future__ import annotations

import json

import pytest

from chalicelib.service.heartbeat import run_sweep
from tests.support import stack as sf
from tests.support.cli import hanat

STACK = "ops"
pytestmark = pytest.mark.stack(server=True, stack=STACK, azs=sf.AZS[:2])


def establish_health(topo) -> None:
    """A few heartbeat sweeps with every probe passing: every NAT is UP (as in production)."""
    clock = sf.FakeClock()
    deps, _ = sf.make_deps(topo, clock=clock)
    for _ in range(topo.probe.recover_after + 1):
        run_sweep(deps)
        clock.sleep(topo.probe.min_hold_s)


def test_failover_then_revert_moves_routes_and_back(stack, capsys):
    a, c = stack.azs
    ec2 = sf.clients().ec2
    establish_health(stack)
    code, out, err = hanat(capsys, "failover", "--zone", a, "--reason", "maintenance", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["ok"] and result["changed"] == list(stack.zone(a).private_route_table_ids)
    assert sf.serving(ec2, stack) == {a: c, c: c}
    code, out, err = hanat(capsys, "status", "--json")
    assert code == 0, err
    row = next(z for z in json.loads(out)["zones"] if z["az"] == a)
    assert row["served_by"] == c and row["mode"] == "manual-failover" and row["last_reason"] == "maintenance"
    code, out, err = hanat(capsys, "revert", "--zone", a)
    assert code == 0, err
    assert "revert" in out and "1 route table(s) changed" in out
    assert sf.serving(ec2, stack) == {a: a, c: c}


def test_failover_to_a_named_zone_needs_no_history(stack, capsys):
    a, c = stack.azs
    code, _, err = hanat(capsys, "failover", "--zone", c, "--to", a)
    assert code == 0, err
    assert sf.serving(sf.clients().ec2, stack) == {a: a, c: a}


def test_status_prints_a_table(stack, capsys):
    code, out, _ = hanat(capsys, "status")
    assert code == 0
    for column in ("zone", "NAT", "health", "served by", "mode", "egress IP", "last change"):
        assert column in out
    assert all(az in out for az in stack.azs)


@pytest.mark.parametrize("argv, needles", [
    (["failover", "--zone", "nowhere"], ["'nowhere'", "valid zones"]),
    (["failover", "--zone", "ap-northeast-1a", "--to", "ap-northeast-1a"], ["to_zone", "zone itself"]),
    (["revert", "--zone", "ap-northeast-9z", "--reason", "x"], ["'ap-northeast-9z'"]),
])
def test_bad_zone_exits_2_and_changes_nothing(stack, capsys, argv, needles):
    c = sf.clients()
    before = (sf.default_targets(c.ec2, stack), sf.table_items(c.dynamodb, stack))
    code, _, err = hanat(capsys, *argv)
    assert code == 2
    assert all(n in err for n in needles), err
    assert (sf.default_targets(c.ec2, stack), sf.table_items(c.dynamodb, stack)) == before


def test_missing_config_exits_2(emulator_env, capsys, monkeypatch):
    monkeypatch.delenv("HANAT_CONFIG", raising=False)
    code, _, err = hanat(capsys, "status")
    assert code == 2 and "--config" in err
