"""The roll machine (chalicelib/replacement/roll_machine.py): pure, table-driven, cases looked up by id."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from chalicelib.replacement import machine as m
from chalicelib.replacement import roll_machine as r

T0 = 10_000.0
POLICY = r.RollPolicy(zone_timeout_s=1000)
ZONES = ("a", "b", "c")


def zone(az, health="UP", served_by=None, state="running", mode="normal"):
    return r.ZoneFacts(az=az, health=health, instance_state=state, served_by=served_by or az, mode=mode,
                       nat_instance_id=f"i-{az}")


def healthy(**overrides) -> dict:
    zones = {az: zone(az) for az in ZONES}
    zones.update(overrides)
    return zones


def rolling(**kw) -> r.RollRecord:
    base = {"roll_id": "r1", "zones": ZONES, "started_at": T0}
    base.update(kw)
    return r.RollRecord(**base)


AT_B = {"current": "b", "done": ("a",), "phase": r.PHASE_REPLACING, "phase_since": T0, "replacement_started_at": T0}


def rep(**kw) -> r.ReplacementView:
    base = {"status": m.REPLACING, "step": m.STEP_STARTING, "started_at": T0, "roll_id": "r1"}
    base.update(kw)
    return r.ReplacementView(**base)


@dataclass
class Case:
    id: str
    record: r.RollRecord | None
    zones: dict = field(default_factory=healthy)
    replacement: r.ReplacementView | None = None
    now: float = T0 + 10
    action: str = r.WAIT
    zone: str = ""
    why: str = ""          # a substring of the reason


CASES = [
    Case("no roll", None, action=r.IDLE),
    Case("finished roll", rolling(status=r.ROLL_DONE), action=r.IDLE),
    Case("stopped roll", rolling(status=r.STOPPED), action=r.IDLE),
    Case("first zone starts", rolling(), action=r.START_ZONE, zone="a", why="1 of 3"),
    Case("next zone after one done", rolling(done=("a",)), action=r.START_ZONE, zone="b", why="2 of 3"),
    Case("every zone done: finish", rolling(done=ZONES), action=r.FINISH),
    Case("another NAT DOWN: stop before the zone", rolling(done=("a",)), zones=healthy(c=zone("c", "DOWN", "a")),
         action=r.STOP, zone="b", why="NAT i-c of c is DOWN"),
    Case("another NAT stopped", rolling(), zones=healthy(b=zone("b", state="stopped")), action=r.STOP,
         why="NAT i-b of b is stopped"),
    Case("a zone away: never two at once", rolling(), zones=healthy(c=zone("c", served_by="b")), action=r.STOP,
         why="zone c is served by b"),
    Case("a rolled zone paused", rolling(), zones=healthy(b=zone("b", mode="paused")), action=r.STOP,
         why="zone b is paused"),
    Case("a zone already rolled may be paused", rolling(done=("a", "b")), zones=healthy(a=zone("a", mode="paused")),
         action=r.START_ZONE, zone="c"),
    Case("an unknown NAT (not proven) blocks", rolling(), zones=healthy(c=zone("c", "UNKNOWN")), action=r.STOP,
         why="is UNKNOWN"),
    Case("replacing: wait", rolling(**AT_B), replacement=rep(step=m.STEP_DRAINING), why="b: replacement draining"),
    Case("replacing: the zone being rolled may be away and DOWN", rolling(**AT_B),
         zones=healthy(b=zone("b", "DOWN", "c")), replacement=rep(step=m.STEP_PROVING)),
    Case("replacement done, zone home and UP", rolling(**AT_B), replacement=rep(status=m.DONE, new_instance_id="i-n"),
         action=r.ZONE_DONE, zone="b"),
    Case("replacement done, zone away (revert manual)", rolling(**AT_B), zones=healthy(b=zone("b", served_by="a")),
         replacement=rep(status=m.DONE), action=r.RETURN_ZONE, zone="b"),
    Case("launch failed before the zone moved: cancel and stop", rolling(**AT_B),
         replacement=rep(step=m.STEP_BACKOFF, failures=1, last_error="launch failed: InsufficientInstanceCapacity"),
         action=r.CANCEL_AND_STOP, zone="b", why="stays on its old NAT"),
    Case("new NAT given up after the zone moved: stop, replacement retries", rolling(**AT_B),
         zones=healthy(b=zone("b", "DOWN", "c")),
         replacement=rep(step=m.STEP_BACKOFF, failures=1, left_old=True, last_error="not proven"),
         action=r.STOP, zone="b", why="stays on the NAT of c"),
    Case("replacement failed", rolling(**AT_B), replacement=rep(status=m.FAILED, last_error="gave up"),
         action=r.STOP, why="gave up"),
    Case("replacement record replaced by another", rolling(**AT_B), replacement=rep(started_at=T0 + 5),
         action=r.STOP, why="record is gone"),
    Case("replacement record missing", rolling(**AT_B), replacement=None, action=r.STOP),
    Case("replacing too long", rolling(**AT_B), replacement=rep(step=m.STEP_PROVING), now=T0 + 1001,
         action=r.STOP, why="still at 'proving'"),
    Case("returning: home and UP", rolling(current="b", done=("a",), phase=r.PHASE_RETURNING, phase_since=T0),
         action=r.ZONE_DONE, zone="b"),
    Case("returning: not yet UP", rolling(current="b", done=("a",), phase=r.PHASE_RETURNING, phase_since=T0),
         zones=healthy(b=zone("b", "DOWN", "a")), why="waiting for its new NAT"),
    Case("returning: UP but away: give back again", rolling(current="b", phase=r.PHASE_RETURNING, phase_since=T0),
         zones=healthy(b=zone("b", served_by="a")), action=r.RETURN_ZONE),
    Case("returning too long", rolling(current="b", phase=r.PHASE_RETURNING, phase_since=T0),
         zones=healthy(b=zone("b", "DOWN", "a")), now=T0 + 1001, action=r.STOP, why="did not come back"),
    Case("zone no longer in the stack", rolling(zones=("a", "x")), zones=healthy(), now=T0,
         action=r.START_ZONE, zone="a"),
    Case("next zone no longer in the stack", rolling(zones=("a", "x"), done=("a",)), action=r.STOP, zone="x"),
]
BY_ID = {c.id: c for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_decide_roll(case: Case):
    got = r.decide_roll(case.record, r.RollFacts(zones=case.zones, replacement=case.replacement), case.now, POLICY)
    assert got.action == case.action, got
    if case.zone:
        assert got.zone == case.zone
    assert case.why in got.why


def test_case_ids_are_unique():
    assert len(BY_ID) == len(CASES)


def test_blockers_name_every_problem_at_once():
    problems = r.blockers(healthy(a=zone("a", "DOWN", "b"), c=zone("c", mode="paused")), ("a", "c"))
    assert problems == ["NAT i-a of a is DOWN", "zone a is served by b, not by its own NAT", "zone c is paused (resume it first)"]


def test_record_round_trips():
    rec = rolling(done=("a",), results=({"az": "a", "seconds": 12.0},), history=("1 x",), automatic=True)
    assert r.RollRecord.from_dict(rec.to_dict()) == rec
    assert rec.remaining == ("b", "c") and rec.active
