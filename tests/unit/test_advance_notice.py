"""The pure decisions of issue 20 (chalicelib/replacement/advance_notice.py), table-driven: which markets a
launch asks for, which zones leave a warned NAT, when a NAT is rolled ahead of a scheduled event."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.engine.model import ZoneState
from chalicelib.engine.window import parse_window
from chalicelib.replacement.advance_notice import (
    LOOK_EVERY_S,
    ROLL_LEAD_S,
    ScheduledEvent,
    first_event,
    launch_markets,
    look_period,
    roll_plan,
    zones_leaving,
)
from chalicelib.settings import MarketSettings

H = 3600.0


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize("market,fallback,expected", [
    ("spot", True, ("spot", "on-demand")),     # spot refused -> on-demand
    ("spot", False, ("spot",)),                # no fallback: the launch fails and backs off
    ("on-demand", True, ("on-demand",)),
    ("on-demand", False, ("on-demand",)),
])
def test_launch_markets(market, fallback, expected):
    assert launch_markets(MarketSettings(market=market, spot_fallback=fallback)) == expected


def states(**servers: str) -> dict[str, ZoneState]:
    return {az: ZoneState(az=az, served_by=server) for az, server in servers.items()}


@pytest.mark.parametrize("servers,warned,expected", [
    ({"a": "a", "b": "b", "c": "c"}, "a", ("a",)),              # its own zone only
    ({"a": "a", "b": "a", "c": "c"}, "a", ("a", "b")),          # and the zone it serves for a down NAT
    ({"a": "b", "b": "b", "c": "a"}, "a", ("c",)),              # its own zone already elsewhere
    ({"a": "b", "b": "b", "c": "c"}, "a", ()),                  # it serves nothing: nothing moves
    ({"a": "a", "c": "a", "b": "a"}, "a", ("a", "b", "c")),     # own first, then by name
])
def test_zones_leaving_a_warned_nat(servers, warned, expected):
    assert zones_leaving(states(**servers), warned) == expected


NOW = at("2023-11-14T22:13:20")   # a Tuesday


@pytest.mark.parametrize("window,not_before,expected_at,in_window,why", [
    # no window: at once
    ("", NOW + 3 * 86400, NOW, False, "no maintenance window"),
    # the window is open now: now
    ("daily 22:00-23:00", NOW + 3 * 86400, NOW, True, "is open"),
    # the window opens later today, well before NotBefore: at its opening
    ("daily 23:00-23:59", NOW + 3 * 86400, at("2023-11-14T23:00:00"), True, "next opening"),
    # the next opening (Sunday) comes after NotBefore - lead: at once
    ("Sun 02:00-04:00", at("2023-11-16T12:00:00"), NOW, False, "opens too late"),
    # an opening exactly lead_s before NotBefore still fits
    ("daily 23:00-23:59", at("2023-11-14T23:00:00") + ROLL_LEAD_S, at("2023-11-14T23:00:00"), True, "next opening"),
    # one second later than that no longer fits... (NotBefore earlier by a second)
    ("daily 23:00-23:59", at("2023-11-14T23:00:00") + ROLL_LEAD_S - 1, NOW, False, "opens too late"),
    # NotBefore already within the lead: at once, whatever the window
    ("daily 23:00-23:59", NOW + H, NOW, False, "rolling at once"),
    ("daily 22:00-23:00", NOW + H, NOW, True, "rolling at once"),
])
def test_roll_plan(window, not_before, expected_at, in_window, why):
    event = ScheduledEvent(instance_id="i-1", code="system-reboot", not_before=not_before)
    plan = roll_plan(event, parse_window(window), NOW)
    assert (plan.at, plan.in_window) == (expected_at, in_window)
    assert why in plan.why
    assert plan.due(NOW) == (expected_at <= NOW)


def test_the_first_event_is_the_one_to_beat():
    late = ScheduledEvent("i-1", "instance-retirement", NOW + 9 * 86400)
    soon = ScheduledEvent("i-1", "system-maintenance", NOW + 2 * 86400, event_id="instance-event-1")
    assert first_event([late, soon]) == soon and first_event([]) is None
    assert soon.key == "instance-event-1" and late.key == f"i-1-instance-retirement-{int(NOW + 9 * 86400)}"


def test_look_period_changes_once_per_period():
    start = (NOW // LOOK_EVERY_S) * LOOK_EVERY_S
    assert look_period(start) == look_period(start + LOOK_EVERY_S - 1) != look_period(start + LOOK_EVERY_S)
