"""EC2's spot interruption, as the lab emulates it: the warning events EventBridge delivers, the notices in
the instance's metadata, and the termination a (scaled) two minutes later.

What EC2 does (EC2 User Guide, "Spot Instance interruption notices" and "EC2 instance rebalance
recommendations"): it emits "EC2 Spot Instance Interruption Warning" (detail instance-id, instance-action)
two minutes before it interrupts the instance, and shows ``spot/instance-action`` {"action", "time"} in the
instance's metadata from then on; a rebalance recommendation ("EC2 Instance Rebalance Recommendation",
metadata ``events/recommendations/rebalance`` {"noticeTime"}) may come earlier or with it. The moto
emulator does none of this (it never interrupts a spot instance); here the lab does it on request,
terminating through the stack-tag-checked adapter like its other faults.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from chalicelib.replacement.advance_notice import (
    INTERRUPTION_WARNING,
    REBALANCE_RECOMMENDATION,
    SPOT_NOTICE_S,
)
from lab.clock import LabClock, LabThread, RealClock
from lab.timeline import Timeline

from .adapters import terminate_instance

# (instance id, spot_action, rebalance) -> shows them in that instance's metadata (the data plane's IMDS)
MarkMetadata = Callable[[str, dict | None, dict | None], None]


def _utc(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def warning_event(instance_id: str, region: str, *, kind: str = INTERRUPTION_WARNING, action: str = "terminate",
                  at: float | None = None) -> dict:
    """The EventBridge event EC2 emits for ``kind`` (interruption warning or rebalance recommendation)."""
    detail = {"instance-id": instance_id}
    if kind == INTERRUPTION_WARNING:
        detail["instance-action"] = action
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": kind, "source": "aws.ec2",
            "account": "123456789012", "time": _utc(at or time.time()), "region": region,
            "resources": [f"arn:aws:ec2:{region}:123456789012:instance/{instance_id}"], "detail": detail}


class SpotInterrupter:
    """Interrupts a stack NAT as EC2 interrupts a spot instance; ``scale`` shrinks the two minutes (the lab's
    clock runs its drills faster than AWS's)."""

    def __init__(self, *, ec2, stack: str, region: str, deliver: Callable[[dict], dict], timeline: Timeline,
                 mark_metadata: MarkMetadata | None = None, scale: float = 1.0, clock: LabClock | None = None):
        self._ec2, self._stack, self._region = ec2, stack, region
        self._clock = clock or RealClock()   # the session's: lab time on the computed plane
        self._cancelled = self._clock.event()
        self._deliver, self._timeline, self._mark = deliver, timeline, mark_metadata
        self.notice_s = SPOT_NOTICE_S * scale
        self._timers: list[LabThread] = []
        self.outcomes: list[dict] = []

    def interrupt(self, instance_id: str, *, zone: str | None = None, rebalance_first: bool = False) -> float:
        """Warn (metadata first, then the event, as the agent on the instance may poll before EventBridge
        delivers) and schedule the termination; returns when the instance will be terminated (epoch s)."""
        now = self._clock.time()
        terminate_at = now + self.notice_s
        if rebalance_first:
            self._warn(instance_id, zone, REBALANCE_RECOMMENDATION, now, rebalance={"noticeTime": _utc(now)})
        self._warn(instance_id, zone, INTERRUPTION_WARNING, now,
                   spot_action={"action": "terminate", "time": _utc(terminate_at)})
        timer = self._clock.thread(self._terminate_later, f"spot-{instance_id}", args=(instance_id, zone))
        timer.start()
        self._timers.append(timer)
        return terminate_at

    def _warn(self, instance_id: str, zone: str | None, kind: str, now: float, *, spot_action: dict | None = None,
              rebalance: dict | None = None) -> None:
        if self._mark is not None:
            self._mark(instance_id, spot_action, rebalance)
        self._timeline.add("spot_warning", zone, instance=instance_id, kind=kind)
        outcome = self._deliver(warning_event(instance_id, self._region, kind=kind, at=now))
        self.outcomes.append(outcome)
        self._timeline.add("spot_warning_handled", zone, instance=instance_id, kind=kind, outcome=outcome)

    def _terminate_later(self, instance_id: str, zone: str | None) -> None:
        if not self._cancelled.wait(self.notice_s):
            self._terminate(instance_id, zone)

    def _terminate(self, instance_id: str, zone: str | None) -> None:
        terminate_instance(self._ec2, self._stack, instance_id)
        self._timeline.add("spot_interrupted", zone, instance=instance_id)

    def wait(self, timeout: float | None = None) -> None:
        """Until every scheduled termination happened."""
        for timer in self._timers:
            timer.join(timeout)

    def cancel(self) -> None:
        """Drop the terminations not yet done (a drill that ends early)."""
        self._cancelled.set()
