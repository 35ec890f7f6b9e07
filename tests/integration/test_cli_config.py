"""`hanat plan/up` and the configuration: the probe timeout rule, the published DupsWorks example."""
from __future__ import annotations

import json
import os
from pathlib import Path

import boto3

from chalicelib.settings import MAX_PROBE_TIMEOUT_S
from tests.integration.test_cli_stack import REGION
from tests.support.cli import hanat

ROOT = Path(__file__).resolve().parents[2]
DUPSWORKS_EXAMPLE = ROOT / "examples" / "dupsworks-settings.cfg"
CONFIG = """
[stack]
name = "timeouts"
region = "ap-northeast-1"
vpc_cidr = "10.9.0.0/16"

[[zones]]
az = "ap-northeast-1a"

[[zones]]
az = "ap-northeast-1c"

[probe]
timeout_s = {timeout}
targets = ["tcp://203.0.113.10:443"]
"""


def test_probe_timeout_over_the_probe_limit_is_refused_before_any_change(emulator_env, tmp_path, capsys):
    path = tmp_path / "hanat.toml"
    path.write_text(CONFIG.format(timeout=28))
    for command in ("plan", "up"):
        run = hanat(capsys, command, "--config", str(path))
        assert run.code == 2, (command, run.err)
        assert f"probe.timeout_s must be at most {MAX_PROBE_TIMEOUT_S:g} seconds, got 28" in run.err
    assert boto3.client("ec2", region_name=REGION).describe_vpcs(
        Filters=[{"Name": "tag:hanat:stack", "Values": ["timeouts"]}])["Vpcs"] == []


def test_probe_timeout_at_the_limit_is_planned(emulator_env, tmp_path, capsys):
    path = tmp_path / "hanat.toml"
    path.write_text(CONFIG.format(timeout=MAX_PROBE_TIMEOUT_S))
    run = hanat(capsys, "plan", "--config", str(path), "--json")
    assert run.code == 0, run.err


def test_published_dupsworks_example_plans(emulator_env, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)                  # the path is relative, as an operator in a clone gives it
    iam = boto3.client("iam", region_name=REGION)
    for user in ("alice", "bob"):            # the users its [[stack_permissions]] grant access to
        iam.create_user(UserName=user)
    run = hanat(capsys, "plan", "--config", os.path.relpath(DUPSWORKS_EXAMPLE, ROOT), "--json")
    assert run.code == 0, run.err
    plan = json.loads(run.out)
    assert plan["stack"] == "mystack" and plan["changes"] > 0
    for warning in ("OptionalSettings.instance_type_nat t1.micro", "section [OpsWorks]",
                    "hanat probes TCP, not ICMP"):
        assert warning in " ".join(run.err.split()), run.err


def test_metrics_level_is_validated_with_the_rest_and_priced_by_cost(emulator_env, tmp_path, capsys):
    path = tmp_path / "hanat.toml"
    base = CONFIG.format(timeout=2)
    path.write_text(base + '\n[metrics]\nlevel = "most"\n')
    for command in ("plan", "cost"):
        run = hanat(capsys, command, "--config", str(path))
        assert run.code == 2, (command, run.err)
        assert "metrics.level 'most' must be one of off, essential, full" in run.err
    path.write_text(base + '\n[metrics]\nlevel = "essential"\n')
    run = hanat(capsys, "cost", "--config", str(path), "--json")
    assert run.code == 0, run.err
    lines = {line["item"]: line for line in json.loads(run.out)["hanat"]["lines"]}
    metrics = lines["CloudWatch custom metrics (NAT counters)"]     # 2 zones x 11 metrics x $0.30 (prices.toml)
    assert metrics["monthly_usd"] == 6.6 and "2 zones x 11 metrics" in metrics["detail"]
    path.write_text(base)
    run = hanat(capsys, "cost", "--config", str(path), "--json")
    assert "CloudWatch custom metrics (NAT counters)" not in {x["item"] for x in json.loads(run.out)["hanat"]["lines"]}
