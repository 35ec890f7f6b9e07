"""What happened, kept in the state table for ``hanat status --history``: every alert (route moves,
replacements, rolls, flapping, critical) and every route repair, one item each, newest read first,
removed by the table's TTL after ``HISTORY_TTL_S``.

Recording never fails the run that reports: a lost history entry is logged, the route move is not undone.
"""
from __future__ import annotations

import time
import uuid

from ..alerts import Alert, summary
from ..aws import history_records
from ..engine import RouteMove
from ..errors import HanatError
from ..observability import logger
from .deps import Deps

HISTORY_TTL_S = 30 * 86_400      # DynamoDB's TTL removes entries some time after this (not at once)
DEFAULT_LIMIT = 200


def record(deps: Deps, kind: str, *, at: float, zone: str | None, text: str, **data) -> None:
    """Store one history entry: ``kind`` (failover, revert, repair, replace, roll, ...), when, which zone,
    a one-line ``text`` for people and the details."""
    entry = {"kind": kind, "at": at, "zone": zone, "text": text, "by": deps.owner, **data}
    try:
        # entries of one moment (one decision's alerts) keep the order they were recorded in
        ident = f"{time.time_ns():x}-{uuid.uuid4().hex[:6]}"
        history_records.put_history(deps.clients.dynamodb, deps.topology.table_name, at=at, ident=ident, data=entry,
                          ttl_s=HISTORY_TTL_S)
    except HanatError as err:
        logger.warning("history entry not recorded", extra={"zone": zone, "kind": kind, "error": str(err)})


def record_alert(deps: Deps, alert: Alert) -> None:
    """An alert is what people heard: keep it (its summary without the ``[hanat]`` prefix, and its data)."""
    text = summary(alert, deps.topology).removeprefix("[hanat] ")
    record(deps, alert.type, at=alert.at, zone=alert.zone, text=text, phase=alert.details.get("phase"),
           from_nat=alert.from_nat, to_nat=alert.to_nat, to_zone=alert.to_zone, reason=alert.reason)


def record_repair(deps: Deps, move: RouteMove, at: float) -> None:
    """A route repaired back to the recorded NAT (route drift: a crashed run, a hand edit); it sends no alert."""
    record(deps, "repair", at=at, zone=move.zone, text=f"REPAIR {move.zone} -> NAT of {move.to_az}: {move.reason}",
           to_zone=move.to_az, reason=move.reason)


def list_history(deps: Deps, *, since: float, until: float | None = None, limit: int = DEFAULT_LIMIT) -> list[dict]:
    """Entries from ``since`` (epoch seconds) to ``until`` (default now), newest first."""
    until = deps.clock() if until is None else until
    return history_records.query_history(deps.clients.dynamodb, deps.topology.table_name, since=since, until=until,
                               limit=limit)
