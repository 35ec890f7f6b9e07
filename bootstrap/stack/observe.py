"""What exists now: every resource of the stack, found by its ``hanat:stack`` tag (reads only).

Named resources that cannot be found by tag (IAM role, table, topic, parameter) are looked up by
name and refused when they exist without our tag: hanat never adopts someone else's resource.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from chalicelib import naming
from chalicelib.aws import iam as iam_api
from chalicelib.aws import instances, network, params, replacement_records, state_table, tags
from chalicelib.aws import sns as sns_api
from chalicelib.errors import InputError
from chalicelib.replacement.machine import REPLACING

from . import adopted
from .clients import StackClients
from .desired import ROLE_ADMIN, ROLE_IGW, ROLE_NAT, ROLE_VPC, ROUTE_TABLE_SUFFIX, Desired


@dataclass
class UserState:
    tags: dict[str, str]
    attached: list[str]


@dataclass
class Observed:
    vpc: dict | None = None
    vpc_dns: dict[str, bool] = field(default_factory=dict)
    igw: dict | None = None
    subnets: dict[tuple[str, str], dict] = field(default_factory=dict)       # (role, az)
    route_tables: dict[tuple[str, str], dict] = field(default_factory=dict)  # (role, az or "")
    security_groups: dict[str, dict] = field(default_factory=dict)           # role
    launch_template: dict | None = None
    launch_template_data: dict = field(default_factory=dict)
    instances: dict[tuple[str, str], dict] = field(default_factory=dict)     # (nat, az) | (admin, "")
    addresses: dict[str, dict] = field(default_factory=dict)                 # az
    role: dict | None = None
    role_policy: str | None = None            # normalized JSON of the inline policy
    instance_profile: dict | None = None
    user_policies: dict[str, dict] = field(default_factory=dict)  # name -> {"Arn", "Document"}
    users: dict[str, UserState] = field(default_factory=dict)
    table: dict | None = None
    table_ttl: dict = field(default_factory=dict)  # DescribeTimeToLive's description ({} if no table)
    topic_arn: str | None = None
    subscribed: set[str] = field(default_factory=set)
    parameter_value: str | None = None
    replacing: dict[str, str] = field(default_factory=dict)   # az -> step of an active replacement
    nat_ami: str = ""
    admin_ami: str = ""
    adopted_tables: dict[str, dict] = field(default_factory=dict)  # adopted VPC: the listed tables, by id

    def subnet_id(self, role: str, az: str) -> str:
        return self.subnets.get((role, az), {}).get("SubnetId", "")

    def nat_eni(self, az: str) -> str:
        instance = self.instances.get((ROLE_NAT, az))
        return instance["NetworkInterfaces"][0]["NetworkInterfaceId"] if instance else ""


def role_zone(resource: dict) -> tuple[str, str]:
    found = tags.tag_map(resource)
    return found.get(naming.ROLE_TAG, ""), found.get(naming.ZONE_TAG, "")


def _by_role_zone(resources: list[dict], id_key: str) -> dict[tuple[str, str], dict]:
    """Index by (role, zone); duplicates resolve to the lowest id so every run picks the same one."""
    out: dict[tuple[str, str], dict] = {}
    for r in sorted(resources, key=lambda r: r[id_key]):
        out.setdefault(role_zone(r), r)
    return out


def normalized(document) -> str:
    if isinstance(document, str):
        document = json.loads(document)
    return json.dumps(document, sort_keys=True)


def observe(clients: StackClients, desired: Desired) -> Observed:
    obs = Observed()
    problems: list[str] = []
    _observe_parameter(clients.ssm, desired, obs, problems)
    if desired.adopted is not None:
        adopted.observe_network(clients.ec2, desired, obs, _by_role_zone)
    else:
        _observe_network(clients.ec2, desired.stack, obs)
    _observe_compute(clients, desired, obs)
    _observe_iam(clients.iam, desired, obs, problems)
    _observe_services(clients, desired, obs, problems)
    if problems:
        raise InputError(problems, title=f"stack {desired.stack!r} cannot be reconciled")
    return obs


def _observe_network(ec2, stack: str, obs: Observed) -> None:
    vpcs = _by_role_zone(network.describe_tagged(ec2, "vpc", stack), "VpcId")
    obs.vpc = vpcs.get((ROLE_VPC, ""))
    if not obs.vpc:
        return
    vpc_id = obs.vpc["VpcId"]
    obs.vpc_dns = network.vpc_dns(ec2, vpc_id)
    igws = network.describe_tagged(ec2, "internet-gateway", stack)
    obs.igw = _by_role_zone(igws, "InternetGatewayId").get((ROLE_IGW, ""))
    in_vpc = [s for s in network.describe_tagged(ec2, "subnet", stack) if s["VpcId"] == vpc_id]
    obs.subnets = _by_role_zone(in_vpc, "SubnetId")
    tables = [t for t in network.describe_tagged(ec2, "route-table", stack) if t["VpcId"] == vpc_id]
    obs.route_tables = {(role.removesuffix(ROUTE_TABLE_SUFFIX), zone): t
                        for (role, zone), t in _by_role_zone(tables, "RouteTableId").items()
                        if role.endswith(ROUTE_TABLE_SUFFIX)}
    groups = [g for g in network.describe_tagged(ec2, "security-group", stack) if g["VpcId"] == vpc_id]
    obs.security_groups = {role: g for (role, _), g in _by_role_zone(groups, "GroupId").items()}


def _observe_compute(clients: StackClients, desired: Desired, obs: Observed) -> None:
    ec2, stack = clients.ec2, desired.stack
    templates = network.describe_tagged(ec2, "launch-template", stack)
    templates = [t for t in templates if t["LaunchTemplateName"] == desired.launch_template_name]
    if templates:
        obs.launch_template = templates[0]
        obs.launch_template_data = instances.launch_template_data(ec2, templates[0]["LaunchTemplateId"])
    vpc_id = obs.vpc["VpcId"] if obs.vpc else None
    found = [i for i in instances.describe_stack_instances(ec2, stack) if i.get("VpcId") == vpc_id]
    obs.instances = {k: v for k, v in _by_role_zone(found, "InstanceId").items()
                     if k[0] in (ROLE_NAT, ROLE_ADMIN)}
    # While (or after) the controller replaces a NAT, two instances carry the zone's tags: the zone's NAT
    # is the one the topology names (the controller's record), not the lowest id.
    for az, instance_id in _topology_nats(obs.parameter_value).items():
        named = next((i for i in found if i["InstanceId"] == instance_id and role_zone(i) == (ROLE_NAT, az)), None)
        if named:
            obs.instances[(ROLE_NAT, az)] = named
    addresses = network.describe_tagged(ec2, "elastic-ip", stack)
    obs.addresses = {zone: a for (_, zone), a in _by_role_zone(addresses, "AllocationId").items()}
    obs.nat_ami = desired.nat_ami or params.resolve_ami(clients.ssm, desired.nat_ami_alias)
    if desired.admin_enabled:
        obs.admin_ami = params.resolve_ami(clients.ssm, desired.admin_ami_alias)


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
