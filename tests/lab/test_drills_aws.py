"""The drills of AWS failing the controller (issue 10), each once on the real netns data plane (root), with
the shortest settings that still prove the point: 10 s of Lambda invoke faults (every fault kind is answered
and a zone turns blind after 3 sweeps within that), a 5 s NAT boot. heartbeat-crash cannot be shorter than
the killed run's claim (60 s, chalicelib.service.reconcile.CLAIM_TTL_S): it is marked ``long_drill`` and runs
in `make test-long` and `make demo`; `make test` keeps its promise with the clock passed in
(tests/integration/test_concurrency.py, a run killed between claim and route write) and with the whole
drill on the computed data plane in lab time (tests/lab/test_lab_computed_drills.py)."""
from __future__ import annotations

import pytest

from lab.aws.lambda_endpoint import FAULT_KINDS
from lab.config import load_lab_settings
from lab.drills.runner import DrillOptions, run_scenarios

AWS_SCENARIOS = ("lambda-errors", "api-throttle", "nat-boot-offline")
OPTIONS = DrillOptions(lambda_faults_s=10.0, boot_delay_s=5.0)


@pytest.fixture(scope="module")
def reports():
    done = run_scenarios(list(AWS_SCENARIOS), load_lab_settings(), dataplane="netns", options=OPTIONS,
                         progress=lambda m: None, deploy=False)
    return {r.scenario: r for r in done}


def failed(r) -> dict:
    return {"failed": [k for k, ok in r.checks.items() if not ok], "error": r.error, "figures": r.figures,
            "timeline": r.timeline}


@pytest.mark.netns
@pytest.mark.parametrize("scenario", AWS_SCENARIOS)
def test_netns_aws_drill_passes(reports, scenario):
    r = reports[scenario]
    assert r.dataplane == "netns" and r.error is None
    assert r.passed, failed(r)
    assert r.egress_ip_before == r.egress_ip_after and r.egress_ip_before.startswith("203.0.113.")


@pytest.mark.netns
def test_netns_lambda_errors_are_no_evidence_and_one_blind_alert(reports):
    """Lambda's own invoke errors (botocore lambda model, Invoke errors) say nothing about the NAT."""
    r = reports["lambda-errors"]
    assert r.failovers == 0 and r.figures["probe_failures"] == 0 and r.figures["probe_no_evidence"] > 0
    assert set(r.figures["lambda_answers"]) >= set(FAULT_KINDS)
    assert r.figures["blind_alerts"] == 1, failed(r)
    assert sum(1 for a in r.alerts if a.startswith("[hanat] BLIND")) == 1


@pytest.mark.netns
def test_netns_api_throttle_fails_over_through_request_limit_exceeded(reports):
    """Half of EC2's answers RequestLimitExceeded: botocore's standard retry mode rides it out."""
    r = reports["api-throttle"]
    assert r.figures["ec2_throttled"] > 0 and r.failovers == 1 and r.reverts >= 1
    assert r.rto_s is not None and r.figures["baseline_rto_s"] is not None


@pytest.mark.netns
@pytest.mark.long_drill
def test_netns_heartbeat_crash_is_completed_by_the_next_run():
    [r] = run_scenarios(["heartbeat-crash"], load_lab_settings(), dataplane="netns", options=OPTIONS,
                        progress=lambda m: None, deploy=False)
    assert r.error is None and r.passed, failed(r)
    assert r.figures["completed_after_s"] is not None
    assert r.figures["completed_after_s"] <= r.figures["completion_bound_s"]


@pytest.mark.netns
def test_netns_nat_boot_offline_replacement_forwards_without_internet(reports):
    r = reports["nat-boot-offline"]
    assert r.figures["nat_sent_outside_vpc"] == 0 and r.checks["nat_script_done_offline"]
    assert r.figures["launch_to_proven_s"] >= OPTIONS.boot_delay_s
