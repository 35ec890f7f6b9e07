"""What follows a decision (chalicelib/engine/decide.py ``review``), pure: the route repairs of drifted
tables (route drift: a crashed run, a hand edit), which moves hand open flows off, and the moving zones'
earlier handoffs. The sweep reaches it once per attempt, with every fact a plain field of the zone's input."""
from __future__ import annotations

from chalicelib.engine import (
    ADOPTING,
    DOWN,
    FAILOVER,
    REPAIR,
    REVERT,
    UP,
    Decision,
    RouteMove,
    ZoneInput,
    ZoneState,
)
from chalicelib.engine.decide import review

ENI = {"a": "eni-a", "b": "eni-b"}
NAT = {"a": "i-a", "b": "i-b"}


def zin(az: str, state: ZoneState, *, tables=(), claimed=False, instance_state="running") -> ZoneInput:
    return ZoneInput(az=az, state=state, nat_instance_id=NAT[az], nat_eni_id=ENI[az], tables=tuple(tables),
                     claimed=claimed, instance_state=instance_state)


def test_a_table_pointing_elsewhere_than_its_recorded_nat_is_repaired_unless_moved_claimed_or_the_users():
    a, b = ZoneState("a", health=UP), ZoneState("b", health=UP)
    drifted = [("rtb-a1", "eni-a"), ("rtb-a2", "eni-b")]          # rtb-a2 was moved by hand
    zones = [zin("a", a, tables=drifted), zin("b", b, tables=[("rtb-b1", "eni-b")])]
    out = review(Decision(states={"a": a, "b": b}), zones)
    assert [(m.zone, m.kind, m.to_az) for m in out.moves] == [("a", REPAIR, "a")]
    assert "rtb-a2" in out.moves[0].reason and "rtb-a1" not in out.moves[0].reason
    # another run holds zone a's claim: its routes are that run's to write
    assert review(Decision(states={"a": a, "b": b}), [zin("a", a, tables=drifted, claimed=True), zones[1]]).moves == ()
    # an adopting zone's tables are the user's
    adopting = ZoneState("a", health=UP, adoption=ADOPTING)
    assert review(Decision(states={"a": adopting, "b": b}), [zin("a", adopting, tables=drifted), zones[1]]).moves == ()
    # a zone the decision moves is not repaired as well
    move = RouteMove("a", "a", "b", FAILOVER, "2 failed probes")
    assert review(Decision(states={"a": a, "b": b}, moves=(move,)), zones).moves == (move,)


def test_a_failover_away_from_a_dead_nat_hands_nothing_off_and_forgets_the_zones_earlier_handoff():
    before = ZoneState("a", health=UP, handoff_from="i-x", handoff_to="i-a", handoff_until=1000.0)
    decided = ZoneState("a", health=DOWN, served_by="b", handoff_from="i-x", handoff_to="i-a", handoff_until=1000.0)
    b = ZoneState("b", health=UP)
    move = RouteMove("a", "a", "b", FAILOVER, "2 failed probes")
    out = review(Decision(states={"a": decided, "b": b}, moves=(move,)), [zin("a", before), zin("b", b)])
    assert out.handoffs == () and out.ended == ("a",)
    assert (out.states["a"].handoff_from, out.states["a"].handoff_until) == ("", 0.0)
    assert out.states["a"].served_by == "b"


def test_a_revert_from_a_healthy_nat_hands_the_flows_back_unless_that_nat_is_not_running():
    a, b = ZoneState("a", health=UP, served_by="b"), ZoneState("b", health=UP)
    revert = RouteMove("a", "b", "a", REVERT, "NAT a up")
    decided = Decision(states={"a": ZoneState("a", health=UP), "b": b}, moves=(revert,))
    assert review(decided, [zin("a", a), zin("b", b)]).handoffs == ("a",)
    assert review(decided, [zin("a", a), zin("b", b, instance_state="stopped")]).handoffs == ()
