"""Powertools Logger / Metrics singletons (service "hanat", namespace "hanat").

One place builds them so every Lambda entry point logs structured JSON with the same keys
(zone, nat, route_table) and emits metrics into the same CloudWatch namespace.
"""
from __future__ import annotations

import os
import sys

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

SERVICE = "hanat"
NAMESPACE = "hanat"

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", SERVICE)
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE)

# Logs go to stderr: in Lambda both streams reach CloudWatch, and in the CLI stdout is reserved for
# results (`--json` prints exactly one JSON object there). EMF metrics still print to stdout in Lambda.
logger = Logger(service=SERVICE, stream=sys.stderr)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
# Dimensions every metric carries: {service, stack} (``set_stack``), and per-zone metrics add "zone".
# The CloudWatch alarms `hanat deploy` creates name exactly these (chalicelib/watch.py).
STACK_DIMENSION, ZONE_DIMENSION = "stack", "zone"
_stack: dict[str, str] = {}
_zone_metrics: dict[str, EphemeralMetrics] = {}

_UNITS = {unit.value: unit for unit in MetricUnit}


def metric_sink(name: str, value: float, unit: str = "Count") -> None:
    """A ``MetricSink`` (chalicelib.service.deps) backed by Powertools EMF metrics.

    An unknown unit falls back to Count rather than failing the run that reports it.
    """
    metrics.add_metric(name=name, unit=_UNITS.get(unit, MetricUnit.Count), value=value)


def set_stack(stack: str) -> None:
    """Every metric of this process carries the dimension stack=<stack> (two stacks in one account
    never mix their metrics, and the alarms of one stack watch its own)."""
    if _stack.get(STACK_DIMENSION) == stack:   # once per process (Powertools warns on a second add)
        return
    _stack[STACK_DIMENSION] = stack
    metrics.clear_default_dimensions()
    metrics.dimension_set.pop(STACK_DIMENSION, None)   # a metric not flushed yet keeps no stale stack
    metrics.set_default_dimensions(**{STACK_DIMENSION: stack})


def zone_metric_sink(name: str, zone: str, value: float, unit: str = "Count") -> None:
    """A ``ZoneMetricSink`` (chalicelib.service.deps): the metric with a ``zone`` dimension; one EMF
    line per zone and invocation, written by ``flush_metrics``."""
    zone_metrics = _zone_metrics.get(zone)
    if zone_metrics is None:
        zone_metrics = _zone_metrics[zone] = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
        for key, dimension in {**_stack, ZONE_DIMENSION: zone}.items():
            zone_metrics.add_dimension(name=key, value=dimension)
    zone_metrics.add_metric(name=name, unit=_UNITS.get(unit, MetricUnit.Count), value=value)


def flush_metrics() -> None:
    """Write the collected metrics as EMF log lines (called at the end of every handler)."""
    if metrics.metric_set:  # nothing recorded: no empty EMF line, no warning
        metrics.flush_metrics(raise_on_empty_metrics=False)
    for zone_metrics in _zone_metrics.values():
        zone_metrics.flush_metrics(raise_on_empty_metrics=False)
    _zone_metrics.clear()
