"""The calls spot NATs add (issue 20, item 4), evaluated under the policies hanat writes and ships (lab/iam).

A spot launch is the same RunInstances with ``InstanceMarketOptions``: the instance carries the condition key
``ec2:InstanceMarketType`` = spot, and EC2 also creates a spot instance request, which hanat tags on create
(chalicelib/aws/markets.py ``spot_request_tags``; EC2 User Guide, "Example policies to control access the
Amazon EC2 API", Work with Spot Instances: RunInstances authorizes ``spot-instances-request``, tagged with
``ec2:CreateAction`` = RunInstances). The controller reads scheduled events with DescribeInstanceStatus.

parliament's copy of the Service Authorization Reference lists no ``spot-instances-request`` resource for
ec2:RunInstances (it does for ec2:CreateTags); lab/iam/reference.py adds the row (ADDED_RESOURCE_TYPES), so the
recorder decides that part of a spot launch too (tests/unit/test_iam_pass_role_and_spot.py); it is also
checked on the policy document here.
"""
from __future__ import annotations

import dataclasses
import fnmatch

import pytest

from bootstrap.deploy.policy import controller_policy
from lab.iam.evaluate import Request, Resource, evaluate
from tests.unit.test_policy_calls import (
    ADOPTED,
    EC2,
    NAT,
    OWN,
    ZONE,
    operator_policies,
    run_nat_instance,
    tags,
)

NAT_TAGS = tags("nat", ZONE.az)
SPOT_REQUEST = f"{EC2}:spot-instances-request/*"


def spot_launch(role_tags: dict[str, str]) -> Request:
    """The replacement's RunInstances with InstanceMarketOptions MarketType spot."""
    launch = run_nat_instance(role_tags)
    return dataclasses.replace(launch, resources=[
        dataclasses.replace(r, keys={**r.keys, "ec2:InstanceMarketType": "spot"}) if ":instance/" in r.arn else r
        for r in launch.resources])


def tag_spot_request(role_tags: dict[str, str], create_action: str | None) -> Request:
    return Request("ec2:CreateTags", [Resource(SPOT_REQUEST, request_tags=role_tags)],
                   {"ec2:CreateAction": create_action})


def controller() -> dict:
    return {"controller": controller_policy(ADOPTED, "dev")}


ALLOWED = [
    ("controller-launches-spot-replacement", controller, spot_launch(NAT_TAGS)),
    ("controller-tags-spot-request-on-launch", controller, tag_spot_request(NAT_TAGS, "RunInstances")),
    ("controller-reads-scheduled-events", controller, Request("ec2:DescribeInstanceStatus", [])),
    ("operator-up-launches-spot-nat", operator_policies, spot_launch(NAT_TAGS)),
    ("operator-up-tags-spot-request-on-launch", operator_policies, tag_spot_request(NAT_TAGS, "RunInstances")),
]


@pytest.mark.parametrize("policies,request_", [c[1:] for c in ALLOWED], ids=[c[0] for c in ALLOWED])
def test_spot_calls_are_allowed(policies, request_):
    decision = evaluate(policies(), request_)
    assert decision.allowed, decision.reason


DENIED = [
    ("controller-tags-spot-request-after-launch", tag_spot_request(NAT_TAGS, None)),
    ("controller-launches-untagged-spot", spot_launch({"Name": "x"})),
    ("controller-retags-stack-nat-market", Request("ec2:CreateTags", [Resource(NAT, tags=OWN, request_tags={
        "hanat:stack": "other"})], {"ec2:CreateAction": None})),
]


@pytest.mark.parametrize("request_", [c[1] for c in DENIED], ids=[c[0] for c in DENIED])
def test_spot_does_not_widen_the_controller_policy(request_):
    decision = evaluate(controller(), request_)
    assert not decision.allowed, decision.reason


def _grants(policy: dict, action: str, resource: str) -> list[dict]:
    return [s for s in policy["Statement"] if s["Effect"] == "Allow"
            and any(fnmatch.fnmatchcase(action, a) for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))
            and any(fnmatch.fnmatchcase(resource, r) for r in ([s["Resource"]] if isinstance(s["Resource"], str)
                                                               else s["Resource"]))]


def test_run_instances_on_the_spot_request_is_granted_only_with_the_stack_tag():
    """The spot request a spot launch creates (a RunInstances row parliament lacks, added in lab/iam/reference.py)
    is allowed, and only when it carries the stack's tag, by both policies: read on the documents."""
    spot_request = f"{EC2}:spot-instances-request/sir-0123"
    grants = _grants(controller_policy(ADOPTED, "dev"), "ec2:RunInstances", spot_request)
    assert grants and all("aws:RequestTag/hanat:stack" in str(s.get("Condition")) for s in grants)
    operator = [s for p in operator_policies().values() for s in _grants(p, "ec2:RunInstances", spot_request)]
    # the operator's: a new request tagged with the stack (up), or one that already carries it
    assert operator and all(any(f"aws:{kind}/hanat:stack" in str(s.get("Condition"))
                                for kind in ("RequestTag", "ResourceTag")) for s in operator)
