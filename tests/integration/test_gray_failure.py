"""Gray failure acted on (issue 19 item 3), in moto through the heartbeat's sweep: a NAT whose conntrack
table is full while its probes pass becomes DEGRADED after ``degraded_after`` sweeps (one alert naming
the cause and the remedy), the zone it serves for another zone moves to a NAT with headroom with a
connection handoff, its own zone stays, the state is stored versioned in the state table, and recovery
after the hold sends one alert."""
from __future__ import annotations

import copy
from dataclasses import replace

from chalicelib.service import gray
from chalicelib.service.heartbeat import run_sweep
from chalicelib.service.reconcile import observe_zones
from tests.integration.test_nat_metrics_heartbeat import CountingProbes
from tests.support.stack import AZS, FakeClock, clients, make_deps, serving, table_items
from tests.unit.test_probe_counters import SAMPLE

A, C, D = AZS
LIMIT = SAMPLE["conntrack"]["max"]


def snap(count: int, sweep: int) -> dict:
    """The NAT's counters at a sweep: ``count`` conntrack entries, some traffic since the last one."""
    out = copy.deepcopy(SAMPLE)
    out["conntrack"]["count"] = count
    out["forwarded"]["from_source"]["bytes"] += 1_000_000 * sweep
    out["at"] += 30 * sweep        # the agent's own time of the snapshot: a new one per sweep
    return out


def gray_stack(stack):
    return replace(stack, failover=replace(stack.failover, degraded_after=2, degraded_clear_after=2,
                                           degraded_min_hold_s=120))


def sweep(deps, clock, probes, counters: dict[str, dict]):
    probes.counters = counters
    clock.sleep(30.0)
    return run_sweep(deps)


def gray_records(topo) -> dict[str, dict]:
    return {i["sk"]["S"]: i for i in table_items(clients().dynamodb, topo) if i["pk"]["S"] == "gray"}


def test_degraded_nat_alerts_once_moves_the_zone_it_serves_for_another_with_handoff_and_recovers(stack):
    gray.last_counters.clear()
    topo = gray_stack(stack)
    clock = FakeClock()
    probes = CountingProbes(clock)
    deps, alerts = make_deps(topo, clock, probes, control_passes=True)
    fine = {az: snap(100, 0) for az in AZS}
    sweep(deps, clock, probes, fine)
    probes.failing = {D}                              # D's NAT dies: its zone fails over to A's NAT
    report = sweep(deps, clock, probes, {A: snap(100, 1), C: snap(100, 1)})
    assert report.served_by[D] == A and serving(clients().ec2, topo)[D] == A

    first_bad = sweep(deps, clock, probes, {A: snap(LIMIT, 2), C: snap(100, 2)})   # probes pass: a gray failure
    assert first_bad.gray["degraded"] == [] and not [a for a in alerts if a.type == "degraded"]
    report = sweep(deps, clock, probes, {A: snap(LIMIT, 3), C: snap(100, 3)})
    assert report.gray["entered"] == [A] and report.gray["degraded"] == [A]
    degraded = [a for a in alerts if a.type == "degraded"]
    assert len(degraded) == 1 and degraded[0].zone == A
    assert "conntrack" in degraded[0].reason and "hanat roll" in degraded[0].reason
    # D (served by A for another zone) moves to C, the NAT with headroom; A's own zone stays on A
    assert [(m["zone"], m["to_az"], m["kind"]) for m in report.gray["moves"]] == [(D, C, "failover")]
    assert serving(clients().ec2, topo) == {A: A, C: C, D: C}
    moved = next(z for z in observe_zones(deps, clock()).inputs if z.az == D).state
    assert moved.server == C and moved.has_handoff              # a planned move: open flows handed off
    assert [a.type for a in alerts].count("failover") == 2       # D's failover, then its move off A
    stored = gray_records(topo)
    assert int(stored[A]["version"]["N"]) >= 2 and '"DEGRADED"' in stored[A]["data"]["S"]

    report = sweep(deps, clock, probes, {A: snap(LIMIT, 4), C: snap(100, 4)})
    assert report.gray["entered"] == [] and len([a for a in alerts if a.type == "degraded"]) == 1

    for n in (5, 6):                                  # good again, but the minimum hold (120 s) is not over
        report = sweep(deps, clock, probes, {A: snap(100, n), C: snap(100, n)})
    assert report.gray["degraded"] == [A]
    report = sweep(deps, clock, probes, {A: snap(100, 7), C: snap(100, 7)})
    assert report.gray["recovered"] == [A] and report.gray["degraded"] == []
    assert [a.type for a in alerts].count("recovered") == 1
    assert serving(clients().ec2, topo)[D] == C        # nothing moves back onto A by itself
    assert '"OK"' in gray_records(topo)[A]["data"]["S"]


def test_no_nat_with_headroom_keeps_the_zone_on_the_degraded_nat(stack):
    gray.last_counters.clear()
    topo = gray_stack(stack)
    clock = FakeClock()
    probes = CountingProbes(clock)
    deps, alerts = make_deps(topo, clock, probes, control_passes=True)
    sweep(deps, clock, probes, {az: snap(100, 0) for az in AZS})
    probes.failing = {D}
    sweep(deps, clock, probes, {A: snap(100, 1), C: snap(100, 1)})
    busy = int(LIMIT * 0.8)                           # C at 80 % conntrack: over headroom_percent (70)
    for n in (2, 3):
        report = sweep(deps, clock, probes, {A: snap(LIMIT, n), C: snap(busy, n)})
    assert report.gray["degraded"] == [A] and report.gray["moves"] == []
    assert report.gray["notes"] and "headroom" in report.gray["notes"][0]
    assert serving(clients().ec2, topo)[D] == A        # a degraded NAT beats none
    assert [a.type for a in alerts].count("degraded") == 1


def test_gray_state_is_written_once_a_minute_when_nothing_changes(stack):
    gray.last_counters.clear()
    topo = gray_stack(stack)
    clock = FakeClock()
    probes = CountingProbes(clock)
    deps, _ = make_deps(topo, clock, probes, control_passes=True)
    versions = []
    for n in range(5):                                # 30 s apart: written at 0, 60, 120 s
        sweep(deps, clock, probes, {az: snap(100, n) for az in AZS})
        versions.append(int(gray_records(topo)[A]["version"]["N"]))
    assert versions == [1, 1, 2, 2, 3]
    assert '"status": "OK"' in gray_records(topo)[A]["data"]["S"]


def test_a_snapshot_seen_again_is_no_reading_so_port_errors_every_snapshot_make_the_nat_degraded(stack):
    """The agent writes its counters every 5 s, the lab sweeps every second: a sweep that reads the snapshot
    it read before (the same ``at``) judges nothing. Judged again, its increases would read zero, a good
    reading, and a NAT whose every snapshot shows port allocation errors would never be DEGRADED."""
    gray.last_counters.clear()
    topo = gray_stack(stack)                          # degraded_after = 2
    clock = FakeClock()
    probes = CountingProbes(clock)
    deps, alerts = make_deps(topo, clock, probes, control_passes=True)

    def ports_failing(n: int) -> dict:
        out = snap(100, n)
        out["conntrack"].update(insert_failed=5 * n, drop=5 * n)   # a clash counts both (engine/gray.py)
        return out
    sweep(deps, clock, probes, {az: ports_failing(0) for az in AZS})
    first = sweep(deps, clock, probes, {A: ports_failing(1), C: snap(100, 1), D: snap(100, 1)})
    assert first.gray["degraded"] == []
    again = sweep(deps, clock, probes, {A: ports_failing(1), C: snap(100, 2), D: snap(100, 2)})  # A: same snapshot
    assert again.gray["degraded"] == [] and again.gray["entered"] == []
    report = sweep(deps, clock, probes, {A: ports_failing(2), C: snap(100, 3), D: snap(100, 3)})
    assert report.gray["entered"] == [A]
    (alert,) = [a for a in alerts if a.type == "degraded"]
    assert alert.details["causes"] == ["port-allocation"]      # ports running out is not a full table
