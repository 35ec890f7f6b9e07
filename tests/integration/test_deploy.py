"""`hanat deploy` / `hanat package` against the loopback moto server.

Chalice runs as a real subprocess (AWS_ENDPOINT_URL passed through). The project is copied to a
temp dir with an EMPTY requirements.txt: Chalice would otherwise download the Lambda wheels from
PyPI, and tests never leave loopback. Everything else (app.py, chalicelib, the generated
.chalice/config.json and policies) is the real thing.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from chalicelib.aws.params import write_topology
from tests.support import stack as sf
from tests.support.cli import hanat

ROOT = Path(__file__).resolve().parents[2]
STACK = "dep"


def copy_project(dst: Path) -> Path:
    shutil.copy(ROOT / "app.py", dst / "app.py")
    shutil.copytree(ROOT / "chalicelib", dst / "chalicelib", ignore=shutil.ignore_patterns("__pycache__"))
    (dst / ".chalice").mkdir()
    shutil.copy(ROOT / ".chalice" / "config.json", dst / ".chalice" / "config.json")
    (dst / "requirements.txt").write_text("")
    return dst


@pytest.fixture
def deployed_stack(emulator_env, tmp_path, monkeypatch):
    """A moto stack with what deploy needs (probe SG, alerts topic) and a config file naming it."""
    topo = sf.build_stack(stack=STACK, azs=sf.AZS)
    ec2 = boto3.client("ec2")
    sg = ec2.create_security_group(GroupName="probe", Description="probe", VpcId=topo.vpc_id)["GroupId"]
    topic = boto3.client("sns").create_topic(Name=f"hanat-{STACK}-alerts")["TopicArn"]
    topo = dataclasses.replace(topo, probe_security_group_id=sg, topic_arn=topic)
    write_topology(boto3.client("ssm"), topo)
    config = sf.write_config(topo, tmp_path / "hanat.toml")
    project = tmp_path / "project"
    project.mkdir()
    return topo, config, copy_project(project)


def test_deploy_creates_every_function_rule_and_subscription(deployed_stack, capsys):
    topo, config, project = deployed_stack
    code, out, err = hanat(capsys, "deploy", "--config", config, "--project-dir", str(project), "--json")
    assert code == 0, err
    assert json.loads(out)["stage"] == STACK  # the stage defaults to the stack name

    lam = boto3.client("lambda")
    functions = {f["FunctionName"]: f for f in lam.list_functions()["Functions"]}
    probes = {f"hanat-{STACK}-probe_{az.replace('-', '_')}": az for az in topo.azs}
    assert set(functions) == {f"hanat-{STACK}-{n}" for n in
                              ("heartbeat", "on_instance_state", "on_spot_warning", "operate", "notify_slack")} | set(probes)
    for name, az in probes.items():
        vpc = functions[name]["VpcConfig"]
        assert vpc["SubnetIds"] == [topo.zone(az).probe_subnet_id]
        assert vpc["SecurityGroupIds"] == [topo.probe_security_group_id]
    heartbeat = functions[f"hanat-{STACK}-heartbeat"]
    assert heartbeat["Timeout"] == 60 and not heartbeat["VpcConfig"].get("SubnetIds")
    assert lam.get_function_concurrency(FunctionName=heartbeat["FunctionName"])["ReservedConcurrentExecutions"] == 1
    for name in probes:  # a busy account cannot starve the probes
        assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 2
    env = heartbeat["Environment"]["Variables"]
    assert env["HANAT_STACK"] == STACK and env["HANAT_STAGE"] == STACK
    assert env["HANAT_TOPOLOGY_PARAMETER"] == topo.topology_parameter
    assert env["HANAT_ZONES"].split(",") == list(topo.azs)

    rules = {r["Name"]: r for r in boto3.client("events").list_rules()["Rules"]}
    assert rules[f"hanat-{STACK}-heartbeat-event"]["ScheduleExpression"] == "rate(1 minute)"
    pattern = json.loads(rules[f"hanat-{STACK}-on_instance_state-event"]["EventPattern"])
    assert pattern == {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]}
    # issue 20: AWS's spot warnings reach the controller (detail-types: EC2 User Guide, "Spot Instance
    # interruption notices", "EC2 instance rebalance recommendations")
    pattern = json.loads(rules[f"hanat-{STACK}-on_spot_warning-event"]["EventPattern"])
    assert pattern == {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning",
                                                              "EC2 Instance Rebalance Recommendation"]}

    subs = boto3.client("sns").list_subscriptions_by_topic(TopicArn=topo.topic_arn)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"].split(":")[-1]) for s in subs] == [("lambda", f"hanat-{STACK}-notify_slack")]

    # IAM is global: the roles carry the region, so the same stage in another region has its own
    iam = boto3.client("iam")
    role_arn = {f["FunctionName"]: f["Role"] for f in functions.values()}
    controller_role, probe_role = (f"hanat-{STACK}-{sf.REGION}-controller", f"hanat-{STACK}-{sf.REGION}-probe")
    assert role_arn[f"hanat-{STACK}-heartbeat"].endswith(f":role/{controller_role}")
    assert all(role_arn[name].endswith(f":role/{probe_role}") for name in probes)
    assert not [r for r in iam.list_roles()["Roles"] if r["RoleName"] == f"hanat-{STACK}-heartbeat"]
    controller = iam.get_role_policy(RoleName=controller_role, PolicyName="hanat")
    written = json.loads((project / ".chalice" / f"policy-{STACK}.json").read_text())
    assert controller["PolicyDocument"] == written
    probe_doc = iam.get_role_policy(RoleName=probe_role, PolicyName="hanat")["PolicyDocument"]
    assert not any(a.startswith(("ec2:ReplaceRoute", "dynamodb:", "sns:", "lambda:"))
                   for s in probe_doc["Statement"] for a in s["Action"])

    # a second deploy updates in place: same functions, still one subscription
    code, _, err = hanat(capsys, "deploy", "--config", config, "--project-dir", str(project))
    assert code == 0, err
    assert {f["FunctionName"] for f in lam.list_functions()["Functions"]} == set(functions)


def test_deploy_without_stack_fails_naming_it(emulator_env, tmp_path, capsys):
    config = tmp_path / "hanat.toml"
    config.write_text(f'[stack]\nname = "ghost"\nregion = "{sf.REGION}"\nvpc_cidr = "10.0.0.0/16"\n\n'
                      '[[zones]]\naz = "ap-northeast-1a"\n\n[[zones]]\naz = "ap-northeast-1c"\n')
    code, _, err = hanat(capsys, "deploy", "--config", str(config), "--project-dir", str(tmp_path))
    assert code == 1 and "ghost" in err and "hanat up" in err
    assert boto3.client("lambda").list_functions()["Functions"] == []


def test_bad_stage_exits_2(deployed_stack, capsys):
    _, config, project = deployed_stack
    code, _, err = hanat(capsys, "deploy", "--config", config, "--project-dir", str(project), "--stage", "Bad_Stage")
    assert code == 2 and "Bad_Stage" in err
    assert boto3.client("lambda").list_functions()["Functions"] == []


def test_package_output_passes_cfn_lint(deployed_stack, tmp_path, capsys):
    _, config, project = deployed_stack
    out = tmp_path / "out"
    code, _, err = hanat(capsys, "package", "--config", config, "--project-dir", str(project), "--out", str(out))
    assert code == 0, err
    template = out / "sam.json"
    assert template.exists() and (out / "deployment.zip").exists()
    resources = json.loads(template.read_text())["Resources"]
    assert resources["Heartbeat"]["Properties"]["ReservedConcurrentExecutions"] == 1
    lint = subprocess.run([str(Path(sys.executable).with_name("cfn-lint")), str(template)],
                          check=False, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
