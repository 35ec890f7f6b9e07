"""Publishing what a reconcile run did: its alerts to the alert sink and the history, its outcome
counts (and route repairs) to the metric sink. A failing sink is logged, never fatal."""
from __future__ import annotations

from ..engine import REPAIR
from ..errors import HanatError
from ..observability import logger
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
