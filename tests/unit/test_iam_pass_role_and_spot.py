"""Two requests IAM decides that lab/iam did not model (issue 18, item 2's last gaps), each modelled
(lab/iam/requests.py, lab/iam/reference.py) and granted by the policies hanat ships and writes, for the
stack only.

- ``AddRoleToInstanceProfile`` is also ``iam:PassRole`` on the role (IAM API Reference,
  AddRoleToInstanceProfile: "The caller of this operation must be granted the PassRole permission on the
  IAM role by a permissions policy"; iam:AssociatedResourceArn ``arn:aws:ec2:*:<account>:instance/*``).
  `hanat up` adds the NAT role to its profile (bootstrap/stack/executor.py) under
  examples/iam-policy-operator.json.
- A spot launch (RunInstances with ``InstanceMarketOptions`` MarketType spot) also authorizes the
  ``spot-instances-request`` it creates, with the tags the request puts on it (EC2 User Guide, "Tag Spot
  Instance requests"; Service Authorization Reference, Amazon EC2, RunInstances; parliament 1.6.4's copy
  lacks the row), and its instance carries ``ec2:InstanceMarketType``. The controller (bootstrap/deploy/policy.py)
  and the operator launch spot NATs (chalicelib/aws/instances.py, bootstrap/stack/executor.py).

The MODEL rows fail without the request model; the ALLOWED rows fail without the policies' grants; the
DENIED rows show the grants reach the stack's resources only.
"""
from __future__ import annotations

import pytest

from bootstrap.deploy.policy import controller_policy
from chalicelib.aws.markets import SPOT, market_options, spot_request_tags
from chalicelib.naming import instance_role_name
from lab.iam.evaluate import evaluate
from lab.iam.requests import Call, requests_for
from tests.unit.test_iam_requests import FakeLook
from tests.unit.test_policy_calls import (
    ACCOUNT,
    ADOPTED,
    EC2,
    OWN,
    REGION,
    STACK,
    ZONE,
    operator_policies,
    tags,
)

ROLE = instance_role_name(STACK, REGION)
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"
NAT_TAGS = [{"Key": k, "Value": v} for k, v in tags("nat", ZONE.az).items()]
SPOT_REQUEST = f"{EC2}:spot-instances-request/*"


class StackLook(FakeLook):
    """The adopted stack in the emulator: its template, group and NATs carry the stack tag, the user's subnet none."""

    def ec2_tags(self, resource_id):
        return dict(OWN) if resource_id.startswith(("lt-", "sg-", "i-", "eipalloc-")) else {}

    def launch_template(self, ident):
        return ADOPTED.launch_template_id, {"ImageId": "ami-0123456789abcdef0", "IamInstanceProfile": {"Name": ROLE}}

    def instance_profile_role(self, profile):
        return f"arn:aws:iam::{ACCOUNT}:role/{profile['Name']}"


def add_role(role: str = ROLE) -> Call:
    return Call("iam", "AddRoleToInstanceProfile", {"InstanceProfileName": role, "RoleName": role}, REGION)


def launch(market: str, nat_tags=NAT_TAGS, request_tags=None) -> Call:
    """The replacement's RunInstances as chalicelib/aws/instances.py ``launch_from_template`` sends it."""
    options = market_options(market)
    params = {"LaunchTemplate": {"LaunchTemplateId": ADOPTED.launch_template_id, "Version": "$Default"},
              "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": ZONE.public_subnet_id,
                                     "AssociatePublicIpAddress": True, "DeleteOnTermination": True,
                                     "Groups": [ADOPTED.nat_security_group_id]}],
              "MinCount": 1, "MaxCount": 1,
              "TagSpecifications": [{"ResourceType": k, "Tags": nat_tags} for k in ("instance", "network-interface",
                                                                                     "volume")]
              + spot_request_tags(options, nat_tags if request_tags is None else request_tags)}
    if options:
        params["InstanceMarketOptions"] = options
    return Call("ec2", "RunInstances", params, REGION)


def requests_of(call: Call):
    return requests_for(call, StackLook())


# (id, call, action, resource ARN, that resource's request tags, keys stated for it or for the request)
MODEL = [
    ("add-role-to-profile-is-pass-role-on-the-role", add_role(), "iam:PassRole", ROLE_ARN, None,
     {"iam:PassedToService": None, "iam:AssociatedResourceArn": f"arn:aws:ec2:*:{ACCOUNT}:instance/*"}),
    ("spot-launch-authorizes-its-spot-request", launch(SPOT), "ec2:RunInstances", SPOT_REQUEST,
     tags("nat", ZONE.az), {}),
    ("spot-launch-tags-its-spot-request-on-create", launch(SPOT), "ec2:CreateTags", SPOT_REQUEST,
     tags("nat", ZONE.az), {"ec2:CreateAction": "RunInstances"}),
    ("spot-launch-instance-market-type", launch(SPOT), "ec2:RunInstances", f"{EC2}:instance/*",
     tags("nat", ZONE.az), {"ec2:InstanceMarketType": "spot"}),
    ("on-demand-launch-instance-market-type", launch("on-demand"), "ec2:RunInstances", f"{EC2}:instance/*",
     tags("nat", ZONE.az), {"ec2:InstanceMarketType": "on-demand"}),
]


@pytest.mark.parametrize("call,action,arn,request_tags,keys", [m[1:] for m in MODEL], ids=[m[0] for m in MODEL])
def test_the_request_model_states_what_iam_decides(call, action, arn, request_tags, keys):
    request = next(r for r in requests_of(call) if r.action == action)
    resource = next((r for r in request.resources if r.arn == arn), None)
    assert resource is not None, [r.arn for r in request.resources]
    assert resource.request_tags == request_tags
    assert {k: {**request.context, **resource.keys}.get(k, "absent") for k in keys} == keys


def test_an_on_demand_launch_authorizes_no_spot_request():
    assert not any("spot-instances-request" in r.arn for q in requests_of(launch("on-demand")) for r in q.resources)


def controller() -> dict:
    return {"controller": controller_policy(ADOPTED, "dev")}


# (id, policies, call): every request of the call is allowed
ALLOWED = [
    ("operator-up-adds-the-nat-role-to-its-profile", operator_policies, add_role()),
    ("controller-launches-a-spot-replacement", controller, launch(SPOT)),
    ("controller-launches-an-on-demand-replacement", controller, launch("on-demand")),
    ("operator-up-launches-a-spot-nat", operator_policies, launch(SPOT)),
]


@pytest.mark.parametrize("policies,call", [a[1:] for a in ALLOWED], ids=[a[0] for a in ALLOWED])
def test_the_shipped_and_written_policies_grant_it(policies, call):
    for request in requests_of(call):
        decision = evaluate(policies(), request)
        assert decision.allowed, decision.reason


OTHER_STACK = [{"Key": "hanat:stack", "Value": "other"}]
DENIED = [
    ("operator-adds-a-role-not-hanats-to-a-profile", operator_policies, add_role("admin")),
    ("controller-spot-request-untagged", controller, launch(SPOT, request_tags=[{"Key": "Name", "Value": "x"}])),
    ("controller-spot-request-of-another-stack", controller, launch(SPOT, request_tags=OTHER_STACK)),
    ("operator-spot-request-untagged", operator_policies, launch(SPOT, request_tags=[])),
]


@pytest.mark.parametrize("policies,call", [d[1:] for d in DENIED], ids=[d[0] for d in DENIED])
def test_the_grants_reach_the_stacks_roles_and_tagged_requests_only(policies, call):
    decisions = [evaluate(policies(), request) for request in requests_of(call)]
    assert not all(d.allowed for d in decisions), [d.reason for d in decisions]
