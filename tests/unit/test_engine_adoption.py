"""Adopted zones in the decision engine, table-driven: adopting zones are never moved until their NAT is
proven, then cut over one per sweep; released zones are never moved; their NATs serve other zones only
while proven; manual cutover and release."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from chalicelib.engine import (
    ADOPTING,
    CUT_OVER,
    DOWN,
    PAUSED,
    RELEASED,
    UNKNOWN,
    UP,
    ZoneInput,
    ZoneState,
    decide,
    decide_cutover,
    decide_manual_failover,
    decide_release,
    decide_revert,
)
from chalicelib.errors import InputError
from chalicelib.probes.results import ProbeResult
from chalicelib.settings import FailoverSettings, ProbeSettings

P = ProbeSettings(fail_after=2, recover_after=3, min_hold_s=60, targets=("tcp://203.0.113.1:443",))
NOW = 100_000.0
ABC = ("a", "b", "c")


def z(az, health=UP, passes=10, adoption=ADOPTING, **kw):
    return ZoneState(az=az, health=health, passes=passes, since=NOW - 3600, adoption=adoption, **kw)


def inputs(states, probes=None, instances=None):
    probes = probes if probes is not None else dict.fromkeys((s.az for s in states), True)
    return [ZoneInput(az=s.az, state=s, nat_instance_id=f"i-{s.az}", route_table_ids=(f"rtb-{s.az}1", f"rtb-{s.az}2"),
                      probe=None if probes.get(s.az) is None else ProbeResult(zone=s.az, passed=probes[s.az], at=NOW),
                      instance_state=(instances or {}).get(s.az, "running")) for s in states]


@dataclass
class Case:
    id: str
    states: list[ZoneState]
    probes: dict[str, bool | None] | None = None   # None: every zone passes
    moves: list[tuple[str, str, str]] = field(default_factory=list)     # (zone, to_az, kind)
    adoption: dict[str, str] = field(default_factory=dict)              # az -> adoption after
    alerts: list[str] | None = None                                     # None: one per move, of its kind
    instances: dict[str, str] = field(default_factory=dict)
    control: bool | None = None


CASES = [
    Case("adopting, NAT proven: cut over", [z("a"), z("b", adoption=CUT_OVER), z("c", adoption=CUT_OVER)],
         moves=[("a", "a", "cutover")], adoption={"a": CUT_OVER}, alerts=["cutover"]),
    Case("adopting, NAT proven by this sweep's pass (recover_after-th)", [z("a", passes=2)],
         moves=[("a", "a", "cutover")], adoption={"a": CUT_OVER}),
    Case("adopting, NAT not proven yet: nothing moves", [z("a", passes=1), z("b", passes=0, health=UNKNOWN)],
         adoption={"a": ADOPTING, "b": ADOPTING}),
    Case("all adopting and proven: one zone per sweep, ring order", [z(a) for a in ABC],
         moves=[("a", "a", "cutover")], adoption={"a": CUT_OVER, "b": ADOPTING, "c": ADOPTING}),
    Case("adopting, NAT DOWN: never failed over (the NAT gateway serves it)",
         [z("a", health=UP, fails=1), z("b", adoption=CUT_OVER)], probes={"a": False, "b": True},
         adoption={"a": ADOPTING}),
    Case("adopting, NAT stopped: never failed over", [z("a"), z("b", adoption=CUT_OVER)],
         instances={"a": "stopped"}, adoption={"a": ADOPTING}),
    Case("paused adopting zone is not cut over", [z("a", mode=PAUSED)], adoption={"a": ADOPTING}),
    Case("released: never moved, not even back to its proven NAT", [z("a", adoption=RELEASED), z("b")],
         moves=[("b", "b", "cutover")], adoption={"a": RELEASED}),
    Case("cut-over zone fails over to a proven adopting zone's NAT",
         [z("a", adoption=CUT_OVER, fails=1), z("b", passes=5), z("c", adoption=RELEASED, passes=5)],
         probes={"a": False, "b": True, "c": True}, moves=[("a", "b", "failover"), ("b", "b", "cutover")],
         alerts=["failover", "cutover"]),
    Case("an unproven adopting NAT takes no failover (nothing usable: no move)",
         [z("a", adoption=CUT_OVER, fails=1), z("b", passes=1), z("c", passes=0, health=UNKNOWN)],
         probes={"a": False, "b": True, "c": None}),
    Case("a released zone's NAT serves a failover only while proven",
         [z("a", adoption=CUT_OVER, fails=1), z("b", adoption=RELEASED, passes=1)],
         probes={"a": False, "b": True}),
    Case("cut-over zone on an adopting NAT that lost its proof goes home",
         [z("a", adoption=CUT_OVER, served_by="b", hold_until=NOW + 999), z("b", passes=5)],
         probes={"a": True, "b": False}, moves=[("a", "a", "revert")], alerts=["revert"]),
    Case("targets down: no cutover either", [z("a", passes=5), z("b", passes=5)],
         probes={"a": False, "b": False}, control=False, adoption={"a": ADOPTING}, alerts=["critical"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_adopted_zones(case: Case):
    control = None if case.control is None else ProbeResult(zone="control", passed=case.control, at=NOW)
    d = decide(inputs(case.states, case.probes, case.instances), P, FailoverSettings(), now=NOW, control=control)
    assert [(m.zone, m.to_az, m.kind) for m in d.moves] == case.moves
    for az, adoption in case.adoption.items():
        assert d.states[az].adoption == adoption, az
    assert [a.type for a in d.alerts] == (case.alerts if case.alerts is not None else [m[2] for m in case.moves])


def test_cutover_alert_and_state():
    d = decide(inputs([z("a")]), P, FailoverSettings(), now=NOW, stack="payments")
    alert = d.alerts[0]
    assert (alert.type, alert.zone, alert.to_nat, alert.route_tables) == ("cutover", "a", "i-a", ("rtb-a1", "rtb-a2"))
    s = d.states["a"]
    assert (s.adoption, s.server, s.last_change, s.last_reason) == (CUT_OVER, "a", NOW, "NAT a proven: 11 passed probes")


MANUAL = [
    # (id, states, force, instances, expected moves or the refusal)
    ("proven zones cut over together", [z("a"), z("b")], False, {}, [("a", "cutover"), ("b", "cutover")]),
    ("already cut over: no move", [z("a", adoption=CUT_OVER), z("b")], False, {}, [("b", "cutover")]),
    ("a released zone can be taken over again", [z("a", adoption=RELEASED), z("b")], False, {},
     [("a", "cutover"), ("b", "cutover")]),
    ("force skips the proof", [z("a", health=UNKNOWN, passes=0), z("b", passes=1)], True, {},
     [("a", "cutover"), ("b", "cutover")]),
    ("unproven NAT refused", [z("a", passes=1), z("b")], False, {},
     ("zone a: its NAT i-a is not proven yet (UP, 1 of 3 passed probes in a row): wait for the controller to cut it "
     "over, or --force")),
    ("stopped NAT refused even with force", [z("a"), z("b")], True, {"a": "stopped"},
     "zone a: its NAT i-a is stopped, not running"),
    ("a zone hanat built is refused", [z("a", adoption=""), z("b")], False, {},
     "zone a: its route tables were built by hanat, there is nothing to cut over"),
]


@pytest.mark.parametrize("states,force,instances,expected", [c[1:] for c in MANUAL], ids=[c[0] for c in MANUAL])
def test_manual_cutover(states, force, instances, expected):
    zs = inputs(states, {}, instances)
    if isinstance(expected, str):
        with pytest.raises(InputError) as info:
            decide_cutover(zs, ["a", "b"], probe=P, now=NOW, force=force)
        assert expected in info.value.problems
        return
    d = decide_cutover(zs, ["a", "b"], probe=P, now=NOW, force=force)
    assert [(m.zone, m.kind) for m in d.moves] == expected
    assert all(d.states[az].adoption == CUT_OVER for az in "ab")


def test_cutover_wait_leaves_an_unproven_zone_to_the_controller():
    """`cutover --wait`: the proven zone moves now, the unproven one is noted (not refused) and stays adopting."""
    zs = inputs([z("a", passes=1), z("b")], {}, {})
    d = decide_cutover(zs, ["a", "b"], probe=P, now=NOW, defer_unproven=True)
    assert [(m.zone, m.kind) for m in d.moves] == [("b", "cutover")]
    assert d.states["a"].adoption != CUT_OVER and d.states["b"].adoption == CUT_OVER
    assert d.notes == ("a: waiting for the controller to prove NAT i-a (1 of 3 passed probes)",)


def test_release_records_targets_and_frees_the_zone():
    zs = inputs([z("a", adoption=CUT_OVER, served_by="b", mode="manual-failover"), z("b", adoption=CUT_OVER)], {})
    targets = {"a": (("rtb-a1", "nat-0a"), ("rtb-a2", ""))}
    d = decide_release(zs, targets, now=NOW, reason="hanat down")
    (move,) = d.moves
    assert (move.zone, move.kind, move.targets) == ("a", "release", targets["a"])
    s = d.states["a"]
    assert (s.adoption, s.served_by, s.mode, s.last_reason) == (RELEASED, "", "normal", "hanat down")
    assert d.states["b"].adoption == CUT_OVER
    assert [a.type for a in d.alerts] == ["release"] and d.alerts[0].details == {"targets": {"rtb-a1": "nat-0a",
                                                                                          "rtb-a2": ""}}


def test_a_second_release_rewrites_the_routes_without_a_second_alert():
    zs = inputs([z("a", adoption=RELEASED, last_change=5.0), z("b", adoption=CUT_OVER)], {})
    d = decide_release(zs, {"a": (("rtb-a1", "nat-0a"),)}, now=NOW)
    assert [m.zone for m in d.moves] == ["a"] and d.alerts == ()
    assert d.states["a"].last_change == 5.0


def test_release_of_a_zone_hanat_built_is_refused():
    with pytest.raises(InputError, match="zone a: its route tables were built by hanat, there is nothing to release"):
        decide_release(inputs([z("a", adoption="")], {}), {"a": ()}, now=NOW)


@pytest.mark.parametrize("adoption", [ADOPTING, RELEASED])
@pytest.mark.parametrize("operation", ["failover", "revert"])
def test_no_manual_failover_or_revert_of_routes_that_are_not_hanats(operation, adoption):
    zs = inputs([z("a", adoption=adoption), z("b", adoption=CUT_OVER)], {})
    with pytest.raises(InputError, match=f"zone a is {adoption}: its route tables still point where the user had"):
        if operation == "failover":
            decide_manual_failover(zs, "a", "b", now=NOW)
        else:
            decide_revert(zs, "a", now=NOW)


def test_down_adopting_zone_keeps_its_health_verdict():
    d = decide(inputs([z("a", fails=1), z("b", adoption=CUT_OVER)], {"a": False, "b": True}), P, FailoverSettings(),
               now=NOW)
    assert d.states["a"].health == DOWN and not d.moves
