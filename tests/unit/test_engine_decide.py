"""The decision engine, table-driven: one row = one round of observations and what must follow."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest

from chalicelib.engine import DOWN, MANUAL_FAILOVER, PAUSED, UNKNOWN, UP, ZoneInput, ZoneState, decide
from chalicelib.engine.window import parse_window
from chalicelib.probes.results import ProbeResult
from chalicelib.settings import FailoverSettings, ProbeSettings

P = ProbeSettings(fail_after=2, recover_after=3, min_hold_s=60, targets=("tcp://203.0.113.1:443",))
NOW = 100_000.0   # 1970-01-02 03:46:40 UTC, a Friday
OPEN_NOW = "Fri 03:00-04:00"      # contains NOW
CLOSED_NOW = "Fri 04:00-05:00"    # opens 13 min 20 s after NOW
ABC = ("a", "b", "c")
NOEV = "no evidence"   # a probe Lambda could not run (throttled, not ready, function error, timeout)


def up(az, **kw):
    return ZoneState(az=az, health=UP, since=NOW - 3600, **kw)


def down(az, **kw):
    kw.setdefault("since", NOW - 3600)
    kw.setdefault("health_reason", "2 failed probes")
    return ZoneState(az=az, health=DOWN, **kw)


@dataclass
class Case:
    id: str
    states: list[ZoneState]
    probes: dict[str, bool | str | None]           # az -> passed, NOEV (None / absent: not probed)
    moves: list[tuple[str, str, str]] = field(default_factory=list)   # (zone, to_az, kind)
    health: dict[str, str] = field(default_factory=dict)
    alerts: list[str] | None = None                # None: exactly one alert per move
    outcomes: list[str] = field(default_factory=list)   # must all be present
    instances: dict[str, str] = field(default_factory=dict)
    control: bool | None = None
    critical: bool = False
    critical_after: bool | None = None
    revert: str = "auto"
    window: str = ""                              # maintenance.window ("" = never)
    reason: str | None = None                     # reason of the first move
    check: dict = field(default_factory=dict)     # az -> {field: value} on the new state
    confirm: dict[str, list] = field(default_factory=dict)   # az -> re-probe verdicts (bool / NOEV) in order


CASES = [
    Case("all pass: nothing moves", [up(a) for a in ABC], dict.fromkeys(ABC, True), outcomes=["no_change"]),
    Case("one failure (fail_after-1) holds", [up(a) for a in ABC], {"a": False, "b": True, "c": True},
         health={"a": UP}, check={"a": {"fails": 1}}),
    Case("fail_after-th failure fails over", [up("a", fails=1), up("b"), up("c")],
         {"a": False, "b": True, "c": True}, moves=[("a", "b", "failover")], health={"a": DOWN},
         alerts=["failover"], reason="2 failed probes", outcomes=["failover"]),
    Case("flaky: a pass resets the failure count", [up("a", fails=1), up("b"), up("c")],
         dict.fromkeys(ABC, True), check={"a": {"fails": 0, "passes": 1}}),
    Case("flaky: fail after a pass starts over", [up("a", fails=0, passes=1), up("b"), up("c")],
         {"a": False, "b": True, "c": True}, health={"a": UP}, check={"a": {"fails": 1, "passes": 0}}),
    Case("instance stopped: down at once", [up(a) for a in ABC], {}, instances={"a": "stopped"},
         moves=[("a", "b", "failover")], health={"a": DOWN}, reason="instance stopped"),
    Case("instance terminated beats a passing probe", [up(a) for a in ABC], dict.fromkeys(ABC, True),
         instances={"a": "terminated"}, moves=[("a", "b", "failover")], reason="instance terminated"),
    Case("recovery after recover_after passes and min_hold", [down("a", passes=2, served_by="b"), up("b"), up("c")],
         dict.fromkeys(ABC, True), moves=[("a", "a", "revert")], health={"a": UP}, alerts=["revert"]),
    Case("recovery one pass short stays down", [down("a", passes=1, served_by="b"), up("b"), up("c")],
         dict.fromkeys(ABC, True), health={"a": DOWN}, check={"a": {"passes": 2}}),
    Case("min_hold not reached (59 s) stays down", [down("a", passes=2, served_by="b", since=NOW - 59), up("b"),
                                                     up("c")], dict.fromkeys(ABC, True), health={"a": DOWN}),
    Case("min_hold exactly reached (60 s) reverts", [down("a", passes=2, served_by="b", since=NOW - 60), up("b"),
                                                      up("c")], dict.fromkeys(ABC, True), moves=[("a", "a", "revert")]),
    Case("revert=manual keeps the zone away", [down("a", passes=2, served_by="b"), up("b"), up("c")],
         dict.fromkeys(ABC, True), revert="manual", health={"a": UP}, outcomes=["manual_hold"]),
    Case("revert=window inside the window gives the zone back", [down("a", passes=2, served_by="b"), up("b"), up("c")],
         dict.fromkeys(ABC, True), revert="window", window=OPEN_NOW, moves=[("a", "a", "revert")], health={"a": UP}),
    Case("revert=window outside the window holds the zone away",
         [down("a", passes=2, served_by="b"), up("b"), up("c")], dict.fromkeys(ABC, True), revert="window",
         window=CLOSED_NOW, health={"a": UP}, outcomes=["window_hold"]),
    Case("revert=window with no window never gives back", [up("a", served_by="b"), up("b"), up("c")],
         dict.fromkeys(ABC, True), revert="window", window="", outcomes=["window_hold"]),
    Case("revert=window still fails over outside the window", [up("a", fails=1), up("b"), up("c")],
         {"a": False, "b": True, "c": True}, revert="window", window=CLOSED_NOW, moves=[("a", "b", "failover")]),
    Case("revert=window: serving NAT dies, own NAT up, goes home outside the window",
         [up("a", served_by="b"), up("b"), up("c")], {}, instances={"b": "stopped"}, revert="window",
         window=CLOSED_NOW, moves=[("a", "a", "revert"), ("b", "c", "failover")]),
    Case("revert=auto ignores the window", [down("a", passes=2, served_by="b"), up("b"), up("c")],
         dict.fromkeys(ABC, True), window=CLOSED_NOW, moves=[("a", "a", "revert")]),
    Case("manual failover is never auto-reverted", [up("a", served_by="b", mode=MANUAL_FAILOVER), up("b"), up("c")],
         dict.fromkeys(ABC, True), outcomes=["manual_hold"]),
    Case("paused zone is not moved when its NAT dies", [up("a", fails=1, mode=PAUSED), up("b"), up("c")],
         {"a": False, "b": True, "c": True}, health={"a": DOWN}, outcomes=["paused"]),
    Case("paused zone stays on a dying serving NAT", [down("a", served_by="b", mode=PAUSED), up("b", fails=1), up("c")],
         {"a": False, "b": False, "c": True}, moves=[("b", "c", "failover")], health={"b": DOWN}),
    Case("all NATs down: nothing moves", [up(a, fails=1) for a in ABC], dict.fromkeys(ABC, False),
         health=dict.fromkeys(ABC, DOWN), outcomes=["no_target"]),
    Case("all down after a failover: no ping-pong", [down("a", served_by="b"), up("b", fails=1), up("c", fails=1)],
         dict.fromkeys(ABC, False), health=dict.fromkeys(ABC, DOWN)),
    Case("targets down: no move, no count, one critical", [up(a, fails=1) for a in ABC], dict.fromkeys(ABC, False),
         control=False, health=dict.fromkeys(ABC, UP), alerts=["critical"], outcomes=["targets_down"],
         critical_after=True, check={"a": {"fails": 1}}),
    Case("targets still down: no second critical", [up(a) for a in ABC], dict.fromkeys(ABC, False), control=False,
         critical=True, critical_after=True, outcomes=["targets_down"]),
    Case("targets back: critical cleared", [up(a) for a in ABC], dict.fromkeys(ABC, True), critical=True,
         critical_after=False),
    Case("all fail but control passes: the NATs are down", [up(a, fails=1) for a in ABC], dict.fromkeys(ABC, False),
         control=True, health=dict.fromkeys(ABC, DOWN), outcomes=["no_target"]),
    Case("serving NAT dies: the zone moves again", [down("a", served_by="b"), up("b", fails=1), up("c")],
         {"a": False, "b": False, "c": True}, moves=[("a", "c", "failover"), ("b", "c", "failover")],
         reason="serving NAT b down", check={"a": {"served_by": "c"}}),
    Case("serving NAT dies, own NAT up: go home despite hold",
         [up("a", served_by="b", hold_until=NOW + 500), up("b"), up("c")], {}, instances={"b": "stopped"},
         moves=[("a", "a", "revert"), ("b", "c", "failover")]),
    Case("revert held by flap damping", [up("a", served_by="b", hold_until=NOW + 1), up("b"), up("c")],
         dict.fromkeys(ABC, True), outcomes=["hold"]),
    Case("third failover in 15 min: flapping, hold doubled",
         [up("a", fails=1, failovers=(NOW - 600, NOW - 300)), up("b"), up("c")], {"a": False, "b": True, "c": True},
         moves=[("a", "b", "failover")], alerts=["failover", "flapping"], outcomes=["flapping"],
         check={"a": {"hold_until": NOW + 120, "flap_alerted": True}}),
    Case("fourth failover: hold x4, no second flapping alert",
         [up("a", fails=1, failovers=(NOW - 700, NOW - 600, NOW - 300), flap_alerted=True), up("b"), up("c")],
         {"a": False, "b": True, "c": True}, moves=[("a", "b", "failover")], alerts=["failover"],
         check={"a": {"hold_until": NOW + 240}}),
    Case("failovers older than 15 min are forgotten",
         [up("a", fails=1, failovers=(NOW - 1000, NOW - 950), flap_alerted=True), up("b"), up("c")],
         {"a": False, "b": True, "c": True}, moves=[("a", "b", "failover")], alerts=["failover"],
         check={"a": {"failovers": (NOW,), "hold_until": NOW + 60, "flap_alerted": False}}),
    Case("UNKNOWN becomes UP on a pass", [ZoneState(az=a) for a in ABC], dict.fromkeys(ABC, True),
         health=dict.fromkeys(ABC, UP)),
    Case("UNKNOWN fails over after fail_after", [ZoneState(az="a", fails=1), up("b"), up("c")],
         {"a": False, "b": True, "c": True}, moves=[("a", "b", "failover")]),
    Case("UNKNOWN NAT is no failover target", [up("a", fails=1), ZoneState(az="b"), up("c")],
         {"a": False}, moves=[("a", "c", "failover")]),
    Case("event-driven: unprobed zones keep their counters", [up("a"), up("b", fails=1), up("c")], {},
         instances={"a": "stopping"}, moves=[("a", "b", "failover")], check={"b": {"fails": 1}}),
    Case("tie by ring order after the zone", [up("a"), up("b"), up("c", fails=1)], {"c": False},
         moves=[("c", "a", "failover")]),
    Case("4 zones: two failures spread", [up("a", fails=1), up("b", fails=1), up("c"), up("d")],
         {"a": False, "b": False}, moves=[("a", "c", "failover"), ("b", "d", "failover")]),
    Case("6 zones: three failures spread one each",
         [up(z, fails=1) for z in "abc"] + [up(z) for z in "def"], {"a": False, "b": False, "c": False},
         moves=[("a", "d", "failover"), ("b", "e", "failover"), ("c", "f", "failover")]),
    Case("5 zones: the least-loaded NAT wins over ring order",
         [down("a", served_by="b"), up("b"), up("c", fails=1), up("d"), up("e")], {"c": False},
         moves=[("c", "d", "failover")]),
    # --- confirmations: a failed probe re-probed at once in the same sweep
    Case("confirmed at once: fail_after failed probes in one sweep fail over", [up(a) for a in ABC],
         {"a": False, "b": True, "c": True}, confirm={"a": [False]}, moves=[("a", "b", "failover")],
         health={"a": DOWN}, reason="2 failed probes", check={"a": {"fails": 2}}),
    Case("a passing re-probe resets the count", [up(a) for a in ABC], {"a": False, "b": True, "c": True},
         confirm={"a": [True]}, health={"a": UP}, check={"a": {"fails": 0, "passes": 1}}),
    Case("a re-probe without evidence counts for nothing", [up(a) for a in ABC], {"a": False, "b": True, "c": True},
         confirm={"a": [NOEV]}, health={"a": UP}, check={"a": {"fails": 1, "blind": 0}}),
    Case("a recovering NAT counts every passed sample", [down("a", passes=1, served_by="b"), up("b"), up("c")],
         dict.fromkeys(ABC, True), confirm={"a": [True]}, moves=[("a", "a", "revert")]),
    # --- no evidence: Lambda could not run the probe; it says nothing about the NAT
    Case("no evidence moves no counter", [up("a", fails=1, passes=0), up("b", passes=5), up("c")],
         {"a": NOEV, "b": NOEV, "c": True}, check={"a": {"fails": 1, "blind": 1}, "b": {"passes": 5, "blind": 1}},
         health={"a": UP}, outcomes=["no_change"]),
    Case("no evidence never fails a zone over, even the fail_after-th time", [up("a", fails=1, blind=1), up("b"),
                                                                               up("c")],
         {"a": NOEV, "b": True, "c": True}, health={"a": UP}, check={"a": {"blind": 2}}),
    Case("third sweep without evidence: one blind alert for every newly blind zone",
         [up("a", blind=2), up("b", blind=2), up("c", blind=1)], dict.fromkeys(ABC, NOEV), alerts=["blind"],
         outcomes=["blind"], check={"a": {"blind": 3, "blind_alerted": True}, "c": {"blind": 2, "blind_alerted": False}}),
    Case("still blind: no second alert", [up("a", blind=5, blind_alerted=True), up("b"), up("c")],
         {"a": NOEV, "b": True, "c": True}, alerts=[], check={"a": {"blind": 6, "blind_alerted": True}}),
    Case("evidence back clears blind", [up("a", blind=5, blind_alerted=True), up("b"), up("c")],
         dict.fromkeys(ABC, True), check={"a": {"blind": 0, "blind_alerted": False}}),
    Case("a failed probe is evidence too: clears blind", [up("a", blind=2), up("b"), up("c")],
         {"a": False, "b": True, "c": True}, alerts=[], check={"a": {"blind": 0, "fails": 1}}),
    Case("event-driven (not probed): blind untouched", [up("a", blind=2), up("b"), up("c")], {},
         instances={"b": "stopped"}, moves=[("b", "c", "failover")], check={"a": {"blind": 2}}),
    Case("targets down judged on zones with evidence only", [up(a, fails=1) for a in ABC],
         {"a": False, "b": NOEV, "c": False}, control=False, health=dict.fromkeys(ABC, UP), alerts=["critical"],
         outcomes=["targets_down"], critical_after=True),
    Case("no evidence anywhere is not targets down", [up(a) for a in ABC], dict.fromkeys(ABC, NOEV), control=False,
         health=dict.fromkeys(ABC, UP), critical_after=False, alerts=[]),
    Case("no evidence does not end a targets-down incident", [up(a) for a in ABC], dict.fromkeys(ABC, NOEV),
         critical=True, critical_after=True),
    Case("5 zones: existing failovers are not reshuffled",
         [down("a", served_by="b"), down("e", served_by="b"), up("b"), up("c"), up("d")], {},
         outcomes=["no_change"]),
]


BY_ID = {c.id: c for c in CASES}


def sample(az: str, verdict) -> ProbeResult:
    if verdict == NOEV:
        return ProbeResult.no_evidence(az, NOW, "invoke failed: TooManyRequestsException: Rate exceeded")
    return ProbeResult(zone=az, passed=verdict, at=NOW)


def run(case: Case):
    zones = [ZoneInput(az=s.az, state=s, nat_instance_id=f"i-{s.az}", route_table_ids=(f"rtb-{s.az}",),
                       probe=None if case.probes.get(s.az) is None else sample(s.az, case.probes[s.az]),
                       confirmations=tuple(sample(s.az, v) for v in case.confirm.get(s.az, ())),
                       instance_state=case.instances.get(s.az, "running"))
             for s in case.states]
    control = None if case.control is None else ProbeResult(zone="control", passed=case.control, at=NOW)
    return decide(zones, P, FailoverSettings(revert=case.revert), now=NOW, control=control,
                  critical_active=case.critical, stack="t", window=parse_window(case.window))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_decide(case: Case):
    decision = run(case)
    assert [(m.zone, m.to_az, m.kind) for m in decision.moves] == case.moves
    for az, health in case.health.items():
        assert decision.states[az].health == health, az
    expected_alerts = case.alerts if case.alerts is not None else [kind for _, _, kind in case.moves]
    assert [a.type for a in decision.alerts] == expected_alerts
    for name in case.outcomes:
        assert name in decision.outcomes
    if case.critical_after is not None:
        assert decision.critical_active is case.critical_after
    if case.reason is not None:
        assert decision.moves[0].reason == case.reason
    for az, fields in case.check.items():
        for key, value in fields.items():
            assert getattr(decision.states[az], key) == value, (az, key)
    for move in decision.moves:  # every move lands on a healthy NAT (or home) and is recorded
        assert decision.states[move.zone].server == move.to_az
        assert move.to_az == move.zone or decision.states[move.to_az].health == UP


def test_the_window_cases_use_the_windows_they_say():
    assert parse_window(OPEN_NOW).contains(NOW) and not parse_window(CLOSED_NOW).contains(NOW)
    assert parse_window(CLOSED_NOW).next_start(NOW) == NOW + 800


def test_case_ids_are_unique():
    """Cases are looked up by id (BY_ID) and named by it in pytest's output: a repeated id would hide one."""
    assert len(BY_ID) == len(CASES)


def test_failover_alert_names_nats_and_tables():
    decision = run(BY_ID["fail_after-th failure fails over"])
    alert = decision.alerts[0]
    assert (alert.zone, alert.from_nat, alert.to_nat, alert.to_zone) == ("a", "i-a", "i-b", "b")
    assert alert.route_tables == ("rtb-a",) and alert.at == NOW and alert.stack == "t"


def test_decide_depends_only_on_its_arguments(monkeypatch):
    """Pure: the same round decided again, after another round and at another wall-clock time, gives
    the same decision (no state kept between calls, the clock is the ``now`` passed in)."""
    case = BY_ID["third failover in 15 min: flapping, hold doubled"]   # times derive from now
    first = run(case)
    run(BY_ID["6 zones: three failures spread one each"])
    monkeypatch.setattr(time, "time", lambda: NOW + 86_400)
    monkeypatch.setattr(time, "monotonic", lambda: NOW + 86_400)
    again = run(case)
    assert again == first
    assert first.states["a"].hold_until == NOW + 120 and first.moves[0].kind == "failover"


def test_unknown_health_is_not_a_revert():
    decision = run(Case("x", [ZoneState(az="a", served_by="b"), up("b"), up("c")], {}))
    assert decision.moves == () and decision.states["a"].health == UNKNOWN


def test_blind_alert_names_the_zones_and_why():
    decision = run(BY_ID["third sweep without evidence: one blind alert for every newly blind zone"])
    alert = decision.alerts[0]
    assert alert.type == "blind" and alert.zone is None and alert.details["zones"] == ["a", "b"]
    assert "TooManyRequestsException" in alert.reason and "3 sweeps" in alert.reason
    one = run(Case("x", [up("a", blind=2), up("b"), up("c")], {"a": NOEV, "b": True, "c": True})).alerts[0]
    assert (one.zone, one.from_nat, one.details["zones"]) == ("a", "i-a", ["a"])
