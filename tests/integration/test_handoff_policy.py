"""The controller policy's handoff statement (issue 13): CreateTags/DeleteTags only on the stack's NAT
instances and only for hanat:handoff:* keys, parliament-clean."""
from __future__ import annotations

import dataclasses
import json

from bootstrap.deploy.policy_lint import findings
from bootstrap.deploy.stage import write_stage
from tests.unit.test_alerts import TOPOLOGY


def controller_policy(tmp_path) -> dict:
    topo = dataclasses.replace(TOPOLOGY, probe_security_group_id="sg-probe", launch_template_id="lt-0abc")
    write_stage(tmp_path, topo, "prod")
    return json.loads((tmp_path / ".chalice" / "policy-prod.json").read_text())


def test_tagging_is_allowed_only_for_handoff_keys_on_the_stacks_instances(tmp_path):
    policy = controller_policy(tmp_path)
    tagging = [s for s in policy["Statement"] if "ec2:DeleteTags" in s["Action"]]
    [s] = tagging   # the only statement that may delete tags
    assert sorted(s["Action"]) == ["ec2:CreateTags", "ec2:DeleteTags"]
    assert s["Resource"] == "arn:aws:ec2:ap-northeast-1:123456789012:instance/*"
    assert s["Condition"]["StringEquals"] == {"aws:ResourceTag/hanat:stack": TOPOLOGY.stack}
    assert s["Condition"]["ForAllValues:StringLike"] == {"aws:TagKeys": ["hanat:handoff:*"]}
    # "The ForAllValues set operator also returns true if there are no context keys in the request"
    # (IAM User Guide, Multivalued context key examples): a DeleteTags without keys (= every tag) is refused
    assert s["Condition"]["Null"] == {"aws:TagKeys": "false"}


def test_the_policy_with_the_handoff_statement_is_parliament_clean(tmp_path):
    assert findings({"controller": controller_policy(tmp_path)}) == []
