"""Connection handoff on planned moves (issue 13, /work/brief HANDOFF contract), against moto.

A planned move away from a live NAT (an operator's failover of a healthy NAT, the revert) writes the
handoff tags on both NATs, waits for the agents (>= 2 s: they poll IMDS every second) and only then
moves the route; an automatic failover away from a dead NAT writes none; the tags go away when a NAT
leaves ``running``, when the zone moves again, or when ``until`` passes (the sweep's cleanup).
"""
from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.aws import nat_tags
from chalicelib.engine.handoff import AGENT_SETTLE_S, tag_values
from chalicelib.errors import HanatError
from chalicelib.service import handoff_close
from chalicelib.service.events import handle_instance_state
from chalicelib.service.heartbeat import run_sweep
from chalicelib.service.maintenance import after_sweep
from chalicelib.service.operations import operate
from chalicelib.service.reconcile import load_states
from tests.support.stack import AZS, FakeClock, ScriptedProbes, make_deps, serving

A, C, D = AZS
PREFIX = "hanat:handoff:"


@pytest.fixture
def harness(stack):
    """(topology, deps, clock, probes) after a first sweep."""
    clock = FakeClock()
    probes = ScriptedProbes(clock)
    deps, _alerts = make_deps(stack, clock, probes)
    run_sweep(deps)
    return stack, deps, clock, probes


def nat_info(ec2, instance_id):
    inst = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return inst["PrivateIpAddress"], {t["Key"]: t["Value"] for t in inst.get("Tags", []) if t["Key"].startswith(PREFIX)}


def subnet_cidr(ec2, subnet_id):
    return ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["CidrBlock"]


def watch_sleeps(deps, topo):
    """Record each sleep with where zone A is routed at that moment (the route must not have moved yet)."""
    seen = []
    inner = deps.sleep

    def sleep(seconds):
        seen.append((seconds, serving(deps.clients.ec2, topo)[A]))
        inner(seconds)
    deps.sleep = sleep
    return seen


def test_manual_failover_of_a_healthy_nat_writes_both_tags_waits_then_moves(harness):
    topo, deps, clock, _ = harness
    ec2 = deps.clients.ec2
    sleeps = watch_sleeps(deps, topo)
    until = int(clock() + topo.failover.handoff_s)
    out = operate(deps, {"action": "failover", "zone": A, "to_zone": D, "reason": "patch"})
    x_ip, x_tags = nat_info(ec2, topo.zone(A).nat_instance_id)
    y_ip, y_tags = nat_info(ec2, topo.zone(D).nat_instance_id)
    cidr = subnet_cidr(ec2, topo.zone(A).private_subnet_id)
    # HANDOFF.md: on Y "to <X> <until> <cidrs>", on X "from <Y> <until> <cidrs>"
    assert y_tags == {f"{PREFIX}{A}": f"to {x_ip} {until} {cidr}"}
    assert x_tags == {f"{PREFIX}{A}": f"from {y_ip} {until} {cidr}"}
    assert serving(ec2, topo)[A] == D
    # the agents poll every second: the route moved only after >= 2 s, while still on A
    assert any(s >= 2.0 and where == A for s, where in sleeps), sleeps
    assert out["handoffs"] == [{"zone": A, "from_nat": topo.zone(A).nat_instance_id,
                                "to_nat": topo.zone(D).nat_instance_id, "until": until, "cidrs": [cidr]}]
    state = load_states(deps)[1][A]
    assert (state.handoff_from, state.handoff_to, state.handoff_until) == (
        topo.zone(A).nat_instance_id, topo.zone(D).nat_instance_id, until)
    assert operate(deps, {"action": "status"})["zones"][0]["handoff"]["to_nat"] == topo.zone(D).nat_instance_id


def test_revert_after_manual_failover_hands_back_the_other_way_and_drops_the_old_tags(harness):
    topo, deps, clock, _ = harness
    ec2 = deps.clients.ec2
    operate(deps, {"action": "failover", "zone": A, "to_zone": D})
    clock.sleep(10)
    until = int(clock() + topo.failover.handoff_s)
    operate(deps, {"action": "revert", "zone": A})
    x_ip, x_tags = nat_info(ec2, topo.zone(A).nat_instance_id)
    y_ip, y_tags = nat_info(ec2, topo.zone(D).nat_instance_id)
    cidr = subnet_cidr(ec2, topo.zone(A).private_subnet_id)
    # now A serves the zone again and sends the flows D holds back to D; no ":prev" tag is left
    assert x_tags == {f"{PREFIX}{A}": f"to {y_ip} {until} {cidr}"}
    assert y_tags == {f"{PREFIX}{A}": f"from {x_ip} {until} {cidr}"}
    assert serving(ec2, topo)[A] == A


def test_automatic_failover_away_from_a_dead_nat_writes_no_handoff_and_does_not_wait(harness):
    topo, deps, clock, probes = harness
    ec2 = deps.clients.ec2
    sleeps = watch_sleeps(deps, topo)
    probes.failing.add(A)
    for _ in range(topo.probe.fail_after + 1):
        clock.sleep(topo.probe.interval_s)
        run_sweep(deps)
    assert serving(ec2, topo)[A] != A
    assert all(not nat_info(ec2, z.nat_instance_id)[1] for z in topo.zones)
    assert not any(s >= AGENT_SETTLE_S for s, _ in sleeps)
    assert not load_states(deps)[1][A].has_handoff


def test_revert_after_recovery_hands_off_and_the_sweep_removes_the_tags_when_until_passes(harness):
    topo, deps, clock, probes = harness
    ec2 = deps.clients.ec2
    p = topo.probe
    probes.failing.add(A)
    for _ in range(p.fail_after + 1):
        clock.sleep(p.interval_s)
        run_sweep(deps, then=after_sweep)
    backup = serving(ec2, topo)[A]
    assert backup != A
    probes.failing.clear()
    clock.sleep(p.min_hold_s)
    for _ in range(p.recover_after + 2):
        clock.sleep(p.interval_s)
        run_sweep(deps, then=after_sweep)
    assert serving(ec2, topo)[A] == A
    x_tags = nat_info(ec2, topo.zone(A).nat_instance_id)[1]
    y_tags = nat_info(ec2, topo.zone(backup).nat_instance_id)[1]
    assert list(x_tags) == [f"{PREFIX}{A}"] and x_tags[f"{PREFIX}{A}"].startswith("to ")
    assert list(y_tags) == [f"{PREFIX}{A}"] and y_tags[f"{PREFIX}{A}"].startswith("from ")
    clock.sleep(topo.failover.handoff_s + 1)
    run_sweep(deps, then=after_sweep)
    assert all(not nat_info(ec2, z.nat_instance_id)[1] for z in topo.zones)
    assert not load_states(deps)[1][A].has_handoff


def test_old_nat_stopping_ends_the_handoff_at_once(harness):
    topo, deps, _, _ = harness
    ec2 = deps.clients.ec2
    operate(deps, {"action": "failover", "zone": A, "to_zone": D})
    old = topo.zone(A).nat_instance_id
    ec2.stop_instances(InstanceIds=[old])
    out = handle_instance_state(deps, {"id": "ev-1", "source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification",
                                       "detail": {"instance-id": old, "state": "stopping"}})
    assert out["handoffs_ended"] == [A]
    assert all(not nat_info(ec2, z.nat_instance_id)[1] for z in topo.zones)
    assert not load_states(deps)[1][A].has_handoff


def test_no_handoff_when_it_is_turned_off(harness):
    topo, deps, _, _ = harness
    deps.topology = replace(topo, failover=replace(topo.failover, handoff_s=0))
    out = operate(deps, {"action": "failover", "zone": A, "to_zone": D})
    assert out["handoffs"] == [] and serving(deps.clients.ec2, topo)[A] == D
    assert all(not nat_info(deps.clients.ec2, z.nat_instance_id)[1] for z in topo.zones)


def test_handoff_ends_only_its_own_tags(harness):
    """DeleteTags with a value deletes only while the tag still has that value (EC2 API Reference,
    DeleteTags): ending an old handoff leaves a newer one of the zone alone."""
    topo, deps, clock, _ = harness
    ec2 = deps.clients.ec2
    operate(deps, {"action": "failover", "zone": A, "to_zone": D})
    states = load_states(deps)[1]
    newer = tag_values(A, "to", "10.0.0.99", int(clock() + 5000), ["10.0.1.0/24"])
    view = nat_tags.describe_nats(ec2, [topo.zone(D).nat_instance_id], topo.stack)[topo.zone(D).nat_instance_id]
    nat_tags.put_handoff_tags(ec2, view, newer, topo.stack)
    handoff_close.close_handoffs(deps, [A], "test", states=states)
    assert nat_info(ec2, topo.zone(D).nat_instance_id)[1] == newer
    assert nat_info(ec2, topo.zone(A).nat_instance_id)[1] == {}


def test_adapter_writes_only_handoff_tags_and_only_on_the_stacks_instances(harness):
    topo, deps, *_ = harness
    ec2 = deps.clients.ec2
    nat = topo.zone(A).nat_instance_id
    view = nat_tags.describe_nats(ec2, [nat], topo.stack)[nat]
    with pytest.raises(HanatError, match="Name"):
        nat_tags.put_handoff_tags(ec2, view, {"Name": "x"}, topo.stack)
    foreign = nat_tags.describe_nats(ec2, [nat], "other-stack")[nat]
    with pytest.raises(HanatError, match="hanat:stack=other-stack"):
        nat_tags.put_handoff_tags(ec2, foreign, {f"{PREFIX}{A}": "to 10.0.0.1 1 10.0.0.0/24"}, "other-stack")
    with pytest.raises(HanatError, match="hanat:stack=other-stack"):
        nat_tags.delete_handoff_tags(ec2, foreign, {f"{PREFIX}{A}": "x"}, "other-stack")
    assert nat_info(ec2, nat)[1] == {}


def test_a_planned_move_without_time_for_the_handoff_waits_for_the_next_run(harness):
    """With less than HANDOFF_WRITE_S left, a move that only hands off (a revert) is not made at all
    rather than made without its handoff (that would reset every connection): nothing changes."""
    import time

    from chalicelib.errors import OutOfTimeError
    from chalicelib.service.reconcile import HANDOFF_WRITE_S, MIN_WRITE_S

    topo, deps, _, _ = harness
    operate(deps, {"action": "failover", "zone": A, "to_zone": D})
    tags_before = {z.az: nat_info(deps.clients.ec2, z.nat_instance_id)[1] for z in topo.zones}
    deps.deadline = time.monotonic() + (MIN_WRITE_S + HANDOFF_WRITE_S) / 2
    with pytest.raises(OutOfTimeError, match="without their connection handoff"):
        operate(deps, {"action": "revert", "zone": A})
    assert serving(deps.clients.ec2, topo)[A] == D
    assert {z.az: nat_info(deps.clients.ec2, z.nat_instance_id)[1] for z in topo.zones} == tags_before
