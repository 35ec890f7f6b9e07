"""examples/iam-policy-operator.json: a valid, scoped policy that covers every call the adapters make."""
from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

import botocore.session
import pytest
from botocore import xform_name

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
# Only actions AWS cannot scope to a resource may use Resource "*".
UNSCOPABLE = ("ec2:Describe*", "iam:ListPolicies", "sns:ListTopics", "logs:DescribeLogGroups",
              "sts:GetCallerIdentity", "lambda:ListFunctions")


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
            assert set(as_list(s["Action"])) <= set(UNSCOPABLE), s["Sid"]


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
                assert "parameter/hanat/" in resource or "ami-amazon-linux-latest" in resource, resource


def test_ec2_changes_need_the_stack_tag(policy):
    """Every EC2 write is tied to the hanat:stack tag (on the request or on the resource)."""
    for s in policy["Statement"]:
        actions = [a for a in as_list(s["Action"]) if a.startswith("ec2:") and not a.startswith("ec2:Describe")]
        if not actions or s["Sid"] == "Ec2LaunchFromPublicImages":
            continue
        condition = json.dumps(s.get("Condition", {}))
        assert "hanat:stack" in condition or "ec2:CreateAction" in condition, s["Sid"]
    launch = next(s for s in policy["Statement"] if s["Sid"] == "Ec2LaunchFromPublicImages")
    assert as_list(launch["Action"]) == ["ec2:RunInstances"]
    assert all("image/" in r or "key-pair/" in r for r in as_list(launch["Resource"]))


def test_pass_role_is_limited_to_ec2_and_lambda(policy):
    s = next(s for s in policy["Statement"] if "iam:PassRole" in as_list(s["Action"]))
    assert s["Resource"] == "arn:aws:iam::*:role/hanat-*"
    assert set(s["Condition"]["StringEquals"]["iam:PassedToService"]) == {"ec2.amazonaws.com",
                                                                          "lambda.amazonaws.com"}


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
    "sns:Subscribe",
])
def test_covers_chalice_deploy(policy, action):
    assert allowed(policy, action)
