"""A planned move waits for the NATs to report its handoff applied (issue 21), against moto.

The NATs' agents are stood in for by ``LateAgents``: each zone's answer (what its probe function reads
from the NAT's agent, probes/handler.py) lists the NAT's handoff tags as moto holds them, ``lag_s`` after
they first appeared (AWS documents no latency for tags to reach instance metadata: "Work with instance
tags in instance metadata"). The route must not move before both NATs acknowledge; with no
acknowledgement it moves after the timeout (the timed wait included) with one ``handoff`` alert.
"""
from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.engine.handoff import AGENT_SETTLE_S
from chalicelib.service.heartbeat import run_sweep
from chalicelib.service.operations import operate
from tests.support.stack import AZS, FakeClock, ScriptedProbes, make_deps, serving

A, C, D = AZS
PREFIX = "hanat:handoff:"


class LateAgents:
    """A HandoffReader: zone -> its NAT's handoff tags in moto, each set reported ``lag_s`` after first seen."""

    def __init__(self, deps, lag_s: float | None):
        self.deps, self.lag_s = deps, lag_s
        self.seen: dict[str, tuple[float, dict]] = {}     # NAT -> (first seen, tags)
        self.shown: dict[str, dict] = {}
        self.asked: list[tuple[float, tuple[str, ...], str]] = []   # (when, zones, where A is routed)

    def tags(self, nat: str) -> dict:
        inst = self.deps.clients.ec2.describe_instances(InstanceIds=[nat])["Reservations"][0]["Instances"][0]
        return {t["Key"]: t["Value"] for t in inst.get("Tags", []) if t["Key"].startswith(PREFIX)}

    def __call__(self, azs):
        topo, now = self.deps.topology, self.deps.clock()
        self.asked.append((now, tuple(azs), serving(self.deps.clients.ec2, topo)[A]))
        out = {}
        for az in azs:
            nat = topo.zone(az).nat_instance_id
            tags = self.tags(nat)
            if self.seen.get(nat, (0, None))[1] != tags:
                self.seen[nat] = (now, tags)
            if self.lag_s is None:
                out[az] = (None, "handoffs unreadable at http://192.0.2.1:9107/handoffs.json: timed out")
                continue
            if now - self.seen[nat][0] >= self.lag_s:
                self.shown[nat] = tags
            out[az] = ({"version": 1, "at": int(now), "applied": self.shown.get(nat, {})}, None)
        return out


@pytest.fixture
def harness(stack):
    clock = FakeClock()
    deps, alerts = make_deps(stack, clock, ScriptedProbes(clock))
    run_sweep(deps)
    return stack, deps, clock, alerts


def test_manual_failover_moves_as_soon_as_both_nats_acknowledge_not_before(harness):
    topo, deps, clock, alerts = harness
    agents = LateAgents(deps, lag_s=1.0)
    deps.handoff_reader = agents
    start = clock()
    operate(deps, {"action": "failover", "zone": A, "to_zone": D, "reason": "patch"})
    assert serving(deps.clients.ec2, topo)[A] == D
    # both zones' probe functions were asked; every question came while A was still routed to its own NAT
    assert {az for _, zones, _ in agents.asked for az in zones} == {A, D}
    assert all(where == A for _, _, where in agents.asked)
    # acknowledged after the agents' 1 s: moved sooner than the fixed 2 s wait, with no alert
    waited = agents.asked[-1][0] - start
    assert 1.0 <= waited < AGENT_SETTLE_S, agents.asked
    assert not [a for a in alerts if a.type == "handoff"]


def test_a_nat_reporting_the_zones_earlier_handoff_is_not_an_acknowledgement(harness):
    topo, deps, clock, alerts = harness
    deps.handoff_reader = LateAgents(deps, lag_s=0.0)
    operate(deps, {"action": "failover", "zone": A, "to_zone": D})
    clock.sleep(10)
    agents = LateAgents(deps, lag_s=3.0)        # the agents still report the failover's tags for 3 s
    agents.shown = {z.nat_instance_id: agents.tags(z.nat_instance_id) for z in topo.zones}
    deps.handoff_reader = agents
    start = clock()
    operate(deps, {"action": "revert", "zone": A})
    assert serving(deps.clients.ec2, topo)[A] == A
    assert agents.asked[-1][0] - start >= 3.0 and all(where == D for _, _, where in agents.asked)
    assert not [a for a in alerts if a.type == "handoff"]


def test_no_acknowledgement_moves_after_the_timeout_with_one_alert_naming_the_nats(harness):
    topo, deps, clock, alerts = harness
    deps.topology = topo = replace(topo, failover=replace(topo.failover, handoff_ack_timeout_s=5.0))
    agents = LateAgents(deps, lag_s=None)        # the agents' listener does not answer
    deps.handoff_reader = agents
    start = clock()
    operate(deps, {"action": "failover", "zone": A, "to_zone": D})
    assert serving(deps.clients.ec2, topo)[A] == D
    assert 5.0 <= clock() - start < 5.0 + 1.0
    assert all(when - start <= 5.0 and where == A for when, _, where in agents.asked)
    sent = [a for a in alerts if a.type == "handoff"]
    assert len(sent) == 1
    x, y = topo.zone(A).nat_instance_id, topo.zone(D).nat_instance_id
    named = ", ".join(f"{nat} ({az})" for nat, az in sorted([(x, A), (y, D)]))   # in NAT id order
    assert f"NAT {named} did not report the handoff applied within 5s" in sent[0].reason
    assert set(sent[0].details["nats"]) == {x, y} and "timed out" in sent[0].details["nats"][x]


def test_a_short_timeout_still_waits_the_timed_wait(harness):
    topo, deps, clock, alerts = harness
    deps.topology = topo = replace(topo, failover=replace(topo.failover, handoff_ack_timeout_s=0.5))
    deps.handoff_reader = LateAgents(deps, lag_s=10.0)
    start = clock()
    operate(deps, {"action": "failover", "zone": A, "to_zone": D})
    assert clock() - start >= AGENT_SETTLE_S
    assert [a.type for a in alerts if a.type == "handoff"] == ["handoff"]


class EipMoves:
    """The EC2 client, noting what the NATs report (``agents.shown``) at each AssociateAddress."""

    def __init__(self, ec2, agents: LateAgents):
        self._ec2, self.agents, self.seen = ec2, agents, []

    def associate_address(self, **kwargs):
        self.seen.append((kwargs.get("AllocationId"), {n: dict(t) for n, t in self.agents.shown.items()}))
        return self._ec2.associate_address(**kwargs)

    def __getattr__(self, name):
        return getattr(self._ec2, name)


def test_a_roll_moves_each_elastic_ip_only_after_the_sending_nat_reports_the_handoff_gone(aws_env):
    """The drain's end removes the handoff tags; the NAT that tunnels the old flows (``to``) must have
    stopped before the Elastic IP leaves the old NAT, which still translates them (3 s late agents)."""
    from moto import mock_aws

    from tests.integration.test_roll import RollWorld
    with mock_aws():
        w = RollWorld()
        holder = type("D", (), {})()
        agents = LateAgents(holder, lag_s=3.0)
        inner = w.deps

        def deps(**overrides):
            d = inner(handoff_reader=agents, **overrides)
            holder.topology, holder.clients, holder.clock = d.topology, d.clients, d.clock
            return d
        w.deps = deps
        deps()
        watch = EipMoves(w.clients.ec2, agents)
        w.clients.ec2 = watch
        for _ in range(3):
            w.sweep()
        operate(w.deps(), {"action": "roll", "reason": "new AMI"})
        w.until_roll_ends()
        zone_of = {z.nat_eip_allocation_id: z.az for z in w.topo0.zones}
        moved = [(zone_of[alloc], shown) for alloc, shown in watch.seen if alloc in zone_of]
        assert {az for az, _ in moved} == set(AZS)
        for az, shown in moved:
            sending = {n: v for n, tags in shown.items() for k, v in tags.items()
                       if k.startswith(f"{PREFIX}{az}") and v.startswith("to ")}
            assert sending == {}, (az, sending)
        assert not [a for a in w.alerts if a.type == "handoff"]
