"""The connection figures and judges of the lab (pure, lab.drills.connections): built from synthetic client
logs, so the edges (a reset, a hang, a wait still open, a roll's drain) are pinned without namespaces."""
from __future__ import annotations

import json

import pytest

from lab.dataplane import connlog
from lab.drills import connections as cx


def replies(c, g, start, end, you, step=0.1, rtt=0.001):
    t, out = start, []
    while t < end:
        out.append({"c": c, "g": g, "ev": "reply", "t0": t, "t1": t + rtt, "you": you})
        t += step
    return out


def conn(c=0, g=0, opened=0.0, until=10.0, you="203.0.113.101", end=None, zone="a"):
    """A connection answered every 100 ms from ``opened`` to ``until``, then ``end``: None (still
    waiting), ("reset", t) or ("close", t)."""
    ev = [{"c": c, "g": g, "ev": "open", "t": opened}, *replies(c, g, opened, until, you)]
    if end and end[0] == "reset":
        ev.append({"c": c, "g": g, "ev": "reset", "t0": until, "t1": end[1], "err": "ConnectionResetError"})
    elif end and end[0] == "close":
        ev.append({"c": c, "g": g, "ev": "close", "t": end[1]})
    return [{**e, "zone": zone} for e in ev]


def test_parse_lines_skips_a_torn_line():
    lines = [json.dumps({"c": 0, "g": 0, "ev": "open", "t": 1.0}), '{"c": 0, "g"']
    assert connlog.parse_lines(lines, "a") == [{"c": 0, "g": 0, "ev": "open", "t": 1.0, "zone": "a"}]


def test_a_reset_after_the_route_move_counts_as_broken_with_its_delay():
    events = conn(0, 0, 0.0, 5.0, end=("reset", 8.5)) + conn(0, 1, 8.6, 12.0, end=("close", 12.0)) + conn(1, 0, 0.0, 12.0)
    f = cx.figures(connlog.build(events), [cx.Move(8.0, "a", "failover")], start=0.0, fault=5.0, now=12.0)
    assert (f.connections_open, f.connections_broken, f.reset_after_s) == (2, 1, [0.5])
    assert f.max_stall_s == pytest.approx(3.5) and f.broken_by_move == {"failover": 1}


def test_a_wait_still_open_counts_until_now_and_a_long_one_is_a_hang():
    events = conn(0, 0, 0.0, 2.0)    # last answer at ~2.0, nothing since
    f = cx.figures(connlog.build(events), [], start=0.0, fault=1.0, now=20.0)
    assert f.connections_broken == 1 and f.broken_by_move == {"no_move": 1}
    assert 17.85 <= f.max_stall_s <= 18.0   # from one interval after the last answer (~1.9-2.0 s) until now
    short = cx.figures(connlog.build(events), [], start=0.0, fault=1.0, now=2.5)
    assert short.connections_broken == 0


def test_a_long_wait_that_resumed_is_still_a_hang():
    resumed = {"c": 0, "g": 0, "ev": "reply", "t0": 2.1, "t1": 15.0, "you": "203.0.113.101", "zone": "a"}
    events = [*conn(0, 0, 0.0, 2.0), resumed, *[{**e, "zone": "a"} for e in replies(0, 0, 15.1, 16.0, "x")]]
    f = cx.figures(connlog.build(events), [], start=0.0, fault=1.0, now=16.0)
    assert f.connections_broken == 1 and f.max_stall_s >= 12.9


def test_old_flows_stay_on_the_address_they_had():
    events = (conn(0, 0, 0.0, 10.0, you="203.0.113.102")
              + conn(1, 0, 0.0, 5.0, you="203.0.113.102") + replies(1, 0, 5.0, 10.0, "203.0.113.101"))
    events = [{**e, "zone": "a"} for e in events]
    conns = connlog.build(events)
    assert cx.old_flows_stay([conns[0]], 5.0, "a") is True
    assert cx.old_flows_stay(conns, 5.0, "a") is False
    assert cx.old_flows_stay(conns, 5.0, "other") is None
    assert cx.addresses_after(conns, 5.0, opened_before=True, zone="a") == {"203.0.113.101", "203.0.113.102"}


ROLL = {
    # id: (connections, expected checks that fail)
    "short-closes-within-drain-long-reset-at-drain-end": (
        conn(0, 0, 0.0, 20.0, end=("close", 20.0)) + conn(1, 0, 0.0, 40.0, end=("reset", 40.4)), []),
    "short-one-reset-during-drain": (
        conn(0, 0, 0.0, 20.0, end=("reset", 20.0)) + conn(1, 0, 0.0, 40.0, end=("reset", 40.4)),
        ["roll_no_connection_ending_within_drain_broken"]),
    "long-one-hangs-after-drain": (
        conn(0, 0, 0.0, 20.0, end=("close", 20.0)) + conn(1, 0, 0.0, 40.0),
        ["roll_longer_connections_reset_after_drain", "roll_no_connection_hung"]),
    "long-one-reset-late": (
        conn(0, 0, 0.0, 20.0, end=("close", 20.0)) + conn(1, 0, 0.0, 40.0, end=("reset", 43.0)),
        ["roll_longer_connections_reset_after_drain", "roll_no_connection_hung"]),
}


@pytest.mark.parametrize("case", ROLL, ids=list(ROLL))
def test_roll_judge(case):
    """The roll moved the zone at 10 s and ended the handoff (drain_s = 30) at 40 s."""
    events, failing = ROLL[case]
    checks = cx.judge_roll(connlog.build(events), zone="a", moved_at=10.0, drain_ended_at=40.0, now=50.0)
    assert sorted(k for k, ok in checks.items() if not ok) == sorted(failing)
