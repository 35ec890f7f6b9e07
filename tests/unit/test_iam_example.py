"""examples/iam-policy-operator.json: a valid, scoped policy that covers every call the adapters make."""
from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

import botocore.session
import pytest
from botocore import xform_name

from lab.iam.evaluate import Request, Resource, evaluate

ROOT = Path(__file__).resolve().parents[2]
POLICY_PATH = ROOT / "examples" / "iam-policy-operator.json"
MANAGED_POLICY_MAX_CHARS = 6144   # IAM customer managed policy size, whitespace not counted

# Operator-side adapters: the stack builder and the controller's AWS adapters (used by the CLI's
# direct operations). Only adapters may call boto3, so these files hold every API call.
ADAPTER_FILES = sorted([*ROOT.glob("bootstrap/stack/*.py"), *ROOT.glob("chalicelib/aws/*.py")])
CLIENT_VARIABLES = {"ec2": "ec2", "iam": "iam", "ssm": "ssm", "dynamodb": "dynamodb", "sns": "sns",
                    "events": "events", "logs": "logs", "sts": "sts", "lambda_client": "lambda",
                    "cloudwatch": "cloudwatch"}
# API operations whose IAM permission has another name (or several).
IAM_ACTIONS_FOR = {
    ("lambda", "Invoke"): ("lambda:InvokeFunction",),
    ("dynamodb", "TransactWriteItems"): ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                                         "dynamodb:ConditionCheckItem"),
    ("dynamodb", "TransactGetItems"): ("dynamodb:GetItem",),
}
# Only actions AWS cannot scope to a resource may use Resource "*": ec2:Describe* (most describes), and
# the actions that have no resource type at all in the Service Authorization Reference (parliament's copy).
UNSCOPABLE_BY_DESIGN = ("ec2:Describe*",)


def takes_no_resource(action: str) -> bool:
    from parliament.statement import get_privilege_info

    service, name = action.split(":")
    types = [t["resource_type"] for t in get_privilege_info(service, name)["resource_types"]]
    return types in ([], [""])


@pytest.fixture(scope="module")
def policy() -> dict:
    return json.loads(POLICY_PATH.read_text())


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_is_a_valid_policy_document(policy):
    assert policy["Version"] == "2012-10-17"
    statements = policy["Statement"]
    assert isinstance(statements, list) and statements
    sids = [s.get("Sid") for s in statements]
    assert len(set(sids)) == len(sids) and all(sid and sid.isalnum() for sid in sids)
    for s in statements:
        assert {"Effect", "Action", "Resource"} <= set(s), s.get("Sid")
        assert s["Effect"] == "Allow"
        for action in as_list(s["Action"]):
            assert re.fullmatch(r"[a-z0-9]+:[A-Za-z*]+", action), action
            assert action.split(":")[1] != "*", f"{s['Sid']}: whole-service wildcard {action}"
        for resource in as_list(s["Resource"]):
            assert resource == "*" or resource.startswith("arn:aws:"), resource


def test_fits_in_one_managed_policy():
    assert len("".join(POLICY_PATH.read_text().split())) <= MANAGED_POLICY_MAX_CHARS


def test_resource_star_only_for_unscopable_actions(policy):
    for s in policy["Statement"]:
        if "*" in as_list(s["Resource"]):
            for action in as_list(s["Action"]):
                assert action in UNSCOPABLE_BY_DESIGN or takes_no_resource(action), (s["Sid"], action)


@pytest.mark.parametrize("action", ["sns:Unsubscribe", "sns:GetSubscriptionAttributes", "lambda:GetAccountSettings"])
def test_actions_without_a_resource_type_are_granted_on_star(policy, action):
    """sns:Unsubscribe / GetSubscriptionAttributes take no resource ARN (Chalice calls the latter on every
    redeploy): on a topic ARN they are never allowed."""
    assert takes_no_resource(action)
    assert any(action in as_list(s["Action"]) and s["Resource"] == "*" for s in policy["Statement"])


def test_users_can_be_tagged_with_the_run_as_key_and_only_to_hanat_user(policy):
    """hanat writes SSMSessionRunAs=hanat-user (permissions.allow_sudo = false), and removes it on down."""
    [s] = [s for s in policy["Statement"] if "iam:TagUser" in as_list(s["Action"])]
    assert set(as_list(s["Action"])) == {"iam:TagUser", "iam:UntagUser"}
    assert set(s["Condition"]["ForAllValues:StringLike"]["aws:TagKeys"]) == {"hanat:*", "SSMSessionRunAs"}
    assert s["Condition"]["StringEqualsIfExists"] == {"aws:RequestTag/SSMSessionRunAs": "hanat-user"}


def test_launches_may_resolve_public_ami_aliases_and_read_the_run_as_preference(policy):
    """resolve:ssm: launches need ssm:GetParameters on the parameter (EC2 User Guide); up reads
    SSM-SessionManagerRunShell to report whether Run As is enabled."""
    assert any("ssm:GetParameters" in as_list(s["Action"]) and
               "arn:aws:ssm:*:*:parameter/aws/service/*" in as_list(s["Resource"]) for s in policy["Statement"])
    assert any("ssm:GetDocument" in as_list(s["Action"]) and
               as_list(s["Resource"]) == ["arn:aws:ssm:*:*:document/SSM-SessionManagerRunShell"]
               for s in policy["Statement"])


def test_named_resources_are_the_stacks_own(policy):
    for s in policy["Statement"]:
        service = as_list(s["Action"])[0].split(":")[0]
        for resource in as_list(s["Resource"]):
            if resource == "*":
                continue  # only unscopable actions, checked above
            if service in ("iam",) and ":user/" in resource:
                assert "Condition" in s or all(a.startswith(("iam:Get", "iam:List")) for a in as_list(s["Action"]))
            elif service in ("iam", "dynamodb", "sns", "lambda", "events", "cloudwatch"):
                assert resource.split(":")[-1].split("/")[-1].startswith("hanat-"), resource
            elif service == "ssm":
                assert ("parameter/hanat/" in resource or "parameter/aws/service/" in resource
                        or resource.endswith(":document/SSM-SessionManagerRunShell")), resource


def test_ec2_changes_need_the_stack_tag(policy):
    """Every EC2 write is tied to the hanat:stack tag (on the request or on the resource)."""
    for s in policy["Statement"]:
        actions = [a for a in as_list(s["Action"]) if a.startswith("ec2:") and not a.startswith("ec2:Describe")]
        if not actions or s["Sid"] == "Ec2LaunchImages":
            continue
        condition = json.dumps(s.get("Condition", {}))
        assert "hanat:stack" in condition or "ec2:CreateAction" in condition, s["Sid"]
    launch = next(s for s in policy["Statement"] if s["Sid"] == "Ec2LaunchImages")
    assert as_list(launch["Action"]) == ["ec2:RunInstances"]
    assert all("image/" in r or "key-pair/" in r for r in as_list(launch["Resource"]))


def test_pass_role_is_limited_to_ec2_and_lambda(policy):
    """...IfExists: AddRoleToInstanceProfile's PassRole names no service (lab/iam/requests.py); every PassRole
    that names one must name EC2 or Lambda."""
    s = next(s for s in policy["Statement"] if "iam:PassRole" in as_list(s["Action"]))
    assert s["Resource"] == "arn:aws:iam::*:role/hanat-*"
    assert set(s["Condition"]["StringEqualsIfExists"]["iam:PassedToService"]) == {"ec2.amazonaws.com",
                                                                                  "lambda.amazonaws.com"}
    role = "arn:aws:iam::123456789012:role/hanat-s-ap-northeast-1-instance"
    for service, allowed_ in (("ec2.amazonaws.com", True), ("lambda.amazonaws.com", True),
                              ("glue.amazonaws.com", False), ("ecs-tasks.amazonaws.com", False)):
        decision = evaluate([policy], Request("iam:PassRole", [Resource(role)], {
            "iam:PassedToService": service, "iam:AssociatedResourceArn": None}))
        assert decision.allowed is allowed_, decision.reason


def allowed(policy: dict, action: str) -> bool:
    return any(fnmatch.fnmatchcase(action, pattern)
               for s in policy["Statement"] if s["Effect"] == "Allow" for pattern in as_list(s["Action"]))


def calls_made_by_adapters() -> set[tuple[str, str]]:
    """(service, Operation) for every API call spelled in the adapters."""
    session = botocore.session.get_session()
    services = sorted(set(CLIENT_VARIABLES.values()))
    by_snake = {svc: {xform_name(op): op for op in session.get_service_model(svc).operation_names}
                for svc in services}
    calls: set[tuple[str, str]] = set()
    for path in ADAPTER_FILES:
        text = path.read_text()
        # operation names given to aws_call / collect: "ec2.ReplaceRoute rtb-..."
        for svc, op in re.findall(r"[\"'](ec2|iam|ssm|dynamodb|sns|lambda|events|logs|sts|cloudwatch)\.([A-Z][A-Za-z]+)",
                                  text):
            calls.add((svc, op))
        # client method calls: ec2.create_route(...)
        for var, name in re.findall(r"\b(" + "|".join(CLIENT_VARIABLES) + r")\.([a-z][a-z0-9_]+)\b", text):
            svc = CLIENT_VARIABLES[var]
            if name in by_snake[svc]:
                calls.add((svc, by_snake[svc][name]))
        # paginator / method names held in strings ("describe_vpcs"), when only one service has them
        for name in re.findall(r"[\"']([a-z]+_[a-z0-9_]+)[\"']", text):
            owners = [svc for svc in services if name in by_snake[svc]]
            if len(owners) == 1:
                calls.add((owners[0], by_snake[owners[0]][name]))
    return calls


def test_covers_every_call_the_adapters_make(policy):
    calls = calls_made_by_adapters()
    # the scan must actually find the stack builder's and the controller's calls
    assert {("ec2", "RunInstances"), ("ec2", "ReplaceRoute"), ("iam", "CreateRole"), ("ssm", "PutParameter"),
            ("dynamodb", "CreateTable"), ("sns", "CreateTopic"), ("cloudwatch", "PutMetricAlarm"),
            ("cloudwatch", "DeleteDashboards"), ("logs", "FilterLogEvents")} <= calls
    missing = sorted(action for svc, op in calls for action in IAM_ACTIONS_FOR.get((svc, op), (f"{svc}:{op}",))
                     if not allowed(policy, action))
    assert not missing, f"examples/iam-policy-operator.json lacks: {', '.join(missing)}"


@pytest.mark.parametrize("action", [
    # chalice deploy (functions, schedule and EC2 state-change rules, SNS subscription, log groups)
    "lambda:CreateFunction", "lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration",
    "lambda:AddPermission", "lambda:DeleteFunction", "lambda:PutFunctionConcurrency",
    "events:PutRule", "events:PutTargets", "events:RemoveTargets", "events:DeleteRule",
    "iam:CreateRole", "iam:PutRolePolicy", "iam:PassRole", "logs:CreateLogGroup", "logs:PutRetentionPolicy",
    "sns:Subscribe", "sns:GetSubscriptionAttributes", "sns:Unsubscribe",
])
def test_covers_chalice_deploy(policy, action):
    assert allowed(policy, action)
