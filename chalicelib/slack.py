"""Relay an SNS alert to a Slack incoming webhook (Block Kit), never failing the caller.

The webhook URL is a secret: it lives in an SSM SecureString named by the topology
(``slack_webhook_parameter``). A post that fails (no parameter, HTTP error, timeout) is logged
and counted as ``slack_post_failed``; alerts still reach email through SNS.
"""
from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from .aws.params import get_parameter_value
from .errors import HanatError

log = logging.getLogger("hanat.slack")

EMOJI = {"failover": ":rotating_light:", "revert": ":white_check_mark:", "replace": ":hammer_and_wrench:",
         "roll": ":arrows_counterclockwise:",
         "flapping": ":warning:", "critical": ":fire:", "blind": ":see_no_evil:",
         "cutover": ":twisted_rightwards_arrows:", "release": ":leftwards_arrow_with_hook:",
         "handoff": ":hourglass:", "degraded": ":chart_with_downwards_trend:",
         "recovered": ":chart_with_upwards_trend:"}
# A next step in the message itself, for alerts whose cause is not the NAT (docs/alerts.md has all).
ADVICE = {"handoff": "A NAT did not report a planned move's handoff applied in time: check its agent "
                     "(systemctl status hanat-nat-agent, its journal) and that it reads its tags from instance "
                     "metadata (InstanceMetadataTags enabled). The route moved after the timed wait.",
          "blind": "Lambda could not run these probes: check the probe functions' Errors and Throttles "
                   "(CloudWatch), the account's Lambda concurrency, and ENI / subnet IP limits of the probe "
                   "subnets. Routes stay where they are; EC2 state-change events still fail a zone over."}
FIELDS = (("zone", "Zone"), ("to_zone", "Served by zone"), ("from_nat", "From NAT"), ("to_nat", "To NAT"),
          ("stack", "Stack"), ("at", "At"))


class SlackPostError(HanatError):
    """The webhook did not accept the message."""


@dataclass(frozen=True)
class RelayOutcome:
    posted: bool
    error: str | None = None


def parse_alert_message(message: str, subject: str | None = None) -> dict:
    """The alert dict from an SNS message: our JSON body, or any text (wrapped as a summary)."""
    try:
        data = json.loads(message)
        if isinstance(data, dict):
            return data
    except (TypeError, ValueError):
        pass
    return {"type": "message", "summary": subject or "hanat", "reason": str(message)}


def build_blocks(alert: dict) -> dict:
    """Slack Block Kit payload; ``text`` is the notification fallback."""
    kind = str(alert.get("type", "message"))
    headline = str(alert.get("summary") or f"[hanat] {kind.upper()}")
    fields = [{"type": "mrkdwn", "text": f"*{label}*\n{alert[key]}"}
              for key, label in FIELDS if alert.get(key)]
    details = alert.get("details") if isinstance(alert.get("details"), dict) else {}
    if details.get("zones") and not alert.get("zone"):   # an alert about several zones (blind)
        fields.insert(0, {"type": "mrkdwn", "text": "*Zones*\n" + ", ".join(map(str, details["zones"]))})
    blocks: list[dict] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{EMOJI.get(kind, ':bell:')} *{headline}*"}},
    ]
    if alert.get("reason"):
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*Reason:* {alert['reason']}"}})
    if fields:
        blocks.append({"type": "section", "fields": fields[:10]})  # Slack allows at most 10 fields
    if kind in ADVICE:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*What to do:* {ADVICE[kind]}"}})
    if alert.get("route_tables"):
        tables = ", ".join(f"`{t}`" for t in alert["route_tables"])
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"Route tables: {tables}"}]})
    return {"text": headline, "blocks": blocks}


def post_webhook(url: str, payload: dict, *, timeout_s: float = 5.0,
                 opener: Callable = urllib.request.urlopen) -> None:
    """POST the payload as JSON; anything but a 2xx answer is SlackPostError."""
    if not url.startswith(("https://", "http://")):
        raise SlackPostError("the Slack webhook URL must start with https://")
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with opener(request, timeout=timeout_s) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        raise SlackPostError(f"webhook answered HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise SlackPostError(f"webhook unreachable: {getattr(exc, 'reason', exc)}") from exc
    if not 200 <= status < 300:
        raise SlackPostError(f"webhook answered HTTP {status}")


def relay_alert(message: str, subject: str | None, *, webhook_parameter: str, ssm_client,
                metric: Callable[[str, float, str], None], timeout_s: float = 5.0) -> RelayOutcome:
    """Read the webhook URL, post the alert; any failure is logged and counted, never raised."""
    try:
        if not webhook_parameter:
            raise SlackPostError("no slack_webhook_parameter in the topology")
        url = get_parameter_value(ssm_client, webhook_parameter, decrypt=True)
        post_webhook(url, build_blocks(parse_alert_message(message, subject)), timeout_s=timeout_s)
    except Exception as exc:  # noqa: BLE001 - by contract a Slack problem never fails the relay
        log.error("slack post failed: %s", exc)
        metric("slack_post_failed", 1, "Count")
        return RelayOutcome(posted=False, error=str(exc))
    metric("slack_posted", 1, "Count")
    return RelayOutcome(posted=True)
