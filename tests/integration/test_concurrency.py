"""Overlapping runs never fight: 20 threads of sweeps, events and manual operations at once end in
a state where every private route table points at a running NAT, as recorded."""
from __future__ import annotations

import random
import threading
import time

from moto import mock_aws

from chalicelib.errors import ConflictError, HanatError, InputError
from chalicelib.service.events import handle_instance_state
from chalicelib.service.operations import operate
from chalicelib.service.sweep import run_sweep, sweep_once
from tests.integration.stackfixture import (
    AZS,
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
