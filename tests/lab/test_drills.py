"""Every drill on the real netns data plane (root): NATs configured by setup-nat.sh in namespaces,
the real probe code in each zone's probe namespace, egress clients in the private hosts, the real
controller on the lab's clock against the emulator. One run of all scenarios serves the checks (a drill
runs on the session of the one before unless that one replaced a NAT: lab.session_reset); the flaky drill
runs its full 60 s."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lab.aws.emulator import Emulator, pointed_at
from lab.aws.eventbridge import POLL_S
from lab.config import load_lab_settings
from lab.dataplane.netns.namespaces import new_run_id
from lab.dataplane.netns.shell import REPO_ROOT, add_namespace, cleanup_leftovers, list_namespaces, ns_pids
from lab.drills.runner import SCENARIOS, DrillOptions, replaces_nat, run_scenarios
from lab.session import LabSession
from tests.support.cli import hanat

# run with shorter settings or their own checks in tests/lab/test_drills_aws.py and test_drills_day2.py
ELSEWHERE = ("lambda-errors", "api-throttle", "heartbeat-crash", "nat-boot-offline", "cutover", "roll",
             "heartbeat-stopped", "spot-interruption", "spot-capacity",   # these two: test_drills_spot.py
             "conntrack-full", "port-exhaustion", "bandwidth-cap")         # test_drills_gray.py
# the drills that replace a NAT last: all run on one session (lab.session_reset between them)
HERE = tuple(sorted((s for s in SCENARIOS if s not in ELSEWHERE), key=replaces_nat))


@pytest.fixture(scope="module")
def reports():
    done = run_scenarios(list(HERE), load_lab_settings(), dataplane="netns", options=DrillOptions(),
                         progress=lambda m: None, deploy=False)
    return {r.scenario: r for r in done}


@pytest.mark.netns
def test_netns_drills_pass_with_the_controllers_ec2_reads_lagging_its_writes(reports):
    """EC2's eventual consistency is on in the lab (lab.config.STALE_READS_S): the controller met stale
    Describe* answers in these drills and every drill still passed (each is checked above/below)."""
    assert load_lab_settings().stale_reads_s > 0
    assert sum(r.figures["ec2_stale_reads"] for r in reports.values()) > 0, \
        {s: r.figures.get("ec2_stale_reads") for s, r in reports.items()}


@pytest.mark.netns
def test_netns_drills_report_the_probe_functions_cold_starts_and_timeouts(reports):
    """Each netns report counts the probe environments its invokes had to start (Lambda starts one when
    every environment is busy: a cold start, Init included) and the invokes past their timeout: what a
    failover slower than its drill's usual tells apart from EC2's back-off (bench/failover.py --per-run)."""
    counts = {s: (r.figures.get("probe_cold_starts"), r.figures.get("probe_timeouts")) for s, r in reports.items()}
    assert all(isinstance(c, int) and isinstance(t, int) and c >= 0 and t >= 0 for c, t in counts.values()), counts


@pytest.mark.netns
@pytest.mark.parametrize("scenario", HERE)
def test_netns_drill_passes(reports, scenario):
    r = reports[scenario]
    assert r.dataplane == "netns" and r.error is None
    assert r.passed, ({k: v for k, v in r.checks.items() if not v}, r.timeline)
    assert r.egress_ip_before == r.egress_ip_after and r.egress_ip_before.startswith("203.0.113.")


@pytest.mark.netns
def test_netns_no_drill_counts_an_earlier_drills_failovers(reports):
    """Every drill here runs on one session and blackhole, stop, revert and terminate each fail the first
    zone over: without the reset between them the third would be the zone's third failover in the flap
    window (FLAPPING, and a doubled revert hold)."""
    flapping = {s: [a for a in r.alerts if "FLAPPING" in a.upper()] for s, r in reports.items()}
    assert not any(flapping.values()), flapping


@pytest.mark.netns
def test_netns_blackhole_egress_moves_to_the_other_nat_and_back(reports):
    r = reports["blackhole"]
    assert r.rto_s is not None and r.rto_s <= 5 and r.detection_s <= r.rto_s + POLL_S  # the watcher's poll lag
    assert r.egress_ips_during and r.egress_ip_before not in r.egress_ips_during
    assert r.failovers == 1 and r.reverts == 1


@pytest.mark.netns
def test_netns_terminate_replacement_serves_with_the_same_address(reports):
    r = reports["terminate"]
    launched = [e for e in r.timeline if e["event"] == "new_nat"]
    assert len(launched) == 1, r.timeline
    assert r.checks["served_by_replacement"] and r.egress_ip_after == r.egress_ip_before


@pytest.mark.netns
def test_netns_flaky_60s_no_false_failover(reports):
    r = reports["flaky"]
    assert r.checks["window>=60s"] and r.false_failovers == 0 and r.checks["probes_saw_loss"]


@pytest.mark.netns
def test_netns_targets_down_one_critical_alert_and_slack(reports):
    r = reports["targets-down"]
    assert r.failovers == 0
    assert sum(1 for a in r.alerts if a.startswith("[hanat] CRITICAL")) == 1
    assert sum(1 for a in r.alerts if a.startswith("slack: [hanat] CRITICAL")) == 1


@pytest.mark.netns
@pytest.mark.parametrize("scenario", ["blackhole", "stop"])
def test_netns_dead_nat_resets_its_connections_within_a_second_of_the_move(reports, scenario):
    """Issue 13: every connection through the dead NAT gets the new NAT's reset (no hang)."""
    r = reports[scenario]
    assert r.connections_open >= 8 and r.connections_broken >= 1, r.connections
    assert r.checks["connections_through_dead_nat_reset"], r.reset_after_s
    assert r.max_stall_s <= r.rto_s + 1, (r.max_stall_s, r.rto_s)


@pytest.mark.netns
def test_netns_revert_breaks_no_connection_and_old_ones_stay_on_the_backup(reports):
    r = reports["revert"]
    assert r.checks["connections_broken_on_revert==0"], r.connections
    assert r.checks["old_connections_stay_on_backup"] and r.checks["recovered_nat_carries_only_new_flows"]


@pytest.mark.netns
def test_netns_manual_failover_and_back_break_no_connection(reports):
    r = reports["manual-failover"]
    assert r.connections_open >= 8 and r.connections_broken == 0 and r.max_stall_s < 1.0, r.connections
    assert r.checks["old_connections_stay_on_their_nat"] and r.checks["new_flows_took_the_other_nat"]


@pytest.mark.netns
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
    # a zombie is dead: an orphaned grandchild's waits for this machine's init to reap it (see running())
    assert not [pid for pid in pids if running(pid)]


def running(pid: int) -> bool:
    """A process that exists and is not a zombie (an orphan's zombie waits for init to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


KILLED_RUN = """
import sys, time
from lab.dataplane.netns.shell import add_namespace, ns_pids, ns_popen
for role in ("inet", "vpc"):
    add_namespace(f"hanat-{run_id}-{role}")
ns_popen(f"hanat-{run_id}-inet", ["sleep", "120"])
waited = time.monotonic()   # `ip netns exec` enters the namespace a moment after Popen returns
while not ns_pids(f"hanat-{run_id}-inet") and time.monotonic() - waited < 10:
    time.sleep(0.05)
print("up", flush=True)
time.sleep(120)
"""


@pytest.mark.netns
def test_lab_down_removes_a_killed_runs_leftovers_and_spares_live_runs():
    """SIGKILL leaves no chance to clean up: `hanat lab down` removes that run's namespaces (and the
    processes inside), while a run still alive (this test process) keeps its own."""
    killed, live = new_run_id(), new_run_id()
    live_ns = f"hanat-{live}-inet"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN.replace("{run_id}", killed)],
                            stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    try:
        assert proc.stdout.readline().strip() == "up"
        sleepers = ns_pids(f"hanat-{killed}-inet")
        assert sleepers
        proc.kill()
        proc.wait(timeout=10)
        add_namespace(live_ns)
        down = subprocess.run([sys.executable, "-m", "controller.cli", "lab", "down", "--json"],
                              check=False, capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
        assert down.returncode == 0, down.stderr
        removed = json.loads(down.stdout)["removed"]
        assert sorted(n for n in removed if killed in n) == [f"hanat-{killed}-inet", f"hanat-{killed}-vpc"]
        assert live_ns not in removed and list_namespaces(live_ns) == [live_ns]
        assert list_namespaces(f"hanat-{killed}-") == []
        assert not [pid for pid in sleepers if running(pid)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        cleanup_leftovers(f"hanat-{killed}-")
        cleanup_leftovers(live_ns)


def test_lab_down_rejects_a_negative_age(capsys):
    code, _, err = hanat(capsys, "lab", "down", "--older-than", "-1")
    assert code == 2 and "--older-than" in err


THREE_ZONES = """
[stack]
name = "lab3"
region = "ap-northeast-1"
vpc_cidr = "172.20.0.0/16"

[[zones]]
az = "ap-northeast-1a"

[[zones]]
az = "ap-northeast-1c"

[[zones]]
az = "ap-northeast-1d"

[probe]
interval_s = 1
timeout_s = 1
fail_after = 2
recover_after = 3
min_hold_s = 5
targets = ["http://198.51.100.10/"]
"""


@pytest.mark.netns
def test_lab_scales_with_any_config_three_zones_other_cidrs(tmp_path):
    """`--config` takes any hanat config: 3 zones on 172.20.0.0/16, the fault in the middle zone."""
    config = tmp_path / "lab3.toml"
    config.write_text(THREE_ZONES)
    proc = subprocess.run([sys.executable, "-m", "controller.cli", "lab", "drill", "--scenario", "blackhole",
                           "--config", str(config), "--zone", "ap-northeast-1c", "--dataplane", "netns",
                           "--json"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    report = out[0] if isinstance(out, list) else out
    assert report["passed"] and report["dataplane"] == "netns" and report["zone"] == "ap-northeast-1c"
    assert report["rto_s"] <= 5 and report["routes_ok"]
    assert report["egress_ip_before"] == report["egress_ip_after"] == "203.0.113.102"  # the 2nd zone's EIP
    assert "8 functions" in proc.stderr  # heartbeat, on_instance_state, on_spot_warning, operate, notify_slack, 3 probes
