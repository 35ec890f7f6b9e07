"""The alarms and panels on what each NAT reports (chalicelib/nat_watch.py via chalicelib/monitoring.py):
built from the metric names written once, keyed by zone so a replacement keeps them, allowed by the
operator's policy that ``hanat deploy`` and ``hanat down`` run under."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from chalicelib import monitoring, nat_metrics, nat_watch
from lab.iam.evaluate import Request, Resource, evaluate
from tests.unit.test_alerts import TOPOLOGY

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"


def _by_name(topology=TOPOLOGY) -> dict[str, dict]:
    return {spec["AlarmName"]: spec for spec in monitoring.alarms(topology, "dev")}


def test_every_zone_gets_the_four_nat_alarms_and_alarm_names_lists_them():
    specs = _by_name()
    for az in TOPOLOGY.azs:
        for what in ("port-allocation", "drops", "conntrack", "allowance-exceeded"):
            assert f"hanat-{TOPOLOGY.stack}-nat-{az}-{what}" in specs
    assert sorted(monitoring.alarm_names(TOPOLOGY)) == sorted(specs)   # check_watch and down see the same set


def test_port_allocation_alarms_on_any_error_like_nat_gateways_recommended_alarm():
    # CloudWatch User Guide "Recommended alarms", NAT gateway: ErrorPortAllocation > 0
    az = TOPOLOGY.azs[0]
    spec = _by_name()[f"hanat-{TOPOLOGY.stack}-nat-{az}-port-allocation"]
    assert (spec["MetricName"], spec["Statistic"], spec["ComparisonOperator"], spec["Threshold"]) == (
        "ErrorPortAllocation", "Sum", "GreaterThanThreshold", 0.0)
    assert (spec["EvaluationPeriods"], spec["DatapointsToAlarm"], spec["Period"]) == (1, 1, 60)
    assert spec["Dimensions"] == nat_metrics.dimensions(TOPOLOGY.stack, az)
    assert spec["AlarmActions"] == [TOPOLOGY.topic_arn] and spec["TreatMissingData"] == "notBreaching"
    assert "nat.addresses" in spec["AlarmDescription"]                                   # names the remedy


def test_conntrack_alarm_at_90_percent_and_drops_alarm_when_dropping_for_3_minutes():
    az = TOPOLOGY.azs[1]
    specs = _by_name()
    conntrack = specs[f"hanat-{TOPOLOGY.stack}-nat-{az}-conntrack"]
    assert (conntrack["MetricName"], conntrack["Threshold"], conntrack["ComparisonOperator"]) == (
        "ConntrackUsePercent", 90.0, "GreaterThanOrEqualToThreshold")
    drops = specs[f"hanat-{TOPOLOGY.stack}-nat-{az}-drops"]
    assert (drops["MetricName"], drops["EvaluationPeriods"], drops["DatapointsToAlarm"]) == ("PacketsDropCount", 3, 3)


def test_allowance_alarm_sums_the_four_ena_counters_with_metric_math():
    # PutMetricAlarm: with Metrics, no MetricName/Namespace/Period/Statistic at the top level
    spec = _by_name()[f"hanat-{TOPOLOGY.stack}-nat-{TOPOLOGY.azs[0]}-allowance-exceeded"]
    assert not {"MetricName", "Namespace", "Period", "Statistic", "Dimensions"} & set(spec)
    stats = [q for q in spec["Metrics"] if "MetricStat" in q]
    assert {q["MetricStat"]["Metric"]["MetricName"] for q in stats} == {m.name for m in nat_metrics.ALLOWANCE_METRICS}
    [total] = [q for q in spec["Metrics"] if q.get("ReturnData")]
    assert total["Expression"] == "FILL(m0,0)+FILL(m1,0)+FILL(m2,0)+FILL(m3,0)"
    assert all(not q["ReturnData"] for q in stats)


def test_a_replaced_nat_keeps_its_zones_nat_metric_alarms_unchanged():
    replaced = dataclasses.replace(TOPOLOGY, zones=tuple(
        dataclasses.replace(z, nat_instance_id="i-0new", nat_eni_id="eni-0new") for z in TOPOLOGY.zones))
    before, after = _by_name(), _by_name(replaced)
    for name in before:
        if any(name.endswith(f"-{rule.what}") for rule in nat_watch.RULES):
            assert before[name] == after[name], name


def test_dashboard_has_each_zones_nat_panels_on_the_zone_dimension():
    body = json.loads(monitoring.dashboard_body(TOPOLOGY))
    titles = {w["properties"].get("title") for w in body["widgets"]}
    for az in TOPOLOGY.azs:
        for title, _, _ in nat_watch.PANELS:
            assert f"NAT {az}: {title}" in titles
    panel = next(w for w in body["widgets"] if w["properties"].get("title") == f"NAT {TOPOLOGY.azs[0]}: errors and drops")
    names = {line[1] for line in panel["properties"]["metrics"]}
    assert {"ErrorPortAllocation", "PacketsDropCount", "PpsAllowanceExceeded"} <= names
    assert all(line[-2] == TOPOLOGY.azs[0] for line in panel["properties"]["metrics"])
    # widgets do not overlap
    cells = set()
    for w in body["widgets"]:
        for x in range(w["x"], w["x"] + w["width"]):
            for y in range(w["y"], w["y"] + w["height"]):
                assert (x, y) not in cells, w["properties"].get("title")
                cells.add((x, y))


@pytest.mark.parametrize("action", ["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms"])
def test_operator_policy_lets_deploy_create_and_down_remove_every_nat_alarm(action):
    policy = {"operator": json.loads((ROOT / "examples" / "iam-policy-operator.json").read_text())}
    for name in monitoring.alarm_names(TOPOLOGY):
        arn = f"arn:aws:cloudwatch:{TOPOLOGY.region}:{ACCOUNT}:alarm:{name}"
        keys = {"cloudwatch:AlarmActions": [TOPOLOGY.topic_arn]} if action.endswith("PutMetricAlarm") else {}
        decision = evaluate(policy, Request(action, [Resource(arn)], keys))
        assert decision.allowed, (name, decision.reason)
