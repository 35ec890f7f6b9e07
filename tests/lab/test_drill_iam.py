"""`hanat lab drill` decides every AWS call under IAM as the tests do (issue 18, item 2), run as an operator runs
it: its own process, no pytest hook in its environment (lab/iam/hook.py ``checked`` hooks it). The computed
data plane on lab time (no root, ~30 s a drill).

A call IAM would deny fails the drill: ``HANAT_LAB_IAM_POLICY`` names a policy every caller is also under (an
organization's Deny, e.g.); an explicit Deny wins over every Allow (IAM User Guide, Policy evaluation logic).
"""
from __future__ import annotations

import json
import os

from lab.iam.hook import CHILD_LOG_ENV, CHILD_STAGE_ENV
from lab.iam.recorder import EXTRA_POLICY_ENV
from tests.support.cli import ROOT, hanat_process

DRILL = ("lab", "drill", "--scenario", "blackhole", "--dataplane", "computed", "--no-deploy", "--json")
NO_ROUTE_MOVES = {"Version": "2012-10-17", "Statement": [
    {"Sid": "NoRouteMoves", "Effect": "Deny", "Action": "ec2:ReplaceRoute", "Resource": "*"}]}


def operators_shell(**extra: str) -> dict[str, str]:
    """os.environ without the test run's IAM hook for subprocesses: only the CLI's own check runs."""
    env = {k: v for k, v in os.environ.items() if k not in (CHILD_LOG_ENV, CHILD_STAGE_ENV, EXTRA_POLICY_ENV)}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def drill(env: dict[str, str]):
    run = hanat_process(*DRILL, env=env)
    assert run.out, run.err[-3000:]
    return run, json.loads(run.out)


def test_a_cli_drill_says_iam_is_checked_and_passes_under_the_shipped_policies():
    run, report = drill(operators_shell())
    assert run.code == 0, (report["checks"], report["iam_findings"], run.err[-2000:])
    assert report["checks"]["iam_allows_every_call"] is True and report["iam_findings"] == []
    assert run.err.count("IAM: every AWS call is decided by lab/iam") == 1
    assert "examples/iam-policy-operator.json" in run.err and EXTRA_POLICY_ENV not in run.err


def test_a_call_iam_denies_fails_the_cli_drill_naming_action_resource_and_context(tmp_path):
    policy = tmp_path / "org-deny.json"
    policy.write_text(json.dumps(NO_ROUTE_MOVES))
    run, report = drill(operators_shell(**{EXTRA_POLICY_ENV: str(policy)}))
    assert run.code == 1 and not report["passed"] and report["checks"]["iam_allows_every_call"] is False
    failover = [f for f in report["iam_findings"] if f.startswith("[controller] ec2.ReplaceRoute")]
    assert failover, report["iam_findings"]
    assert all(":route-table/rtb-" in f and "explicit deny by extra:org-deny.json/NoRouteMoves" in f
               and "request context: {'aws:RequestedRegion': 'ap-northeast-1'" in f for f in failover)
    assert "each also under extra:org-deny.json (HANAT_LAB_IAM_POLICY)" in " ".join(run.err.split())


def test_an_unreadable_extra_policy_is_bad_input_before_anything_starts(tmp_path):
    run = hanat_process(*DRILL, env=operators_shell(**{EXTRA_POLICY_ENV: str(tmp_path / "missing.json")}))
    assert run.code == 2 and "missing.json" in run.err and "drill blackhole" not in run.err
