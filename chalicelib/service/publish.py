"""Publishing what a reconcile run did: its alerts to the alert sink and the history, its outcome
counts (and route repairs) to the metric sink; and, after the sweep's moves, the NATs' counters as
metrics (``[metrics]`` level). A failing sink is logged, never fatal."""
from __future__ import annotations

from collections.abc import Mapping

from ..engine import REPAIR
from ..errors import HanatError
from ..nat_readings import readings
from ..observability import ZONE_DIMENSION, logger
from ..probes.results import ProbeResult
from . import history
from .deps import Deps
from .reconcile import Applied


def publish(deps: Deps, applied: Applied, sent: list[dict]) -> None:
    """Alerts to the sink (and the history), outcome counts to the metric sink; a failing sink is
    logged, not fatal."""
    for move in applied.moves:
        if move.kind == REPAIR:
            history.record_repair(deps, move, deps.clock())
        deps.metric("RouteMoves", 1.0, "Count", {"zone": move.zone})
    for alert in applied.decision.alerts:
        history.record_alert(deps, alert)
        try:
            deps.alert_sink(alert)
            sent.append(alert.to_dict())
        except HanatError as err:
            logger.error("alert not delivered", extra={"zone": alert.zone, "type": alert.type, "error": str(err)})
    counts: dict[str, int] = {}
    for name in applied.decision.outcomes:
        counts[name] = counts.get(name, 0) + 1
    for move in applied.moves:
        if move.kind == REPAIR:
            counts[REPAIR] = counts.get(REPAIR, 0) + 1
    for name, n in counts.items():
        deps.metric(name, float(n), "Count")


# (stack, zone) -> the zone's last counters: Sum metrics are increases between two readings. Kept in the
# warm Lambda's memory across sweeps and runs; after a cold start the first reading only sets the base.
last_counters: dict[tuple[str, str], dict] = {}


def publish_nat_counters(deps: Deps, probes: Mapping[str, ProbeResult]) -> None:
    """Each zone's NAT counters (carried by its probe result) as the metrics ``topology.metrics`` names,
    dimensions stack + zone (never the instance: graphs and alarms survive a replacement)."""
    level = deps.topology.metrics
    if level == "off":
        return
    for az, result in probes.items():
        if result.counters is None:
            continue
        key = (deps.topology.stack, az)
        try:
            for metric, value in readings(last_counters.get(key), result.counters, level):
                deps.metric(metric.name, value, metric.unit, {ZONE_DIMENSION: az})
        except Exception as err:  # noqa: BLE001 - metrics never stop a sweep
            logger.error("NAT metrics not published", extra={"zone": az, "error": str(err)})
        last_counters[key] = result.counters
