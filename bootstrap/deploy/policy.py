"""Least-privilege IAM policies for the Lambda functions (``autogen_policy: false``).

Two roles' worth: the controller functions (heartbeat, on_instance_state, operate, notify_slack)
and the probe functions (logs, X-Ray and the VPC ENI actions only). Rule kept by a test: no
mutating action on Resource "*" without a Condition. Actions AWS only grants on "*" (X-Ray
writes, Lambda's VPC ENI management, kms:Decrypt via SSM) carry a region or service condition.
"""
from __future__ import annotations

from chalicelib import monitoring
from chalicelib.naming import (
    ADOPTED_TAG,
    APP_NAME,
    HANDOFF_TAG_PREFIX,
    STACK_TAG,
    instance_role_name,
    legacy_instance_role_name,
    probe_function_name,
)
from chalicelib.topology import Topology

VERSION = "2012-10-17"
READ_PREFIXES = ("Describe", "Get", "List", "BatchGet", "Query", "Scan")
ENI_ACTIONS = ["ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
               "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]
RESOLVE_SSM = "resolve:ssm:"  # nat.ami = "resolve:ssm:/parameter/name"


def arn_parts(topology: Topology) -> tuple[str, str, str]:
    """(partition, region, account) from the topic ARN the stack built: no STS call needed."""
    parts = topology.topic_arn.split(":")
    if len(parts) < 6 or parts[0] != "arn":
        raise ValueError(f"topology.topic_arn {topology.topic_arn!r} is not an ARN")
    return parts[1], parts[3], parts[4]


def is_mutating(action: str) -> bool:
    name = action.split(":", 1)[1]
    return not name.startswith(READ_PREFIXES)


def _logs(partition: str, region: str, account: str, stage: str) -> dict:
    group = f"arn:{partition}:logs:{region}:{account}:log-group:/aws/lambda/{APP_NAME}-{stage}-*"
    return {"Sid": "OwnLogs", "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [group, f"{group}:log-stream:*"]}


def _in_region(region: str) -> dict:
    return {"StringEquals": {"aws:RequestedRegion": region}}


def probe_policy(topology: Topology, stage: str) -> dict:
    """Probe functions make no AWS call themselves; Lambda needs the ENI actions to place them in
    the probe subnet (these exist only on "*": limited to the stack's region)."""
    partition, region, account = arn_parts(topology)
    return {"Version": VERSION, "Statement": [
        _logs(partition, region, account, stage),
        {"Sid": "VpcNetworkInterfaces", "Effect": "Allow", "Action": ENI_ACTIONS, "Resource": "*",
         "Condition": _in_region(region)},
        {"Sid": "VpcDescribe", "Effect": "Allow",
         "Action": ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets", "ec2:DescribeVpcs"],
         "Resource": "*"},
    ]}


def ami_parameter_arn(nat_ami: str, partition: str, region: str, account: str) -> str | None:
    """The SSM parameter behind ``nat.ami = "resolve:ssm:NAME"`` (None for an AMI id or the default).
    EC2 reads it at every launch with the caller's permissions: "the user must have ssm:GetParameters
    permission for the parameter" (EC2 User Guide, Use a Systems Manager parameter instead of an AMI ID).
    AWS's public parameters (/aws/service/...) have no account in their ARN: "*" (zero or more
    characters) matches that empty account field."""
    if not nat_ami.startswith(RESOLVE_SSM):
        return None
    name = nat_ami[len(RESOLVE_SSM):]
    owner = "*" if name.startswith("/aws/service/") else account
    return f"arn:{partition}:ssm:{region}:{owner}:parameter{name}"


def controller_policy(topology: Topology, stage: str, *, nat_ami: str = "") -> dict:
    """``nat_ami``: the config's ``nat.ami`` (a replacement launch resolves a ``resolve:ssm:`` one)."""
    partition, region, account = arn_parts(topology)
    stack = topology.stack
    ec2 = f"arn:{partition}:ec2:{region}:{account}"
    tagged = {"StringEquals": {f"aws:ResourceTag/{STACK_TAG}": stack}}
    parameters = [f"arn:{partition}:ssm:{region}:{account}:parameter/hanat/{stack}/*"]
    if topology.slack_webhook_parameter and not topology.slack_webhook_parameter.startswith(f"/hanat/{stack}/"):
        parameters.append(f"arn:{partition}:ssm:{region}:{account}:parameter{topology.slack_webhook_parameter}")
    probes = [f"arn:{partition}:lambda:{region}:{account}:function:{probe_function_name(stage, az)}"
              for az in topology.azs]
    statements = [
        _logs(partition, region, account, stage),
        {"Sid": "ReadNetwork", "Effect": "Allow", "Action": ["ec2:Describe*"], "Resource": "*"},
        {"Sid": "MoveRoutesOfThisStack", "Effect": "Allow", "Action": ["ec2:ReplaceRoute", "ec2:CreateRoute"],
         "Resource": f"{ec2}:route-table/*", "Condition": tagged},
        # planned moves hand open connections back to the old NAT: its handoff tags on the stack's NAT
        # instances, no other key (an empty key list, which DeleteTags reads as "every tag", is refused)
        {"Sid": "HandOffConnectionsOnStackNats", "Effect": "Allow", "Action": ["ec2:CreateTags", "ec2:DeleteTags"],
         "Resource": f"{ec2}:instance/*",
         "Condition": {**tagged, "ForAllValues:StringLike": {"aws:TagKeys": [f"{HANDOFF_TAG_PREFIX}*"]},
                       "Null": {"aws:TagKeys": "false"}}},
        {"Sid": "ControllerState", "Effect": "Allow",
         "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                    "dynamodb:Query", "dynamodb:ConditionCheckItem", "dynamodb:BatchGetItem"],
         "Resource": f"arn:{partition}:dynamodb:{region}:{account}:table/{topology.table_name}"},
        {"Sid": "Alerts", "Effect": "Allow", "Action": ["sns:Publish"], "Resource": topology.topic_arn},
        {"Sid": "ReadStackParameters", "Effect": "Allow", "Action": ["ssm:GetParameter", "ssm:GetParameters"],
         "Resource": parameters},
        {"Sid": "DecryptSecureStringsViaSsm", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": "*",
         "Condition": {"StringEquals": {"kms:ViaService": f"ssm.{region}.amazonaws.com"}}},
        {"Sid": "RecordTopology", "Effect": "Allow", "Action": ["ssm:PutParameter"],
         "Resource": f"arn:{partition}:ssm:{region}:{account}:parameter{topology.topology_parameter}"},
    ]
    if probes:
        statements.append({"Sid": "InvokeOwnProbes", "Effect": "Allow", "Action": ["lambda:InvokeFunction"],
                           "Resource": probes})
    statements += _replacement(topology, partition, region, account, tagged)
    ami_parameter = ami_parameter_arn(nat_ami, partition, region, account)
    if ami_parameter:
        # EC2 resolves it at launch with ssm:GetParameters; the stale check (service/outdated.py) reads it
        # with ssm:GetParameter to compare the NATs' AMI (each its own action: Service Authorization
        # Reference, AWS Systems Manager)
        statements.append({"Sid": "ResolveNatAmiAtLaunch", "Effect": "Allow",
                           "Action": ["ssm:GetParameters", "ssm:GetParameter"], "Resource": ami_parameter})
    statements += _nat_alarms(topology, partition, region, account)
    if topology.adopts_vpc:
        statements += [_give_back(topology, ec2), _launch_into_adopted_subnets(topology, ec2)]
    return {"Version": VERSION, "Statement": statements}


def _nat_alarms(topology: Topology, partition: str, region: str, account: str) -> list[dict]:
    """After a replacement the controller re-points its zone's NAT alarm and the dashboard at the new NAT
    (service/nat_alarms.py): read and put the stack's NAT alarms, whose actions may only be the stack's
    topic (an alarm action can also stop or terminate an instance: cloudwatch:AlarmActions, Service
    Authorization Reference, Amazon CloudWatch, PutMetricAlarm), and the stack's one dashboard
    (dashboard ARNs have no region: arn:aws:cloudwatch::account:dashboard/name)."""
    alarms = f"arn:{partition}:cloudwatch:{region}:{account}:alarm:{monitoring.alarm_prefix(topology.stack)}"
    return [
        {"Sid": "FindStackAlarms", "Effect": "Allow", "Action": ["cloudwatch:DescribeAlarms"],
         "Resource": f"{alarms}*"},
        {"Sid": "RepointStackNatAlarms", "Effect": "Allow", "Action": ["cloudwatch:PutMetricAlarm"],
         "Resource": f"{alarms}nat-*",
         "Condition": {"ForAllValues:StringEquals": {"cloudwatch:AlarmActions": [topology.topic_arn]}}},
        {"Sid": "RepointStackDashboard", "Effect": "Allow",
         "Action": ["cloudwatch:GetDashboard", "cloudwatch:PutDashboard"],
         "Resource": f"arn:{partition}:cloudwatch::{account}:dashboard/"
                     f"{monitoring.dashboard_name(topology.stack, topology.region)}"},
    ]


def _launch_into_adopted_subnets(topology: Topology, ec2: str) -> dict:
    """A replacement NAT in an adopted VPC goes into the user's public subnet, which carries no stack tag
    (RunInstances authorizes the subnet, whose keys are its tags, ec2:SubnetID and ec2:Vpc: Service
    Authorization Reference, Amazon EC2): exactly the stack's public subnets, by ARN."""
    return {"Sid": "LaunchIntoAdoptedPublicSubnets", "Effect": "Allow", "Action": ["ec2:RunInstances"],
            "Resource": sorted({f"{ec2}:subnet/{z.public_subnet_id}" for z in topology.zones})}


def _give_back(topology: Topology, ec2: str) -> dict:
    """``release`` of an adopted table whose default route was absent deletes it again: only on a table
    carrying both adoption tags of this stack (ReplaceRoute back to a NAT gateway is route-table-scoped
    like every route move: Service Authorization Reference, Amazon EC2, ReplaceRoute/DeleteRoute)."""
    return {"Sid": "GiveBackAdoptedRoutes", "Effect": "Allow", "Action": ["ec2:DeleteRoute"],
            "Resource": f"{ec2}:route-table/*",
            "Condition": {"StringEquals": {f"aws:ResourceTag/{STACK_TAG}": topology.stack,
                                           f"aws:ResourceTag/{ADOPTED_TAG}": "true"}}}


def _replacement(topology: Topology, partition: str, region: str, account: str, tagged: dict) -> list[dict]:
    """Replacing a dead NAT: launch from the stack's template (new resources must carry the stack
    tag), attach the EIP, turn off source/dest check, terminate the old one, pass the NAT role."""
    ec2 = f"arn:{partition}:ec2:{region}:{account}"
    template = (f"{ec2}:launch-template/{topology.launch_template_id}" if topology.launch_template_id
                else f"{ec2}:launch-template/*")
    request_tagged = {"StringEquals": {f"aws:RequestTag/{STACK_TAG}": topology.stack}}
    return [
        {"Sid": "LaunchFromStackTemplate", "Effect": "Allow", "Action": ["ec2:RunInstances"],
         "Resource": [template, f"arn:{partition}:ec2:{region}::image/*"]},
        {"Sid": "LaunchIntoStackNetwork", "Effect": "Allow", "Action": ["ec2:RunInstances"],
         "Resource": [f"{ec2}:subnet/*", f"{ec2}:security-group/*"], "Condition": tagged},
        # nat.market = spot: the launch also creates (and tags) a spot instance request (chalicelib/aws/markets.py)
        {"Sid": "LaunchTaggedResources", "Effect": "Allow", "Action": ["ec2:RunInstances"],
         "Resource": [f"{ec2}:instance/*", f"{ec2}:volume/*", f"{ec2}:network-interface/*",
                      f"{ec2}:spot-instances-request/*"],
         "Condition": request_tagged},
        {"Sid": "TagOnLaunchOnly", "Effect": "Allow", "Action": ["ec2:CreateTags"],
         "Resource": [f"{ec2}:instance/*", f"{ec2}:volume/*", f"{ec2}:network-interface/*",
                      f"{ec2}:spot-instances-request/*"],
         "Condition": {"StringEquals": {"ec2:CreateAction": "RunInstances"}}},
        # a failed replacement's alert quotes the setup script's FAILED line from the NAT's console
        {"Sid": "ReadStackNatConsole", "Effect": "Allow", "Action": ["ec2:GetConsoleOutput"],
         "Resource": f"{ec2}:instance/*", "Condition": tagged},
        {"Sid": "ManageStackNats", "Effect": "Allow",
         # nat.addresses > 1: a new NAT's secondary private addresses for the extra Elastic IPs
         "Action": ["ec2:AssociateAddress", "ec2:AssignPrivateIpAddresses", "ec2:ModifyInstanceAttribute",
                    "ec2:TerminateInstances"],
         "Resource": [f"{ec2}:instance/*", f"{ec2}:elastic-ip/*", f"{ec2}:network-interface/*"],
         "Condition": tagged},
        # the NAT role of this stack in this region (and its pre-region name, while a template still uses it)
        {"Sid": "PassNatRoleToEc2", "Effect": "Allow", "Action": ["iam:PassRole"],
         "Resource": [f"arn:{partition}:iam::{account}:role/{name}" for name in (
             instance_role_name(topology.stack, region), legacy_instance_role_name(topology.stack))],
         "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}},
    ]


def unconditioned_mutations_on_star(policy: dict) -> list[str]:
    """Every mutating action granted on Resource "*" without a Condition (must be empty)."""
    found = []
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if "*" in resources and not statement.get("Condition"):
            found += [f"{statement.get('Sid', '?')}: {a}" for a in actions if is_mutating(a)]
    return found
