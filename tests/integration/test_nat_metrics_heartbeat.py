"""What the heartbeat publishes of the NATs' counters (issue 19 item 2), in moto, through Powertools'
EMF metrics as the Lambda writes them (captured from stdout): per zone, dimensions service + stack +
zone (no instance id: graphs and alarms survive a replacement), after the sweep's moves."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from chalicelib import observability
from chalicelib.aws.lambda_invoke import LambdaProbeRunner
from chalicelib.service import publish
from chalicelib.service.heartbeat import run_sweep
from tests.support.stack import AZS, FakeClock, ScriptedProbes, make_deps
from tests.unit.test_nat_readings import LATER
from tests.unit.test_probe_counters import SAMPLE

A, C, D = AZS


class CountingProbes(ScriptedProbes):
    """Scripted verdicts; a passing zone's result carries the counters the test gives it."""

    def __init__(self, clock):
        super().__init__(clock)
        self.counters: dict[str, dict] = {}

    def __call__(self, azs):
        out = super().__call__(azs)
        return {az: replace(r, counters=self.counters.get(az)) if r.passed else r for az, r in out.items()}


def emf_lines(capsys) -> list[dict]:
    observability.flush_metrics()
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]


def zone_line(lines: list[dict], az: str) -> dict:
    found = [line for line in lines if line.get("zone") == az]
    assert len(found) == 1, found
    return found[0]


def heartbeat(stack, level: str, capsys):
    publish.last_counters.clear()          # a cold Lambda: no reading before
    topo = replace(stack, metrics=level)
    clock = FakeClock()
    probes = CountingProbes(clock)
    deps, _ = make_deps(topo, clock, probes, control_passes=True)
    deps.metric = observability.metric_sink
    observability.set_stack(topo.stack)
    emf_lines(capsys)                      # nothing from before this test
    probes.counters = {A: SAMPLE, C: SAMPLE}
    clock.sleep(5.0)
    run_sweep(deps)
    probes.counters = {A: LATER}            # C's NAT did not answer its counters this time
    probes.failing = {D}
    clock.sleep(5.0)
    run_sweep(deps)
    return topo, emf_lines(capsys)


def test_essential_publishes_nat_gateways_names_per_zone_with_stack_and_zone_dimensions(stack, capsys):
    topo, lines = heartbeat(stack, "essential", capsys)
    a = zone_line(lines, A)
    dims = a["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
    assert sorted(dims) == ["service", "stack", "zone"] and a["stack"] == topo.stack
    assert a["_aws"]["CloudWatchMetrics"][0]["Namespace"] == observability.NAMESPACE
    units = {x["Name"]: x["Unit"] for x in a["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units["ErrorPortAllocation"] == "Count" and units["BytesOutToDestination"] == "Bytes"
    assert units["ConntrackUsePercent"] == "Percent"
    # two sweeps: gauges twice, sums once (the first reading is the base)
    assert a["ActiveConnectionCount"] == [120.0, 131072.0]
    assert a["ErrorPortAllocation"] == [3.0] and a["PacketsDropCount"] == [17.0]
    assert a["BytesOutToDestination"] == [10000.0] and a["BwInAllowanceExceeded"] == [7.0]
    assert "PacketsInFromSource" not in a and "ConntrackLimit" not in a       # full only
    c = zone_line(lines, C)
    assert c["ActiveConnectionCount"] == [120.0] and "ErrorPortAllocation" not in c   # one reading: no sums yet
    assert "ActiveConnectionCount" not in zone_line(lines, D)   # a failed probe reads no counters


def test_full_adds_the_rest_and_off_publishes_none(stack, capsys):
    _, lines = heartbeat(stack, "full", capsys)
    a = zone_line(lines, A)
    assert a["PacketsInFromSource"] == [100.0] and a["BytesOutToSource"] == [50000.0] and a["ConntrackLimit"] == [262144.0] * 2
    assert a["ResetsSentCount"] == [4.0] and a["InvalidDropCount"] == [10.0]
    _, lines = heartbeat(stack, "off", capsys)
    assert not any("ActiveConnectionCount" in line or "ConntrackUsePercent" in line for line in lines)


@pytest.mark.parametrize("counters, sent", [(False, None), (True, True)])
def test_the_probe_is_asked_for_counters_only_when_metrics_are_on(counters, sent):
    payloads = []
    runner = LambdaProbeRunner(lambda name, payload: payloads.append(payload) or {"passed": True, "results": []},
                               {A: "probe-a"}, targets=["tcp://x:1"], timeout_s=1.0, clock=lambda: 0.0,
                               counters=counters)
    runner([A])
    assert payloads[0].get("counters") is sent
