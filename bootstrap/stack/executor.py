"""Act: run the planned steps in order, one AWS change each, keeping the observed state current.

Every step is idempotent against a fresh observation (creates carry their tags, so an ``up`` that
died half way leaves things the next plan finds instead of duplicates). Later steps read the ids of
earlier ones from the running ``Observed`` snapshot.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable

from chalicelib.aws import iam as iam_api
from chalicelib.aws import instances, markets, network, params, route_tables, state_table
from chalicelib.aws import sns as sns_api
from chalicelib.aws.addresses import place_extra_addresses
from chalicelib.aws.calls import RetryPolicy, wait_until
from chalicelib.aws.state_table import TTL_ATTRIBUTE
from chalicelib.errors import AwsError
from chalicelib.naming import ADDRESS_TAG
from chalicelib.replacement.advance_notice import launch_markets

from .desired import (
    EC2_TRUST_POLICY,
    METADATA_OPTIONS,
    PINNED_TAG,
    ROLE_ADMIN,
    ROLE_EIP,
    ROLE_LAUNCH_TEMPLATE,
    ROLE_NAT,
    ROLE_NAT_SG,
    ROLE_PROBE,
    ROLE_PROBE_SG,
    ROLE_PUBLIC,
    ROUTE_TABLE_SUFFIX,
    RUN_AS_TAG,
    RUN_AS_USER,
    launch_template_data,
    nat_network_interface,
    run_instances_tags,
)
from .model import ALL_IPV4, EXTRA_ADDRESS, Context, Progress, Step
from .network import adopted, built
from .observe import observe
from .topology import topology_from

INSTANCE_WAIT_S = 300.0
# EC2's reads lag its writes ("Eventual consistency in the Amazon EC2 API", EC2 Developer Guide: describe
# a resource just created and "you will get an error responding that the resource does not exist"): the
# final observation is read again, with growing delays, for up to this long before a part counts as missing.
TOPOLOGY_READ_BACK = RetryPolicy(within_s=60.0, base_delay_s=0.2, max_delay_s=5.0)
SG_DESCRIPTIONS = {
    ROLE_NAT_SG: "hanat NAT instances: TCP, UDP and ICMP from the VPC, VXLAN only from NATs, all egress",
    ROLE_PROBE_SG: "hanat probe Lambdas: no ingress, all egress",
}


def execute(ctx: Context, steps: list[Step], progress: Progress) -> int:
    """Apply ``steps`` in order; returns how many changes were made."""
    for number, step in enumerate(steps, 1):
        progress(f"[{number}/{len(steps)}] {step.describe()}")
        HANDLERS[step.kind](ctx, step)
    return len(steps)


# --- subnets, route tables, security groups (both networks) ------------------------------------
def _subnet(ctx: Context, step: Step) -> None:
    cidr = next(s.cidr for s in ctx.desired.subnets if (s.role, s.az) == (step.name, step.zone))
    ctx.obs.subnets[(step.name, step.zone)] = network.create_subnet(
        ctx.ec2, ctx.vpc_id, cidr, step.zone, ctx.desired.tags(step.name, step.zone))


def _route_table(ctx: Context, step: Step) -> None:
    tags = ctx.desired.tags(f"{step.name}{ROUTE_TABLE_SUFFIX}", step.zone or None)
    if step.name == ROLE_PROBE:  # the heartbeat route: the controller never moves it
        tags.append({"Key": PINNED_TAG, "Value": "true"})
    ctx.obs.route_tables[(step.name, step.zone)] = route_tables.create_route_table(ctx.ec2, ctx.vpc_id, tags)


def _associate_route_table(ctx: Context, step: Step) -> None:
    table = ctx.obs.route_tables[(step.name, "" if step.name == ROLE_PUBLIC else step.zone)]
    subnet_id = ctx.obs.subnet_id(step.name, step.zone)
    association = route_tables.associate_route_table(ctx.ec2, table["RouteTableId"], subnet_id)
    table.setdefault("Associations", []).append({"SubnetId": subnet_id, "RouteTableAssociationId": association})


def _default_route(ctx: Context, step: Step) -> None:
    table = ctx.obs.route_tables[(step.name, step.zone)]
    if step.name == ROLE_PUBLIC:
        target = {"gateway_id": ctx.obs.igw["InternetGatewayId"]}
    else:
        target = {"eni_id": ctx.obs.nat_eni(step.zone)}
    table_routes = table.setdefault("Routes", [])
    existing = [r for r in table_routes if r.get("DestinationCidrBlock") == ALL_IPV4]
    route_tables.put_default_route(ctx.ec2, table["RouteTableId"], replace=bool(existing), **target)
    table_routes[:] = [r for r in table_routes if r.get("DestinationCidrBlock") != ALL_IPV4]
    table_routes.append({"DestinationCidrBlock": ALL_IPV4, "GatewayId": target.get("gateway_id"),
                         "NetworkInterfaceId": target.get("eni_id")})


def _security_group(ctx: Context, step: Step) -> None:
    name = ctx.desired.name(step.name)
    group_id = network.create_security_group(ctx.ec2, ctx.vpc_id, name, SG_DESCRIPTIONS[step.name],
                                             ctx.desired.tags(step.name))
    ctx.obs.security_groups[step.name] = {
        "GroupId": group_id, "IpPermissions": [],
        "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": ALL_IPV4}]}],
    }


def _security_group_egress(ctx: Context, step: Step) -> None:
    network.authorize_egress(ctx.ec2, ctx.obs.security_groups[step.name]["GroupId"], ALL_IPV4)


def _name_tag(ctx: Context, step: Step) -> None:
    """Re-apply the Name a template gives a resource the stack already has (found by role/zone, never Name)."""
    for resource_id, role, zone, resource in ctx.obs.named_resources(ctx.desired.stack):
        if resource_id == step.name:
            name = ctx.desired.name_of(role, zone or None)
            network.set_tags(ctx.ec2, resource_id, [{"Key": "Name", "Value": name}])
            resource["Tags"] = [t for t in resource.get("Tags", []) if t["Key"] != "Name"] + [
                {"Key": "Name", "Value": name}]
            return


# --- IAM and the launch template -----------------------------------------------------------------
def _iam_role(ctx: Context, step: Step) -> None:
    d = ctx.desired
    ctx.obs.role = iam_api.create_role(ctx.clients.iam, d.role_name, json.dumps(EC2_TRUST_POLICY),
                                   d.tags("instance-role"))


def _role_policy(ctx: Context, step: Step) -> None:
    d = ctx.desired
    iam_api.put_role_policy(ctx.clients.iam, d.role_name, d.instance_policy_name, d.instance_policy)


def _instance_profile(ctx: Context, step: Step) -> None:
    d = ctx.desired
    ctx.obs.instance_profile = iam_api.create_instance_profile(ctx.clients.iam, d.instance_profile_name,
                                                           d.tags("instance-profile"))


def _instance_profile_role(ctx: Context, step: Step) -> None:
    d = ctx.desired
    iam_api.add_role_to_instance_profile(ctx.clients.iam, d.instance_profile_name, d.role_name)


def _launch_template(ctx: Context, step: Step) -> None:
    d, obs = ctx.desired, ctx.obs
    data = launch_template_data(d, obs.nat_ami, obs.security_groups[ROLE_NAT_SG]["GroupId"])
    if obs.launch_template:
        instances.new_default_launch_template_version(ctx.ec2, obs.launch_template["LaunchTemplateId"], data)
    else:
        obs.launch_template = instances.create_launch_template(ctx.ec2, d.launch_template_name, data,
                                                             d.tags(ROLE_LAUNCH_TEMPLATE))
    obs.launch_template_data = data


# --- instances and addresses ---------------------------------------------------------------------
def _nat_instance(ctx: Context, step: Step) -> None:
    d, obs = ctx.desired, ctx.obs
    def launch(options: dict | None) -> dict:
        return instances.run_instance(
            ctx.ec2,
            LaunchTemplate={"LaunchTemplateId": obs.launch_template["LaunchTemplateId"], "Version": "$Default"},
            # the whole interface (subnet, group, public address), no top-level SubnetId: AWS refuses both
            # ("Network interfaces and an instance-level subnet ID may not be specified on the same request")
            NetworkInterfaces=[nat_network_interface(obs.subnet_id(ROLE_PUBLIC, step.zone),
                                                     obs.security_groups[ROLE_NAT_SG]["GroupId"],
                                                     secondary_addresses=d.nat_addresses - 1)],
            MetadataOptions=dict(METADATA_OPTIONS),
            TagSpecifications=run_instances_tags(d.tags(ROLE_NAT, step.zone))
            + markets.spot_request_tags(options, d.tags(ROLE_NAT, step.zone)),
            **({"InstanceMarketOptions": options} if options else {}),
        )
    # nat.market: spot, or on-demand when EC2 refuses spot capacity and nat.spot_fallback is on
    instance, _market, _refused = markets.launch_in_market(launch, launch_markets(ctx.config.nat.market))
    ctx.obs.instances[(ROLE_NAT, step.zone)] = instance


def wait_running(ctx: Context, key: tuple[str, str]) -> dict:
    """Bounded wait for a NAT/admin instance to be running; refreshes the snapshot."""
    instance_id = ctx.obs.instances[key]["InstanceId"]
    latest: dict = {}

    def running() -> bool:
        latest.update(instances.describe_instances_by_id(ctx.ec2, [instance_id])[0])
        state = latest["State"]["Name"]
        if state not in ("pending", "running"):
            raise AwsError("ec2.RunInstances", "InstanceNotRunning", f"{instance_id} is {state}")
        return state == "running"

    wait_until(f"instance {instance_id} running", running, timeout_s=INSTANCE_WAIT_S,
               interval_s=ctx.wait_interval_s)
    ctx.obs.instances[key] = dict(latest)
    return ctx.obs.instances[key]


def _source_dest_check(ctx: Context, step: Step) -> None:
    instance = wait_running(ctx, (ROLE_NAT, step.zone))
    instances.disable_source_dest_check(ctx.ec2, instances.nat_instance(instance, ctx.desired.stack))
    instance["SourceDestCheck"] = False


def _elastic_ip(ctx: Context, step: Step) -> None:
    tags = ctx.desired.tags(ROLE_EIP, step.zone)
    if step.name.startswith(EXTRA_ADDRESS):   # an extra one (nat.addresses > 1): tagged with its index
        index = int(step.name.removeprefix(EXTRA_ADDRESS))
        address = instances.allocate_address(ctx.ec2, [*tags, {"Key": ADDRESS_TAG, "Value": str(index)}])
        ctx.obs.extra_addresses.setdefault(step.zone, {})[index] = address
        return
    ctx.obs.addresses[step.zone] = instances.allocate_address(ctx.ec2, tags)


def _place_extra_elastic_ips(ctx: Context, step: Step) -> None:
    wait_running(ctx, (ROLE_NAT, step.zone))
    extras = ctx.obs.extra_addresses[step.zone]
    wanted = [extras[i] for i in range(1, ctx.desired.nat_addresses)]
    placed = place_extra_addresses(ctx.ec2, ctx.obs.nat_eni(step.zone), [a["AllocationId"] for a in wanted],
                                   ctx.desired.stack)
    for address in wanted:
        address.update(NetworkInterfaceId=ctx.obs.nat_eni(step.zone), PrivateIpAddress=placed[address["AllocationId"]])


def _release_elastic_ip(ctx: Context, step: Step) -> None:
    extras = ctx.obs.extra_addresses.get(step.zone, {})
    index, address = next((i, a) for i, a in extras.items() if a["AllocationId"] == step.name)
    if address.get("AssociationId"):
        instances.disassociate_address(ctx.ec2, address["AssociationId"])
    instances.release_address(ctx.ec2, step.name)
    del extras[index]


def _associate_elastic_ip(ctx: Context, step: Step) -> None:
    instance = wait_running(ctx, (ROLE_NAT, step.zone))
    address = ctx.obs.addresses[step.zone]
    instances.associate_address(ctx.ec2, address["AllocationId"], instance["InstanceId"])
    address["InstanceId"] = instance["InstanceId"]


def _admin_instance(ctx: Context, step: Step) -> None:
    d, obs = ctx.desired, ctx.obs
    obs.instances[(ROLE_ADMIN, "")] = instances.run_instance(
        ctx.ec2, ImageId=obs.admin_ami, InstanceType=d.admin_instance_type,
        IamInstanceProfile={"Name": d.instance_profile_name},
        MetadataOptions=dict(METADATA_OPTIONS),
        NetworkInterfaces=[nat_network_interface(obs.subnet_id(ROLE_PUBLIC, d.azs[0]),
                                                 obs.security_groups[ROLE_NAT_SG]["GroupId"])],
        UserData=d.admin_user_data,
        TagSpecifications=run_instances_tags(d.tags(ROLE_ADMIN)),
    )


# --- permissions ---------------------------------------------------------------------------------
def _user(ctx: Context, step: Step):
    return next(u for u in ctx.desired.users if u.user_name == step.name)


def _user_policy(ctx: Context, step: Step) -> None:
    user, iam = _user(ctx, step), ctx.clients.iam
    existing = ctx.obs.user_policies.get(user.policy_name)
    if existing:
        iam_api.new_policy_version(iam, existing["Arn"], user.policy_document)
        existing["Document"] = user.policy_document
        return
    policy = iam_api.create_policy(iam, user.policy_name, user.policy_document, ctx.desired.tags("user-policy"))
    ctx.obs.user_policies[user.policy_name] = {"Arn": policy["Arn"], "Document": user.policy_document}


def _attach_user_policy(ctx: Context, step: Step) -> None:
    user = _user(ctx, step)
    arn = ctx.obs.user_policies[user.policy_name]["Arn"]
    iam_api.attach_user_policy(ctx.clients.iam, user.user_name, arn)
    ctx.obs.users[user.user_name].attached.append(arn)


def _user_run_as(ctx: Context, step: Step) -> None:
    user = _user(ctx, step)
    if user.run_as_tag:
        iam_api.tag_user(ctx.clients.iam, user.user_name, RUN_AS_TAG, RUN_AS_USER)
        ctx.obs.users[user.user_name].tags[RUN_AS_TAG] = RUN_AS_USER
    else:
        iam_api.untag_user(ctx.clients.iam, user.user_name, RUN_AS_TAG)
        ctx.obs.users[user.user_name].tags.pop(RUN_AS_TAG, None)


# --- services ------------------------------------------------------------------------------------
def _table(ctx: Context, step: Step) -> None:
    d, dynamodb = ctx.desired, ctx.clients.dynamodb
    state_table.create_table(dynamodb, d.table_name, d.tags("state-table"))
    wait_until(f"table {d.table_name} active",
               lambda: (state_table.describe_table(dynamodb, d.table_name) or {}).get("TableStatus") == "ACTIVE",
               timeout_s=120, interval_s=ctx.wait_interval_s)
    ctx.obs.table = state_table.describe_table(dynamodb, d.table_name)


def _table_ttl(ctx: Context, step: Step) -> None:
    spec = state_table.enable_table_ttl(ctx.clients.dynamodb, ctx.desired.table_name, TTL_ATTRIBUTE)
    ctx.obs.table_ttl = {"TimeToLiveStatus": "ENABLING", "AttributeName": spec["AttributeName"]}


def _topic(ctx: Context, step: Step) -> None:
    ctx.obs.topic_arn = sns_api.create_topic(ctx.clients.sns, ctx.desired.topic_name, ctx.desired.tags("alerts"))


def _subscription(ctx: Context, step: Step) -> None:
    sns_api.subscribe_email(ctx.clients.sns, ctx.obs.topic_arn, step.name)
    ctx.obs.subscribed.add(step.name)


def _topology_parameter(ctx: Context, step: Step) -> None:
    """Written last, from a fresh observation, so the stored contract matches what exists (observed again
    while a part made a moment ago is not visible yet: TOPOLOGY_READ_BACK)."""
    started, attempt = time.monotonic(), 0
    while True:
        attempt += 1
        fresh = observe(ctx.clients, ctx.desired)
        topology = topology_from(ctx.config, ctx.desired, fresh)
        if topology is not None:
            break
        delay = TOPOLOGY_READ_BACK.delay(attempt)
        if time.monotonic() + delay > started + TOPOLOGY_READ_BACK.within_s:
            raise AwsError("hanat.up", "IncompleteStack", f"some stack resources are missing after apply "
                                                          f"({attempt} observations in {time.monotonic() - started:.1f}s)")
        time.sleep(delay)
    tags = ctx.desired.tags("topology") if fresh.parameter_value is None else None
    params.put_parameter(ctx.clients.ssm, ctx.desired.topology_parameter, topology.to_json(), tags=tags,
                         tier=params.TOPOLOGY_TIER)
    fresh.parameter_value = topology.to_json()
    ctx.obs = fresh


HANDLERS: dict[str, Callable[[Context, Step], None]] = {
    "subnet": _subnet, "route-table": _route_table,
    "associate-route-table": _associate_route_table, "default-route": _default_route,
    "security-group": _security_group, "security-group-egress": _security_group_egress, "name-tag": _name_tag,
    "iam-role": _iam_role, "role-policy": _role_policy,
    "instance-profile": _instance_profile, "instance-profile-role": _instance_profile_role,
    "launch-template": _launch_template, "nat-instance": _nat_instance,
    "source-dest-check": _source_dest_check, "elastic-ip": _elastic_ip,
    "associate-elastic-ip": _associate_elastic_ip, "place-extra-elastic-ips": _place_extra_elastic_ips,
    "release-elastic-ip": _release_elastic_ip, "admin-instance": _admin_instance,
    "user-policy": _user_policy, "attach-user-policy": _attach_user_policy, "user-run-as": _user_run_as,
    "table": _table, "table-ttl": _table_ttl, "topic": _topic, "subscription": _subscription,
    "topology-parameter": _topology_parameter,
    **built.HANDLERS,     # the steps of a VPC hanat builds (network/built.py)
    **adopted.HANDLERS,   # an adopted VPC's steps (network/adopted.py)
}
