"""Route repair: find zones whose route tables disagree with their recorded NAT (route drift: a crashed
run, a hand edit). Pure over what ``reconcile`` observed; the repairs it returns are ``REPAIR`` moves
that ``reconcile`` claims, writes and verifies like any other move."""
from __future__ import annotations

from collections.abc import Collection, Mapping

from ..aws.routes import RouteTableView
from ..aws.zone_records import Snapshot
from ..engine import REPAIR, RouteMove, ZoneState
from ..engine.cutover import moves_routes
from ..topology import Topology


def find_drift(topo: Topology, snapshot: Snapshot, tables: Mapping[str, RouteTableView],
               states: Mapping[str, ZoneState], skip: Collection[str], *, now: float) -> list[RouteMove]:
    """Repairs for the zones (not in ``skip``, not claimed by another run at ``now``) whose writable
    tables point elsewhere than their recorded NAT."""
    enis = {z.az: z.nat_eni_id for z in topo.zones}
    repairs = []
    for zone in topo.zones:
        if zone.az in skip or snapshot.zones[zone.az].is_pending(now) or not moves_routes(states[zone.az]):
            continue   # an adopting or released zone's routes are the user's
        server = states[zone.az].server
        wrong = [t for t in zone.private_route_table_ids
                 if t in tables and tables[t].guard_problem(topo.stack) is None
                 and tables[t].default_eni != enis.get(server)]
        if wrong:
            repairs.append(RouteMove(zone.az, server, server, REPAIR,
                                     f"route drift: {', '.join(wrong)} not at NAT {server}"))
    return repairs
