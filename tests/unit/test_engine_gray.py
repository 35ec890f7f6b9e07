"""Gray failure (chalicelib/engine/gray.py), table-driven: readings -> causes, hold times (never a flap),
which zones move off a DEGRADED NAT and where, and the alerts' cause and remedy. Cases looked up by id."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import pytest

from chalicelib.engine import DOWN, FAILOVER, PAUSED, REVERT, RUNNING, UP, ZoneInput, ZoneState, review
from chalicelib.engine.gray import (
    ALLOWANCE,
    CONNTRACK_FULL,
    DEGRADED,
    DROPS,
    OK,
    PORT_ALLOCATION,
    GrayState,
    NatReading,
    causes,
    decide_moves,
    gray_alert,
    judge,
    judge_all,
    reading,
)
from chalicelib.settings import FailoverSettings
from tests.unit.test_probe_counters import SAMPLE

S = FailoverSettings(degraded_after=3, degraded_clear_after=2, degraded_min_hold_s=300,
                     degraded_conntrack_percent=95, degraded_drops=100, headroom_percent=70)
NOW = 100_000.0
FINE = NatReading("a", conntrack_count=100, conntrack_limit=1000, conntrack_drops=0, port_errors=0,
                  invalid_drops=0, allowance_exceeded=0, busiest_port_percent=1.0, throughput_mbps=1.0)


def r(**kw) -> NatReading:
    return NatReading(**{**FINE.__dict__, **kw})


# --- a reading's causes -------------------------------------------------------------------------
CAUSES = {
    "all fine": (FINE, ()),
    "conntrack at the threshold": (r(conntrack_count=950), (CONNTRACK_FULL,)),
    "conntrack just under it": (r(conntrack_count=949), ()),
    "conntrack drops rising, table not full (early_drop)": (r(conntrack_drops=1), (CONNTRACK_FULL,)),
    "one port allocation error": (r(port_errors=1), (PORT_ALLOCATION,)),
    "drops at the threshold are noise": (r(invalid_drops=100), ()),
    "drops past the threshold": (r(invalid_drops=101), (DROPS,)),
    "allowance exceeded past the threshold": (r(allowance_exceeded=500), (ALLOWANCE,)),
    "no ENA driver: allowance unknown, not bad": (r(allowance_exceeded=None), ()),
    "first reading: no increases, judged on the table alone": (
        NatReading("a", conntrack_count=1000, conntrack_limit=1000), (CONNTRACK_FULL,)),
    "several at once": (r(conntrack_count=1000, port_errors=3), (CONNTRACK_FULL, PORT_ALLOCATION)),
}


@pytest.mark.parametrize("case_id", CAUSES)
def test_causes_of_failing_new_flows(case_id):
    given, expected = CAUSES[case_id]
    assert tuple(c for c, _ in causes(given, S)) == expected


# --- hold times ---------------------------------------------------------------------------------
BAD = r(conntrack_count=1000)


@dataclass
class Hold:
    start: GrayState
    readings: list[NatReading | None]     # one per sweep, 60 s apart
    status: str
    check: dict = field(default_factory=dict)


HOLDS = {
    "two bad sweeps hold OK": Hold(GrayState("a"), [BAD, BAD], OK, {"bad": 2}),
    "the third bad sweep makes it DEGRADED, naming the cause": Hold(
        GrayState("a"), [BAD, BAD, BAD], DEGRADED, {"causes": (CONNTRACK_FULL,), "since": NOW + 120}),
    "a good sweep between resets the count (no flap)": Hold(GrayState("a"), [BAD, BAD, FINE, BAD, BAD], OK, {"bad": 2}),
    "no reading counts for nothing either way": Hold(GrayState("a", bad=2), [None, None], OK, {"bad": 2}),
    "no reading then bad completes the count": Hold(GrayState("a", bad=2), [None, BAD], DEGRADED),
    "good readings before the minimum hold keep it DEGRADED": Hold(
        GrayState("a", status=DEGRADED, since=NOW - 60, causes=(CONNTRACK_FULL,)), [FINE, FINE, FINE], DEGRADED,
        {"good": 3}),
    "good readings and the hold over: OK": Hold(
        GrayState("a", status=DEGRADED, since=NOW - 600, causes=(CONNTRACK_FULL,)), [FINE, FINE], OK,
        {"causes": (), "since": NOW + 60}),
    "one good reading of two needed stays DEGRADED": Hold(
        GrayState("a", status=DEGRADED, since=NOW - 600), [FINE], DEGRADED, {"good": 1}),
    "a bad reading while recovering starts the count again": Hold(
        GrayState("a", status=DEGRADED, since=NOW - 600, good=1), [BAD, FINE], DEGRADED, {"good": 1}),
    "degraded_after 0 judges nothing": Hold(GrayState("a"), [BAD] * 5, OK),
}


@pytest.mark.parametrize("case_id", HOLDS)
def test_hold_times(case_id):
    case = HOLDS[case_id]
    settings = FailoverSettings(**{**S.__dict__, "degraded_after": 0}) if "0 judges" in case_id else S
    state = case.start
    for i, reading_ in enumerate(case.readings):
        state = judge(state, reading_, settings, NOW + 60 * i)
    assert state.status == case.status
    for key, value in case.check.items():
        assert getattr(state, key) == value, key


def test_judge_all_reports_each_entry_and_recovery_once():
    first = judge_all({"a": GrayState("a", bad=2), "b": GrayState("b", status=DEGRADED, since=NOW - 900, good=1)},
                      {"a": BAD, "b": FINE}, S, NOW, ("a", "b", "c"))
    assert (first.entered, first.recovered) == (("a",), ("b",))
    assert first.states["c"] == GrayState("c")              # a zone never judged starts OK
    again = judge_all(first.states, {"a": BAD, "b": FINE}, S, NOW + 60, ("a", "b", "c"))
    assert (again.entered, again.recovered) == ((), ())     # still DEGRADED: no second alert


# --- moves off a DEGRADED NAT ---------------------------------------------------------------------
def zone(az, health=UP, served_by="", mode="normal", instance=RUNNING):
    state = ZoneState(az=az, health=health, since=NOW - 3600, served_by=served_by, mode=mode)
    return ZoneInput(az=az, state=state, nat_instance_id=f"i-{az}", instance_state=instance, nat_eni_id=f"eni-{az}")


DEG = GrayState("a", status=DEGRADED, since=NOW - 60, causes=(CONNTRACK_FULL,), reason="conntrack 1000/1000")


@dataclass
class Moves:
    zones: list[ZoneInput]
    readings: dict[str, NatReading]
    moves: list[tuple[str, str, str]]       # (zone, to, kind)
    notes: int = 0
    gray: dict = field(default_factory=lambda: {"a": DEG})
    baselines: dict = field(default_factory=dict)


ROOMY = {"a": BAD, "b": FINE, "c": FINE, "d": FINE}
MOVES = {
    "own zone stays on its degraded NAT": Moves([zone("a"), zone("b"), zone("c")], ROOMY, []),
    "a zone served for another goes home when its NAT is UP": Moves(
        [zone("a"), zone("b", served_by="a"), zone("c")], ROOMY, [("b", "b", REVERT)]),
    "home NAT DOWN: to another NAT with headroom": Moves(
        [zone("a"), zone("b", health=DOWN, served_by="a"), zone("c")], ROOMY, [("b", "c", FAILOVER)]),
    "no other NAT has headroom: stays (a degraded NAT beats none)": Moves(
        [zone("a"), zone("b", health=DOWN, served_by="a"), zone("c")],
        {**ROOMY, "c": r(conntrack_count=800)}, [], notes=1),
    "a target without a reading this sweep has no proven headroom": Moves(
        [zone("a"), zone("b", health=DOWN, served_by="a"), zone("c")], {"a": BAD, "b": FINE}, [], notes=1),
    "a target over its baseline bandwidth share has no headroom": Moves(
        [zone("a"), zone("b", health=DOWN, served_by="a"), zone("c")], {**ROOMY, "c": r(throughput_mbps=30.0)},
        [], notes=1, baselines={"c": 32.0}),
    "a target DEGRADED itself is never chosen": Moves(
        [zone("a"), zone("b", health=DOWN, served_by="a"), zone("c"), zone("d")], ROOMY, [("b", "d", FAILOVER)],
        gray={"a": DEG, "c": GrayState("c", status=DEGRADED)}),
    "a target bad this sweep (not yet DEGRADED) is not chosen": Moves(
        [zone("a"), zone("b", health=DOWN, served_by="a"), zone("c"), zone("d")],
        {**ROOMY, "c": r(port_errors=2)}, [("b", "d", FAILOVER)]),
    "one zone onto each NAT per sweep": Moves(
        [zone("a"), zone("b", health=DOWN, served_by="a"), zone("c", health=DOWN, served_by="a"), zone("d")],
        ROOMY, [("b", "d", FAILOVER)], notes=1),
    "a paused zone stays": Moves([zone("a"), zone("b", served_by="a", mode=PAUSED), zone("c")], ROOMY, [], notes=1),
    "a NAT not DEGRADED moves nobody": Moves(
        [zone("a"), zone("b", served_by="a"), zone("c")], ROOMY, [], gray={"a": GrayState("a", bad=2)}),
}


@pytest.mark.parametrize("case_id", MOVES)
def test_zones_served_for_others_move_off_a_degraded_nat(case_id):
    case = MOVES[case_id]
    decision = decide_moves(case.zones, case.gray, case.readings, S, now=NOW, stack="s", baselines=case.baselines)
    assert [(m.zone, m.to_az, m.kind) for m in decision.moves] == case.moves
    assert len(decision.notes) == case.notes
    assert len(decision.alerts) == len(case.moves)
    for m in decision.moves:
        assert decision.states[m.zone].server == m.to_az
        assert "DEGRADED" in m.reason
    assert decision.states["a"].server == "a"     # the degraded NAT's own zone keeps its routes


def test_moves_off_a_degraded_nat_hand_open_flows_off():
    """A planned move: review (the same rule as a revert's) hands the open flows back to the old NAT."""
    zones = [zone("a"), zone("b", served_by="a"), zone("c", health=DOWN, served_by="a"), zone("d")]
    decision = decide_moves(zones, {"a": DEG}, ROOMY, S, now=NOW, stack="s")
    assert set(review(decision, zones).handoffs) == {"b", "c"}


# --- readings and alerts ----------------------------------------------------------------------------
def test_reading_from_two_snapshots():
    later = copy.deepcopy(SAMPLE)
    later["conntrack"].update(count=262144, drop=2, early_drop=4, insert_failed=2)   # the 2 clashes' drops too
    later["forwarded"]["from_source"]["bytes"] += 3_750_000
    later["forwarded"]["from_destination"]["bytes"] += 3_750_000
    later["ena"]["pps_allowance_exceeded"] = 203
    got = reading("a", SAMPLE, later, 60.0)
    assert (got.conntrack_drops, got.port_errors, got.allowance_exceeded) == (4, 2, 200)
    assert got.conntrack_percent == 100.0
    assert got.throughput_mbps == pytest.approx(1.0)          # 7.5 MB in 60 s
    assert got.busiest_destination == "tcp 198.51.100.10:443"
    first = reading("a", None, later, 0.0)
    assert (first.conntrack_drops, first.throughput_mbps, first.conntrack_count) == (None, None, 262144)


def test_ports_running_out_is_not_a_full_table():
    """A clash source NAT cannot resolve counts insert_failed and drop (Linux 6.18, the port-exhaustion drill):
    judged port-allocation alone."""
    later = copy.deepcopy(SAMPLE)
    later["conntrack"].update(drop=5, insert_failed=5)
    got = reading("a", SAMPLE, later, 5.0)
    assert (got.conntrack_drops, got.port_errors) == (0, 5)
    assert [c for c, _ in causes(got, S)] == [PORT_ALLOCATION]


@pytest.mark.parametrize("cause, remedy", [(CONNTRACK_FULL, "hanat roll"), (PORT_ALLOCATION, "nat.addresses"),
                                           (ALLOWANCE, "hanat roll")])
def test_degraded_alert_names_cause_and_remedy(cause, remedy):
    state = GrayState("a", status=DEGRADED, since=NOW, causes=(cause,), reason="seen")
    alert = gray_alert(state, BAD, "i-a", NOW, "s")
    assert alert.type == "degraded" and cause in alert.details["causes"]
    assert remedy in alert.reason and remedy in alert.details["remedy"]
    back = gray_alert(GrayState("a", status=OK, reason="2 good readings in a row"), FINE, "i-a", NOW, "s")
    assert back.type == "recovered" and "i-a" in back.reason
