"""Failover while EC2 throttles (moto): every other EC2 call answered RequestLimitExceeded, as the lab's
api-throttle drill does (lab/aws/moto_server.py ApiFaults). The sweep's read runs beside its probes, and
every safety check of the move still holds: the stack tag and the pinned tag of each table, the NATs'
instance states, the targets-down rule, the read-back of each written route.

EC2 answers RequestLimitExceeded when a request exceeds the account's token bucket for that API
(https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html); the retry layer rides it out
(chalicelib/aws/calls.py). The stand-in answers through botocore's ``before-call`` event, so the call
never reaches moto, as a throttled request never reaches EC2's handler.
"""
from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from chalicelib.errors import HanatError
from chalicelib.probes.results import ProbeResult
from chalicelib.service.heartbeat import run_sweep
from tests.support.stack import AZS, FakeClock, ScriptedProbes, default_targets, make_deps, table_items

A, C, D = AZS

pytestmark = pytest.mark.stack(tables_per_zone=2)


class Throttle:
    """Every other EC2 call (from the first one) answered RequestLimitExceeded; the calls in order."""

    def __init__(self, ec2):
        self.ec2, self.n = ec2, 0
        self.calls: list[tuple[float, str, bool]] = []   # (monotonic time, operation, throttled)
        self._lock = threading.Lock()
        ec2.meta.events.register("before-call.ec2", self)

    def __call__(self, model, **_):
        with self._lock:
            self.n += 1
            throttled = self.n % 2 == 1
            self.calls.append((time.monotonic(), model.name, throttled))
        if not throttled:
            return None
        error = {"Code": "RequestLimitExceeded", "Message": "Request limit exceeded."}
        return SimpleNamespace(status_code=503, headers={}), {
            "Error": error, "ResponseMetadata": {"HTTPStatusCode": 503}}

    def off(self) -> None:
        """The test's own EC2 calls (setting up, checking) are not throttled."""
        self.ec2.meta.events.unregister("before-call.ec2", self)

    def on(self) -> None:
        self.ec2.meta.events.register("before-call.ec2", self)

    def ops(self, throttled: bool | None = None) -> list[str]:
        return [op for _, op, t in self.calls if throttled is None or t == throttled]


@pytest.fixture
def throttled(stack):
    """(topology, deps, clock, probes, alerts, throttle) after one steady sweep without throttling."""
    clock = FakeClock()
    probes = ScriptedProbes(clock)
    deps, alerts = make_deps(stack, clock, probes, control_passes=True)
    clock.sleep(5)
    assert run_sweep(deps).moves == []
    return stack, deps, clock, probes, alerts, Throttle(deps.clients.ec2)


def test_the_sweeps_ec2_reads_run_beside_its_probes_not_after_them(throttled):
    _, deps, clock, probes, _, throttle = throttled
    probes.failing = {A}
    spans: list[tuple[float, float]] = []

    def slow_probes(azs):   # a probe round that takes its time (a blackholed path waits out its timeout)
        started = time.monotonic()
        time.sleep(0.5)
        out = probes(azs)
        spans.append((started, time.monotonic()))
        return out

    deps.probe_runner = slow_probes
    clock.sleep(5)
    report = run_sweep(deps)
    throttle.off()
    assert [(m["zone"], m["to_az"]) for m in report.moves] == [(A, C)]
    first_read = min(t for t, op, _ in throttle.calls if op in ("DescribeInstanceStatus", "DescribeRouteTables"))
    assert first_read < spans[0][1]          # issued while the first probe round still ran
    assert "RequestLimitExceeded" not in (report.error or "") and throttle.ops(throttled=True)


def test_throttled_failover_moves_every_table_and_reads_each_write_back(throttled):
    topo, deps, clock, probes, _, throttle = throttled
    probes.failing = {A}
    clock.sleep(5)
    report = run_sweep(deps)
    throttle.off()
    assert [(m["zone"], m["to_az"], m["kind"]) for m in report.moves] == [(A, C, "failover")]
    after = default_targets(deps.clients.ec2, topo)
    assert all(after[t] == topo.zone(C).nat_eni_id for t in topo.zone(A).private_route_table_ids)
    done = throttle.ops(throttled=False)
    assert done.count("ReplaceRoute") == 2 and "DescribeRouteTables" in done[done.index("ReplaceRoute"):]
    assert "ReplaceRoute" in throttle.ops(throttled=True) or "DescribeRouteTables" in throttle.ops(throttled=True)
    assert not any("pending_owner" in item for item in table_items(deps.clients.dynamodb, topo))  # claims dropped


def test_throttled_failover_refuses_a_table_without_the_stack_tag(throttled):
    topo, deps, clock, probes, _, throttle = throttled
    table = topo.zone(A).private_route_table_ids[0]
    throttle.off()
    deps.clients.ec2.delete_tags(Resources=[table], Tags=[{"Key": "hanat:stack"}])
    throttle.on()
    probes.failing = {A}
    clock.sleep(5)
    with pytest.raises(HanatError, match="refusing"):
        run_sweep(deps)
    throttle.off()
    assert default_targets(deps.clients.ec2, topo)[table] == topo.zone(A).nat_eni_id
    assert throttle.ops(throttled=True)


def test_throttled_failover_refuses_a_pinned_table(throttled):
    topo, deps, clock, probes, _, throttle = throttled
    table = topo.zone(A).private_route_table_ids[1]
    throttle.off()
    deps.clients.ec2.create_tags(Resources=[table], Tags=[{"Key": "hanat:pinned", "Value": "true"}])
    throttle.on()
    probes.failing = {A}
    clock.sleep(5)
    with pytest.raises(HanatError, match="pinned"):
        run_sweep(deps)
    throttle.off()
    assert default_targets(deps.clients.ec2, topo)[table] == topo.zone(A).nat_eni_id
    assert throttle.ops(throttled=True)


def test_throttled_failover_never_moves_a_zone_to_a_nat_that_is_not_running(throttled):
    topo, deps, clock, probes, _, throttle = throttled
    throttle.off()
    deps.clients.ec2.stop_instances(InstanceIds=[topo.zone(C).nat_instance_id])
    throttle.on()
    probes.failing = {A}
    clock.sleep(5)
    report = run_sweep(deps)
    throttle.off()
    moved = {m["zone"]: m["to_az"] for m in report.moves}
    assert moved[A] == D and C not in moved.values()     # C's NAT is stopped: read fresh, beside the probes
    assert throttle.ops(throttled=True)


def test_throttled_targets_down_moves_nothing(throttled):
    topo, deps, clock, probes, alerts, throttle = throttled
    throttle.off()
    before = default_targets(deps.clients.ec2, topo)
    throttle.on()
    deps.control_probe = lambda: ProbeResult(zone="control", passed=False)
    probes.failing = set(AZS)
    clock.sleep(5)
    report = run_sweep(deps)
    throttle.off()
    assert "targets_down" in report.outcomes and report.moves == []
    assert default_targets(deps.clients.ec2, topo) == before and [a.type for a in alerts] == ["critical"]
    assert throttle.ops(throttled=True)
