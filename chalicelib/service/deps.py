"""What a controller run needs, passed in explicitly so the Lambda, the CLI, the tests and the lab
can each supply their own (real Lambda invokes, scripted probes, namespace probes, a fake clock)."""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..alerts import Alert
from ..probes.results import ProbeResult
from ..topology import Topology

# azs -> one ProbeResult per az, run in parallel (Lambda: invoke probe_<zone>; lab: netns; tests: script)
ProbeRunner = Callable[[Sequence[str]], Mapping[str, ProbeResult]]
# the heartbeat's own check of the targets from outside the VPC
ControlProbe = Callable[[], ProbeResult]
# azs -> {az: (the zone's NAT's handoff report, None) | (None, why not)} (aws/lambda_invoke.HandoffReader)
HandoffReader = Callable[[Sequence[str]], Mapping[str, tuple[dict | None, str | None]]]
AlertSink = Callable[[Alert], None]


class MetricSink(Protocol):
    """metric(name, value, unit[, dimensions]) -> None; unit as in CloudWatch ("Count", "Milliseconds", ...);
    ``dimensions`` (e.g. ``{"zone": az}``) narrows the metric to one zone, None = the stack as a whole."""

    def __call__(self, name: str, value: float, unit: str,
                 dimensions: Mapping[str, str] | None = None, /) -> None: ...


def _no_metric(name: str, value: float, unit: str, dimensions: Mapping[str, str] | None = None) -> None:
    return None


@dataclass
class Clients:
    """boto3 clients, created by the caller (adapters receive them as arguments)."""

    ec2: Any
    dynamodb: Any
    sns: Any = None
    ssm: Any = None
    lambda_: Any = None
    cloudwatch: Any = None   # the stack's alarms and dashboard follow a replaced NAT (service/nat_alarms.py)


@dataclass
class Deps:
    topology: Topology
    clients: Clients
    probe_runner: ProbeRunner | None = None
    control_probe: ControlProbe | None = None
    handoff_reader: HandoffReader | None = None   # None: planned moves wait the fixed AGENT_SETTLE_S
    alert_sink: AlertSink = field(default=lambda alert: None)
    metric: MetricSink = _no_metric
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    owner: str = "hanat"  # who holds the lease / made a change: "heartbeat:<request id>", "cli:<user>"
    # A time.monotonic() instant: no AWS call of this run starts, or is retried (by the one retry layer, aws/calls.py),
    # after it, and no route is written after it. The heartbeat sets it from the Lambda's remaining
    # time; None = no limit (CLI, tests, the lab's sweeps).
    deadline: float | None = None
