"""Alerts: what people must hear about, and its wording (subject line, JSON body). Pure: no AWS.

SNS subjects must be ASCII without control characters and under 100 characters, so the subject
uses "->" and is cut with "..."; the JSON body carries every detail (and a readable summary).
The SNS sink that publishes them is built in ``chalicelib.wiring``.
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from .topology import Topology

ALERT_TYPES = ("failover", "revert", "replace", "roll", "flapping", "critical", "blind", "cutover",
               "release", "handoff", "degraded", "recovered")

SUBJECT_MAX = 99  # SNS: "less than 100 characters"
PREFIX = "[hanat]"


@dataclass(frozen=True)
class Alert:
    """Something people must hear about. Published to SNS (email) and relayed to Slack."""

    type: str            # one of ALERT_TYPES
    zone: str | None
    reason: str
    at: float            # epoch seconds
    from_nat: str | None = None       # instance id of the NAT the zone leaves (or the old NAT)
    to_nat: str | None = None         # instance id of the NAT the zone moves to (or the new NAT)
    to_zone: str | None = None        # az of the NAT the zone moves to
    route_tables: tuple[str, ...] = ()
    stack: str = ""
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["route_tables"] = list(self.route_tables)
        return d


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _zone_of(nat: str | None, topology: Topology | None) -> str | None:
    if not nat or topology is None:
        return None
    zone = topology.zone_of_instance(nat)
    return zone.az if zone else None


def summary(alert: Alert, topology: Topology | None = None) -> str:
    """One line for people (may contain non-ASCII from the reason)."""
    kind = alert.type.upper()
    zone = alert.zone or "all zones"
    reason = f": {alert.reason}" if alert.reason else ""
    if alert.type == "failover":
        to_zone = alert.to_zone or _zone_of(alert.to_nat, topology) or "?"
        return f"{PREFIX} {kind} {zone} -> NAT {alert.to_nat or '?'} of {to_zone}{reason}"
    if alert.type == "revert":
        return f"{PREFIX} {kind} {zone} -> own NAT {alert.to_nat or '?'}{reason}"
    if alert.type == "replace":
        return f"{PREFIX} {kind} {zone} NAT {alert.from_nat or '?'} -> {alert.to_nat or 'new'}{reason}"
    if alert.type == "roll":
        phase = str(alert.details.get("phase", "")).upper()
        return f"{PREFIX} ROLL {phase} {alert.zone or ''}".rstrip() + reason
    if alert.type == "cutover":
        return f"{PREFIX} {kind} {zone} -> own NAT {alert.to_nat or '?'}{reason}"
    if alert.type == "release":
        targets = ", ".join(sorted(set(alert.details.get("targets", {}).values()) - {""})) or "no default route"
        return f"{PREFIX} {kind} {zone} -> {targets}{reason}"
    if alert.type == "blind" and alert.zone is None and alert.details.get("zones"):
        return f"{PREFIX} {kind} {', '.join(map(str, alert.details['zones']))}{reason}"
    return f"{PREFIX} {kind} {zone}{reason}"


def ascii_subject(text: str, limit: int = SUBJECT_MAX) -> str:
    """ASCII only, no control characters, one line, at most ``limit`` characters."""
    text = unicodedata.normalize("NFKD", text.replace("→", "->").replace("…", "..."))
    text = text.encode("ascii", "ignore").decode()
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > limit:
        text = text[: limit - 3].rstrip() + "..."
    return text or PREFIX


def format_subject(alert: Alert, topology: Topology | None = None) -> str:
    """E.g. ``[hanat] FAILOVER ap-northeast-1a -> NAT i-0abc of ap-northeast-1c: 2 failed probes``."""
    return ascii_subject(summary(alert, topology))


def format_body(alert: Alert, topology: Topology | None = None) -> str:
    """The JSON message (email body, and what notify_slack parses)."""
    return json.dumps({
        "type": alert.type,
        "stack": alert.stack or (topology.stack if topology else ""),
        "zone": alert.zone,
        "from_nat": alert.from_nat,
        "to_nat": alert.to_nat,
        "to_zone": alert.to_zone or _zone_of(alert.to_nat, topology),
        "reason": alert.reason,
        "route_tables": list(alert.route_tables),
        "at": iso(alert.at),
        "summary": summary(alert, topology),
        "details": alert.details,
    }, indent=2, default=str, ensure_ascii=False)
