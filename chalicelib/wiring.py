"""Wiring: builds the controller's ``Deps`` for one Lambda invocation from the function's
environment variables (clients for the region, the topology from SSM, probes = Lambda invokes,
alerts to the stack's SNS topic), and the handler wrapper every entry point uses.

Test hook: ``set_deps_factory(fn)`` replaces how ``build_deps`` makes Deps (scripted probes, a fake
clock); ``reset_deps_factory()`` restores the real one. The CLI builds its Deps with
``deps_for_topology`` (the operator's credentials, no probes).
"""
from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .alerts import Alert, format_body, format_subject
from .aws.clients import CONTROLLER_CLIENT_CONFIG, make_client
from .aws.lambda_invoke import LambdaProbeRunner, invoke_json, make_invoke_client
from .aws.params import read_topology
from .aws.sns import publish
from .errors import ConfigError
from .naming import probe_function_name
from .observability import flush_metrics, logger, metric_sink, set_stack
from .probes import run_checks
from .probes.samples import probe_chain_s, probe_samples
from .service.deps import Clients, Deps
from .settings import ProbeSettings
from .topology import Topology

ENV_STACK = "HANAT_STACK"
ENV_STAGE = "HANAT_STAGE"
ENV_TOPOLOGY_PARAMETER = "HANAT_TOPOLOGY_PARAMETER"
ENV_ZONES = "HANAT_ZONES"                  # comma-separated azs: one probe function each
ENV_TOPIC_ARN = "HANAT_TOPIC_ARN"          # the alerts topic notify_slack subscribes to
ENV_PROBE_TARGETS = "HANAT_PROBE_TARGETS"  # JSON list: the probe functions' defaults
ENV_PROBE_TIMEOUT = "HANAT_PROBE_TIMEOUT_S"
REQUIRED_ENV = (ENV_STACK, ENV_STAGE, ENV_TOPOLOGY_PARAMETER)
INVOKE_MARGIN_S = 5.0  # probe cold start + network on top of the probe's own time (its samples)


@dataclass(frozen=True)
class RuntimeEnv:
    stack: str
    stage: str
    topology_parameter: str
    region: str | None


def read_env(environ: Mapping[str, str] = os.environ) -> RuntimeEnv:
    """The controller's environment; every missing variable is named in one ConfigError."""
    missing = [name for name in REQUIRED_ENV if not environ.get(name)]
    if missing:
        raise ConfigError([f"environment variable {name} is not set" for name in missing],
                          source="Lambda environment")
    return RuntimeEnv(stack=environ[ENV_STACK], stage=environ[ENV_STAGE],
                      topology_parameter=environ[ENV_TOPOLOGY_PARAMETER],
                      region=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION"))


def zones_from_env(environ: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """The zones to register probe functions for (set by ``hanat deploy``; none if unset)."""
    return tuple(z.strip() for z in environ.get(ENV_ZONES, "").split(",") if z.strip())


def probe_defaults(environ: Mapping[str, str] = os.environ) -> ProbeSettings:
    """Probe settings baked into the probe functions' environment (they make no AWS call)."""
    base = ProbeSettings()
    targets = json.loads(environ[ENV_PROBE_TARGETS]) if environ.get(ENV_PROBE_TARGETS) else base.targets
    timeout_s = float(environ.get(ENV_PROBE_TIMEOUT) or base.timeout_s)
    return ProbeSettings(targets=tuple(targets), timeout_s=timeout_s)


class SnsAlertSink:
    """AlertSink (chalicelib.service.deps) publishing each alert to the stack's topic, with the
    attribute ``alert_type`` to filter on. Publish failures raise AwsError: the caller decides
    whether a lost alert stops its run."""

    def __init__(self, sns_client, topic_arn: str, topology: Topology | None = None):
        self.sns = sns_client
        self.topic_arn = topic_arn
        self.topology = topology

    def __call__(self, alert: Alert) -> None:
        publish(self.sns, self.topic_arn, format_subject(alert, self.topology),
                format_body(alert, self.topology), attributes={"alert_type": alert.type})


def deps_for_topology(topology: Topology, clients: Clients, *, owner: str, stage: str | None,
                      metric=metric_sink, clock: Callable[[], float] = time.time) -> Deps:
    """Deps for a known topology: probes via the stage's Lambda functions (when ``stage`` and a
    Lambda client are given), the control probe run here, alerts to the stack's topic."""
    probe_runner = None
    if stage and clients.lambda_ is not None:
        names = {az: probe_function_name(stage, az) for az in topology.azs}
        probe_runner = LambdaProbeRunner(
            lambda name, payload: invoke_json(clients.lambda_, name, payload), names,
            targets=topology.probe.targets, timeout_s=topology.probe.timeout_s, clock=clock,
            samples=probe_samples(topology.probe))

    def control_probe():
        return run_checks("control", topology.probe.targets, topology.probe.timeout_s, clock)

    alert_sink = SnsAlertSink(clients.sns, topology.topic_arn, topology) if clients.sns else (lambda a: None)
    return Deps(topology=topology, clients=clients, probe_runner=probe_runner, control_probe=control_probe,
                alert_sink=alert_sink, metric=metric, clock=clock, owner=owner)


def default_deps(owner: str) -> Deps:
    """The real thing: clients for this region, topology from SSM, probes = Lambda invokes."""
    env = read_env()
    set_stack(env.stack)
    ssm = make_client("ssm", env.region, config=CONTROLLER_CLIENT_CONFIG)
    topology = read_topology(ssm, env.topology_parameter)  # per invocation: a replaced NAT is seen at once
    clients = Clients(ec2=make_client("ec2", env.region, config=CONTROLLER_CLIENT_CONFIG),
                      dynamodb=make_client("dynamodb", env.region, config=CONTROLLER_CLIENT_CONFIG),
                      sns=make_client("sns", env.region, config=CONTROLLER_CLIENT_CONFIG), ssm=ssm,
                      cloudwatch=make_client("cloudwatch", env.region, config=CONTROLLER_CLIENT_CONFIG),
                      lambda_=make_invoke_client(env.region, probe_chain_s(topology.probe) + INVOKE_MARGIN_S))
    return deps_for_topology(topology, clients, owner=owner, stage=env.stage)


DepsFactory = Callable[[str], Deps]
_factory: DepsFactory = default_deps


def build_deps(owner: str) -> Deps:
    """Deps for one Lambda invocation (``owner`` names it, e.g. ``heartbeat:<request id>``)."""
    return _factory(owner)


def set_deps_factory(factory: DepsFactory) -> None:
    """Hook for tests and the lab: ``build_deps`` will call ``factory(owner)``."""
    global _factory
    _factory = factory


def reset_deps_factory() -> None:
    set_deps_factory(default_deps)


def request_id(context) -> str:
    return getattr(context, "aws_request_id", None) or "local"


def remaining_time(context) -> Callable[[], float]:
    """Seconds the invocation has left, read from the Lambda context each time it is called
    (``get_remaining_time_in_millis``: the Lambda context object of the Python runtime)."""
    return lambda: context.get_remaining_time_in_millis() / 1000.0


def entry_point(func):
    """Wrap a Lambda handler: log its start/end with the function name, always flush metrics."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        logger.append_keys(handler=func.__name__)
        try:
            return func(*args, **kwargs)
        except Exception:
            logger.exception("handler failed")
            raise
        finally:
            flush_metrics()
    return wrapper
