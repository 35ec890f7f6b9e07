"""The lab's alert sink: production's path (SNS publish, then the topic's Slack relay), recorded.

Each alert is published to the stack's topic in the emulator with chalicelib.aws.sns's SnsAlertSink,
then relayed with chalicelib.slack.relay_alert — what the ``notify_slack`` subscription does — to the
lab's webhook stand-in. The drill's ``alerts`` are the subjects published and the Slack texts received.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

from chalicelib.alerts import Alert, format_body, format_subject
from chalicelib.aws.sns import SnsAlertSink
from chalicelib.slack import relay_alert
from lab.timeline import Timeline

from .capture import SlackCapture


class AlertRecorder:
    """An AlertSink (chalicelib.service.deps) that also remembers what it sent."""

    def __init__(self, *, sns, ssm, topology: Callable[[], object], slack: SlackCapture,
                 metric: Callable[[str, float, str], None], timeline: Timeline,
                 clock: Callable[[], float] = time.time):
        self._clock = clock   # the session's (lab.clock): alerts stamped in lab time
        self._sns = sns
        self._ssm = ssm
        self._topology = topology
        self._slack = slack
        self._metric = metric
        self._timeline = timeline
        self._lock = threading.Lock()
        self.sent: list[dict] = []   # {"t", "type", "zone", "zones", "subject"}

    def __call__(self, alert: Alert) -> None:
        topology = self._topology()
        subject = format_subject(alert, topology)
        SnsAlertSink(self._sns, topology.topic_arn, topology)(alert)
        now = self._clock()
        with self._lock:
            self.sent.append({"t": now, "type": alert.type, "zone": alert.zone, "subject": subject,
                              "zones": list(alert.details.get("zones") or ([alert.zone] if alert.zone else []))})
        self._timeline.add("alert", alert.zone, at=now, type=alert.type, subject=subject)
        relay_alert(format_body(alert, topology), subject, webhook_parameter=topology.slack_webhook_parameter,
                    ssm_client=self._ssm, metric=self._metric)

    def since(self, t: float) -> list[dict]:
        with self._lock:
            return [a for a in self.sent if a["t"] >= t]

    def report(self, t: float) -> list[str]:
        """What people were told since ``t``: SNS subjects, then Slack texts (prefixed)."""
        return [a["subject"] for a in self.since(t)] + [f"slack: {text}" for text in self._slack.texts(t)]
