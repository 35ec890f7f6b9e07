"""IAM for adoption, with the narrowest conditions: the operator may put only hanat's two tag keys on a route
table (examples/iam-policy-operator-adopt.json), the controller may delete a default route only on a table
carrying both adoption tags of its stack; route moves stay scoped by the stack's resource tag."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from bootstrap.deploy.policy import controller_policy, unconditioned_mutations_on_star
from chalicelib.topology import AdoptedRouteTable
from tests.unit.test_alerts import TOPOLOGY

ROOT = Path(__file__).resolve().parents[2]
ADOPT_POLICY = ROOT / "examples" / "iam-policy-operator-adopt.json"
MANAGED_POLICY_MAX_CHARS = 6144   # IAM customer managed policy size, whitespace not counted
ADOPTED = dataclasses.replace(TOPOLOGY, zones=tuple(
    dataclasses.replace(z, adopted=(AdoptedRouteTable(z.private_route_table_ids[0], "nat-0123456789abcdef0"),))
    for z in TOPOLOGY.zones))


def statement(policy: dict, sid: str) -> dict:
    return next(s for s in policy["Statement"] if s["Sid"] == sid)


def test_operator_may_tag_route_tables_with_hanats_two_keys_only():
    policy = json.loads(ADOPT_POLICY.read_text())
    assert len("".join(ADOPT_POLICY.read_text().split())) <= MANAGED_POLICY_MAX_CHARS
    tag = statement(policy, "Ec2TagListedRouteTablesWithHanatKeysOnly")
    assert (tag["Action"], tag["Resource"]) == ("ec2:CreateTags", "arn:aws:ec2:*:*:route-table/*")
    # ForAllValues alone is also true for a request without tags: the Null check on the stack key closes it
    assert tag["Condition"] == {"ForAllValues:StringEquals": {"aws:TagKeys": ["hanat:stack", "hanat:adopted"]},
                                "StringEquals": {"aws:RequestTag/hanat:adopted": "true"},
                                "Null": {"aws:RequestTag/hanat:stack": "false"}}
    untag = statement(policy, "Ec2UntagAdoptedRouteTablesHanatKeysOnly")
    assert (untag["Action"], untag["Resource"]) == ("ec2:DeleteTags", "arn:aws:ec2:*:*:route-table/*")
    assert untag["Condition"]["ForAllValues:StringEquals"] == {"aws:TagKeys": ["hanat:stack", "hanat:adopted"]}
    assert untag["Condition"]["StringEquals"] == {"aws:ResourceTag/hanat:adopted": "true"}
    assert untag["Condition"]["Null"] == {"aws:TagKeys": "false"}


def test_controller_gives_routes_back_only_on_its_adopted_tables():
    policy = controller_policy(ADOPTED, "prod")
    give_back = statement(policy, "GiveBackAdoptedRoutes")
    assert give_back["Action"] == ["ec2:DeleteRoute"]
    assert give_back["Resource"] == "arn:aws:ec2:ap-northeast-1:123456789012:route-table/*"
    assert give_back["Condition"] == {"StringEquals": {"aws:ResourceTag/hanat:stack": ADOPTED.stack,
                                                       "aws:ResourceTag/hanat:adopted": "true"}}
    move = statement(policy, "MoveRoutesOfThisStack")     # cutover and release to a NAT gateway: tag-scoped
    assert move["Condition"] == {"StringEquals": {"aws:ResourceTag/hanat:stack": ADOPTED.stack}}
    assert not any("ec2:CreateTags" in s["Action"] and "route-table" in json.dumps(s["Resource"])
                   for s in policy["Statement"])           # the controller never tags a table
    assert unconditioned_mutations_on_star(policy) == []


def test_a_stack_that_built_its_vpc_gets_no_give_back_statement():
    assert "GiveBackAdoptedRoutes" not in {s["Sid"] for s in controller_policy(TOPOLOGY, "prod")["Statement"]}


def test_parliament_finds_nothing_in_the_adoption_policies():
    parliament = pytest.importorskip("parliament", reason="parliament is not installed (make lint installs it)")
    adopt = parliament.analyze_policy_string(ADOPT_POLICY.read_text())
    assert [(f.issue, f.detail) for f in adopt.findings] == []
    controller = controller_policy(ADOPTED, "prod")
    controller["Statement"] = [statement(controller, "GiveBackAdoptedRoutes")]
    findings = parliament.analyze_policy_string(json.dumps(controller)).findings
    assert [(f.issue, f.detail) for f in findings] == []
