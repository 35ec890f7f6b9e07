"""Powertools Logger / Metrics singletons (service "hanat", namespace "hanat").

One place builds them so every Lambda entry point logs structured JSON with the same keys
(zone, nat, route_table) and emits metrics into the same CloudWatch namespace.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

SERVICE = "hanat"
NAMESPACE = "hanat"

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", SERVICE)
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE)

# Logs go to stderr: in Lambda both streams reach CloudWatch, and in the CLI stdout is reserved for
# results (`--json` prints exactly one JSON object there). EMF metrics still print to stdout in Lambda.
logger = Logger(service=SERVICE, stream=sys.stderr)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

_UNITS = {unit.value: unit for unit in MetricUnit}


def metric_sink(name: str, value: float, unit: str = "Count", dimensions: Mapping[str, str] | None = None) -> None:
    """A ``MetricSink`` (chalicelib.service.deps) backed by Powertools EMF metrics.

    An unknown unit falls back to Count rather than failing the run that reports it. A metric with
    ``dimensions`` (e.g. the zone) is written at once as its own EMF line with them (plus ``service``);
    the others are collected and flushed together at the end of the handler.
    """
    metric_unit = _UNITS.get(unit, MetricUnit.Count)
    if not dimensions:
        metrics.add_metric(name=name, unit=metric_unit, value=value)
        return
    with single_metric(name=name, unit=metric_unit, value=value, namespace=NAMESPACE,
                       default_dimensions={"service": SERVICE, **dimensions}):
        pass


def flush_metrics() -> None:
    """Write the collected metrics as one EMF log line (called at the end of every handler)."""
    if metrics.metric_set:  # nothing recorded: no empty EMF line, no warning
        metrics.flush_metrics(raise_on_empty_metrics=False)
