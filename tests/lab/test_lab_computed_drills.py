"""Every other drill on the computed data plane, on lab time (lab.clock.VirtualClock): the drills that wait
minutes of lab time — flaky's 60 s, lambda-errors' 30 s of invoke faults, heartbeat-crash's 60 s claim, the
heartbeat-stopped alarm's lab minutes, nat-boot-offline's 20 s boot, the 90 s steady-state bound — at the
CLI's defaults, each in a fraction of that in wall time, judged by the same criteria as on the netns data
plane (tests/lab/test_drills*.py; the connection checks are the netns plane's alone). blackhole, stop and
terminate run in tests/lab/test_lab_computed.py.

Where this run also has the netns plane (root), the drills that tests/lab/test_drills*.py run there in the
same `make test` are skipped here (named in the skip reason): the lab tier is CPU-bound on 2 cores and they
would judge the same scenario twice. The drills whose point is lab time (flaky's 60 s, lambda-errors' 30 s,
heartbeat-crash's 60 s claim, heartbeat-stopped's lab minutes) always run here; without root, every one."""
from __future__ import annotations

import time

import pytest

from lab.aws.lambda_endpoint import FAULT_KINDS
from lab.config import load_lab_settings
from lab.drills import runner
from lab.drills.runner import DrillOptions, adopts_vpc, netns_only, replaces_nat, run_scenarios
from lab.drills.scenarios.day2 import LAB_MINUTE_S
from lab.drills.scenarios.steps import LAMBDA_FAULTS_S, MIN_FLAKY_S
from tests.lab.conftest import netns_unavailable_reason

ELSEWHERE = ("blackhole", "stop", "terminate")
# reused sessions first; the drills that replace a NAT or adopt a VPC end theirs
# the gray drills' faults live in a NAT's kernel: netns only (tests/lab/test_drills_gray.py)
HERE = tuple(sorted((s for s in runner.SCENARIOS if s not in ELSEWHERE and not netns_only(s)),
                    key=lambda s: (adopts_vpc(s) or replaces_nat(s))))
# judged on the netns plane in the same run when there is root (tests/lab/test_drills.py, _aws, _day2, _spot)
ON_NETNS_TOO = ("targets-down", "all-down", "revert", "manual-failover", "api-throttle", "nat-boot-offline",
                "cutover", "roll", "spot-interruption", "spot-capacity")
RUN = HERE if netns_unavailable_reason() else tuple(s for s in HERE if s not in ON_NETNS_TOO)


@pytest.fixture(scope="module")
def computed():
    """The reports, each drill's wall seconds, and the sessions' clocks (their strays)."""
    clocks, wall, last = [], {}, [time.monotonic()]

    class Session(runner.LabSession):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            clocks.append(self.clock)

    def timed(report):
        now = time.monotonic()
        wall[report.scenario], last[0] = now - last[0], now

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "LabSession", Session)
        done = run_scenarios(list(RUN), load_lab_settings(), dataplane="computed", options=DrillOptions(),
                             progress=lambda m: None, deploy=False, on_report=timed)
    return {r.scenario: r for r in done}, wall, clocks


def report_of(computed, scenario: str):
    if scenario not in RUN:
        pytest.skip(f"{scenario} runs on the netns data plane in this run (tests/lab/test_drills*.py); "
                    "the computed plane runs it when there is no root")
    return computed[0][scenario]


def failed(r) -> dict:
    return {"failed": [k for k, ok in r.checks.items() if not ok], "error": r.error, "figures": r.figures}


@pytest.mark.parametrize("scenario", HERE)
def test_computed_drill_passes_on_lab_time(computed, scenario):
    clocks = computed[2]
    r = report_of(computed, scenario)
    assert r.dataplane == "computed" and r.error is None
    assert r.passed, failed(r)
    assert r.egress_ip_before == r.egress_ip_after and r.egress_ip_before.startswith("203.0.113.")
    assert all(c.virtual for c in clocks) and set().union(*(c.strays for c in clocks)) == set()


def test_computed_flaky_60_lab_seconds_no_false_failover_in_less_wall_time(computed):
    wall = computed[1]
    r = report_of(computed, "flaky")
    assert r.checks[f"window>={MIN_FLAKY_S:g}s"] and r.false_failovers == 0 and r.checks["probes_saw_loss"]
    # on the wall clock it could not end before its 60 s (plus the session's making): lab time did pass faster
    assert r.duration_s >= MIN_FLAKY_S and wall["flaky"] < r.duration_s, (wall["flaky"], r.duration_s)


def test_computed_targets_down_one_critical_alert_and_slack(computed):
    r = report_of(computed, "targets-down")
    assert r.failovers == 0
    assert sum(1 for a in r.alerts if a.startswith("[hanat] CRITICAL")) == 1
    assert sum(1 for a in r.alerts if a.startswith("slack: [hanat] CRITICAL")) == 1


def test_computed_lambda_errors_30_lab_seconds_are_no_evidence_and_one_blind_alert(computed):
    """Lambda's own invoke errors (botocore lambda model, Invoke errors) say nothing about the NAT."""
    r = report_of(computed, "lambda-errors")
    assert r.figures["fault_window_s"] >= LAMBDA_FAULTS_S
    assert r.failovers == 0 and r.figures["probe_failures"] == 0 and r.figures["probe_no_evidence"] > 0
    assert set(r.figures["lambda_answers"]) >= set(FAULT_KINDS)
    assert r.figures["blind_alerts"] == 1, failed(r)
    assert sum(1 for a in r.alerts if a.startswith("[hanat] BLIND")) == 1


def test_computed_api_throttle_fails_over_through_request_limit_exceeded(computed):
    r = report_of(computed, "api-throttle")
    assert r.figures["ec2_throttled"] > 0 and r.failovers == 1 and r.reverts >= 1
    assert r.rto_s is not None and r.figures["baseline_rto_s"] is not None


def test_computed_heartbeat_crash_is_completed_by_the_next_run_after_the_claim(computed):
    r = report_of(computed, "heartbeat-crash")
    assert r.figures["completed_after_s"] is not None
    assert r.figures["claim_ttl_s"] <= r.figures["completed_after_s"] <= r.figures["completion_bound_s"]


def test_computed_nat_boot_offline_replacement_is_proven_after_its_boot(computed):
    r = report_of(computed, "nat-boot-offline")
    assert r.figures["launch_to_proven_s"] >= DrillOptions().boot_delay_s


def test_computed_cutover_takes_over_from_nat_gateways_and_gives_back(computed):
    r = report_of(computed, "cutover")
    zones = r.figures["zones"]
    assert len(zones) == 2
    for az, z in zones.items():
        assert z["egress_ip_before"] == z["nat_gateway_address"] != z["nat_eip_address"], az
        assert z["egress_ip_after"] == z["nat_eip_address"] and z["egress_ip_after_release"] == z["nat_gateway_address"]
        assert z["cutovers"] == 1 and z["failed_requests_at_cutover"] <= 1 and z["failed_requests_at_release"] <= 1
    cut_at = sorted(z["cutover_at_s"] for z in zones.values())
    assert cut_at[1] > cut_at[0]                                              # zone by zone
    assert r.failovers == 1 and r.reverts == 1 and r.false_failovers == 0
    assert sum(1 for a in r.alerts if a.startswith("[hanat] CUTOVER")) == 2
    assert sum(1 for a in r.alerts if a.startswith("[hanat] RELEASE")) == 2


def test_computed_roll_replaces_every_nat_keeping_egress_addresses(computed):
    r = report_of(computed, "roll")
    f = r.figures
    assert f["status"] == "done" and f["order"] == list(f["zones"]) and f["roll_s"] > 0
    for az, z in f["zones"].items():
        assert z["new_nat"] != z["old_nat"] and z["launched"] == 1, az
        assert z["egress_ip_before"] == z["egress_ip_after"] and z["egress_ip_before"].startswith("203.0.113."), az
        assert z["moves"] == 2 and z["failed_requests"] <= 4, (az, r.timeline)   # away and back
    assert r.failovers == 2 and r.reverts == 2 and r.checks["one_zone_at_a_time"]


def test_computed_heartbeat_stopped_alarm_condition_within_3_lab_minutes(computed):
    f = report_of(computed, "heartbeat-stopped").figures
    assert f["lab_minute_s"] == LAB_MINUTE_S and f["rule"]["period_s"] == LAB_MINUTE_S
    assert f["false_alarms"] == 0 and f["evaluations_while_sweeping"] >= 1 and f["sweeps_before_stop"] > 0
    assert f["alarm_after_first_empty_period_lab_minutes"] <= 3
    assert f["alarm_after_stop_lab_minutes"] <= 4
    assert all(p["value"] is None and p["breaching"] for p in f["periods_at_alarm"])
    assert f["ok_again_after_restart_s"] <= 2 * LAB_MINUTE_S
