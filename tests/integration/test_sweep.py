"""Sweeps against moto: scripted probes and a fake clock move routes away and back."""
from __future__ import annotations

import pytest
from moto import mock_aws

from chalicelib.errors import HanatError
from chalicelib.probes.results import ProbeResult
from chalicelib.service.sweep import run_heartbeat, run_sweep
from tests.integration.stackfixture import (
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


@pytest.fixture
def stack(aws_env):
    with mock_aws():
        topo = build_stack(tables_per_zone=2)
        clock = FakeClock()
        probes = ScriptedProbes(clock)
        deps, alerts = make_deps(topo, clock, probes, control_passes=True)
        metrics: list[tuple[str, float]] = []
        deps.metric = lambda name, value, unit: metrics.append((name, value))
        yield topo, deps, clock, probes, alerts, metrics


def sweep(deps, clock, n=1, step=5.0):
    reports = []
    for _ in range(n):
        clock.sleep(step)
        reports.append(run_sweep(deps))
    return reports


def test_failover_after_fail_after_and_back_after_recovery(stack):
    topo, deps, clock, probes, alerts, metrics = stack
    ec2 = deps.clients.ec2
    before = default_targets(ec2, topo)
    sweep(deps, clock)
    probes.failing = {A}
    first = sweep(deps, clock)[0]
    assert first.moves == [] and serving(ec2, topo)[A] == A      # one failure is not enough
    second = sweep(deps, clock)[0]
    assert [(m["zone"], m["to_az"], m["kind"]) for m in second.moves] == [(A, C, "failover")]
    after = default_targets(ec2, topo)
    za, zc = topo.zone(A), topo.zone(C)
    assert all(after[t] == zc.nat_eni_id for t in za.private_route_table_ids)   # both tables moved
    assert sorted(second.changed_tables) == sorted(za.private_route_table_ids)
    unchanged = [t for t in before if t not in za.private_route_table_ids]
    assert {t: after[t] for t in unchanged} == {t: before[t] for t in unchanged}  # pinned probe tables too
    assert [(a.type, a.zone, a.to_zone, a.reason) for a in alerts] == [("failover", A, C, "2 failed probes")]
    assert ("failover", 1.0) in metrics
    assert sum(1 for name, _ in metrics if name == "SweepDuration") == 3     # one per sweep so far

    probes.failing = set()
    sweep(deps, clock, n=1)
    assert serving(ec2, topo)[A] == C                    # recover_after=2 not reached
    back = sweep(deps, clock, n=1)[0]                     # 2 passes and 15 s >= min_hold 10 s
    assert [(m["zone"], m["to_az"], m["kind"]) for m in back.moves] == [(A, A, "revert")]
    assert default_targets(ec2, topo) == before
    assert [a.type for a in alerts] == ["failover", "revert"]


def test_targets_down_moves_nothing_and_alerts_once_per_incident(stack):
    topo, deps, clock, probes, alerts, _ = stack
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


def test_every_nat_down_leaves_routes_put(stack):
    topo, deps, clock, probes, alerts, _ = stack
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


def test_drift_is_repaired(stack):
    topo, deps, clock, _, _, metrics = stack
    ec2 = deps.clients.ec2
    sweep(deps, clock)
    table = topo.zone(A).private_route_table_ids[1]
    ec2.replace_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NetworkInterfaceId=topo.zone(D).nat_eni_id)
    report = sweep(deps, clock)[0]
    assert report.changed_tables == [table] and report.moves[0]["kind"] == "repair"
    assert default_targets(ec2, topo)[table] == topo.zone(A).nat_eni_id
    assert ("repair", 1.0) in metrics


def test_refuses_a_table_without_the_stack_tag(stack):
    topo, deps, clock, probes, _, _ = stack
    ec2 = deps.clients.ec2
    sweep(deps, clock)
    table = topo.zone(A).private_route_table_ids[0]
    ec2.delete_tags(Resources=[table], Tags=[{"Key": "hanat:stack"}])
    probes.failing = {A}
    sweep(deps, clock)
    with pytest.raises(HanatError, match="refusing"):
        sweep(deps, clock)
    assert default_targets(ec2, topo)[table] == topo.zone(A).nat_eni_id
    assert not any("pending_owner" in item for item in table_items(deps.clients.dynamodb, topo))  # claims released


def test_lease_held_by_another_run_skips_at_once(stack):
    topo, deps, clock, probes, _, _ = stack
    other, _ = make_deps(topo, clock, owner="heartbeat:other")
    other.sleep = lambda s: None
    from chalicelib.aws.state_table import acquire_lease
    assert acquire_lease(deps.clients.dynamodb, topo.table_name, "heartbeat:other", now=clock(), ttl_s=35).acquired
    assert run_sweep(deps).skipped == "lease held by heartbeat:other"
    reports = run_heartbeat(deps)
    assert len(reports) == 1 and reports[0].skipped and probes.calls == []
    clock.sleep(36)   # expired: ours now
    assert run_sweep(deps).skipped is None


def test_heartbeat_sweeps_every_interval_within_budget_and_releases(stack):
    topo, deps, clock, probes, _, _ = stack
    start = clock()
    reports = run_heartbeat(deps, budget_s=55.0)
    assert len(reports) == 11 and all(r.skipped is None and r.error is None for r in reports)
    assert [r.at - start for r in reports] == [5.0 * i for i in range(11)]
    assert len(probes.calls) == 11 and all(call == AZS for call in probes.calls)   # all zones, one call
    assert not any(i["pk"]["S"] == "lease" for i in table_items(deps.clients.dynamodb, topo))


def test_adapters_guard_pinned_tables_and_report_vanished_instances(stack):
    topo, deps, *_ = stack
    from chalicelib.aws.instances import describe_instance_states
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
