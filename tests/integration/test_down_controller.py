"""`hanat down` with a deployed controller, against the loopback moto server.

up -> deploy (real `chalice deploy` subprocess, project copy with an EMPTY requirements.txt: tests
never download wheels) -> down. Down must remove the controller (chalice delete: functions, roles,
rules, the SNS subscription) before the stack, and must refuse, changing nothing, when it cannot
(tagged functions but no deployment record in the project directory).
"""
from __future__ import annotations

import fnmatch
import io
import json
import shutil
import zipfile
from pathlib import Path

import boto3
import pytest

from bootstrap.config import load_config
from bootstrap.stack.api import ControllerNotRemoved, await_controller_gone
from bootstrap.stack.destroy import plan_controller_removal
from chalicelib.aws.lambda_functions import LambdaFunction
from chalicelib.errors import InputError
from chalicelib.naming import STACK_TAG
from tests.support.cli import hanat

ROOT = Path(__file__).resolve().parents[2]
STACK = "ctl"
REGION = "ap-northeast-1"
CONFIG = f"""[stack]
name = "{STACK}"
region = "{REGION}"
vpc_cidr = "10.7.0.0/16"

[[zones]]
az = "ap-northeast-1a"

[[zones]]
az = "ap-northeast-1c"

[probe]
targets = ["tcp://203.0.113.10:443"]
"""


def copy_project(dst: Path) -> Path:
    """The real Chalice project (app.py, chalicelib, .chalice/config.json), requirements emptied."""
    dst.mkdir()
    shutil.copy(ROOT / "app.py", dst / "app.py")
    shutil.copytree(ROOT / "chalicelib", dst / "chalicelib", ignore=shutil.ignore_patterns("__pycache__"))
    (dst / ".chalice").mkdir()
    shutil.copy(ROOT / ".chalice" / "config.json", dst / ".chalice" / "config.json")
    (dst / "requirements.txt").write_text("")
    return dst


def account() -> dict[str, list]:
    """What the account holds that up or deploy could have made (raw reads, not the code under test)."""
    lam, iam, events = boto3.client("lambda"), boto3.client("iam"), boto3.client("events")
    ec2, sns, cw = boto3.client("ec2"), boto3.client("sns"), boto3.client("cloudwatch")
    functions = lam.list_functions()["Functions"]
    tagged = [f"lambda {f['FunctionName']}" for f in functions
              if lam.list_tags(Resource=f["FunctionArn"])["Tags"].get(STACK_TAG) == STACK]
    tagged += [f"resource {r['ResourceARN']}" for r in boto3.client("resourcegroupstaggingapi").get_resources(
        TagFilters=[{"Key": STACK_TAG, "Values": [STACK]}])["ResourceTagMappingList"]
        if ":instance/" not in r["ResourceARN"]]     # terminated instances stay listed: see "instances"
    return {
        "functions": sorted(f["FunctionName"] for f in functions),
        "roles": sorted(r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("hanat-")),
        "rules": sorted(r["Name"] for r in events.list_rules()["Rules"]),
        "subscriptions": sorted(s["SubscriptionArn"] for s in sns.list_subscriptions()["Subscriptions"]),
        "vpcs": sorted(v["VpcId"] for v in ec2.describe_vpcs(
            Filters=[{"Name": f"tag:{STACK_TAG}", "Values": [STACK]}])["Vpcs"]),
        "instances": sorted(i["InstanceId"] for r in ec2.describe_instances(
            Filters=[{"Name": f"tag:{STACK_TAG}", "Values": [STACK]},
                     {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}])["Reservations"]
            for i in r["Instances"]),
        "tagged": sorted(tagged),
        "alarms": sorted(a["AlarmName"] for a in cw.describe_alarms()["MetricAlarms"]),
        "dashboards": sorted(d["DashboardName"] for d in cw.list_dashboards()["DashboardEntries"]),
    }


@pytest.fixture
def deployed(emulator_env, tmp_path, capsys):
    """`hanat up` then `hanat deploy` from a project copy: (config path, project dir, account before down)."""
    config = tmp_path / "hanat.toml"
    config.write_text(CONFIG)
    project = copy_project(tmp_path / "project")
    code, _, err = hanat(capsys, "up", "--config", str(config))
    assert code == 0, err
    code, _, err = hanat(capsys, "deploy", "--config", str(config), "--project-dir", str(project))
    assert code == 0, err
    return str(config), project, account()


def test_deploy_tags_every_function_with_the_stack(deployed):
    _, _, before = deployed
    zones = ("ap_northeast_1a", "ap_northeast_1c")
    expected = {f"hanat-{STACK}-{name}" for name in ("heartbeat", "on_instance_state", "on_spot_warning", "operate",
                                                     "notify_slack")}
    expected |= {f"hanat-{STACK}-probe_{zone}" for zone in zones}
    assert set(before["functions"]) == expected
    assert {f"lambda {name}" for name in expected} <= set(before["tagged"])
    assert before["roles"] and before["rules"] and before["subscriptions"] and before["vpcs"]
    # issue 20: the spot-warning rule is deployed with the others (and `down` removes it: test below)
    assert f"hanat-{STACK}-on_spot_warning-event" in before["rules"]
    # the controller's roles are hanat's, named with the region (IAM is global), not Chalice's
    assert {f"hanat-{STACK}-{REGION}-controller", f"hanat-{STACK}-{REGION}-probe"} <= set(before["roles"])


def test_deploy_creates_the_alarms_and_the_dashboard_all_notifying_the_alert_topic(deployed):
    _, _, before = deployed
    zones = ("ap-northeast-1a", "ap-northeast-1c")
    functions = ["heartbeat"] + [f"probe-{z}" for z in zones]
    expected = ({f"hanat-{STACK}-heartbeat-missing"}
                | {f"hanat-{STACK}-{f}-{what}" for f in functions for what in ("errors", "throttles")}
                | {f"hanat-{STACK}-nat-{z}-status-check" for z in zones})
    # issue 19: what each NAT reports about itself, per zone (chalicelib/nat_watch.py)
    nat_metric = {f"hanat-{STACK}-nat-{z}-{what}" for z in zones
                  for what in ("port-allocation", "drops", "conntrack", "allowance-exceeded")}
    assert set(before["alarms"]) == expected | nat_metric
    assert before["dashboards"] == [f"hanat-{STACK}-{REGION}"]
    cw = boto3.client("cloudwatch")
    topic = boto3.client("sns").list_topics()["Topics"][0]["TopicArn"]
    alarms = {a["AlarmName"]: a for a in cw.describe_alarms()["MetricAlarms"]}
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [topic] and alarm["OKActions"] == [topic]
        if alarm["AlarmName"] in expected:
            assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (60, 3, 3)
        tags = {t["Key"]: t["Value"] for t in cw.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]}
        assert tags[STACK_TAG] == STACK
    missing = alarms[f"hanat-{STACK}-heartbeat-missing"]
    # no sweep for 3 minutes = the alarm; a heartbeat that does not run at all sends no data: breaching
    assert (missing["Namespace"], missing["MetricName"], missing["Statistic"]) == ("hanat", "SweepsCompleted", "Sum")
    assert missing["TreatMissingData"] == "breaching" and missing["ComparisonOperator"] == "LessThanThreshold"
    assert {d["Name"]: d["Value"] for d in missing["Dimensions"]} == {"service": "hanat", "stack": STACK}
    errors = alarms[f"hanat-{STACK}-probe-ap-northeast-1a-errors"]
    assert errors["Namespace"] == "AWS/Lambda" and errors["Dimensions"] == [
        {"Name": "FunctionName", "Value": f"hanat-{STACK}-probe_ap_northeast_1a"}]
    nat = alarms[f"hanat-{STACK}-nat-ap-northeast-1a-status-check"]
    nat_id = boto3.client("ssm").get_parameter(Name=f"/hanat/{STACK}/topology")["Parameter"]["Value"]
    assert nat["MetricName"] == "StatusCheckFailed" and nat["Dimensions"][0]["Value"] in nat_id
    body = json.loads(cw.get_dashboard(DashboardName=f"hanat-{STACK}-{REGION}")["DashboardBody"])
    text = json.dumps(body)
    assert f"{STACK_TAG}={STACK}" in text
    for needle in ("ProbeFailed", "RouteMoves", "SweepDuration", "NetworkPacketsIn", "NetworkOut"):
        assert needle in text
    # NAT Gateway's alarm (CloudWatch "Recommended alarms": ErrorPortAllocation > 0), on the zone's
    # dimensions, so a replaced NAT is watched without re-pointing; any minute with one error alarms
    ports = alarms[f"hanat-{STACK}-nat-ap-northeast-1a-port-allocation"]
    assert (ports["Namespace"], ports["MetricName"], ports["Statistic"]) == ("hanat", "ErrorPortAllocation", "Sum")
    assert (ports["ComparisonOperator"], ports["Threshold"], ports["EvaluationPeriods"]) == ("GreaterThanThreshold", 0, 1)
    assert {d["Name"]: d["Value"] for d in ports["Dimensions"]} == {"service": "hanat", "stack": STACK,
                                                                     "zone": "ap-northeast-1a"}
    conntrack = alarms[f"hanat-{STACK}-nat-ap-northeast-1c-conntrack"]
    assert (conntrack["MetricName"], conntrack["Threshold"]) == ("ConntrackUsePercent", 90)
    assert conntrack["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    allowance = alarms[f"hanat-{STACK}-nat-ap-northeast-1a-allowance-exceeded"]
    summed = {q["MetricStat"]["Metric"]["MetricName"] for q in allowance["Metrics"] if "MetricStat" in q}
    assert summed == {"BwInAllowanceExceeded", "BwOutAllowanceExceeded", "PpsAllowanceExceeded",
                      "ConntrackAllowanceExceeded"}
    for needle in ("ErrorPortAllocation", "PacketsDropCount", "ConntrackUsePercent", "PortUseBusiestPercent",
                   "ActiveConnectionCount", "BytesOutToDestination", "PpsAllowanceExceeded"):
        assert needle in text


def test_down_removes_the_controller_then_the_stack(deployed, capsys):
    config, project, before = deployed
    code, out, err = hanat(capsys, "down", "--config", config, "--project-dir", str(project), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert sorted(result["controller"]["deleted"]) == before["functions"]
    assert "chalice delete --stage ctl" in err and "Deleting function" in err   # progress on stderr
    after = account()
    assert after == {"functions": [], "roles": [], "rules": [], "subscriptions": [], "vpcs": [],
                     "instances": [], "tagged": [], "alarms": [], "dashboards": []}
    assert any(r.startswith("alarm hanat-ctl-heartbeat-missing") for r in result["resources"])
    assert f"dashboard hanat-{STACK}-{REGION}" in result["resources"]
    assert any(r.startswith("vpc ") for r in result["resources"])

    # a re-run finds no controller and no stack, and says so
    code, out, err = hanat(capsys, "down", "--config", config, "--project-dir", str(project), "--json")
    assert code == 0, err
    assert json.loads(out) == {"stack": STACK, "deleted": 0, "resources": [], "controller": {"deleted": []}}


def test_down_without_the_deployment_record_refuses_and_changes_nothing(deployed, tmp_path, capsys):
    config, project, before = deployed
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code, out, err = hanat(capsys, "down", "--config", config, "--project-dir", str(elsewhere))
    assert code == 2 and out == ""
    for name in before["functions"]:
        assert name in err
    assert "--project-dir" in err and "deployed" in err
    assert account() == before          # VPC, instances, functions, roles, rules: all still there

    # the wrong stage is refused the same way (its record does not exist in the right project either)
    code, _, err = hanat(capsys, "down", "--config", config, "--project-dir", str(project), "--stage", "other")
    assert code == 2 and f"hanat-{STACK}-heartbeat" in err
    assert account() == before

    # bad arguments: named, exit 2, nothing touched
    code, _, err = hanat(capsys, "down", "--config", config, "--project-dir", str(project), "--stage", "Bad_Stage")
    assert code == 2 and "Bad_Stage" in err
    code, _, err = hanat(capsys, "down", "--config", config, "--project-dir", str(tmp_path / "missing"))
    assert code == 2 and "missing" in err
    assert account() == before


# --- the pieces: the decision (pure) and the wait for Lambda's network interfaces ----------------
def fn(name: str, stack: str | None = STACK) -> LambdaFunction:
    arn = f"arn:aws:lambda:{REGION}:123456789012:function:{name}"
    return LambdaFunction(name, arn, {STACK_TAG: stack} if stack else {})


def arns(*names: str) -> list[str]:
    return [f"arn:aws:lambda:{REGION}:123456789012:function:{name}" for name in names]


@pytest.mark.parametrize("functions, recorded, expected", [
    ([], None, ()),                                                              # nothing deployed
    ([fn("hanat-other-heartbeat", "other")], None, ()),                          # another stack's
    ([fn("hanat-ctl-a"), fn("hanat-ctl-b")], arns("hanat-ctl-a", "hanat-ctl-b"), ("hanat-ctl-a", "hanat-ctl-b")),
    ([fn("hanat-ctl-a")], arns("hanat-ctl-a", "hanat-ctl-gone"), ("hanat-ctl-a",)),   # recorded, already gone
])
def test_controller_removal_plan(functions, recorded, expected):
    removal = plan_controller_removal(STACK, STACK, functions, recorded, "rec.json")
    assert removal.functions == expected and removal.needed == bool(expected)


@pytest.mark.parametrize("functions, recorded, named", [
    ([fn("hanat-ctl-a"), fn("hanat-ctl-b")], None, ["hanat-ctl-a", "hanat-ctl-b", "rec.json", "--project-dir"]),
    ([fn("hanat-ctl-a")], [], ["hanat-ctl-a", "rec.json"]),                      # record emptied by a delete
    ([fn("hanat-ctl-a"), fn("hanat-ctl-b")], arns("hanat-ctl-a"), ["hanat-ctl-b carries hanat:stack=ctl but is not in rec.json"]),
    ([fn("hanat-ctl-a"), fn("hanat-x-b", "x")], arns("hanat-ctl-a", "hanat-x-b"), ["hanat-x-b", "'x'"]),
    ([fn("hanat-ctl-a"), fn("hanat-ctl-b", None)], arns("hanat-ctl-a", "hanat-ctl-b"), ["hanat-ctl-b", "None"]),
])
def test_controller_removal_refusals_name_every_function(functions, recorded, named):
    with pytest.raises(InputError) as err:
        plan_controller_removal(STACK, STACK, functions, recorded, "rec.json")
    assert err.value.exit_code == 2
    for word in named:
        assert word in str(err.value)


@pytest.fixture
def stack_up(emulator_env, tmp_path, capsys):
    config = tmp_path / "hanat.toml"
    config.write_text(CONFIG)
    code, _, err = hanat(capsys, "up", "--config", str(config))
    assert code == 0, err
    return load_config(str(config))


def test_a_function_left_after_chalice_delete_stops_down(stack_up):
    iam, lam = boto3.client("iam"), boto3.client("lambda")
    role = iam.create_role(RoleName="hanat-ctl-left", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    lam.create_function(FunctionName="hanat-ctl-left", Runtime="python3.11", Role=role["Arn"],
                        Handler="app.handler", Code={"ZipFile": buffer.getvalue()}, Tags={STACK_TAG: STACK})
    with pytest.raises(ControllerNotRemoved) as err:
        await_controller_gone(stack_up)
    assert "hanat-ctl-left" in str(err.value) and err.value.exit_code == 1


# What `chalice delete` calls for hanat's resources (chalice/deploy/sweeper.py + awsclient.py), and
# the reads `down` makes before it: the operator policy must allow them all.
CHALICE_DELETE_AND_DOWN_ACTIONS = (
    "lambda:ListFunctions", "lambda:ListTags", "lambda:DeleteFunction", "lambda:GetPolicy",
    "lambda:RemovePermission", "iam:ListRolePolicies", "iam:DeleteRolePolicy", "iam:DeleteRole",
    "events:RemoveTargets", "events:DeleteRule", "sns:Unsubscribe", "logs:DeleteRetentionPolicy",
    "ec2:DescribeNetworkInterfaces",
)


def test_operator_policy_allows_removing_the_controller():
    policy = json.loads((ROOT / "examples" / "iam-policy-operator.json").read_text())
    granted = [a for s in policy["Statement"] if s["Effect"] == "Allow"
               for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
    missing = [a for a in CHALICE_DELETE_AND_DOWN_ACTIONS if not any(fnmatch.fnmatchcase(a, g) for g in granted)]
    assert missing == []
