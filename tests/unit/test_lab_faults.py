"""The lab's AWS faults, pure parts: EC2 throttling switch of the lab's moto, Lambda fault plans and wire
details, the offline-boot gate of nat-boot-offline, and the CLI's scenario list."""
from __future__ import annotations

from itertools import pairwise

import pytest

from lab.aws.lambda_endpoint import FAULT_KINDS, FaultPlan, function_name_of, timeout_message
from lab.aws.moto_server import ApiFaults, is_ec2_call, throttle_document
from lab.cli import SCENARIO_CHOICES
from lab.dataplane.boot import BootGate
from lab.dataplane.netns.offline import OFFLINE_COUNTER, counted_packets, offline_ruleset
from lab.drills import scenarios


def test_cli_offers_every_registered_scenario_and_all():
    assert set(scenarios.names()) <= set(SCENARIO_CHOICES) and "all" in SCENARIO_CHOICES
    for new in ("lambda-errors", "api-throttle", "heartbeat-crash", "nat-boot-offline"):
        assert new in scenarios.names()


# --- EC2 throttling in front of moto ------------------------------------------------------------
@pytest.mark.parametrize("case, authorization, is_ec2", [
    ("ec2-sigv4", "AWS4-HMAC-SHA256 Credential=AK/20261126/ap-northeast-1/ec2/aws4_request, SignedHeaders=x", True),
    ("dynamodb", "AWS4-HMAC-SHA256 Credential=AK/20261126/ap-northeast-1/dynamodb/aws4_request", False),
    ("ssm", "AWS4-HMAC-SHA256 Credential=AK/20261126/ap-northeast-1/ssm/aws4_request", False),
    ("unsigned", "", False),
])
def test_only_ec2_calls_are_throttled(case, authorization, is_ec2):
    assert is_ec2_call({"HTTP_AUTHORIZATION": authorization}) is is_ec2, case


def test_throttle_document_is_ec2s_request_limit_exceeded():
    """EC2 query protocol errors: Response/Errors/Error/Code (botocore's EC2 parser reads this shape)."""
    body = throttle_document().decode()
    assert "<Response><Errors><Error><Code>RequestLimitExceeded</Code>" in body and "<RequestID>" in body


@pytest.mark.parametrize("case, rate, seed", [
    ("half", 0.5, 7), ("half-other-phase", 0.5, 3), ("third", 1 / 3, 0), ("most", 0.9, 11), ("all", 1.0, 5)])
def test_throttle_share_is_exact_over_any_run_of_calls(case, rate, seed):
    """Deterministic (issue 21, item 4): over every window of consecutive calls the throttled count is the
    share asked, within one call, so a drill that judges the share never fails by chance."""
    faults = ApiFaults()
    assert not any(faults.throttle_now() for _ in range(50))   # off by default
    faults.configure({"ec2_throttle": rate, "seed": seed})
    hits = [faults.throttle_now() for _ in range(1000)]
    for size in (2, 3, 10, 37, 1000):
        for start in range(0, 1000 - size + 1, 7):
            assert abs(sum(hits[start:start + size]) - rate * size) <= 1, (case, size, start)
    stale_off = {"stale_reads_s": 0.0, "ec2_reads": 0, "ec2_stale": 0, "ec2_writes": 0}
    spot_on = {"spot_capacity": True, "spot_refused": 0}
    assert faults.state() == {"ec2_throttle": rate, "ec2_calls": 1050, "ec2_throttled": sum(hits), **spot_on,
                              **stale_off}
    faults.reset()
    assert faults.state() == {"ec2_throttle": 0.0, "ec2_calls": 0, "ec2_throttled": 0, **spot_on, **stale_off}


def test_the_stale_read_window_is_switched_kept_and_reset():
    faults = ApiFaults()
    faults.configure({"stale_reads_s": 1.5})
    faults.configure({"ec2_throttle": 0.2})                     # another switch leaves the window alone
    assert faults.state()["stale_reads_s"] == 1.5 and faults.stale.on
    faults.reset()
    assert faults.state()["stale_reads_s"] == 0.0 and not faults.stale.on


def test_every_other_call_at_half_so_standard_retries_always_get_through():
    """At 0.5 no two calls in a row are throttled: each throttled call's first retry is answered."""
    faults = ApiFaults()
    faults.configure({"ec2_throttle": 0.5, "seed": 1})
    hits = [faults.throttle_now() for _ in range(100)]
    assert sum(hits) == 50 and not any(a and b for a, b in pairwise(hits))


@pytest.mark.parametrize("case, settings, needle", [
    ("above-one", {"ec2_throttle": 1.5}, "1.5"),
    ("negative", {"ec2_throttle": -0.1}, "-0.1"),
    ("text", {"ec2_throttle": "half"}, "half"),
    ("bool", {"ec2_throttle": True}, "True"),
])
def test_bad_throttle_settings_name_the_value(case, settings, needle):
    faults = ApiFaults()
    with pytest.raises(ValueError, match=needle):
        faults.configure(settings)
    assert faults.ec2_throttle == 0.0, case


def test_faults_must_be_an_object():
    with pytest.raises(TypeError):
        ApiFaults().configure([0.5])


# --- Lambda's invoke faults ---------------------------------------------------------------------
def test_fault_plan_cycles_the_kinds_for_the_chosen_functions():
    plan = FaultPlan()
    assert plan.next_for("f") is None
    plan.set(FAULT_KINDS)
    assert [plan.next_for("f") for _ in FAULT_KINDS] == list(FAULT_KINDS)
    plan.set(["throttle"], functions=["a"])
    assert plan.next_for("a") == "throttle" and plan.next_for("b") is None
    plan.clear()
    assert plan.next_for("a") is None


def test_fault_plan_rejects_unknown_kinds_naming_them():
    with pytest.raises(Exception, match="boom"):
        FaultPlan().set(["throttle", "boom"])


@pytest.mark.parametrize("case, label, expected", [
    ("name", "hanat-lab-probe_a", ("hanat-lab-probe_a", None)),
    ("name+qualifier", "fn:%24LATEST", ("fn", "$LATEST")),
    ("partial-arn", "123456789012:function:fn", ("fn", None)),
    ("arn", "arn:aws:lambda:ap-northeast-1:123456789012:function:fn:3", ("fn", "3")),
])
def test_function_name_of_takes_every_form_invoke_accepts(case, label, expected):
    """Invoke's FunctionName: name, name:qualifier, partial ARN or ARN (Lambda API reference, Invoke)."""
    assert function_name_of(label) == expected, case


def test_timeout_message_is_lambdas_own():
    msg = timeout_message("req-1", 5, at=0)
    assert msg == "1970-01-01T00:00:00.000Z req-1 Task timed out after 5.00 seconds"


# --- nat-boot-offline's gate --------------------------------------------------------------------
def test_boot_gate_holds_only_new_nats_for_the_delay():
    gate = BootGate()
    assert not gate.hold("i-new", 0.0)                # not armed: nothing waits
    gate.arm(20, known=["i-old"])
    assert not gate.applies_to("i-old") and not gate.hold("i-old", 100.0)
    assert gate.hold("i-new", 100.0)                  # first seen now: its clock starts
    assert gate.hold("i-new", 119.9)
    assert not gate.hold("i-new", 120.0)              # booted
    assert gate.boots["i-new"].seen_at == 100.0


def test_boot_gate_rejects_a_negative_delay():
    with pytest.raises(ValueError, match="-1"):
        BootGate().arm(-1, [])


def test_offline_ruleset_drops_and_counts_what_leaves_the_vpc():
    rules = offline_ruleset(True, "10.0.0.0/16")
    assert "ip daddr 10.0.0.0/16 accept" in rules and 'oifname "lo" accept' in rules
    assert f'counter name "{OFFLINE_COUNTER}" drop' in rules
    assert "counter" not in offline_ruleset(False, "10.0.0.0/16").replace("delete table", "")


def test_counted_packets_reads_nft_json():
    listed = {"nftables": [{"metainfo": {}}, {"counter": {"name": OFFLINE_COUNTER, "packets": 3, "bytes": 180}}]}
    assert counted_packets(listed) == 3
    with pytest.raises(ValueError):
        counted_packets({"nftables": []})
