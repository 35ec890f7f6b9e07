"""Watch the watcher: the CloudWatch alarms and the dashboard of a stack (pure: topology in, API
arguments out). ``hanat deploy`` creates them, the controller re-points a NAT's alarm and the dashboard
at a replaced NAT, ``hanat down`` removes them. docs/runbook.md says what each alarm means.

Alarms (all notify the stack's alert topic, on ALARM and back to OK), every one named
``hanat-<stack>-...`` and tagged ``hanat:stack=<stack>``:

- ``heartbeat-missing``: the heartbeat completed no sweep (metric ``SweepsCompleted``) for 3
  consecutive minutes; missing data counts as breaching, so a heartbeat that does not run at all
  (schedule disabled, function deleted, every invocation failing early) sets it off;
- ``<function>-errors`` / ``<function>-throttles``: the heartbeat or a probe function had errors or
  was throttled in each of 3 consecutive minutes (AWS/Lambda ``Errors`` / ``Throttles``);
- ``nat-<az>-status-check``: the zone's NAT failed its EC2 status checks (``StatusCheckFailed``) in
  each of 3 consecutive minutes (EC2 publishes status check metrics every minute at no charge);
- ``nat-<az>-port-allocation`` / ``-drops`` / ``-conntrack`` / ``-allowance-exceeded``: what the zone's
  NAT reports about itself (rules in ``chalicelib.nat_watch``, names in ``chalicelib.nat_metrics``), keyed
  by stack and zone so they survive a replacement.

CloudWatch dashboards cannot carry tags (TagResource: "the only CloudWatch resources that can be
tagged are alarms and Contributor Insights rules"), so the dashboard carries the stack's marker in
a text widget, and ``hanat down`` deletes a dashboard of that name only when it carries the marker.
Dashboards are global to the account, so the name includes the region.
"""
from __future__ import annotations

import json

from . import nat_watch
from .naming import STACK_TAG, function_name, probe_handler_name
from .nat_metrics import dimensions as nat_dimensions
from .observability import NAMESPACE, SERVICE, STACK_DIMENSION, ZONE_DIMENSION
from .topology import Topology

PERIOD_S = 60
CONSECUTIVE = 3                     # "for 3 consecutive minutes"
HEARTBEAT = "heartbeat"
MISSING_SWEEPS = "heartbeat-missing"


def alarm_prefix(stack: str) -> str:
    return f"hanat-{stack}-"


def alarm_name(stack: str, what: str) -> str:
    return f"{alarm_prefix(stack)}{what}"


def nat_alarm_name(stack: str, az: str) -> str:
    return alarm_name(stack, f"nat-{az}-status-check")


def dashboard_name(stack: str, region: str) -> str:
    return f"hanat-{stack}-{region}"


def marker(stack: str, region: str) -> str:
    """The text the dashboard carries in place of a tag."""
    return f"{STACK_TAG}={stack} region={region}"


def _common(topology: Topology, description: str) -> dict:
    return {"AlarmDescription": description + " See docs/runbook.md, 'Alarms'.",
            "ActionsEnabled": True, "AlarmActions": [topology.topic_arn], "OKActions": [topology.topic_arn],
            "Period": PERIOD_S, "EvaluationPeriods": CONSECUTIVE, "DatapointsToAlarm": CONSECUTIVE,
            "Threshold": 1.0}


def _controller_dimensions(stack: str) -> list[dict]:
    return [{"Name": "service", "Value": SERVICE}, {"Name": STACK_DIMENSION, "Value": stack}]


def heartbeat_alarm(topology: Topology) -> dict:
    return {"AlarmName": alarm_name(topology.stack, MISSING_SWEEPS),
            **_common(topology, f"hanat stack {topology.stack}: the heartbeat completed no sweep for "
                                f"{CONSECUTIVE} minutes: nothing watches the NATs."),
            "Namespace": NAMESPACE, "MetricName": "SweepsCompleted", "Dimensions": _controller_dimensions(topology.stack),
            "Statistic": "Sum", "ComparisonOperator": "LessThanThreshold", "TreatMissingData": "breaching"}


FUNCTION_METRICS = (("Errors", "errors"), ("Throttles", "throttles"))


def _watched_handlers(topology: Topology) -> list[str]:
    return [HEARTBEAT] + [probe_handler_name(az) for az in topology.azs]


def _function_alarm_name(stack: str, handler: str, what: str) -> str:
    return alarm_name(stack, f"{handler.replace('_', '-')}-{what}")


def alarm_names(topology: Topology) -> list[str]:
    """The names of every alarm of the stack (``alarms`` creates exactly these)."""
    return ([alarm_name(topology.stack, MISSING_SWEEPS)]
            + [_function_alarm_name(topology.stack, h, what) for h in _watched_handlers(topology)
               for _, what in FUNCTION_METRICS]
            + [nat_alarm_name(topology.stack, az) for az in topology.azs]
            + [alarm_name(topology.stack, nat_watch.alarm_what(az, rule))
               for az in topology.azs for rule in nat_watch.RULES])


def function_alarms(topology: Topology, stage: str) -> list[dict]:
    """Errors and throttles of the heartbeat and of every probe function."""
    out = []
    for handler in _watched_handlers(topology):
        function = function_name(stage, handler)
        for metric, what in FUNCTION_METRICS:
            out.append({"AlarmName": _function_alarm_name(topology.stack, handler, what),
                        **_common(topology, f"hanat stack {topology.stack}: Lambda function {function} {what} "
                                            f"in each of {CONSECUTIVE} consecutive minutes."),
                        "Namespace": "AWS/Lambda", "MetricName": metric,
                        "Dimensions": [{"Name": "FunctionName", "Value": function}],
                        "Statistic": "Sum", "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                        "TreatMissingData": "notBreaching"})
    return out


def nat_alarm(topology: Topology, az: str) -> dict:
    zone = topology.zone(az)
    return {"AlarmName": nat_alarm_name(topology.stack, az),
            **_common(topology, f"hanat stack {topology.stack}: NAT {zone.nat_instance_id} of {az} failed its EC2 "
                                f"status checks for {CONSECUTIVE} minutes."),
            "Namespace": "AWS/EC2", "MetricName": "StatusCheckFailed",
            "Dimensions": [{"Name": "InstanceId", "Value": zone.nat_instance_id}],
            "Statistic": "Maximum", "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching"}


def nat_metric_alarm(topology: Topology, az: str, rule: nat_watch.NatAlarmRule) -> dict:
    """One of ``nat_watch.RULES`` on zone ``az``'s NAT metrics; several metrics are summed (metric math,
    FILL(m, 0): a counter not published counts 0; with Metrics, PutMetricAlarm takes no Period/Statistic)."""
    spec = {"AlarmName": alarm_name(topology.stack, nat_watch.alarm_what(az, rule)),
            **_common(topology, f"hanat stack {topology.stack}: the NAT of {az} {rule.meaning}."),
            "EvaluationPeriods": rule.datapoints, "DatapointsToAlarm": rule.datapoints,
            "Threshold": rule.threshold, "ComparisonOperator": rule.comparison, "TreatMissingData": "notBreaching"}
    dims = nat_dimensions(topology.stack, az)
    if len(rule.metrics) == 1:
        [metric] = rule.metrics
        return {**spec, "Namespace": NAMESPACE, "MetricName": metric.name, "Dimensions": dims,
                "Statistic": metric.statistic}
    spec.pop("Period")
    queries = [{"Id": f"m{i}", "ReturnData": False,
                "MetricStat": {"Metric": {"Namespace": NAMESPACE, "MetricName": m.name, "Dimensions": dims},
                               "Period": PERIOD_S, "Stat": m.statistic}} for i, m in enumerate(rule.metrics)]
    total = "+".join(f"FILL(m{i},0)" for i in range(len(rule.metrics)))
    return {**spec, "Metrics": [*queries, {"Id": "total", "Expression": total, "Label": rule.what, "ReturnData": True}]}


def alarms(topology: Topology, stage: str) -> list[dict]:
    """Every alarm of the stack, as PutMetricAlarm arguments (tags are added on create)."""
    return [heartbeat_alarm(topology), *function_alarms(topology, stage),
            *(nat_alarm(topology, az) for az in topology.azs),
            *(nat_metric_alarm(topology, az, rule) for az in topology.azs for rule in nat_watch.RULES)]


def _metric_widget(title: str, metrics: list[list], region: str, x: int, y: int, *, stat: str = "Sum",
                   width: int = 12) -> dict:
    return {"type": "metric", "x": x, "y": y, "width": width, "height": 6,
            "properties": {"title": title, "region": region, "stat": stat, "period": PERIOD_S, "view": "timeSeries",
                           "stacked": False, "metrics": metrics}}


def dashboard_body(topology: Topology) -> str:
    """The dashboard: per zone probe verdicts and route moves, the sweeps and their duration, the
    alarms, and per NAT its network packets and bytes."""
    stack, region = topology.stack, topology.region
    base = ["service", SERVICE, STACK_DIMENSION, stack]
    zone_metric = [[NAMESPACE, name, *base, ZONE_DIMENSION, az, {"label": f"{az} {label}"}]
                   for az in topology.azs for name, label in (("ProbeFailed", "failed"), ("ProbePassed", "passed"))]
    moves = [[NAMESPACE, "RouteMoves", *base, ZONE_DIMENSION, az, {"label": az}] for az in topology.azs]
    widgets: list[dict] = [
        {"type": "text", "x": 0, "y": 0, "width": 24, "height": 2,
         "properties": {"markdown": f"## hanat stack {stack} ({region})\n`{marker(stack, region)}` - what "
                                    "each alarm means: docs/runbook.md, 'Alarms'"}},
        _metric_widget("Probe verdicts per zone (per minute)", zone_metric, region, 0, 2),
        _metric_widget("Route moves per zone", moves, region, 12, 2),
        _metric_widget("Sweeps completed (the heartbeat-missing alarm)",
                       [[NAMESPACE, "SweepsCompleted", *base]], region, 0, 8),
        _metric_widget("Sweep duration (ms)", [[NAMESPACE, "SweepDuration", *base, {"stat": "Average"}],
                                               [NAMESPACE, "SweepDuration", *base, {"stat": "Maximum"}]],
                       region, 12, 8, stat="Average"),
        {"type": "alarm", "x": 0, "y": 14, "width": 24, "height": 3,
         "properties": {"title": "Alarms", "alarms": [f"{_arn_prefix(topology)}:alarm:{name}"
                                                       for name in alarm_names(topology)]}},
    ]
    y = 17
    for zone in topology.zones:
        nat = zone.nat_instance_id
        widgets.append(_metric_widget(f"NAT {zone.az} ({nat}): packets", [
            ["AWS/EC2", "NetworkPacketsIn", "InstanceId", nat], ["AWS/EC2", "NetworkPacketsOut", "InstanceId", nat]],
            region, 0, y))
        widgets.append(_metric_widget(f"NAT {zone.az} ({nat}): bytes", [
            ["AWS/EC2", "NetworkIn", "InstanceId", nat], ["AWS/EC2", "NetworkOut", "InstanceId", nat]],
            region, 12, y))
        y += 6
        for i, (title, metrics, stat) in enumerate(nat_watch.PANELS):
            widgets.append(_metric_widget(f"NAT {zone.az}: {title}", [
                [NAMESPACE, m.name, *base, ZONE_DIMENSION, zone.az, {"stat": m.statistic}] for m in metrics],
                region, (i % 2) * 12, y + (i // 2) * 6, stat=stat))
        y += 6 * ((len(nat_watch.PANELS) + 1) // 2)
    return json.dumps({"widgets": widgets}, sort_keys=True)


def _arn_prefix(topology: Topology) -> str:
    """``arn:<partition>:cloudwatch:<region>:<account>`` from the alert topic's ARN (no STS call)."""
    parts = topology.topic_arn.split(":")
    partition, account = (parts[1], parts[4]) if len(parts) > 4 else ("aws", "")
    return f"arn:{partition}:cloudwatch:{topology.region}:{account}"
