"""``hanat down``: delete everything carrying ``hanat:stack=<name>``, dependents first.

Only tagged resources are touched. IAM users are never deleted: our policy is detached and the
``SSMSessionRunAs=hanat-user`` tag hanat added is removed. Safe to re-run after a partial down: every
delete is idempotent and everything is found by its tag, so a re-run resumes where the last one stopped.
Lambda keeps a deleted VPC function's network interfaces for a long while (20-45 minutes is common);
they block the subnets and the security group, so ``down`` waits for them, showing which and for how
long, up to a bound that covers it (45 minutes by default).
A deployed controller (Lambda functions tagged with the stack) goes first, by ``chalice delete``
of the stage that deployed it: ``plan_controller_removal`` decides, before anything is changed,
whether that is possible.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from chalicelib import monitoring, naming
from chalicelib.aws import adopted_vpc as adopted_api
from chalicelib.aws import cloudwatch as cw_api
from chalicelib.aws import iam as iam_api
from chalicelib.aws import instances, lambda_functions, network, params, route_tables, state_table, tags
from chalicelib.aws import sns as sns_api
from chalicelib.aws.calls import wait_until
from chalicelib.errors import HanatError, InputError, RetryExhaustedError

from .clients import StackClients
from .desired import RUN_AS_TAG, RUN_AS_USER

LIVE_STATES = ("pending", "running", "stopping", "stopped", "shutting-down")
SESSION_POLICY = re.compile(r"hanat-.+-session-.+")   # naming.session_policy_name, any stack or region
# How long `down` waits for Lambda to release a deleted controller's network interfaces (Terraform's AWS
# provider waits up to 45 minutes for them too); `hanat down --eni-wait-minutes` changes it.
LAMBDA_ENI_WAIT_S = 45 * 60
ENI_REPORT_EVERY_S = 60.0
RESUME = "re-run `hanat down` to resume from here (every delete is idempotent; nothing is left half-done)"


class DownIncomplete(HanatError):
    """``down`` stopped before the end (a bound passed); what is deleted stays deleted, a re-run resumes."""


class DownInterrupted(DownIncomplete):
    """Ctrl-C during ``down``."""

    exit_code = 130


def minutes(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


@dataclass
class DownResult:
    stack: str
    deleted: list[str] = field(default_factory=list)
    controller_deleted: list[str] = field(default_factory=list)   # Lambda functions, by name
    released: list[str] = field(default_factory=list)   # adopted route tables pointed back (JSON: given_back)

    def to_dict(self) -> dict:
        out = {"stack": self.stack, "deleted": len(self.deleted), "resources": self.deleted,
               "controller": {"deleted": self.controller_deleted}}
        if self.released:       # an adopted VPC: the route tables pointed back at their original targets
            out["given_back"] = self.released
        return out


@dataclass(frozen=True)
class ControllerRemoval:
    """What ``down`` does about the deployed controller: ``chalice delete --stage`` (functions given)
    or nothing (no function carries the stack's tag)."""

    stage: str
    functions: tuple[str, ...] = ()

    @property
    def needed(self) -> bool:
        return bool(self.functions)


def function_name_of(arn: str) -> str:
    """``arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]`` -> name."""
    parts = arn.split(":")
    return parts[6] if len(parts) > 6 and parts[5] == "function" else arn


def plan_controller_removal(stack: str, stage: str, functions: list[lambda_functions.LambdaFunction],
                            recorded_arns: list[str] | None, record: str) -> ControllerRemoval:
    """Decide, before any change, how the controller goes (pure).

    ``functions`` are the account's ``hanat-*`` functions with their tags; ``recorded_arns`` the
    function ARNs of Chalice's deployment record ``record`` (None: no record). Refuses (InputError,
    exit 2) when ``chalice delete`` could not remove every function of the stack, or would remove a
    function that is not the stack's.
    """
    ours = sorted(f.name for f in functions if f.tags.get(naming.STACK_TAG) == stack)
    if not ours:
        return ControllerRemoval(stage)
    advice = (f"run `hanat down` from the project directory you ran `hanat deploy` in (or pass "
              f"--project-dir DIR, and --stage if you deployed another stage than {stack!r}), or "
              f"delete these functions yourself")
    title = f"stack {stack!r} has a deployed controller that `hanat down` cannot remove"
    recorded = sorted({function_name_of(arn) for arn in recorded_arns or ()})
    if not recorded:
        raise InputError([f"Lambda function {name} carries {naming.STACK_TAG}={stack}" for name in ours]
                         + [f"no Chalice deployment record {record} lists functions of stage {stage!r}",
                            advice], title=title)
    tags_by_name = {f.name: f.tags for f in functions}
    problems = [f"Lambda function {name} carries {naming.STACK_TAG}={stack} but is not in {record}"
                for name in ours if name not in recorded]
    problems += [f"Lambda function {name} in {record} carries "
                 f"{naming.STACK_TAG}={tags_by_name[name].get(naming.STACK_TAG)!r}, not {stack!r}"
                 for name in recorded if name in tags_by_name and name not in ours]
    if problems:
        raise InputError([*problems, advice], title=title)
    return ControllerRemoval(stage, tuple(ours))


def delete_tagged(stack: str, clients: StackClients, progress: Callable[[str], None] = lambda _m: None,
                  *, wait_interval_s: float = 2.0, instance_wait_s: float = 600.0,
                  eni_wait_s: float = LAMBDA_ENI_WAIT_S, eni_interval_s: float = 15.0,
                  clock: Callable[[], float] = time.monotonic,
                  sleep: Callable[[float], None] = time.sleep, region: str | None = None) -> DownResult:
    """Everything that does not wait on Lambda goes first (instances, addresses, route tables), then
    the wait for Lambda's network interfaces, then the rest. Ctrl-C or the bound: DownIncomplete
    (what is deleted stays deleted; a re-run resumes)."""
    result = DownResult(stack)

    def gone(kind: str, ident: str) -> None:
        result.deleted.append(f"{kind} {ident}")
        progress(f"deleted {kind} {ident}")

    try:
        if clients.cloudwatch is not None:
            _delete_watch(clients.cloudwatch, stack, clients.ec2.meta.region_name, gone)
        _delete_instances(clients.ec2, stack, gone, wait_interval_s, instance_wait_s)
        _delete_addresses_and_route_tables(clients.ec2, stack, gone)
        await_lambda_interfaces(clients.ec2, stack, progress, bound_s=eni_wait_s, interval_s=eni_interval_s,
                                clock=clock, sleep=sleep)
        _delete_network(clients.ec2, stack, gone)
        _delete_iam(clients.iam, stack, region or clients.ec2.meta.region_name, gone)
        _delete_services(clients, stack, gone, wait_interval_s)
    except KeyboardInterrupt:
        raise DownInterrupted(f"stack {stack!r}: down interrupted after deleting {len(result.deleted)} "
                              f"resource(s); {RESUME}") from None
    return result


def await_lambda_interfaces(ec2, stack: str, progress: Callable[[str], None], *, bound_s: float,
                            interval_s: float, clock: Callable[[], float] = time.monotonic,
                            sleep: Callable[[float], None] = time.sleep) -> None:
    """Wait until no Lambda network interface is left in the stack's VPC, saying which ones are
    left, for how long so far and the bound, when that changes and every minute; past the bound,
    DownIncomplete naming them."""
    # the stack's VPC, or the VPC it adopted (untagged): where its probe subnets are
    vpc_ids = sorted({vpc["VpcId"] for vpc in network.describe_tagged(ec2, "vpc", stack)}
                     | {subnet["VpcId"] for subnet in network.describe_tagged(ec2, "subnet", stack)})
    started, reported_at, reported = clock(), None, None
    while True:
        interfaces = network.lambda_network_interfaces(ec2, vpc_ids)
        elapsed = clock() - started
        if not interfaces:
            if reported:
                progress(f"Lambda released its network interfaces after {minutes(elapsed)}")
            return
        names = sorted(f"{i['NetworkInterfaceId']} ({i.get('SubnetId', '?')}, {i.get('Status', '?')})"
                       for i in interfaces)
        if elapsed >= bound_s:
            raise DownIncomplete(
                f"stack {stack!r}: after {minutes(elapsed)} Lambda still holds {len(names)} network "
                f"interface(s) of the deleted controller in {', '.join(vpc_ids)}: {', '.join(names)}; they "
                f"block the subnets, security groups and VPC. Lambda releases them by itself (often 20-45 "
                f"minutes after the functions are deleted): {RESUME}")
        if names != reported or reported_at is None or clock() - reported_at >= ENI_REPORT_EVERY_S:
            progress(f"waiting for Lambda to release {len(names)} network interface(s) of the deleted "
                     f"controller: {', '.join(names)}; {minutes(elapsed)} so far, at most {minutes(bound_s)} "
                     f"(Ctrl-C is safe: `hanat down` resumes)")
            reported, reported_at = names, clock()
        sleep(max(0.0, min(interval_s, bound_s - elapsed)))


def _delete_watch(cloudwatch, stack: str, region: str, gone) -> None:
    """The alarms `hanat deploy` made (named hanat-<stack>-*, tagged with the stack) and the dashboard
    (untaggable: deleted only when it carries the stack's marker, chalicelib/monitoring.py)."""
    names = [a["AlarmName"] for a in cw_api.stack_alarms(cloudwatch, monitoring.alarm_prefix(stack), stack)]
    if names:
        cw_api.delete_alarms(cloudwatch, names)
        for name in names:
            gone("alarm", name)
    dashboard = monitoring.dashboard_name(stack, region)
    body = cw_api.dashboard_body(cloudwatch, dashboard)
    if body is not None and monitoring.marker(stack, region) in body:
        cw_api.delete_dashboard(cloudwatch, dashboard)
        gone("dashboard", dashboard)


def _delete_instances(ec2, stack: str, gone, interval_s: float, timeout_s: float) -> None:
    ids = [i["InstanceId"] for i in instances.describe_stack_instances(ec2, stack, LIVE_STATES)]
    if not ids:
        return
    instances.terminate_instances(ec2, ids)

    def all_terminated() -> bool:
        states = {i["State"]["Name"] for i in instances.describe_instances_by_id(ec2, ids)}
        return states <= {"terminated"}

    wait_until(f"instances {', '.join(ids)} terminated", all_terminated, timeout_s=timeout_s,
               interval_s=interval_s)
    for instance_id in ids:
        gone("instance", instance_id)


def _delete_addresses_and_route_tables(ec2, stack: str, gone) -> None:
    for address in network.describe_tagged(ec2, "elastic-ip", stack):
        if address.get("AssociationId"):
            instances.disassociate_address(ec2, address["AssociationId"])
        if instances.release_address(ec2, address["AllocationId"]):
            gone("elastic-ip", address["AllocationId"])
    for table in network.describe_tagged(ec2, "route-table", stack):
        if adopted_api.is_adopted_by(table, stack):   # the user's table (released before): only our tags go
            if adopted_api.untag_adopted_table(ec2, table["RouteTableId"], stack):
                gone("hanat tags of route-table", table["RouteTableId"])
            continue
        for association in table.get("Associations", []):
            if not association.get("Main"):
                route_tables.disassociate_route_table(ec2, association["RouteTableAssociationId"])
        if route_tables.delete_route_table(ec2, table["RouteTableId"]):
            gone("route-table", table["RouteTableId"])


def _delete_network(ec2, stack: str, gone) -> None:
    for subnet in network.describe_tagged(ec2, "subnet", stack):
        try:
            deleted = network.delete_subnet(ec2, subnet["SubnetId"])
        except RetryExhaustedError as err:  # something that is not ours still sits in it
            left = [i["NetworkInterfaceId"] + f" ({i.get('Description') or i.get('InterfaceType', '?')})"
                    for i in network.subnet_network_interfaces(ec2, subnet["SubnetId"])]
            raise DownIncomplete(f"stack {stack!r}: subnet {subnet['SubnetId']} cannot be deleted ({err.code}); "
                                 f"network interfaces still in it: {', '.join(left) or 'none listed'}. Delete "
                                 f"or move what is not hanat's, then {RESUME}") from err
        if deleted:
            gone("subnet", subnet["SubnetId"])
    for igw in network.describe_tagged(ec2, "internet-gateway", stack):
        for attachment in igw.get("Attachments", []):
            network.detach_internet_gateway(ec2, igw["InternetGatewayId"], attachment["VpcId"])
        if network.delete_internet_gateway(ec2, igw["InternetGatewayId"]):
            gone("internet-gateway", igw["InternetGatewayId"])
    for group in network.describe_tagged(ec2, "security-group", stack):
        if network.delete_security_group(ec2, group["GroupId"]):
            gone("security-group", group["GroupId"])
    for vpc in network.describe_tagged(ec2, "vpc", stack):
        if network.delete_vpc(ec2, vpc["VpcId"]):
            gone("vpc", vpc["VpcId"])
    for template in network.describe_tagged(ec2, "launch-template", stack):
        if instances.delete_launch_template(ec2, template["LaunchTemplateId"]):
            gone("launch-template", template["LaunchTemplateId"])


def _delete_iam(iam, stack: str, region: str, gone) -> None:
    """This region's session policies and instance role/profile (IAM is global: the same stack in
    another region has its own, region-qualified names), and the ones older versions named without
    a region."""
    regional = naming.session_policy_name(stack, region, "")
    legacy = naming.legacy_session_policy_prefix(stack)
    for policy in iam_api.tagged_policies(iam, stack):
        if not policy["PolicyName"].startswith((regional, legacy)):
            continue
        for user in iam_api.policy_users(iam, policy["Arn"]):
            iam_api.detach_user_policy(iam, user, policy["Arn"])
            # the tag hanat put there for this stack, unless a hanat stack elsewhere (another region,
            # another stack) still gives the user sessions: IAM users and their tags are global
            still_used = [arn for arn in iam_api.attached_user_policies(iam, user)
                          if SESSION_POLICY.match(arn.rsplit("/", 1)[-1])]
            if not still_used and tags.tag_map(iam_api.user_tags(iam, user)).get(RUN_AS_TAG) == RUN_AS_USER:
                iam_api.untag_user(iam, user, RUN_AS_TAG)
        iam_api.delete_policy(iam, policy["Arn"])
        gone("iam-policy", policy["PolicyName"])
    for name in (naming.instance_role_name(stack, region), naming.legacy_instance_role_name(stack)):
        _delete_role_and_profile(iam, stack, name, gone)


def _delete_role_and_profile(iam, stack: str, name: str, gone) -> None:
    profile = iam_api.get_instance_profile(iam, name)
    if profile and not tags.has_stack_tag(profile.get("Tags", []), stack):
        profile = None
    role = iam_api.get_role(iam, name)
    if role and not tags.has_stack_tag(iam_api.role_tags(iam, name), stack):
        role = None
    iam_api.delete_role_and_profile(iam, name if role else None, profile)
    if profile:
        gone("instance-profile", name)
    if role:
        gone("iam-role", name)


def _delete_services(clients: StackClients, stack: str, gone, interval_s: float) -> None:
    ssm, dynamodb, sns = clients.ssm, clients.dynamodb, clients.sns
    for name in params.parameters_under(ssm, naming.parameter_prefix(stack)):
        if tags.has_stack_tag(params.parameter_tags(ssm, name), stack) and params.delete_parameter(ssm, name):
            gone("parameter", name)
    table_name = naming.table_name(stack)
    table = state_table.describe_table(dynamodb, table_name)
    if table and tags.has_stack_tag(state_table.table_tags(dynamodb, table["TableArn"]), stack):
        state_table.delete_table(dynamodb, table_name)
        wait_until(f"table {table_name} deleted", lambda: state_table.describe_table(dynamodb, table_name) is None,
                   timeout_s=300, interval_s=interval_s)
        gone("table", table_name)
    topic_arn = sns_api.find_topic(sns, naming.topic_name(stack))
    if topic_arn and tags.has_stack_tag(sns_api.topic_tags(sns, topic_arn), stack):
        for sub in sns_api.subscriptions(sns, topic_arn):
            if sub["SubscriptionArn"].startswith("arn:"):  # pending ones go with the topic
                sns_api.unsubscribe(sns, sub["SubscriptionArn"])
        sns_api.delete_topic(sns, topic_arn)
        gone("topic", topic_arn)
