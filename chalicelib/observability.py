"""Powertools Logger / Metrics singletons (service "hanat", namespace "hanat").

One place builds them so every Lambda entry point logs structured JSON with the same keys
(zone, nat, route_table) and emits metrics into the same CloudWatch namespace.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping

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
# The CloudWatch alarms `hanat deploy` creates name exactly these (chalicelib/monitoring.py).
STACK_DIMENSION, ZONE_DIMENSION = "stack", "zone"
_stack: dict[str, str] = {}
_narrowed_metrics: dict[tuple, EphemeralMetrics] = {}   # one EMF line per dimension set

_UNITS = {unit.value: unit for unit in MetricUnit}


def metric_sink(name: str, value: float, unit: str = "Count", dimensions: Mapping[str, str] | None = None) -> None:
    """A ``MetricSink`` (chalicelib.service.deps) backed by Powertools EMF metrics.

    An unknown unit falls back to Count rather than failing the run that reports it. A metric with
    ``dimensions`` (e.g. ``{"zone": az}``) goes into the EMF line of that dimension set (with the stack's);
    every line is written by ``flush_metrics`` at the end of the handler.
    """
    metric_unit = _UNITS.get(unit, MetricUnit.Count)
    if not dimensions:
        metrics.add_metric(name=name, unit=metric_unit, value=value)
        return
    key = tuple(sorted(dimensions.items()))
    narrowed = _narrowed_metrics.get(key)
    if narrowed is None:
        narrowed = _narrowed_metrics[key] = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
        for dimension, dimension_value in {**_stack, **dimensions}.items():
            narrowed.add_dimension(name=dimension, value=dimension_value)
    narrowed.add_metric(name=name, unit=metric_unit, value=value)


def set_stack(stack: str) -> None:
    """Every metric of this process carries the dimension stack=<stack> (two stacks in one account
    never mix their metrics, and the alarms of one stack watch its own)."""
    if _stack.get(STACK_DIMENSION) == stack:   # once per process (Powertools warns on a second add)
        return
    _stack[STACK_DIMENSION] = stack
    metrics.clear_default_dimensions()
    metrics.dimension_set.pop(STACK_DIMENSION, None)   # a metric not flushed yet keeps no previous stack
    metrics.set_default_dimensions(**{STACK_DIMENSION: stack})


def flush_metrics() -> None:
    """Write the collected metrics as EMF log lines (called at the end of every handler)."""
    if metrics.metric_set:  # nothing recorded: no empty EMF line, no warning
        metrics.flush_metrics(raise_on_empty_metrics=False)
    for narrowed in _narrowed_metrics.values():
        narrowed.flush_metrics(raise_on_empty_metrics=False)
    _narrowed_metrics.clear()
