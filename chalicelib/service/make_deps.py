"""Deps for a known topology: what the Lambda's assembly (``chalicelib.wiring``), the CLI, the lab and
the stack builder build a controller run from: probes via the stage's probe functions (when a stage
and a Lambda client are given), the control probe run here, alerts to the stack's topic."""
from __future__ import annotations

import time
from collections.abc import Callable

from ..aws.lambda_invoke import HandoffReader, LambdaProbeRunner, invoke_json
from ..aws.sns import SnsAlertSink
from ..naming import probe_function_name
from ..observability import metric_sink
from ..probes import run_checks
from ..topology import Topology
from .deps import Clients, Deps

INVOKE_MARGIN_S = 5.0  # probe cold start + network on top of the probe's own time (its samples)


def deps_for_topology(topology: Topology, clients: Clients, *, owner: str, stage: str | None,
                      metric=metric_sink, clock: Callable[[], float] = time.time) -> Deps:
    """Deps for ``topology``: probes via the stage's Lambda functions (when ``stage`` and a Lambda
    client are given), the control probe run here, alerts to the stack's topic."""
    probe_runner = handoff_reader = None
    if stage and clients.lambda_ is not None:
        names = {az: probe_function_name(stage, az) for az in topology.azs}

        def invoke(name, payload):
            return invoke_json(clients.lambda_, name, payload)
        probe_runner = LambdaProbeRunner(
            invoke, names, targets=topology.probe.targets, timeout_s=topology.probe.timeout_s, clock=clock,
            samples=topology.probe.samples, counters=topology.metrics != "off" or topology.failover.degraded_after > 0)
        handoff_reader = HandoffReader(invoke, names)   # a planned move asks the NATs (service/handoff_ack.py)

    def control_probe():
        return run_checks("control", topology.probe.targets, topology.probe.timeout_s, clock)

    alert_sink = SnsAlertSink(clients.sns, topology.topic_arn, topology) if clients.sns else (lambda a: None)
    return Deps(topology=topology, clients=clients, probe_runner=probe_runner, control_probe=control_probe,
                handoff_reader=handoff_reader, alert_sink=alert_sink, metric=metric, clock=clock, owner=owner)
