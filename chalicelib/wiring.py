"""Wiring: the Lambda's own assembly, imported by app.py alone. ``default_deps`` builds the
controller's ``Deps`` for one invocation from the function's environment variables (clients for the
region, the topology from SSM, probes = Lambda invokes, alerts to the stack's SNS topic); the rest
reads the Lambda context (its request id) and wraps every entry point.

app.py takes its Deps from ``app.make_deps`` (``default_deps``); a test loads app.py afresh and sets
that attribute (scripted probes, a fake clock). The CLI, the lab and the stack builder build their
Deps with ``chalicelib.service.make_deps.deps_for_topology``.
"""
from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .aws.clients import CONTROLLER_CLIENT_CONFIG, make_client
from .aws.lambda_invoke import make_invoke_client
from .aws.params import read_topology
from .errors import ConfigError
from .naming import (
    ENV_PROBE_TARGETS,
    ENV_PROBE_TIMEOUT,
    ENV_STACK,
    ENV_STAGE,
    ENV_TOPOLOGY_PARAMETER,
    ENV_ZONES,
    REQUIRED_ENV,
)
from .observability import flush_metrics, logger, set_stack
from .service.deps import Clients, Deps
from .service.make_deps import INVOKE_MARGIN_S, deps_for_topology
from .settings import ProbeSettings


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
                      lambda_=make_invoke_client(env.region, topology.probe.chain_s + INVOKE_MARGIN_S))
    return deps_for_topology(topology, clients, owner=owner, stage=env.stage)


DepsFactory = Callable[[str], Deps]   # owner -> Deps (app.make_deps)


def request_id(context) -> str:
    return getattr(context, "aws_request_id", None) or "local"


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
