"""Alert wording (subject line, JSON body) and the SNS AlertSink.

SNS subjects must be ASCII without control characters and under 100 characters, so the subject
uses "->" and is cut with "..."; the JSON body carries every detail (and a readable summary).
"""
from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, datetime

from .aws.sns import publish
from .model import Alert
from .topology import Topology

SUBJECT_MAX = 99  # SNS: "less than 100 characters"
PREFIX = "[hanat]"


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


class SnsAlertSink:
    """AlertSink (chalicelib.service.deps) publishing each alert to the stack's topic.

    Publish failures raise AwsError: the caller decides whether a lost alert stops its run.
    """

    def __init__(self, sns_client, topic_arn: str, topology: Topology | None = None):
        self.sns = sns_client
        self.topic_arn = topic_arn
        self.topology = topology

    def __call__(self, alert: Alert) -> None:
        publish(self.sns, self.topic_arn, format_subject(alert, self.topology),
                format_body(alert, self.topology), attributes={"alert_type": alert.type})
