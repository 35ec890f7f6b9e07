"""Sweeps against moto: scripted probes and a fake clock move routes away and back."""
from __future__ import annotations

import time

import pytest
from moto import mock_aws

from chalicelib.errors import HanatError
from chalicelib.probes.results import ProbeResult
from chalicelib.service.heartbeat import run_heartbeat, run_sweep
from tests.support.stack import (
    AZS,
    FakeClock,
    ScriptedProbes,
    build_stack,
    default_targets,
    make_deps,
    serving,
    table_items,
)

A, C, D = AZS

pytestmark = pytest.mark.stack(tables_per_zone=2)


@pytest.fixture
def harness(stack):
    """(topology, deps, clock, probes, alerts, metrics); the control probe passes."""
    clock = FakeClock()
    probes = ScriptedProbes(clock)
    deps, alerts = make_deps(stack, clock, probes, control_passes=True)
    metrics: list[tuple[str, float]] = []
    deps.metric = lambda name, value, unit, dimensions=None: metrics.append((name, value))
    return stack, deps, clock, probes, alerts, metrics


def sweep(deps, clock, n=1, step=5.0):
    reports = []
    for _ in range(n):
        clock.sleep(step)
        reports.append(run_sweep(deps))
    return reports


def test_a_failed_probe_is_confirmed_at_once_failover_in_one_sweep_and_back_after_recovery(harness):
    topo, deps, clock, probes, alerts, metrics = harness
    ec2 = deps.clients.ec2
    before = default_targets(ec2, topo)
    sweep(deps, clock)
    assert probes.calls == [AZS]                               # steady state: one probe per zone per sweep
    probes.failing = {A}
    first = sweep(deps, clock)[0]
    # the failure was re-probed right away (alone), fail_after=2 failed probes in this sweep: DOWN, moved
    assert probes.calls[1:] == [AZS, (A,)] and first.confirmations == {A: [False]}
    assert [(m["zone"], m["to_az"], m["kind"]) for m in first.moves] == [(A, C, "failover")]
    after = default_targets(ec2, topo)
    za, zc = topo.zone(A), topo.zone(C)
    assert all(after[t] == zc.nat_eni_id for t in za.private_route_table_ids)   # both tables moved
    assert sorted(first.changed_tables) == sorted(za.private_route_table_ids)
    unchanged = [t for t in before if t not in za.private_route_table_ids]
    assert {t: after[t] for t in unchanged} == {t: before[t] for t in unchanged}  # pinned probe tables too
    assert [(a.type, a.zone, a.to_zone, a.reason) for a in alerts] == [("failover", A, C, "2 failed probes")]
    assert ("failover", 1.0) in metrics and ("ProbeFailures", 2.0) in metrics
    assert ("ProbeConfirmations", 1.0) in metrics
    assert sum(1 for name, _ in metrics if name == "SweepDuration") == 2     # one per sweep so far

    probes.failing = set()
    calls = len(probes.calls)
    sweep(deps, clock, n=1)
    assert serving(ec2, topo)[A] == C                    # recover_after=2 not reached
    back = sweep(deps, clock, n=1)[0]                     # 2 passes and 10 s >= min_hold 10 s
    assert [(m["zone"], m["to_az"], m["kind"]) for m in back.moves] == [(A, A, "revert")]
    assert default_targets(ec2, topo) == before
    assert [a.type for a in alerts] == ["failover", "revert"]
    assert len(probes.calls) == calls + 2                 # passing probes are never re-probed


def test_a_failure_that_passes_its_reprobe_moves_nothing_and_resets_the_count(harness):
    topo, deps, clock, probes, alerts, _ = harness
    sweep(deps, clock)
    probes.script = {A: [False, True]}          # a lost probe, then the re-probe answers
    report = sweep(deps, clock)[0]
    assert report.confirmations == {A: [True]} and report.moves == [] and alerts == []
    record = next(i for i in table_items(deps.clients.dynamodb, topo) if (i["pk"]["S"], i["sk"]["S"]) == ("zone", A))
    assert '"fails": 0' in record["state"]["S"] and report.health[A] == "UP"


def test_a_zone_already_down_is_not_reprobed(harness):
    _, deps, clock, probes, _, _ = harness
    sweep(deps, clock)
    probes.failing = {A}
    assert sweep(deps, clock)[0].health[A] == "DOWN"
    calls = len(probes.calls)
    report = sweep(deps, clock)[0]            # still failing: confirming it again would change nothing
    assert probes.calls[calls:] == [AZS] and report.confirmations == {}


def test_reprobes_stop_at_the_deadline(harness):
    """No confirmation round is started that could not finish before Deps.deadline: the failure
    counts once and the next sweep (or invocation) confirms it."""
    _topo, deps, clock, probes, _alerts, _ = harness
    sweep(deps, clock)
    probes.failing = {A}
    deps.deadline = time.monotonic() + 4.0      # less than a probe round (2 s + 3 s) and the writes
    report = sweep(deps, clock)[0]
    assert report.confirmations == {} and report.moves == [] and report.health[A] == "UP"
    deps.deadline = None
    assert [(m["zone"], m["kind"]) for m in sweep(deps, clock)[0].moves] == [(A, "failover")]


def test_targets_down_moves_nothing_and_alerts_once_per_incident(harness):
    topo, deps, clock, probes, alerts, _ = harness
    ec2 = deps.clients.ec2
    sweep(deps, clock)
    before = default_targets(ec2, topo)
    deps.control_probe = lambda: ProbeResult(zone="control", passed=False)
    probes.failing = set(AZS)
    reports = sweep(deps, clock, n=4)
    assert all("targets_down" in r.outcomes and r.control is False for r in reports)
    assert default_targets(ec2, topo) == before
    assert [a.type for a in alerts] == ["critical"]
    probes.failing = set()
    sweep(deps, clock)
    probes.failing = set(AZS)
    sweep(deps, clock, n=2)
    assert [a.type for a in alerts] == ["critical", "critical"]   # again only after a recovery


def test_every_nat_down_leaves_routes_put(harness):
    topo, deps, clock, probes, alerts, _ = harness
    deps.control_probe = None
    sweep(deps, clock)
    before = default_targets(deps.clients.ec2, topo)
    probes.failing = set(AZS)
    reports = sweep(deps, clock, n=3)
    assert default_targets(deps.clients.ec2, topo) == before and alerts == []
    assert "no_target" in reports[-1].outcomes and set(reports[-1].health.values()) == {"DOWN"}


def test_manual_revert_setting_keeps_zone_on_the_other_nat(aws_env):
    with mock_aws():
        topo = build_stack(revert="manual")
        clock = FakeClock()
        probes = ScriptedProbes(clock)
        deps, _ = make_deps(topo, clock, probes)
        run_sweep(deps)
        probes.failing = {C}
        sweep(deps, clock, n=2)
        probes.failing = set()
        reports = sweep(deps, clock, n=6)
        assert serving(deps.clients.ec2, topo)[C] == D and reports[-1].health[C] == "UP"


def test_drift_is_repaired(harness):
    topo, deps, clock, _, _, metrics = harness
    ec2 = deps.clients.ec2
    sweep(deps, clock)
    table = topo.zone(A).private_route_table_ids[1]
    ec2.replace_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NetworkInterfaceId=topo.zone(D).nat_eni_id)
    report = sweep(deps, clock)[0]
    assert report.changed_tables == [table] and report.moves[0]["kind"] == "repair"
    assert default_targets(ec2, topo)[table] == topo.zone(A).nat_eni_id
    assert ("repair", 1.0) in metrics


def test_refuses_a_table_without_the_stack_tag(harness):
    topo, deps, clock, probes, _, _ = harness
    ec2 = deps.clients.ec2
    sweep(deps, clock)
    table = topo.zone(A).private_route_table_ids[0]
    ec2.delete_tags(Resources=[table], Tags=[{"Key": "hanat:stack"}])
    probes.failing = {A}
    with pytest.raises(HanatError, match="refusing"):
        sweep(deps, clock)                     # confirmed at once: the move is due in this sweep
    assert default_targets(ec2, topo)[table] == topo.zone(A).nat_eni_id
    assert not any("pending_owner" in item for item in table_items(deps.clients.dynamodb, topo))  # claims released


def remaining(clock, timeout_s: float = 60.0):
    """The Lambda context's ``get_remaining_time_in_millis``, on the test's fake clock, for an invocation
    starting now."""
    end = clock() + timeout_s
    return lambda: (end - clock()) * 1000.0


def test_lease_held_by_another_run_skips_a_sweep_and_a_heartbeat_that_cannot_outwait_it(harness):
    topo, deps, clock, probes, _, _ = harness
    from chalicelib.aws.claims import acquire_lease
    assert acquire_lease(deps.clients.dynamodb, topo.table_name, "heartbeat:other", now=clock(), ttl_s=35).acquired
    assert run_sweep(deps).skipped == "lease held by heartbeat:other"
    reports = run_heartbeat(deps, remaining(clock, 40.0))     # expires in 35 s: no whole sweep would fit after
    assert len(reports) == 1 and reports[0].skipped and probes.calls == []
    clock.sleep(36)   # expired: ours now
    assert run_sweep(deps).skipped is None


def test_a_stale_lease_of_a_killed_run_is_waited_out_not_a_skipped_minute(harness):
    """A run killed mid-invocation leaves its lease (interval + 30 s); the next invocation waits for it
    to expire and sweeps for the rest of its budget instead of skipping the whole minute."""
    topo, deps, clock, probes, _, _ = harness
    from chalicelib.aws.claims import acquire_lease
    start = clock()
    assert acquire_lease(deps.clients.dynamodb, topo.table_name, "heartbeat:killed", now=start, ttl_s=35).acquired
    reports = run_heartbeat(deps, remaining(clock))
    assert reports and all(r.skipped is None and r.error is None for r in reports)
    assert 35.0 <= reports[0].at - start <= 36.0             # swept as soon as the lease expired
    assert len(reports) == 4 and len(probes.calls) == 4       # at 35, 40, 45 and 50 s: the rest of the minute


def test_a_lease_released_early_is_taken_at_once(harness):
    topo, deps, clock, _probes, _, _ = harness
    from chalicelib.aws.claims import acquire_lease, drop_lease
    start = clock()
    assert acquire_lease(deps.clients.dynamodb, topo.table_name, "heartbeat:old", now=start, ttl_s=35).acquired
    released = []

    def sleep(seconds):
        clock.sleep(seconds)
        if clock() - start >= 3 and not released:   # the old run ends its loop and releases its lease
            drop_lease(deps.clients.dynamodb, topo.table_name, "heartbeat:old")
            released.append(clock())
    deps.sleep = sleep
    reports = run_heartbeat(deps, remaining(clock))
    assert 3.0 <= reports[0].at - start < 4.5 and reports[0].skipped is None


def test_heartbeat_sweeps_every_interval_while_a_sweep_fits_in_the_remaining_time_and_releases(harness):
    topo, deps, clock, probes, _, _ = harness
    start = clock()
    reports = run_heartbeat(deps, remaining(clock))
    # a sweep needs probe.timeout_s + 3 s for the probe round and 3 s for the writes (8 s): the last one
    # starts at 50 s with 10 s left, none at 55 s with 5 s left
    assert len(reports) == 11 and all(r.skipped is None and r.error is None for r in reports)
    assert [r.at - start for r in reports] == [5.0 * i for i in range(11)]
    assert len(probes.calls) == 11 and all(call == AZS for call in probes.calls)   # all zones, one call
    assert not any(i["pk"]["S"] == "lease" for i in table_items(deps.clients.dynamodb, topo))
    clock.sleep(5)
    shorter = run_heartbeat(deps, remaining(clock, 30.0))     # the budget is the invocation's, not a constant
    assert [r.at - shorter[0].at for r in shorter] == [5.0 * i for i in range(5)]
    calls = len(probes.calls)
    too_short = run_heartbeat(deps, remaining(clock, 7.0))    # less than one sweep needs: nothing starts
    assert len(too_short) == 1 and "not enough for a sweep" in too_short[0].skipped and len(probes.calls) == calls


def test_heartbeat_gives_its_sweeps_a_deadline_before_the_invocation_ends(harness, monkeypatch):
    """Deps.deadline (a monotonic instant) = now + the context's remaining time - END_MARGIN_S: the
    adapters stop every AWS call and retry there (tests/unit/test_aws_calls.py)."""
    _topo, deps, clock, _probes, _, _ = harness
    from chalicelib.service import heartbeat as sweep_module
    deadlines = []
    real_sweep_once = sweep_module.sweep_once

    def spy(d, **kw):
        deadlines.append(d.deadline)
        return real_sweep_once(d, **kw)
    monkeypatch.setattr(sweep_module, "sweep_once", spy)
    before = time.monotonic()
    run_heartbeat(deps, remaining(clock, 20.0))
    assert len(deadlines) == 3 and len(set(deadlines)) == 1       # sweeps at 0, 5 and 10 s; one end for all
    assert before + 20.0 - sweep_module.END_MARGIN_S <= deadlines[0] <= time.monotonic() + 18.0


def test_no_evidence_moves_no_counter_is_counted_by_zone_and_raises_one_blind_alert(harness):
    _topo, deps, clock, probes, alerts, metrics = harness
    dims = []
    deps.metric = lambda name, value, unit, dimensions=None: (metrics.append((name, value)),
                                                              dims.append((name, dimensions)))
    sweep(deps, clock)
    probes.blind = set(AZS)            # Lambda throttles every probe invoke (TooManyRequestsException)
    calls = len(probes.calls)
    reports = sweep(deps, clock, n=5)
    assert all(r.moves == [] and r.confirmations == {} for r in reports)    # no failover, no re-probe storm
    assert len(probes.calls) == calls + 5
    assert all(set(r.health.values()) == {"UP"} for r in reports)
    assert reports[0].no_evidence == dict.fromkeys(AZS, "invoke failed: TooManyRequestsException: Rate exceeded")
    assert dims.count(("ProbeNoEvidence", {"zone": A})) == 5
    assert [a.type for a in alerts] == ["blind"]                 # one alert, at the 3rd sweep, for all zones
    assert alerts[0].zone is None and alerts[0].details["zones"] == list(AZS)
    assert "blind" in reports[2].outcomes and "blind" not in reports[3].outcomes
    from chalicelib.service.status import collect_status
    assert {r["az"]: r["blind_sweeps"] for r in collect_status(deps)} == dict.fromkeys(AZS, 5)
    probes.blind = set()
    sweep(deps, clock)                  # evidence is back: cleared
    probes.blind = {C}
    sweep(deps, clock, n=3)
    assert [(a.type, a.zone) for a in alerts] == [("blind", None), ("blind", C)]   # a new incident, one zone


def test_a_stale_route_table_id_does_not_blind_the_other_zones(harness):
    """DescribeRouteTables with one unknown id fails the whole call (InvalidRouteTableID.NotFound): the
    sweep reads the other tables by filter, reports the stale one and still moves the zones it can."""
    topo, deps, clock, probes, _alerts, _ = harness
    from dataclasses import replace as dc_replace
    sweep(deps, clock)
    za = topo.zone(A)
    stale = "rtb-0123456789abcdef0"
    deps.topology = dc_replace(topo, zones=(dc_replace(za, private_route_table_ids=(*za.private_route_table_ids,
                                                                                    stale)), *topo.zones[1:]))
    probes.failing = {C}
    report = sweep(deps, clock)[0]
    assert report.missing_route_tables == [stale]
    assert [(m["zone"], m["kind"]) for m in report.moves] == [(C, "failover")]
    assert serving(deps.clients.ec2, topo)[C] != C


def test_adapters_guard_pinned_tables_and_report_vanished_instances(harness):
    topo, deps, *_ = harness
    from chalicelib.aws.observe import describe_instance_states
    from chalicelib.aws.params import read_topology
    from chalicelib.aws.routes import point_default_route
    from chalicelib.errors import NotFoundError
    probe_table = topo.zone(A).probe_route_table_id
    with pytest.raises(HanatError, match="pinned"):
        point_default_route(deps.clients.ec2, probe_table, topo.zone(C).nat_eni_id, stack=topo.stack)
    with pytest.raises(HanatError, match="does not carry hanat:stack=other"):
        point_default_route(deps.clients.ec2, topo.zone(A).private_route_table_ids[0], topo.zone(C).nat_eni_id,
                            stack="other")
    assert default_targets(deps.clients.ec2, topo)[probe_table] == topo.zone(A).nat_eni_id
    states = describe_instance_states(deps.clients.ec2, [topo.zone(A).nat_instance_id, "i-0000000000000dead"])
    assert states == {topo.zone(A).nat_instance_id: "running", "i-0000000000000dead": "terminated"}
    assert read_topology(deps.clients.ssm, topo.topology_parameter) == topo
    with pytest.raises(NotFoundError, match="hanat up"):
        read_topology(deps.clients.ssm, "/hanat/nope/topology")
