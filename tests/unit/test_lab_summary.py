"""`make demo`'s summary (lab.drills.summary): one line per drill, its own figures on indented lines
below, readable at 100 columns."""
from __future__ import annotations

from lab.drills.report import DrillReport
from lab.drills.summary import HEADER, MAX_IAM_FINDINGS, summary_lines

A, C, D = "ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d"
EIP = {A: "203.0.113.101", C: "203.0.113.102", D: "203.0.113.103"}


def drill(scenario: str, **kw) -> DrillReport:
    base = {"dataplane": "netns", "zone": A, "passed": True, "checks": {"routes_ok": True}, "detection_s": 2.95,
            "rto_s": 3.41, "failovers": 1, "reverts": 1, "alerts": ["[hanat] failover", "slack: [hanat] failover"],
            "egress_ip_before": EIP[A], "egress_ip_after": EIP[A], "egress_ips_during": [EIP[C]], "routes_ok": True,
            "connections_open": 8, "connections_broken": 2, "max_stall_s": 0.31}
    return DrillReport(scenario=scenario, **{**base, **kw})


def cutover_zone(az: str) -> dict:
    return {"failed_requests_at_cutover": 0, "failed_requests_at_release": 1, "egress_ip_before": "203.0.113.51",
            "egress_ip_after": EIP[az], "egress_ip_after_release": "203.0.113.52"}


def roll_zone(az: str) -> dict:
    return {"failed_requests": 0, "egress_ip_before": EIP[az], "egress_ip_after": EIP[az]}


REPORTS = [
    drill("blackhole"),
    drill("flaky", failovers=0, reverts=0, detection_s=None, rto_s=0.0, egress_ips_during=[]),
    drill("all-down", passed=False, rto_s=None, routes_ok=False, connections_open=None, connections_broken=None,
          max_stall_s=None, checks={"one_critical_alert": False, "nothing_moved": False, "routes_ok": True},
          error="RetryExhaustedError: lab.wait: steady state not reached within 90s (zones "
                "ap-northeast-1a, ap-northeast-1c, ap-northeast-1d still DOWN after the recovery)"),
    drill("cutover", figures={"zones": {az: cutover_zone(az) for az in (A, C, D)}}),
    drill("roll", failovers=3, reverts=3, figures={"roll_s": 212.4, "zones": {az: roll_zone(az) for az in (A, C, D)}}),
    drill("heartbeat-stopped", failovers=0, reverts=0, detection_s=None, rto_s=None,
          figures={"alarm": "hanat-demo-heartbeat-missing", "alarm_after_first_empty_period_lab_minutes": 3,
                   "alarm_after_stop_s": 11.52, "lab_minute_s": 3.0}),
    drill("nat-boot-offline", dataplane="netns", figures={"nat_setup_s": 4.1, "nat_sent_outside_vpc": 0}),
]


def test_every_line_fits_in_100_columns():
    lines = summary_lines(REPORTS, width=100)
    too_wide = [line for line in lines if len(line) > 100]
    assert not too_wide, too_wide


def test_one_line_per_drill_with_the_figures_every_drill_has():
    lines = summary_lines(REPORTS)
    assert lines[0] == "hanat lab drills: 6 of 7 passed (netns data plane)"
    assert lines[1] == HEADER
    drill_lines = [line for line in lines if not line.startswith(" ")][2:]
    assert [line.split()[:2] for line in drill_lines] == [
        [r.scenario, "passed" if r.passed else "FAILED"] for r in REPORTS]
    blackhole = drill_lines[0].split()
    assert blackhole == ["blackhole", "passed", "2.95s", "3.41s", "1/1/0", "2", "ok", "8/2", "0.31s"]
    assert drill_lines[2].split() == ["all-down", "FAILED", "2.95s", "-", "1/1/0", "2", "wrong", "-", "-"]


def test_the_drills_own_figures_follow_their_line_indented():
    lines = summary_lines(REPORTS)
    block: dict[str, list[str]] = {}
    for line in lines[2:]:
        if not line.startswith(" "):
            current = block.setdefault(line.split()[0], [])
        else:
            current.append(line)
    assert all(line.startswith("    ") for details in block.values() for line in details)
    text = {name: " ".join(part.strip() for part in details) for name, details in block.items()}
    assert text["blackhole"] == f"egress {EIP[A]} -> {EIP[A]} (during: {EIP[C]})"
    assert "failed: one_critical_alert, nothing_moved" in text["all-down"]
    assert "error: RetryExhaustedError: lab.wait: steady state not reached within 90s" in text["all-down"]
    for az in (A, C, D):   # each zone's clause starts a line of its own
        assert any(line.startswith(f"    {az}: failed 0/1 (cutover/release), egress 203.0.113.51 -> ")
                   for line in block["cutover"])
        assert f"{az}: failed 0/1 (cutover/release), egress 203.0.113.51 -> {EIP[az]} -> 203.0.113.52" in \
            text["cutover"]
        assert f"    {az}: failed 0, egress {EIP[az]} -> {EIP[az]}" in block["roll"]
    assert "    roll 212.4 s" in block["roll"]
    assert text["heartbeat-stopped"].endswith(
        "hanat-demo-heartbeat-missing true 3 lab-min after the first period without a sweep "
        "(11.52 s after the stop; lab minute 3.0 s)")
    assert block["nat-boot-offline"] == [f"    egress {EIP[A]} -> {EIP[A]} (during: {EIP[C]})"]


DENIED = ("[controller] ec2.ReplaceRoute from chalicelib/aws/claims.py:move: denied under ['controller-policy(lab, "
          "lab)', 'extra:org.json']: ec2:ReplaceRoute arn:aws:ec2:ap-northeast-1:123456789012:route-table/rtb-1 "
          "(route-table): explicit deny by extra:org.json/NoMoves; request context: {'aws:RequestedRegion': "
          "'ap-northeast-1', 'ec2:CreateAction': None}")


def test_a_drill_iam_failed_names_each_denied_call_once_with_action_resource_and_context():
    """`hanat lab drill`'s human output (issue 18, item 2): the finding in full (action, resource, context), the
    same call made again counted, not repeated; at most MAX_IAM_FINDINGS different ones."""
    r = drill("blackhole")
    r.judge({"routes_ok": True})
    r.add_iam_findings([DENIED, DENIED, DENIED])
    assert not r.passed and r.checks["iam_allows_every_call"] is False and r.to_dict()["iam_findings"] == [DENIED] * 3
    text = " ".join(line.strip() for line in summary_lines([r], width=100))
    assert "failed: iam_allows_every_call" in text
    assert f"IAM: {DENIED} (3 calls)" in text and text.count("ec2.ReplaceRoute") == 1
    many = drill("stop")
    many.judge({"routes_ok": True})
    many.add_iam_findings([DENIED.replace("rtb-1", f"rtb-{i}") for i in range(8)])
    text = " ".join(line.strip() for line in summary_lines([many], width=100))
    assert text.count("IAM: [controller]") == MAX_IAM_FINDINGS and "IAM: 3 more (--json lists every call)" in text


def test_a_run_without_the_iam_check_adds_no_check_and_a_clean_one_passes():
    unchecked, clean = drill("blackhole"), drill("blackhole")
    for r in (unchecked, clean):
        r.judge({"routes_ok": True})
    unchecked.add_iam_findings(None)
    clean.add_iam_findings([])
    assert unchecked.passed and "iam_allows_every_call" not in unchecked.checks
    assert clean.passed and clean.checks["iam_allows_every_call"] is True
