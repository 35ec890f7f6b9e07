"""Reset a lab session that ran a drill, so the next drill finds it as a fresh session would be.

A fresh session (emulator reset, ``hanat up``, ``chalice deploy``, data plane up) costs far more than the
drill that follows it; ``lab.drills.runner.run_scenarios`` runs the next drill on the same session when the last
one replaced no NAT, adopted no VPC and ended steady. What one drill leaves behind must not count in the
next one's judgement, so the reset puts back what a fresh session starts with:

- the heartbeat stopped (a sweep in progress finishes) and its memory of sweeps and health forgotten;
- every fault lifted: the data plane's (blackholes, lossy paths, targets, a late boot; the NATs' reset on;
  the long-lived connections opened afresh), Lambda's invoke faults, the emulator's EC2 throttling;
- every private route table pointing at its own zone's NAT, no handoff tag left on a NAT;
- the state table exactly as ``hanat up`` left it (zone records with their history and flap counters,
  claims, lease, markers, roll records: what was read before the first sweep);
- the metrics, the probe log and the timeline (its marks) empty; the seed the drill's own;

then the heartbeat starts again, as in a fresh session, and the drill waits for steady state as always.
"""
from __future__ import annotations

from dataclasses import dataclass

from chalicelib.aws.params import read_topology
from chalicelib.naming import topology_parameter
from lab.aws.adapters import clear_handoff_tags, point_home, restore_table, table_items


@dataclass(frozen=True)
class FreshState:
    """What a session held before its first sweep."""

    table: str
    items: list[dict]              # the state table's items
    routes_home: dict[str, str]    # private route table -> its own zone's NAT ENI
    nats: dict[str, str]           # zone -> its NAT instance id


def capture(session) -> FreshState:
    """Read what ``session`` holds now (call it before the heartbeat's first sweep)."""
    topology = session.topology()
    return FreshState(table=topology.table_name, items=table_items(session.lab_clients.dynamodb, topology.table_name),
                      routes_home={t: z.nat_eni_id for z in topology.zones for t in z.private_route_table_ids},
                      nats={z.az: z.nat_instance_id for z in topology.zones})


def reusable(session, fresh: FreshState | None) -> bool:
    """Whether ``session`` can be reset for another drill: captured fresh, and every zone still has the
    NAT it was built with (a replaced NAT changed the topology, the data plane and the state's history)."""
    if fresh is None:
        return False
    topology = read_topology(session.lab_clients.ssm, topology_parameter(session.stack))
    return {z.az: z.nat_instance_id for z in topology.zones} == fresh.nats


def reset(session, fresh: FreshState, seed: int) -> list[str]:
    """Put ``session`` back to ``fresh`` (see the module doc), the heartbeat stopped; the route tables that
    had to be pointed home."""
    session.heartbeat.forget()
    session.heartbeat_deps_hook = None
    session.lambda_endpoint.clear()
    session.emulator.faults(ec2_throttle=0.0)
    session.dataplane.clear_faults(seed)
    ec2 = session.lab_clients.ec2
    moved = point_home(ec2, session.stack, fresh.routes_home)
    clear_handoff_tags(ec2, session.stack, list(fresh.nats.values()))
    restore_table(session.lab_clients.dynamodb, fresh.table, fresh.items)
    session.metrics.clear()
    session.timeline.clear()
    return moved
