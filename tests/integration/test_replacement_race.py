"""Racing controller runs launch exactly one replacement NAT (in-process moto, threads).

The lab once saw two replacements for one terminated NAT. The controller's guard is the launch
claim: a versioned conditional write made before run-instances, so of runs that decided to launch
from the same record only the one whose write wins calls EC2. These tests make the runs collide on
purpose (event deliveries, advances and a sweep at once; every claim held until the others have
decided to launch too) and count instances.
"""
from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib.aws import instances
from chalicelib.replacement import machine as m
from chalicelib.service import reconcile, replacement, replacement_steps, replacement_store, replacement_zone
from chalicelib.service.heartbeat import run_sweep
from chalicelib.service.maintenance import after_sweep
from chalicelib.settings import MaintenanceSettings
from tests.integration.test_replacement import A, World


@pytest.fixture
def moto(aws_env):
    with mock_aws():
        yield


class Gate:
    """Holds each caller until ``parties`` have arrived or ``timeout_s`` has passed (then lets all go)."""

    def __init__(self, parties: int, timeout_s: float = 1.5):
        self.parties, self.timeout_s, self.arrived = parties, timeout_s, 0
        self._cond = threading.Condition()

    def wait(self) -> None:
        with self._cond:
            self.arrived += 1
            self._cond.notify_all()
            self._cond.wait_for(lambda: self.arrived >= self.parties, timeout=self.timeout_s)


class AtomicStateTable:
    """The state table as DynamoDB serves it: each write atomic (in-process moto checks a condition
    and stores as two steps, so threads could interleave there). Launch claims wait at ``gate``."""

    _lock = threading.Lock()

    def __init__(self, real, gate: Gate):
        self._real, self._gate = real, gate

    def put_item(self, **kwargs):
        if '"step": "launching"' in kwargs["Item"].get("data", {}).get("S", ""):
            self._gate.wait()
        with self._lock:
            return self._real.put_item(**kwargs)

    def __getattr__(self, name):
        return getattr(self._real, name)


class SlowLaunches:
    """run-instances that takes a while, as in AWS: the claim is visible long before the instance."""

    def __init__(self, real, delay_s: float = 0.3):
        self._real, self._delay_s, self.calls = real, delay_s, 0
        self._lock = threading.Lock()

    def run_instances(self, **kwargs):
        with self._lock:
            self.calls += 1
        time.sleep(self._delay_s)
        return self._real.run_instances(**kwargs)

    def __getattr__(self, name):
        return getattr(self._real, name)


def test_racing_events_advances_and_a_sweep_launch_exactly_one_replacement(moto):
    w = World(replace_after_s=60)
    old = w.topo0.zone(A)
    w.sweep()
    w.ec2.terminate_instances(InstanceIds=[old.nat_instance_id])
    w.sweep()                               # DOWN at once, failed over; not yet due for replacement
    assert w.record() is None
    w.clock.sleep(61)                       # now the sweep would start one too
    gate = Gate(parties=4)
    ec2 = SlowLaunches(w.ec2)
    errors: list[Exception] = []

    def racer_deps(name):
        deps = w.deps(owner=name)
        deps.clients = replace(deps.clients, ec2=ec2, dynamodb=AtomicStateTable(w.clients.dynamodb, gate))
        return deps

    def event(i):      # EventBridge delivering the terminated event (duplicates included)
        replacement.on_nat_terminated(racer_deps(f"event-{i}"), A, f"NAT {old.nat_instance_id} terminated")

    def advance(i):    # a run carrying the replacement forward
        deps = racer_deps(f"advance-{i}")
        for _ in range(3):
            replacement_steps.advance(deps, A, w.clock())

    def sweep(i):      # the heartbeat: starts the (now due) replacement or advances it
        run_sweep(racer_deps(f"sweep-{i}"), then=after_sweep)

    def guarded(fn, i):
        try:
            fn(i)
        except Exception as err:  # noqa: BLE001 - asserted below
            errors.append(err)

    threads = [threading.Thread(target=guarded, args=(fn, i))
               for i, fn in enumerate([event, event, event, advance, advance, sweep])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    # a lost race may surface as a ConflictError (the run stops; the next one continues): never a 2nd launch
    assert all(type(e).__name__ == "ConflictError" for e in errors), errors
    assert gate.arrived >= 2, "the runs did not race for the launch claim"
    assert ec2.calls == 1 and len(w.nats_launched_in()) == 1
    assert len(w.replace_alerts("started")) == 1
    launched = w.nats_launched_in()[0]["InstanceId"]
    assert w.record()["new_instance_id"] == launched and w.record()["attempts"] == 1

    for _ in range(15):                     # and it completes on that one instance
        w.sweep(2)
        if w.record()["status"] == m.DONE:
            break
    assert w.record()["status"] == m.DONE and w.topo().zone(A).nat_instance_id == launched
    assert len(w.nats_launched_in()) == 1


class LaggingTokenLookup:
    """describe-instances by launch token misses a just-launched instance the first ``misses`` times."""

    def __init__(self, real, misses: int = 1):
        self._real, self.misses, self.launches = real, misses, 0

    def describe_instances(self, **kwargs):
        filters = {f["Name"] for f in kwargs.get("Filters", [])}
        if f"tag:{instances.LAUNCH_TOKEN_TAG}" in filters and self.misses > 0:
            self.misses -= 1
            return {"Reservations": []}
        return self._real.describe_instances(**kwargs)

    def run_instances(self, **kwargs):
        self.launches += 1
        return self._real.run_instances(**kwargs)

    def __getattr__(self, name):
        return getattr(self._real, name)


def test_relaunch_of_an_expired_claim_adopts_the_instance_it_already_made(moto):
    """A run claimed a launch and launched, then died before recording the instance. After the
    claim's grace another run launches again with the same token; when the lookup that decided so
    lagged, the instance is found before run-instances and adopted, not launched twice."""
    w = World()
    w.sweep()
    deps = w.deps()
    rec = replacement_steps.start(deps, A, "operator request", w.clock())
    token = m.launch_token(w.topo0.stack, A, rec.started_at, 1)
    rec = replacement_store.save(deps, rec.moved(m.STEP_LAUNCHING, w.clock(), token, attempts=1,
                                                launch_token=token, launched_at=w.clock()))
    zone = w.topo0.zone(A)
    first = instances.launch_from_template(w.ec2, launch_template_id=w.topo0.launch_template_id,
                                      subnet_id=zone.public_subnet_id, client_token=token,
                                      security_group_id=w.topo0.nat_security_group_id,
                                      tags=[{"Key": "hanat:stack", "Value": w.topo0.stack},
                                            {"Key": "hanat:role", "Value": "nat"}, {"Key": "hanat:zone", "Value": A}])
    w.clock.sleep(m.ReplacementPolicy().launch_claim_grace_s + 1)
    deps = w.deps()
    lagging = LaggingTokenLookup(w.ec2)
    deps.clients = replace(deps.clients, ec2=lagging)
    out = replacement_steps.advance(deps, A, w.clock())
    assert out.actions[0] == m.LAUNCH and lagging.launches == 0
    assert w.record()["new_instance_id"] == first.instance_id and len(w.nats_launched_in()) == 1


class LateClaim:
    """The state table, where a run's first claiming commit reaches DynamoDB only after ``meanwhile``
    (other runs) has happened: the run decided on what it saw before."""

    def __init__(self, real, meanwhile):
        self._real, self._meanwhile = real, meanwhile

    def transact_write_items(self, **kwargs):
        claims = any("pending_token" in op.get("Put", {}).get("Item", {}) for op in kwargs["TransactItems"])
        if claims and self._meanwhile is not None:
            meanwhile, self._meanwhile = self._meanwhile, None
            meanwhile()
        return self._real.transact_write_items(**kwargs)

    def __getattr__(self, name):
        return getattr(self._real, name)


def test_a_run_that_lost_its_commit_decides_again_on_the_nat_published_meanwhile(moto):
    """A roll's first zone, as ``hanat roll`` and the heartbeat raced for it in a fresh-clone CI run:
    the operator's run marked the zone DOWN to move it off its NAT, but its commit lost to the heartbeat,
    which then replaced the NAT (published the new one, gave the zone back, terminated the old one).
    The run decides again on the topology now published, so it sees the new, running NAT: it must not
    fail the zone over because the NAT its stale topology names is terminated."""
    w = World(maintenance=MaintenanceSettings(drain_s=20))
    old = w.topo0.zone(A)
    for _ in range(3):
        w.sweep()

    def heartbeat_replaces_the_nat():
        replacement.request_replacement(w.deps(), A, "planned")
        for _ in range(20):
            w.sweep()
            if w.record()["status"] == m.DONE and w.private_enis() == {w.topo().zone(A).nat_eni_id}:
                return
        raise AssertionError(f"the replacement did not finish: {w.record()}")

    stale = w.deps(owner="operator")
    stale.clients = replace(stale.clients, dynamodb=LateClaim(w.clients.dynamodb, heartbeat_replaces_the_nat))
    replacement_zone.fail_over_for_replacement(stale, A, f"replacing NAT {old.nat_instance_id}",
                                                old_instance_id=old.nat_instance_id, planned=True)

    new = w.topo().zone(A)
    assert new.nat_instance_id != old.nat_instance_id
    assert w.instance(old.nat_instance_id)["State"]["Name"] == "terminated"
    assert w.private_enis() == {new.nat_eni_id}, "the zone was failed over after its NAT was replaced"
    assert not [a for a in w.alerts if a.type == "failover" and a.at > w.record()["finished_at"]]


def test_a_sweep_racing_a_planned_replacement_never_moves_the_zone_without_its_handoff(moto):
    """A roll's move off a healthy NAT hands the zone's open flows back to it. A sweep running at the same
    moment (the heartbeat, while ``hanat roll`` starts the zone) must not find the zone DOWN and fail it
    over by itself, without the handoff (every open connection reset): the roll drill saw that once in six
    runs. Marking the NAT down and moving the zone is one decision, committed at once."""
    w = World(maintenance=MaintenanceSettings(drain_s=20))
    old = w.topo0.zone(A)
    for _ in range(3):
        w.sweep()
    operator = w.deps(owner="operator")
    operator.clients = replace(operator.clients, dynamodb=LateClaim(w.clients.dynamodb, lambda: w.sweep(0.5)))
    replacement_zone.fail_over_for_replacement(operator, A, f"replacing NAT {old.nat_instance_id}",
                                                old_instance_id=old.nat_instance_id, planned=True)

    assert old.nat_eni_id not in w.private_enis()                     # the zone left its NAT
    state = reconcile.load_states(w.deps())[1][A]
    assert state.has_handoff and state.handoff_from == old.nat_instance_id, state


class LostClaims:
    """The state table, where every claiming commit loses to another run (DynamoDB cancels the transaction:
    ``TransactionCanceledException`` with ``ConditionalCheckFailed``, as a sweep committing first makes it)."""

    def __init__(self, real):
        self._real, self.lost = real, 0

    def transact_write_items(self, **kwargs):
        if any("pending_token" in op.get("Put", {}).get("Item", {}) for op in kwargs["TransactItems"]):
            self.lost += 1
            raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled, "
                                         "please refer cancellation reasons for specific reasons "
                                         "[ConditionalCheckFailed, None]"}}, "TransactWriteItems")
        return self._real.transact_write_items(**kwargs)

    def __getattr__(self, name):
        return getattr(self._real, name)


def test_a_planned_move_that_keeps_losing_its_commit_waits_for_the_next_pass_instead_of_failing(moto):
    """``hanat roll --wait`` against a heartbeat sweeping at once (a fresh-clone CI run): the operator's
    run lost the commit of a roll step's move every time it decided again. That is another run acting, not
    a failure: the step waits for the next pass (no error outcome), and the next pass moves the zone."""
    w = World(maintenance=MaintenanceSettings(drain_s=20))
    old = w.topo0.zone(A)
    for _ in range(3):
        w.sweep()
    replacement_steps.start(w.deps(), A, "planned roll", w.clock(), planned=True)
    operator = w.deps(owner="operator")
    lost = LostClaims(w.clients.dynamodb)
    operator.clients = replace(operator.clients, dynamodb=lost)

    out = replacement_steps.advance(operator, A, w.clock())

    assert lost.lost == reconcile.ATTEMPTS and "another run" in out.stopped_because, out
    assert old.nat_eni_id in w.private_enis()                          # nothing moved
    out = replacement_steps.advance(w.deps(owner="operator"), A, w.clock())
    assert old.nat_eni_id not in w.private_enis(), out                 # the next pass moves the zone
