"""Operator plans and the stored form of the zone state."""
from __future__ import annotations

import pytest

from chalicelib.engine import (
    DOWN,
    MANUAL_FAILOVER,
    NORMAL,
    PAUSED,
    UNKNOWN,
    UP,
    ZoneInput,
    ZoneState,
    choose_target,
    decide,
    decide_manual_failover,
    decide_pause,
    decide_resume,
    decide_revert,
    revert_hold_s,
)
from chalicelib.errors import HanatError, InputError
from chalicelib.service.reconcile import zone_state
from chalicelib.settings import FailoverSettings, ProbeSettings

NOW = 50_000.0


def inputs(*states: ZoneState, stopped: tuple[str, ...] = ()) -> list[ZoneInput]:
    return [ZoneInput(az=s.az, state=s, nat_instance_id=f"i-{s.az}", route_table_ids=(f"rtb-{s.az}",),
                      instance_state="stopped" if s.az in stopped else "running") for s in states]


UP3 = (ZoneState("a", health=UP), ZoneState("b", health=UP), ZoneState("c", health=UP))


def test_manual_failover_to_named_zone_sets_mode_and_alerts():
    plan = decide_manual_failover(inputs(*UP3), "a", "c", now=NOW, reason="patching", stack="t")
    assert [(m.zone, m.to_az, m.kind, m.reason) for m in plan.moves] == [("a", "c", "failover", "patching")]
    assert plan.states["a"].mode == MANUAL_FAILOVER and plan.states["a"].server == "c"
    assert plan.alerts[0].to_nat == "i-c"


def test_manual_failover_is_not_reverted_by_the_sweep():
    plan = decide_manual_failover(inputs(*UP3), "a", None, now=NOW)
    assert plan.states["a"].server == "b"  # least loaded, first after a in the ring
    zones = [ZoneInput(az=z.az, state=plan.states[z.az], instance_state="running") for z in inputs(*UP3)]
    later = decide(zones, ProbeSettings(), FailoverSettings(), now=NOW + 3600)
    assert later.moves == () and later.states["a"].server == "b"


def test_manual_failover_to_a_down_nat_is_bad_input():
    states = (ZoneState("a", health=UP), ZoneState("b", health=DOWN, health_reason="instance stopped"), UP3[2])
    with pytest.raises(InputError, match="'b'.*DOWN"):
        decide_manual_failover(inputs(*states), "a", "b", now=NOW)
    with pytest.raises(InputError, match="must differ"):
        decide_manual_failover(inputs(*UP3), "a", "a", now=NOW)


def test_manual_failover_without_healthy_target_fails():
    states = (ZoneState("a", health=UP), ZoneState("b", health=DOWN), ZoneState("c", health=UNKNOWN))
    with pytest.raises(HanatError, match="no healthy NAT") as info:
        decide_manual_failover(inputs(*states), "a", None, now=NOW)
    assert "--to" in str(info.value)          # tells the operator how to pick a target anyway
    # an UNKNOWN (not yet proven) NAT can still be named explicitly
    assert decide_manual_failover(inputs(*states), "a", "c", now=NOW).moves[0].to_az == "c"


def test_revert_needs_a_running_instance():
    states = (ZoneState("a", health=DOWN, served_by="b"), UP3[1], UP3[2])
    with pytest.raises(HanatError, match="stopped, not running") as err:
        decide_revert(inputs(*states, stopped=("a",)), "a", now=NOW)
    assert err.value.exit_code == 1


def test_revert_brings_the_zone_home_and_rejudges_its_nat():
    states = (ZoneState("a", health=DOWN, served_by="b", mode=MANUAL_FAILOVER, hold_until=NOW + 900), UP3[1], UP3[2])
    plan = decide_revert(inputs(*states), "a", now=NOW)
    a = plan.states["a"]
    assert (a.server, a.mode, a.health, a.hold_until) == ("a", NORMAL, UNKNOWN, 0.0)
    assert [(m.zone, m.to_az, m.kind) for m in plan.moves] == [("a", "a", "revert")]


def test_revert_when_home_moves_nothing():
    assert decide_revert(inputs(*UP3), "a", now=NOW).moves == ()


def test_pause_and_resume_only_change_the_mode():
    states = (ZoneState("a", health=DOWN, served_by="b"), UP3[1], UP3[2])
    paused = decide_pause(inputs(*states), "a", now=NOW)
    assert paused.moves == () and paused.states["a"].mode == PAUSED and paused.states["a"].server == "b"
    resumed = decide_resume(inputs(paused.states["a"], UP3[1], UP3[2]), "a", now=NOW)
    assert resumed.states["a"].mode == NORMAL and resumed.states["a"].server == "b"


def test_unknown_zone_is_bad_input():
    with pytest.raises(InputError, match="valid zones: a, b, c"):
        decide_pause(inputs(*UP3), "z", now=NOW)


@pytest.mark.parametrize("n, hold", [(0, 60), (1, 60), (2, 60), (3, 120), (4, 240), (5, 480)])
def test_revert_hold_doubles_from_the_third_failover(n, hold):
    assert revert_hold_s(60, n) == hold


@pytest.mark.parametrize("zone, loads, usable, expected", [
    ("a", {"b": 1, "c": 1}, "bc", "b"),
    ("b", {"a": 1, "c": 1}, "ac", "c"),
    ("c", {"a": 2, "b": 1}, "ab", "b"),
    ("a", {}, "", None),
])
def test_choose_target(zone, loads, usable, expected):
    assert choose_target(zone, ["a", "b", "c"], loads, lambda az: az in usable) == expected


def test_zone_state_round_trips_through_its_stored_form():
    s = ZoneState("a", health=DOWN, fails=2, since=1.5, served_by="b", mode=PAUSED, failovers=(1.0, 2.0),
                  hold_until=9.0, flap_alerted=True, last_change=3.0, last_reason="x", health_reason="y", version=7)
    assert zone_state(s.to_dict()) == s
