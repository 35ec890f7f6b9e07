"""What the operator sees: per zone, its NAT's health and who really serves it (from the routes)."""
from __future__ import annotations

from datetime import UTC, datetime

from ..aws import gray_records
from ..engine.gray import OK
from ..errors import HanatError
from ..instance_types import headroom
from ..observability import logger
from .deps import Deps
from .outdated import check_nat_builds
from .reconcile import observe_zones
from .replacement_store import load_all, summary
from .roll import load_roll, roll_summary


def iso(ts: float) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z") if ts else None


def collect_status(deps: Deps) -> list[dict]:
    """One dict per zone: az, nat_instance_id, nat_health, served_by (from the route tables' actual
    targets; "mixed" when they disagree, the NAT gateway's id for an adopted table still on it,
    "unknown" when they point at no NAT of the stack), mode, adoption (None unless the VPC is adopted),
    last_change (ISO-8601), last_reason, blind_sweeps, handoff (None unless a planned move's connection handoff is
    in force), plus the instance state, the per-table targets and the
    zone's latest replacement (None when it never had one), so `--via-lambda` shows progress too,
    ``nat``: what the NAT runs (AMI, type, age, launch-template version) and why it is outdated, and
    ``capacity``: the NAT's gray health and latest reading as the heartbeat recorded it (None before one)."""
    topo = deps.topology
    seen = observe_zones(deps, deps.clock())
    replacements = load_all(deps)
    builds = _builds(deps, seen.now)
    gray = _gray(deps)
    az_of_eni = {z.nat_eni_id: z.az for z in topo.zones}
    rows = []
    for z, zin in zip(topo.zones, seen.inputs, strict=True):
        state = zin.state
        # the ENI of a NAT (instance), else whatever else the route points at (an adopted table's NAT gateway)
        targets = {t: (seen.tables[t].default_eni or seen.tables[t].default_target if t in seen.tables else None)
                   for t in z.private_route_table_ids}
        servers = {az_of_eni.get(eni) or (eni if eni and eni.startswith("nat-") else "unknown")
                   for eni in targets.values()}
        served_by = servers.pop() if len(servers) == 1 else ("mixed" if servers else "unknown")
        rows.append({
            "az": z.az,
            "nat_instance_id": z.nat_instance_id,
            "nat_instance_state": seen.instance_states.get(z.nat_instance_id, "unknown"),
            "nat_health": state.health,
            "health_reason": state.health_reason,
            "blind_sweeps": state.blind,   # sweeps in a row whose probe could not run (no evidence)
            "served_by": served_by,
            "recorded_served_by": state.server,
            "mode": state.mode,
            "adoption": state.adoption or None,     # adopted VPC: adopting | cut-over | released
            "last_change": iso(state.last_change),
            "last_reason": state.last_reason,
            "route_targets": targets,
            "pending": seen.snapshot.zones[z.az].is_pending(seen.now),
            # a planned move's connection handoff in force: the NAT that held the zone still serves its
            # old connections, through the zone's NAT now, until then
            "handoff": ({"from_nat": state.handoff_from, "to_nat": state.handoff_to,
                         "until": iso(state.handoff_until)} if state.has_handoff else None),
            "replacement": summary(replacements[z.az]) if z.az in replacements else None,
            "nat": builds[z.az].to_dict() if z.az in builds else None,
            "capacity": capacity(gray.get(z.az), builds[z.az].to_dict() if z.az in builds else None),
        })
    return rows


def _builds(deps: Deps, now: float) -> dict:
    """Each NAT's build and why it is outdated; a failure to read it costs only these columns, not the status."""
    try:
        return check_nat_builds(deps.clients.ec2, deps.clients.ssm, deps.topology, now)
    except HanatError as err:
        logger.warning("NAT builds not read", extra={"error": str(err)})
        return {}


def _gray(deps: Deps) -> dict[str, dict]:
    """The gray records; a failure to read them costs only the capacity columns."""
    try:
        return gray_records.list_gray(deps.clients.dynamodb, deps.topology.table_name)
    except HanatError as err:
        logger.warning("gray records not read", extra={"error": str(err)})
        return {}


def capacity(record: dict | None, nat: dict | None) -> dict | None:
    """One NAT's capacity as ``hanat status`` shows it: its gray state (OK | DEGRADED, the causes), the
    latest reading (throughput Mbit/s, conntrack count/limit/%, busiest destination's port use %) and
    the headroom left under its type's baseline bandwidth (``instance_types.headroom``: None unknown)."""
    if record is None:
        return None
    reading = record.get("reading") or {}
    mbps = reading.get("throughput_mbps")
    itype = (nat or {}).get("instance_type") or ""
    left = headroom(mbps, itype) if mbps is not None and itype else None
    return {"state": record.get("status", OK), "causes": list(record.get("causes") or []),
            "reason": record.get("reason", ""), "since": iso(float(record.get("since") or 0.0)),
            "read_at": iso(float(record.get("read_at") or 0.0)), "throughput_mbps": mbps,
            "conntrack_count": reading.get("conntrack_count"), "conntrack_limit": reading.get("conntrack_limit"),
            "conntrack_percent": reading.get("conntrack_percent"),
            "busiest_port_percent": reading.get("busiest_port_percent"),
            "busiest_destination": reading.get("busiest_destination") or None,
            "instance_type": itype or None, "headroom_percent": None if left is None else round(100.0 * left, 1)}


def roll_status(deps: Deps) -> dict | None:
    """The stack's latest roll (in progress, done or stopped), None when it never rolled."""
    rec = load_roll(deps)
    return roll_summary(rec) if rec else None
