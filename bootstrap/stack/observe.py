"""What exists now: every resource of the stack, found by its ``hanat:stack`` tag (reads only).

Named resources that cannot be found by tag (IAM role, table, topic, parameter) are looked up by
name and refused when they exist without our tag: hanat never adopts someone else's resource.
"""
from __future__ import annotations

import json

from chalicelib import naming
from chalicelib.aws import iam as iam_api
from chalicelib.aws import instances, network, params, replacement_records, state_table, tags
from chalicelib.aws import sns as sns_api
from chalicelib.aws.calls import DEFAULT_RETRY
from chalicelib.aws.read_back import until_shown
from chalicelib.errors import AwsError, InputError
from chalicelib.replacement.machine import REPLACING

from .clients import StackClients
from .desired import ROLE_ADMIN, ROLE_NAT, Desired
from .model import Observed, UserState
from .network import network_for
from .tagged import by_role_zone, role_zone


def normalized(document) -> str:
    if isinstance(document, str):
        document = json.loads(document)
    return json.dumps(document, sort_keys=True)


def observe(clients: StackClients, desired: Desired) -> Observed:
    obs = Observed()
    problems: list[str] = []
    _observe_parameter(clients.ssm, desired, obs, problems)
    network_for(desired).observe(clients.ec2, desired, obs)
    _observe_compute(clients, desired, obs)
    _observe_iam(clients.iam, desired, obs, problems)
    _observe_services(clients, desired, obs, problems)
    if problems:
        raise InputError(problems, title=f"stack {desired.stack!r} cannot be reconciled")
    return obs


def _observe_compute(clients: StackClients, desired: Desired, obs: Observed) -> None:
    ec2, stack = clients.ec2, desired.stack
    template, data = _template_and_data(ec2, desired)
    if template:
        obs.launch_template, obs.launch_template_data = template, data
    vpc_id = obs.vpc["VpcId"] if obs.vpc else None
    found = [i for i in instances.describe_stack_instances(ec2, stack) if i.get("VpcId") == vpc_id]
    obs.instances = {k: v for k, v in by_role_zone(found, "InstanceId").items()
                     if k[0] in (ROLE_NAT, ROLE_ADMIN)}
    # While (or after) the controller replaces a NAT, two instances carry the zone's tags: the zone's NAT
    # is the one the topology names (the controller's record), not the lowest id.
    for az, instance_id in _topology_nats(obs.parameter_value).items():
        named = next((i for i in found if i["InstanceId"] == instance_id and role_zone(i) == (ROLE_NAT, az)), None)
        if named:
            obs.instances[(ROLE_NAT, az)] = named
    addresses = network.describe_tagged(ec2, "elastic-ip", stack)
    extra = [a for a in addresses if tags.tag_map(a).get(naming.ADDRESS_TAG)]
    obs.addresses = {zone: a for (_, zone), a in by_role_zone(
        [a for a in addresses if a not in extra], "AllocationId").items()}
    for a in sorted(extra, key=lambda a: a["AllocationId"]):   # nat.addresses > 1: by zone and index
        index = tags.tag_map(a)[naming.ADDRESS_TAG]
        if index.isdigit():
            obs.extra_addresses.setdefault(role_zone(a)[1], {}).setdefault(int(index), a)
    obs.nat_ami = desired.nat_ami or params.resolve_ami(clients.ssm, desired.nat_ami_alias)
    if desired.admin_enabled:
        obs.admin_ami = params.resolve_ami(clients.ssm, desired.admin_ami_alias)


def _template_and_data(ec2, desired: Desired) -> tuple[dict | None, dict | None]:
    """The stack's launch template as its tag listing shows it, with its default version's data, both read
    again until they agree: right after ``down`` the listing may still show a template whose versions are
    already InvalidLaunchTemplateId.NotFound ("Eventual consistency in the Amazon EC2 API", EC2 Developer
    Guide: run the Describe again with growing delays); the listing decides."""
    def read() -> tuple[dict | None, dict | None, bool]:
        templates = [t for t in network.describe_tagged(ec2, "launch-template", desired.stack)
                     if t["LaunchTemplateName"] == desired.launch_template_name]
        if not templates:
            return None, None, True
        try:
            return templates[0], instances.launch_template_data(ec2, templates[0]["LaunchTemplateId"], retry_on=()), True
        except AwsError as err:
            if err.code != "InvalidLaunchTemplateId.NotFound":
                raise
            return templates[0], None, False
    template, data, _ = until_shown(f"ec2.DescribeLaunchTemplateVersions (stack {desired.stack})", read,
                                    lambda seen: seen[2], "the listed template's versions or no template listed",
                                    policy=DEFAULT_RETRY)
    return template, data


def _refuse_untagged(kind: str, name: str, resource_tags, stack: str, problems: list[str]) -> bool:
    if tags.has_stack_tag(resource_tags, stack):
        return True
    problems.append(f"{kind} {name!r} exists but is not tagged {naming.STACK_TAG}={stack}: "
                    "hanat will not adopt it (rename the stack or remove it)")
    return False


def _observe_iam(iam, desired: Desired, obs: Observed, problems: list[str]) -> None:
    stack = desired.stack
    role = iam_api.get_role(iam, desired.role_name)
    if role and _refuse_untagged("IAM role", desired.role_name, iam_api.role_tags(iam, desired.role_name),
                                 stack, problems):
        obs.role = role
        doc = iam_api.get_role_policy(iam, desired.role_name, desired.instance_policy_name)
        obs.role_policy = normalized(doc) if doc is not None else None
    profile = iam_api.get_instance_profile(iam, desired.instance_profile_name)
    if profile and _refuse_untagged("instance profile", desired.instance_profile_name,
                                    profile.get("Tags", []), stack, problems):
        obs.instance_profile = profile
    for policy in iam_api.tagged_policies(iam, stack):
        document = iam_api.policy_document(iam, policy["Arn"], policy["DefaultVersionId"])
        obs.user_policies[policy["PolicyName"]] = {"Arn": policy["Arn"], "Document": normalized(document)}
    for user in desired.users:
        if iam_api.get_user(iam, user.user_name) is None:
            problems.append(f"permissions: IAM user {user.user_name!r} does not exist")
            continue
        obs.users[user.user_name] = UserState(
            tags=tags.tag_map(iam_api.user_tags(iam, user.user_name)),
            attached=iam_api.attached_user_policies(iam, user.user_name),
        )


def _observe_services(clients: StackClients, desired: Desired, obs: Observed, problems: list[str]) -> None:
    stack = desired.stack
    table = state_table.describe_table(clients.dynamodb, desired.table_name)
    if table and _refuse_untagged("DynamoDB table", desired.table_name,
                                  state_table.table_tags(clients.dynamodb, table["TableArn"]), stack, problems):
        obs.table = table
        obs.table_ttl = state_table.table_ttl(clients.dynamodb, desired.table_name)
        obs.replacing = {r["az"]: r.get("step", "?") for r in replacement_records.list_records(clients.dynamodb,
                                                                                      desired.table_name)
                         if r.get("status") == REPLACING}
    topic_arn = sns_api.find_topic(clients.sns, desired.topic_name)
    if topic_arn and _refuse_untagged("SNS topic", desired.topic_name, sns_api.topic_tags(clients.sns, topic_arn),
                                      stack, problems):
        obs.topic_arn = topic_arn
        obs.subscribed = {s["Endpoint"] for s in sns_api.subscriptions(clients.sns, topic_arn)
                          if s.get("Protocol") == "email"}


def _observe_parameter(ssm, desired: Desired, obs: Observed, problems: list[str]) -> None:
    parameter = params.get_parameter(ssm, desired.topology_parameter)
    if parameter and _refuse_untagged("SSM parameter", desired.topology_parameter,
                                      params.parameter_tags(ssm, desired.topology_parameter),
                                      desired.stack, problems):
        obs.parameter_value = parameter["Value"]


def _topology_nats(parameter_value: str | None) -> dict[str, str]:
    """az -> NAT instance id in the stored topology ({} when there is none or it cannot be read)."""
    try:
        zones = json.loads(parameter_value or "{}").get("zones", [])
        return {z["az"]: z["nat_instance_id"] for z in zones if z.get("nat_instance_id")}
    except (ValueError, AttributeError, TypeError, KeyError):
        return {}
