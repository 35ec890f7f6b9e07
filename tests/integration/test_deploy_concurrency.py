"""Reserved concurrency for the probes and the heartbeat, and accounts whose unreserved floor refuses it:
Lambda answers "Specified ReservedConcurrentExecutions for function decreases account's
UnreservedConcurrentExecution below its minimum value of [10]" (new accounts have a limit of 10); the
deploy still succeeds, without reservations, with a warning naming the limit. moto implements neither
the floor nor GetAccountSettings: both are faked here, around the real stage writing."""
from __future__ import annotations

import dataclasses
import json
import subprocess

import boto3
import pytest

from bootstrap.config import load_config
from bootstrap.deploy import chalice_cli
from bootstrap.deploy.concurrency import PROBE_RESERVED, floor_refusal
from chalicelib.aws import lambda_functions
from chalicelib.aws.params import write_topology
from controller.commands import deploy
from tests.support import stack as sf

FLOOR_ERROR = ("An error occurred (InvalidParameterValueException) when calling the PutFunctionConcurrency "
               "operation: Specified ReservedConcurrentExecutions for function decreases account's "
               "UnreservedConcurrentExecution below its minimum value of [10].")


pytestmark = pytest.mark.stack(stack="cc", azs=sf.AZS[:2])


@pytest.fixture
def deployable(stack, tmp_path):
    """(config, topology with a probe security group and an alert topic, an empty project dir)."""
    topo = dataclasses.replace(stack, probe_security_group_id="sg-probe",
                               topic_arn=f"arn:aws:sns:{sf.REGION}:123456789012:hanat-cc-alerts")
    write_topology(boto3.client("ssm"), topo)
    project = tmp_path / "project"
    project.mkdir()
    return load_config(sf.write_config(topo, tmp_path / "hanat.toml")), topo, project


class FakeChalice:
    """run_chalice stand-in: records the stage config each deploy saw; fails the first ``fail`` deploys."""

    def __init__(self, project, fail: list[str]):
        self.project, self.fail, self.stages = project, list(fail), []

    def __call__(self, args, project_dir, *, region=None, timeout_s=900):
        config = json.loads((self.project / ".chalice" / "config.json").read_text())
        self.stages.append(config["stages"][args[-1]])
        if self.fail:
            raise chalice_cli.ChaliceFailed(f"chalice {' '.join(args)} failed (exit 2):\n{self.fail.pop(0)}")
        return subprocess.CompletedProcess(args, 0, "deployed", "")


def reservations(stage: dict) -> dict:
    return {name: f["reserved_concurrency"] for name, f in stage["lambda_functions"].items()
            if "reserved_concurrency" in f}


def test_probes_and_heartbeat_are_deployed_with_reservations(deployable, monkeypatch):
    cfg, topo, project = deployable
    deploy.write_stage(project, topo, "cc")
    fake = FakeChalice(project, fail=[])
    monkeypatch.setattr(chalice_cli, "run_chalice", fake)
    _, warnings = deploy.deploy_stage(cfg, topo, "cc", project)
    assert warnings == [] and len(fake.stages) == 1
    assert reservations(fake.stages[0]) == {"heartbeat": 1, **{
        f"probe_{az.replace('-', '_')}": PROBE_RESERVED for az in topo.azs}}


@pytest.mark.parametrize("account", [(10, 10), None], ids=["limit-10", "settings-unreadable"])
def test_an_account_that_refuses_reservations_gets_a_deploy_without_them_and_a_warning(deployable, monkeypatch, capsys,
                                                                                          account):
    cfg, topo, project = deployable
    deploy.write_stage(project, topo, "cc")
    fake = FakeChalice(project, fail=[FLOOR_ERROR])
    monkeypatch.setattr(chalice_cli, "run_chalice", fake)
    monkeypatch.setattr(deploy, "_account_concurrency", lambda region: account)
    proc, [warning] = deploy.deploy_stage(cfg, topo, "cc", project)
    assert proc.returncode == 0 and len(fake.stages) == 2
    assert reservations(fake.stages[0]) and reservations(fake.stages[1]) == {}
    assert "keeps 10 unreserved" in warning and "WITHOUT reservations" in warning
    if account:
        assert "concurrency limit is 10 with 10 unreserved" in warning
    else:
        assert "could not be read" in warning
    assert "warning:" in capsys.readouterr().err


def test_other_deploy_failures_are_not_retried(deployable, monkeypatch):
    cfg, topo, project = deployable
    deploy.write_stage(project, topo, "cc")
    fake = FakeChalice(project, fail=["AccessDenied: lambda:CreateFunction"])
    monkeypatch.setattr(chalice_cli, "run_chalice", fake)
    with pytest.raises(chalice_cli.ChaliceFailed):
        deploy.deploy_stage(cfg, topo, "cc", project)
    assert len(fake.stages) == 1


def test_the_floor_is_read_from_lambdas_message():
    assert floor_refusal(FLOOR_ERROR) == 10
    assert floor_refusal(FLOOR_ERROR.replace("[10]", "[100]")) == 100
    assert floor_refusal("ResourceConflictException: function exists") is None


def test_account_settings_adapter_reads_the_limit():
    class FakeLambda:
        def get_account_settings(self):
            return {"AccountLimit": {"ConcurrentExecutions": 50, "UnreservedConcurrentExecutions": 45}}
    assert lambda_functions.account_concurrency(FakeLambda()) == (50, 45)
