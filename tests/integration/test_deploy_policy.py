"""The generated IAM policies: least privilege, parsed from the files `hanat deploy` writes."""
from __future__ import annotations

import dataclasses
import json

import pytest

from bootstrap.deploy.policy import is_mutating, unconditioned_mutations_on_star
from bootstrap.deploy.stage import write_stage
from chalicelib.errors import InputError
from tests.unit.test_alerts import TOPOLOGY

STAGE = "prod"


@pytest.fixture
def policies(tmp_path):
    topo = dataclasses.replace(TOPOLOGY, probe_security_group_id="sg-probe", launch_template_id="lt-0abc",
                               slack_webhook_parameter="/team/slack-url")
    write_stage(tmp_path, topo, STAGE)
    chalice = tmp_path / ".chalice"
    return (topo, json.loads((chalice / f"policy-{STAGE}.json").read_text()),
            json.loads((chalice / f"policy-{STAGE}-probe.json").read_text()),
            json.loads((chalice / "config.json").read_text()))


def statements_with(policy: dict, action: str) -> list[dict]:
    return [s for s in policy["Statement"] if action in s["Action"]]


def test_no_mutating_action_on_star_without_condition(policies):
    _, controller, probe, _ = policies
    for policy in (controller, probe):
        assert unconditioned_mutations_on_star(policy) == []
        for s in policy["Statement"]:
            resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
            if "*" in resources and any(is_mutating(a) for a in s["Action"]):
                assert s.get("Condition"), s


def test_the_checker_catches_a_bad_statement():
    bad = {"Statement": [{"Sid": "Oops", "Effect": "Allow", "Action": ["ec2:ReplaceRoute", "ec2:DescribeX"],
                          "Resource": "*"}]}
    assert unconditioned_mutations_on_star(bad) == ["Oops: ec2:ReplaceRoute"]


def test_route_changes_only_on_tables_tagged_with_the_stack(policies):
    topo, controller, _, _ = policies
    for action in ("ec2:ReplaceRoute", "ec2:CreateRoute"):
        [s] = statements_with(controller, action)
        assert s["Resource"] == "arn:aws:ec2:ap-northeast-1:123456789012:route-table/*"
        assert s["Condition"] == {"StringEquals": {"aws:ResourceTag/hanat:stack": topo.stack}}


def test_scoped_resources(policies):
    topo, controller, _, _ = policies
    [ddb] = statements_with(controller, "dynamodb:UpdateItem")
    assert ddb["Resource"] == f"arn:aws:dynamodb:ap-northeast-1:123456789012:table/{topo.table_name}"
    [sns] = statements_with(controller, "sns:Publish")
    assert sns["Resource"] == topo.topic_arn
    [ssm] = statements_with(controller, "ssm:GetParameter")
    assert ssm["Resource"] == ["arn:aws:ssm:ap-northeast-1:123456789012:parameter/hanat/demo/*",
                               "arn:aws:ssm:ap-northeast-1:123456789012:parameter/team/slack-url"]
    [put] = statements_with(controller, "ssm:PutParameter")
    assert put["Resource"] == "arn:aws:ssm:ap-northeast-1:123456789012:parameter/hanat/demo/topology"
    [invoke] = statements_with(controller, "lambda:InvokeFunction")
    assert invoke["Resource"] == [f"arn:aws:lambda:ap-northeast-1:123456789012:function:hanat-{STAGE}-probe_{a}"
                                  for a in ("ap_northeast_1a", "ap_northeast_1c")]
    [passrole] = statements_with(controller, "iam:PassRole")
    assert passrole["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
    # exactly this stack's NAT role in this region (IAM is global), and its pre-region name
    assert passrole["Resource"] == ["arn:aws:iam::123456789012:role/hanat-demo-ap-northeast-1-instance",
                                    "arn:aws:iam::123456789012:role/hanat-demo-instance"]


def test_self_healing_actions_are_tag_conditioned(policies):
    topo, controller, _, _ = policies
    for action in ("ec2:AssociateAddress", "ec2:ModifyInstanceAttribute", "ec2:TerminateInstances"):
        [s] = statements_with(controller, action)
        assert s["Condition"]["StringEquals"]["aws:ResourceTag/hanat:stack"] == topo.stack
    launches = statements_with(controller, "ec2:RunInstances")
    created = next(s for s in launches if any(r.endswith(":instance/*") for r in s["Resource"]))
    assert created["Condition"] == {"StringEquals": {"aws:RequestTag/hanat:stack": topo.stack}}
    assert any("launch-template/lt-0abc" in r for s in launches for r in s["Resource"])


def test_probe_role_only_logs_and_enis(policies):
    _, _, probe, _ = policies
    actions = {a for s in probe["Statement"] for a in s["Action"]}
    assert {a.split(":")[0] for a in actions} == {"logs", "ec2"}
    assert {a for a in actions if a.startswith("ec2:") and is_mutating(a)} == {
        "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"}


def test_stage_settings(policies):
    topo, _, _, config = policies
    stage = config["stages"][STAGE]
    assert config["app_name"] == "hanat"
    assert stage["autogen_policy"] is False and stage["iam_policy_file"] == f"policy-{STAGE}.json"
    functions = stage["lambda_functions"]
    assert functions["heartbeat"] == {"reserved_concurrency": 1, "lambda_timeout": 60, "lambda_memory_size": 148}
    probe = functions["probe_ap_northeast_1c"]
    assert probe["subnet_ids"] == [topo.zone("ap-northeast-1c").probe_subnet_id]
    assert probe["security_group_ids"] == ["sg-probe"]
    assert probe["iam_policy_file"] == f"policy-{STAGE}-probe.json"
    assert probe["lambda_timeout"] >= topo.probe.timeout_s + 1


def test_other_stages_are_kept(tmp_path, policies):
    topo = dataclasses.replace(TOPOLOGY, probe_security_group_id="sg-probe")
    write_stage(tmp_path, topo, "a")
    write_stage(tmp_path, topo, "b")
    assert set(json.loads((tmp_path / ".chalice" / "config.json").read_text())["stages"]) == {STAGE, "a", "b"}


def test_topology_gaps_named_at_once(tmp_path):
    topo = dataclasses.replace(TOPOLOGY, topic_arn="", probe_security_group_id="")
    with pytest.raises(InputError) as exc:
        write_stage(tmp_path, topo, STAGE)
    assert len(exc.value.problems) == 2
    assert not (tmp_path / ".chalice").exists()
