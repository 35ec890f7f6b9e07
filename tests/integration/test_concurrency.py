"""Overlapping runs never fight: 20 threads of sweeps, events and manual operations at once end in
a state where every private route table points at a running NAT, as recorded.

The state table is served as DynamoDB serves it (``AtomicDynamoDB``: each request atomic). On plain
in-process moto this test failed about one run in two with "route-write claim ... was taken over":
moto rolls a failed TransactWriteItems back by restoring a copy of the whole table, erasing claims
other threads committed meanwhile — a fault of the emulator, not of the claim protocol."""
from __future__ import annotations

import random
import threading
import time

import pytest
from moto import mock_aws

from chalicelib.errors import ConflictError, HanatError, InputError
from chalicelib.service.events import handle_instance_state
from chalicelib.service.heartbeat import run_sweep
from chalicelib.service.operations import operate
from chalicelib.service.sweep import sweep_once
from tests.support.stack import (
    AZS,
    AtomicDynamoDB,
    FakeClock,
    ScriptedProbes,
    build_stack,
    make_deps,
    serving,
    table_items,
)

A, C, D = AZS
THREADS = 20
OPS = [{"action": "failover", "zone": A, "to_zone": D}, {"action": "revert", "zone": A},
       {"action": "failover", "zone": D}, {"action": "revert", "zone": D}, {"action": "pause", "zone": A},
       {"action": "resume", "zone": A}, {"action": "revert", "zone": C}, {"action": "failover", "zone": A}]


def test_twenty_concurrent_runs_end_consistent(aws_env):
    with mock_aws():
        topo = build_stack(tables_per_zone=2)
        clock = FakeClock()
        probes = ScriptedProbes(clock)
        base, _ = make_deps(topo, clock, probes)
        run_sweep(base)
        stopped = topo.zone(C).nat_instance_id
        base.clients.ec2.stop_instances(InstanceIds=[stopped])
        probes.failing = {C}
        start = threading.Barrier(THREADS)
        done: list[tuple[str, object]] = []
        unexpected: list[BaseException] = []

        def worker(i: int) -> None:
            deps, _ = make_deps(topo, clock, probes, owner=f"run-{i}")
            deps.clients.dynamodb = AtomicDynamoDB(deps.clients.dynamodb)
            deps.sleep = lambda s: time.sleep(min(s, 0.05))   # real back-off between conflict retries
            # widen the race window between deciding and writing a route (a slow API call)
            deps.clients.ec2.meta.events.register(
                "before-call.ec2.ReplaceRoute", lambda **_: time.sleep(random.uniform(0, 0.02)))
            kind = ["sweep", "overlap", "event", "op"][i % 4]
            start.wait()
            for step in range(4):
                try:
                    if kind == "sweep":
                        out = run_sweep(deps)
                    elif kind == "overlap":   # a run whose lease expired mid-way: only versions protect us
                        out = sweep_once(deps)
                    elif kind == "event":
                        out = handle_instance_state(deps, {"id": f"ev-{i % 8}", "detail": {
                            "instance-id": stopped, "state": "stopped"}})
                    else:
                        out = operate(deps, OPS[(i + step) % len(OPS)])
                    done.append((kind, out))
                except (ConflictError, InputError) as err:   # lost every retry / raced a NAT going DOWN
                    done.append((kind, err))
                except HanatError as err:
                    if "no healthy NAT" in str(err) or "not running" in str(err):
                        done.append((kind, err))     # revert of the stopped NAT, nowhere to fail over
                    else:
                        unexpected.append(err)
                except BaseException as err:  # noqa: BLE001 - reported below
                    unexpected.append(err)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        elapsed = time.monotonic() - t0
        assert not unexpected, unexpected
        assert len(done) == THREADS * 4 and elapsed < 120

        ddb, ec2 = base.clients.dynamodb, base.clients.ec2
        items = table_items(ddb, topo)
        assert not any("pending_owner" in i for i in items)                 # every claim released
        taken = [o for _, o in done if isinstance(o, ConflictError) and "taken over" in str(o)]
        assert taken == []                  # no two runs ever held the same zone's route-write claim
        status = {r["az"]: r for r in operate(base, {"action": "status"})["zones"]}
        running = {z.az for z in topo.zones if z.nat_instance_id != stopped}
        for az, row in status.items():
            assert row["served_by"] == row["recorded_served_by"], (az, row)  # routes match the record
            assert row["served_by"] in running, (az, row)                   # and a running NAT
            targets = set(row["route_targets"].values())
            assert targets == {topo.zone(row["served_by"]).nat_eni_id}       # both tables agree
        assert serving(ec2, topo)[C] != C
        # nothing was left half-done: a calm sweep afterwards repairs nothing
        base.sleep = lambda s: None
        calm = run_sweep(base)
        assert all(m["kind"] != "repair" for m in calm.moves), calm.moves
        conflicts = sum(1 for _, out in done if isinstance(out, ConflictError))
        moved = sum(len(out.get("moves", ())) if isinstance(out, dict) else len(getattr(out, "moves", ()))
                    for _, out in done if not isinstance(out, Exception))
        print(f"\n{len(done)} runs in {elapsed:.1f}s, {moved} route moves, {conflicts} gave up on conflicts")


def test_a_slow_run_gives_up_its_route_write_before_its_claim_can_expire(aws_env):
    """A run that stalls after claiming a move (a long GC pause, a slow API) must not write once its
    claim could have expired and another run taken the zone: it gives the write up, says so, and the
    next sweep completes the move as drift repair."""
    from chalicelib.errors import OutOfTimeError
    from chalicelib.service.reconcile import CLAIM_MARGIN_S, CLAIM_TTL_S
    with mock_aws():
        topo = build_stack(tables_per_zone=2)
        clock = FakeClock()
        probes = ScriptedProbes(clock)
        deps, _ = make_deps(topo, clock, probes)
        run_sweep(deps)
        ec2, ddb = deps.clients.ec2, deps.clients.dynamodb
        writes: list[float] = []
        ec2.meta.events.register("before-call.ec2.ReplaceRoute", lambda **_: writes.append(clock()))
        stalled: list[float] = []

        def stall(**_):          # right after the claim is committed, the run stalls past claim - margin
            if not stalled:
                stalled.append(clock())
                clock.sleep(CLAIM_TTL_S - CLAIM_MARGIN_S + 1)
        ddb.meta.events.register("after-call.dynamodb.TransactWriteItems", stall)
        probes.failing = {A}
        clock.sleep(5)
        with pytest.raises(OutOfTimeError, match="gave up writing"):
            run_sweep(deps)
        assert stalled and writes == []                                   # no route written after the stall
        assert serving(ec2, topo)[A] == A
        assert not any("pending_owner" in i for i in table_items(ddb, topo))   # the claim was released
        ddb.meta.events.unregister("after-call.dynamodb.TransactWriteItems", stall)
        clock.sleep(5)
        repaired = run_sweep(deps)                                         # the next sweep completes it
        assert [(m["zone"], m["kind"]) for m in repaired.moves] == [(A, "repair")]
        assert serving(ec2, topo)[A] == repaired.served_by[A] != A


def test_no_claim_is_taken_without_time_to_write(aws_env):
    from chalicelib.errors import OutOfTimeError
    with mock_aws():
        topo = build_stack()
        clock = FakeClock()
        probes = ScriptedProbes(clock)
        deps, _ = make_deps(topo, clock, probes)
        run_sweep(deps)
        before = table_items(deps.clients.dynamodb, topo)
        deps.clients.ec2.stop_instances(InstanceIds=[topo.zone(A).nat_instance_id])   # a move is due at once
        deps.deadline = time.monotonic() + 1.0      # less than MIN_WRITE_S left in the invocation
        with pytest.raises(OutOfTimeError, match="not claiming"):
            run_sweep(deps)
        after = [i for i in table_items(deps.clients.dynamodb, topo) if i["pk"]["S"] != "lease"]
        assert after == [i for i in before if i["pk"]["S"] != "lease"] and serving(deps.clients.ec2, topo)[A] == A


class _Killed(BaseException):
    """The Lambda's process dies (timeout, out of memory): nothing of the run's own cleanup runs."""


def test_a_run_killed_between_claim_and_route_write_is_completed_once_its_claim_expires(aws_env):
    """The heartbeat-crash drill's promise, on moto with the clock passed in (the lab drill waits the real
    60 s): a killed run's claim blocks the zone until it expires, then the next sweep completes the move."""
    from chalicelib.service.reconcile import CLAIM_TTL_S
    with mock_aws():
        topo = build_stack(tables_per_zone=2)
        clock = FakeClock()
        probes = ScriptedProbes(clock)
        deps, _ = make_deps(topo, clock, probes)
        run_sweep(deps)
        ec2, ddb = deps.clients.ec2, deps.clients.dynamodb

        def die(**_):            # right after the claim is committed, the run's process is gone
            raise _Killed()
        ddb.meta.events.register("after-call.dynamodb.TransactWriteItems", die)
        probes.failing = {A}
        clock.sleep(5)
        claimed_at = clock()
        with pytest.raises(_Killed):
            run_sweep(deps)
        ddb.meta.events.unregister("after-call.dynamodb.TransactWriteItems", die)
        assert serving(ec2, topo)[A] == A
        assert any("pending_owner" in i for i in table_items(ddb, topo))   # the dead run's claim stays
        while clock() < claimed_at + CLAIM_TTL_S:                       # sweeps meanwhile leave the zone alone
            clock.sleep(5)
            try:
                run_sweep(deps)
            except ConflictError:
                pass
            if clock() < claimed_at + CLAIM_TTL_S:
                assert serving(ec2, topo)[A] == A
        clock.sleep(5)
        done = run_sweep(deps)
        assert serving(ec2, topo)[A] != A, done
