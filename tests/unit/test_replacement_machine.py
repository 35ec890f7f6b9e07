"""The replacement state machine and its triggers: pure, table-driven, no AWS."""
from __future__ import annotations

import pytest

from chalicelib.engine.model import DOWN, PAUSED, UP, ZoneState
from chalicelib.replacement import machine as m
from chalicelib.replacement.triggers import zones_to_replace

POLICY = m.ReplacementPolicy(proving_timeout_s=600, backoff_base_s=60, backoff_max_s=1800, max_attempts=3,
                         launch_claim_grace_s=120)
NEW = m.InstanceView("i-new", "running", eni_id="eni-new", source_dest_check=False, tagged=True)
OLD = m.InstanceView("i-old", "terminated", eni_id="eni-old", tagged=True)
RUNNING_OLD = m.InstanceView("i-old", "running", eni_id="eni-old", source_dest_check=False, tagged=True)
T0 = 1000.0


def rec(**kw) -> m.Record:
    base = {"az": "az-a", "old_instance_id": "i-old", "started_at": T0}
    base.update(kw)
    return m.Record(**base)


def wired(**kw) -> m.Facts:
    """Facts of a fully wired, proven and served replacement; override one fact per case."""
    base = {"new_instance": NEW, "old_instance": OLD, "eip_eni_id": "eni-new", "probe_route_eni_id": "eni-new",
                "topology_instance_id": "i-new", "nat_up": True, "served_by_own": True, "revert_auto": True}
    base.update(kw)
    return m.Facts(**base)


LAUNCHED = {"new_instance_id": "i-new", "new_eni_id": "eni-new", "launched_at": T0, "step": m.STEP_STARTING}

CASES = [
    # (id, record, facts, now, expected action)
    ("no record", None, m.Facts(), T0, m.IDLE),
    ("finished record", rec(status=m.DONE), m.Facts(), T0, m.IDLE),
    ("fresh: launch", rec(), m.Facts(), T0, m.LAUNCH),
    ("backing off", rec(step=m.STEP_BACKOFF, failures=1, next_attempt_at=T0 + 60), m.Facts(), T0 + 59, m.WAIT),
    ("backoff over", rec(step=m.STEP_BACKOFF, failures=1, next_attempt_at=T0 + 60), m.Facts(), T0 + 60, m.LAUNCH),
    ("too many failures", rec(step=m.STEP_BACKOFF, attempts=3, failures=3), m.Facts(), T0 + 9999, m.GIVE_UP),
    ("claimed launch in flight", rec(step=m.STEP_LAUNCHING, launch_token="t", launched_at=T0), m.Facts(),
     T0 + 5, m.WAIT),
    ("claimed launch found by token", rec(step=m.STEP_LAUNCHING, launch_token="t", launched_at=T0),
     m.Facts(token_instance_id="i-new"), T0 + 5, m.ADOPT),
    ("claimed launch lost: relaunch", rec(step=m.STEP_LAUNCHING, launch_token="t", launched_at=T0), m.Facts(),
     T0 + 121, m.LAUNCH),
    ("not visible yet", rec(**LAUNCHED), wired(new_instance=None), T0 + 1, m.WAIT),
    ("pending", rec(**LAUNCHED), wired(new_instance=m.InstanceView("i-new", "pending", "eni-new")), T0 + 1, m.WAIT),
    ("new instance died", rec(**LAUNCHED), wired(new_instance=m.InstanceView("i-new", "terminated", "eni-new")),
     T0 + 1, m.ABANDON),
    ("new instance stopped", rec(**LAUNCHED), wired(new_instance=m.InstanceView("i-new", "stopped", "eni-new")),
     T0 + 1, m.ABANDON),
    ("src/dst check on", rec(**LAUNCHED), wired(new_instance=m.InstanceView("i-new", "running", "eni-new", True)),
     T0 + 1, m.DISABLE_SOURCE_DEST_CHECK),
    ("EIP elsewhere", rec(**LAUNCHED), wired(eip_eni_id="eni-old"), T0 + 1, m.MOVE_EIP),
    ("EIP elsewhere but old NAT still serves", rec(**LAUNCHED), wired(eip_eni_id="eni-old", old_serves_zone=True),
     T0 + 1, m.AWAIT_FAILOVER),
    ("probe route elsewhere", rec(**LAUNCHED), wired(probe_route_eni_id="eni-old"), T0 + 1, m.REPIN_PROBE_ROUTE),
    ("topology stale", rec(**LAUNCHED), wired(topology_instance_id="i-old"), T0 + 1, m.PUBLISH),
    ("topology stale even if health says up (old NAT's health)", rec(**LAUNCHED),
     wired(topology_instance_id="i-old", nat_up=True), T0 + 1, m.PUBLISH),
    ("unproven", rec(**LAUNCHED), wired(nat_up=False, served_by_own=False), T0 + 100, m.WAIT),
    ("unproven too long", rec(**LAUNCHED), wired(nat_up=False, served_by_own=False), T0 + 601, m.ABANDON),
    ("never wired, too long", rec(**LAUNCHED), wired(new_instance=None), T0 + 601, m.ABANDON),
    ("proven: mark", rec(**LAUNCHED), wired(served_by_own=False), T0 + 100, m.MARK_PROVEN),
    ("proven, routes still on backup (auto)", rec(**LAUNCHED, proven_at=T0 + 100), wired(served_by_own=False),
     T0 + 200, m.WAIT),
    ("proven long ago is not abandoned while routes wait", rec(**LAUNCHED, proven_at=T0 + 100),
     wired(served_by_own=False, nat_up=False), T0 + 5000, m.WAIT),
    ("proven, revert manual: no need for routes", rec(**LAUNCHED, proven_at=T0 + 100),
     wired(served_by_own=False, revert_auto=False, old_instance=m.InstanceView("i-old", "stopped", "eni-old",
                                                                               tagged=True)),
     T0 + 200, m.RETIRE_OLD),
    ("served; old still stopped: retire", rec(**LAUNCHED, proven_at=T0 + 100),
     wired(old_instance=m.InstanceView("i-old", "stopped", "eni-old", tagged=True)), T0 + 200, m.RETIRE_OLD),
    ("served; old untagged: never touched", rec(**LAUNCHED, proven_at=T0 + 100),
     wired(old_instance=m.InstanceView("i-old", "running", "eni-old", tagged=False)), T0 + 200, m.FINISH),
    ("served; old gone: finish", rec(**LAUNCHED, proven_at=T0 + 100), wired(), T0 + 200, m.FINISH),
    ("served; old not found: finish", rec(**LAUNCHED, proven_at=T0 + 100), wired(old_instance=None), T0 + 200,
     m.FINISH),
    # planned (roll, operator): the old NAT still runs and drains before its EIP moves
    ("planned: old serves, fail over first", rec(**LAUNCHED, planned=True),
     wired(eip_eni_id="eni-old", old_serves_zone=True, old_instance=RUNNING_OLD), T0 + 1, m.AWAIT_FAILOVER),
    ("planned: zone left the old NAT, drain starts", rec(**LAUNCHED, planned=True),
     wired(eip_eni_id="eni-old", old_instance=RUNNING_OLD), T0 + 1, m.START_DRAIN),
    ("planned: draining", rec(**LAUNCHED, planned=True, drain_until=T0 + 300),
     wired(eip_eni_id="eni-old", old_instance=RUNNING_OLD), T0 + 299, m.WAIT),
    ("planned: drained, EIP moves", rec(**LAUNCHED, planned=True, drain_until=T0 + 300),
     wired(eip_eni_id="eni-old", old_instance=RUNNING_OLD), T0 + 300, m.MOVE_EIP),
    ("planned: a long drain does not count against proving", rec(**LAUNCHED, planned=True, drain_until=T0 + 900),
     wired(eip_eni_id="eni-old", old_instance=RUNNING_OLD, nat_up=False), T0 + 899, m.WAIT),
    ("planned: proving counts from the drain's end", rec(**LAUNCHED, planned=True, drain_until=T0 + 900),
     wired(nat_up=False, served_by_own=False), T0 + 1501, m.ABANDON),
    ("planned but the old NAT is dead: no drain", rec(**LAUNCHED, planned=True),
     wired(eip_eni_id="eni-old"), T0 + 1, m.MOVE_EIP),
    ("unplanned: never drains", rec(**LAUNCHED), wired(eip_eni_id="eni-old", old_instance=RUNNING_OLD), T0 + 1,
     m.MOVE_EIP),
]


@pytest.mark.parametrize("record,facts,now,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_decide(record, facts, now, expected):
    assert m.decide(record, facts, now, POLICY).action == expected


@pytest.mark.parametrize("failures,expected", [(1, 60), (2, 120), (3, 240), (5, 960), (6, 1800), (20, 1800)])
def test_backoff_is_exponential_and_capped(failures, expected):
    assert POLICY.backoff_s(failures) == expected


@pytest.mark.parametrize("replace_after,timeout", [(60, 600), (300, 600), (900, 1800)])
def test_proving_timeout_follows_replace_after(replace_after, timeout):
    assert m.ReplacementPolicy.for_replace_after(replace_after).proving_timeout_s == timeout


@pytest.mark.parametrize("record,left", [
    (rec(step=m.STEP_LAUNCHING), False), (rec(**LAUNCHED), False), (rec(**LAUNCHED, drain_until=T0), True),
    (rec(step=m.STEP_PROVING), True), (rec(step=m.STEP_AWAIT_ROUTES), True), (rec(step=m.STEP_BACKOFF), False),
], ids=["launching", "starting", "draining", "proving", "await_routes", "backoff"])
def test_left_old_says_whether_traffic_already_left_the_old_nat(record, left):
    assert record.left_old is left


def test_record_round_trips_and_keeps_a_bounded_history():
    r = rec()
    for i in range(30):
        r = r.moved(m.STEP_STARTING, T0 + i, f"note {i}")
    assert len(r.history) == 12 and r.history[-1].endswith("note 29")
    assert m.Record.from_dict(r.to_dict()) == r
    planned = rec(planned=True, drain_until=T0 + 5, roll_id="r1", console_tail=("a", "b"))
    assert m.Record.from_dict(planned.to_dict()) == planned
    assert m.Record.from_dict({"az": "a"}).planned is False       # records written before day 2


def test_launch_token_is_stable_per_attempt_and_short():
    a = m.launch_token("demo", "ap-northeast-1a", T0, 1)
    assert a == m.launch_token("demo", "ap-northeast-1a", T0, 1)
    assert a != m.launch_token("demo", "ap-northeast-1a", T0, 2)
    assert len(m.launch_token("x" * 80, "ap-northeast-1a", T0, 1)) <= 64


# --- triggers ---------------------------------------------------------------------------------
def zs(az, health, since=0.0, mode="normal"):
    return ZoneState(az=az, health=health, since=since, mode=mode)


TRIGGER_CASES = [
    # (id, states, records, instance states, now, expected azs)
    ("healthy", [zs("a", UP), zs("b", UP)], {}, {}, 1000, []),
    ("down briefly", [zs("a", DOWN, 900), zs("b", UP)], {}, {"a": "running"}, 1000, []),
    ("down by probes long enough", [zs("a", DOWN, 600), zs("b", UP)], {}, {"a": "running"}, 1000, ["a"]),
    ("exactly replace_after", [zs("a", DOWN, 700), zs("b", UP)], {}, {"a": "running"}, 1000, ["a"]),
    ("stopped long enough", [zs("a", DOWN, 600), zs("b", UP)], {}, {"a": "stopped"}, 1000, ["a"]),
    ("all down while running: targets", [zs("a", DOWN, 0), zs("b", DOWN, 0)], {}, {"a": "running", "b": "running"},
     1000, []),
    ("all down, one stopped", [zs("a", DOWN, 0), zs("b", DOWN, 0)], {}, {"a": "stopped", "b": "running"}, 1000,
     ["a"]),
    ("already replacing", [zs("a", DOWN, 0), zs("b", UP)], {"a": m.Record(az="a")}, {}, 1000, []),
    ("previous one done", [zs("a", DOWN, 0), zs("b", UP)], {"a": m.Record(az="a", status=m.DONE)}, {}, 1000, ["a"]),
    ("failed, cooling down", [zs("a", DOWN, 0), zs("b", UP)],
     {"a": m.Record(az="a", status=m.FAILED, next_attempt_at=2000)}, {}, 1000, []),
    ("failed, cool-down over", [zs("a", DOWN, 0), zs("b", UP)],
     {"a": m.Record(az="a", status=m.FAILED, next_attempt_at=900)}, {}, 1000, ["a"]),
    ("paused zone", [zs("a", DOWN, 0, mode=PAUSED), zs("b", UP)], {}, {"a": "stopped"}, 1000, []),
]


@pytest.mark.parametrize("states,records,instances,now,expected", [c[1:] for c in TRIGGER_CASES],
                         ids=[c[0] for c in TRIGGER_CASES])
def test_zones_to_replace(states, records, instances, now, expected):
    got = zones_to_replace({s.az: s for s in states}, records, instances, now, replace_after_s=300)
    assert [t.az for t in got] == expected
    assert all(t.reason for t in got)
