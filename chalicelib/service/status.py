"""What the operator sees: per zone, its NAT's health and who really serves it (from the routes)."""
from __future__ import annotations

from datetime import UTC, datetime

from .deps import Deps
from .reconcile import observe_zones
from .replacement_steps import load_all, summary


def iso(ts: float) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z") if ts else None


def collect_status(deps: Deps) -> list[dict]:
    """One dict per zone: az, nat_instance_id, nat_health, served_by (from the route tables' actual
    targets; "mixed" when they disagree, "unknown" when they point at no NAT of the stack), mode,
    last_change (ISO-8601), last_reason, blind_sweeps, plus the instance state, the per-table targets and the
    zone's latest replacement (None when it never had one), so `--via-lambda` shows progress too."""
    topo = deps.topology
    seen = observe_zones(deps, deps.clock())
    replacements = load_all(deps)
    az_of_eni = {z.nat_eni_id: z.az for z in topo.zones}
    rows = []
    for z, zin in zip(topo.zones, seen.inputs, strict=True):
        state = zin.state
        targets = {t: (seen.tables[t].default_eni if t in seen.tables else None)
                   for t in z.private_route_table_ids}
        servers = {az_of_eni.get(eni, "unknown") for eni in targets.values()}
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
            "last_change": iso(state.last_change),
            "last_reason": state.last_reason,
            "route_targets": targets,
            "pending": seen.snapshot.zones[z.az].is_pending(seen.now),
            "replacement": summary(replacements[z.az]) if z.az in replacements else None,
        })
    return rows
