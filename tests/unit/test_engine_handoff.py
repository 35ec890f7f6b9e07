"""The handoff rules (pure): which moves hand open flows back, the tag values, when a handoff ends."""
from __future__ import annotations

import pytest

from chalicelib.engine import DOWN, UP, ZoneState
from chalicelib.engine.decide import hands_off
from chalicelib.engine.handoff import (
    MAX_TAG_VALUE,
    as_prev,
    close_reason,
    is_prev_key,
    is_zone_key,
    parse_value,
    tag_values,
)
from chalicelib.engine.model import RouteMove
from chalicelib.service.reconcile import zone_state

NAT_OF = {"a": "i-a", "b": "i-b"}
RUNNING = {"i-a": "running", "i-b": "running"}

HANDS_OFF = {
    # id: (move kind, from, to, health of the zone left, instance states, vouched, expected)
    "revert-from-healthy-backup": ("revert", "b", "a", UP, RUNNING, (), True),
    "operator-failover-of-healthy-nat": ("failover", "a", "b", UP, RUNNING, (), True),
    "automatic-failover-from-dead-nat": ("failover", "a", "b", DOWN, RUNNING, (), False),
    "old-nat-stopped": ("failover", "a", "b", UP, {"i-a": "stopped", "i-b": "running"}, (), False),
    "old-nat-state-unknown": ("failover", "a", "b", UP, {"i-b": "running"}, (), False),
    "planned-replacement-vouched": ("failover", "a", "b", DOWN, RUNNING, ("a",), True),
    "repair-never": ("repair", "a", "b", UP, RUNNING, (), False),
    "cutover-never": ("cutover", "a", "b", UP, RUNNING, (), False),
    "same-nat": ("failover", "a", "a", UP, RUNNING, (), False),
}


@pytest.mark.parametrize("case", HANDS_OFF, ids=list(HANDS_OFF))
def test_hands_off(case):
    kind, src, dst, health, states, vouched, expected = HANDS_OFF[case]
    move = RouteMove(zone="a", from_az=src, to_az=dst, kind=kind, reason="t")
    decided = {az: ZoneState(az, health=health if src == az else UP) for az in ("a", "b")}
    assert hands_off(move, decided, states, NAT_OF, vouched) is expected


def test_tag_values_follow_the_contract_and_split_at_256_characters():
    """HANDOFF.md: "<direction> <peer> <until> <cidr>[,...]", at most 256 characters (EC2 tag value
    limit, API Reference, Tag); the rest under :2, :3, ..."""
    assert tag_values("az-1a", "to", "10.0.0.10", 1764151000, ["10.0.16.0/20"]) == {
        "hanat:handoff:az-1a": "to 10.0.0.10 1764151000 10.0.16.0/20"}
    cidrs = [f"10.{i}.{j}.0/24" for i in range(4) for j in range(20)]
    tags = tag_values("az-1a", "from", "10.0.1.10", 1764151000, cidrs)
    assert len(tags) > 1 and list(tags)[1] == "hanat:handoff:az-1a:2"
    assert all(len(v) <= MAX_TAG_VALUE for v in tags.values())
    parsed = [parse_value(v) for v in tags.values()]
    assert [c for p in parsed for c in p[3]] == cidrs and {p[:3] for p in parsed} == {("from", "10.0.1.10", 1764151000)}


KEYS = {
    "zone-key": ("hanat:handoff:az-1a", True, False),
    "numbered": ("hanat:handoff:az-1a:2", True, False),
    "prev": ("hanat:handoff:az-1a:prev", True, True),
    "prev-numbered": ("hanat:handoff:az-1a:prev:3", True, True),
    "other-zone": ("hanat:handoff:az-1b", False, False),
    "zone-prefix-of-other": ("hanat:handoff:az-1a-x", False, False),
    "junk-suffix": ("hanat:handoff:az-1a:x", False, False),
    "one-is-the-zone-key": ("hanat:handoff:az-1a:1", False, False),
}


@pytest.mark.parametrize("case", KEYS, ids=list(KEYS))
def test_zone_keys(case):
    key, zone, prev = KEYS[case]
    assert (is_zone_key(key, "az-1a"), is_prev_key(key, "az-1a")) == (zone, prev)


def test_prev_keys_keep_their_number():
    assert as_prev("hanat:handoff:az-1a", "az-1a") == "hanat:handoff:az-1a:prev"
    assert as_prev("hanat:handoff:az-1a:2", "az-1a") == "hanat:handoff:az-1a:prev:2"


def test_parse_value_refuses_what_is_not_a_handoff():
    assert parse_value("to 10.0.0.1 12 10.0.0.0/24") == ("to", "10.0.0.1", 12, ("10.0.0.0/24",))
    for bad in ("", "sideways 10.0.0.1 12 10.0.0.0/24", "to 10.0.0.1 soon 10.0.0.0/24", "to 10.0.0.1 12"):
        assert parse_value(bad) is None


H = ZoneState("a", handoff_from="i-a", handoff_to="i-b", handoff_until=1000.0)
OVER = {
    "none": (ZoneState("a"), 0, RUNNING, (), None),
    "running": (H, 999, RUNNING, (), None),
    "time-up": (H, 1000, RUNNING, (), "its time is up"),
    "old-nat-stopped": (H, 10, {"i-a": "stopped", "i-b": "running"}, (), "NAT i-a is stopped"),
    "new-nat-stopping": (H, 10, {"i-a": "running", "i-b": "stopping"}, (), "NAT i-b is stopping"),
    "state-unknown-not-judged": (H, 10, {}, (), None),
    "old-nat-fails-probes": (H, 10, RUNNING, ("i-a",), "NAT i-a fails its probes"),
}


@pytest.mark.parametrize("case", OVER, ids=list(OVER))
def test_handoff_over(case):
    state, now, states, failing, why = OVER[case]
    assert close_reason(state, now, states, failing) == why


def test_zone_state_keeps_its_handoff_through_its_stored_form():
    stored = {k: str(v) if isinstance(v, float) else v for k, v in H.to_dict().items()}   # DynamoDB numbers
    back = zone_state(stored)
    assert (back.handoff_from, back.handoff_to, back.handoff_until, back.has_handoff) == ("i-a", "i-b", 1000.0, True)
    assert not back.without_handoff().has_handoff
