"""Every drill on the real netns data plane (root): NATs configured by setup-nat.sh in namespaces,
the real probe code in each zone's probe namespace, egress clients in the private hosts, the real
controller on the lab's clock against the emulator. One run of all scenarios serves the checks; the
flaky drill runs its full 60 s."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lab.drills import SCENARIOS, DrillOptions
from lab.emulator import Emulator, pointed_at
from lab.labconfig import load_lab_settings
from lab.runner import run_scenarios
from lab.session import LabSession


@pytest.fixture(scope="module")
def reports():
    done = run_scenarios(list(SCENARIOS), load_lab_settings(), dataplane="netns", options=DrillOptions(),
                         progress=lambda m: None, deploy=False)
    return {r.scenario: r for r in done}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_netns_drill_passes(reports, scenario):
    r = reports[scenario]
    assert r.dataplane == "netns" and r.error is None
    assert r.passed, ({k: v for k, v in r.checks.items() if not v}, r.timeline)
    assert r.egress_ip_before == r.egress_ip_after and r.egress_ip_before.startswith("203.0.113.")


def test_netns_blackhole_egress_moves_to_the_other_nat_and_back(reports):
    r = reports["blackhole"]
    assert r.rto_s is not None and r.rto_s <= 5 and r.detection_s <= r.rto_s
    assert r.egress_ips_during and r.egress_ip_before not in r.egress_ips_during
    assert r.failovers == 1 and r.reverts == 1


def test_netns_terminate_replacement_serves_with_the_same_address(reports):
    r = reports["terminate"]
    launched = [e for e in r.timeline if e["event"] == "new_nat"]
    assert len(launched) == 1, r.timeline
    assert r.checks["served_by_replacement"] and r.egress_ip_after == r.egress_ip_before


def test_netns_flaky_60s_no_false_failover(reports):
    r = reports["flaky"]
    assert r.checks["window>=60s"] and r.false_failovers == 0 and r.checks["probes_saw_loss"]


def test_netns_targets_down_one_critical_alert_and_slack(reports):
    r = reports["targets-down"]
    assert r.failovers == 0
    assert sum(1 for a in r.alerts if a.startswith("[hanat] CRITICAL")) == 1
    assert sum(1 for a in r.alerts if a.startswith("slack: [hanat] CRITICAL")) == 1


def test_interrupted_session_removes_its_namespaces_and_processes():
    emulator = Emulator().start()
    try:
        with pointed_at(emulator), pytest.raises(KeyboardInterrupt), LabSession(
                load_lab_settings(), dataplane="netns", emulator=emulator, progress=lambda m: None,
                deploy=False) as session:
                names = session.dataplane.namespaces
                pids = [int(p) for ns in names for p in
                        subprocess.run(["ip", "netns", "pids", ns], check=False, capture_output=True, text=True).stdout.split()]
                assert names and pids
                raise KeyboardInterrupt
    finally:
        emulator.stop()
    listed = subprocess.run(["ip", "netns", "list"], check=False, capture_output=True, text=True).stdout
    assert not any(ns in listed for ns in names)
    for pid in pids:
        assert subprocess.run(["kill", "-0", str(pid)], check=False, capture_output=True).returncode != 0


def test_lab_down_removes_leftovers_of_a_killed_run():
    subprocess.run(["ip", "netns", "add", "hanat-dead01-inet"], check=True)
    try:
        proc = subprocess.run([sys.executable, "-m", "controller.cli", "lab", "down", "--json"],
                              check=False, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert "hanat-dead01-inet" in json.loads(proc.stdout)["removed"]
    finally:
        subprocess.run(["ip", "netns", "del", "hanat-dead01-inet"], check=False, capture_output=True)
