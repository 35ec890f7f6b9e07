"""Decide: compare the desired stack with the observed one and list the ordered changes (pure).

Steps come in dependency order (VPC before subnets, NAT instance before the routes to its ENI,
everything before the topology parameter). An empty plan means ``up`` has nothing to do.
Private default routes are only created or repaired (when they do not point at a live NAT of the
stack): pointing at another zone's NAT is the controller's failover, which ``up`` must not undo.
Probe routes are pinned to their own zone's NAT and always corrected.
"""
from __future__ import annotations

import json

from chalicelib.aws.state_table import TTL_ATTRIBUTE
from chalicelib.aws.tags import tag_map
from chalicelib.errors import InputError

from ..config.schema import HanatConfig
from .desired import (
    ROLE_ADMIN,
    ROLE_NAT,
    ROLE_NAT_SG,
    ROLE_PRIVATE,
    RUN_AS_TAG,
    RUN_AS_USER,
    Desired,
    launch_template_data,
)
from .model import CREATE, EXTRA_ADDRESS, MODIFY, Observed, Step, associated, default_route
from .network import network_for
from .topology import topology_from

TEMPLATE_KEYS = ("ImageId", "InstanceType", "IamInstanceProfile", "UserData")


def plan_changes(config: HanatConfig, desired: Desired, obs: Observed) -> list[Step]:
    if obs.replacing:
        raise InputError([f"zone {az}: the controller is replacing its NAT (step {step!r}); `hanat up` could "
                          "undo it (Elastic IP, probe route)" for az, step in sorted(obs.replacing.items())]
                         + ["wait until `hanat status` shows the replacement done or failed, then re-run"],
                         title=f"stack {desired.stack!r}: nothing changed")
    network = network_for(desired)
    steps: list[Step] = []
    steps += network.plan(desired, obs)
    steps += _plan_names(desired, obs)
    steps += _plan_iam_and_template(desired, obs)
    steps += _plan_instances(desired, obs)
    steps += _plan_private_routes(desired, obs, network.private_route_roles)
    steps += network.plan_route_tables(desired, obs)
    steps += _plan_permissions(desired, obs)
    steps += _plan_services(desired, obs)
    steps += _plan_parameter(config, desired, obs)
    return steps


def _plan_names(d: Desired, obs: Observed) -> list[Step]:
    """Name tags of the stack's own resources that differ from what the templates (or hanat's own names) give."""
    steps = []
    for resource_id, role, zone, resource in obs.named_resources(d.stack):
        wanted = d.name_of(role, zone or None)
        if tag_map(resource).get("Name") != wanted:
            steps.append(Step(MODIFY, "name-tag", zone=zone, name=resource_id, detail=f"Name={wanted}"))
    return steps


def _plan_iam_and_template(d: Desired, obs: Observed) -> list[Step]:
    steps: list[Step] = []
    if not obs.role:
        steps.append(Step(CREATE, "iam-role", name=d.role_name))
    if obs.role_policy != d.instance_policy:
        steps.append(Step(MODIFY, "role-policy", name=d.instance_policy_name, detail="Session Manager only"))
    if not obs.instance_profile:
        steps.append(Step(CREATE, "instance-profile", name=d.instance_profile_name))
    roles = [r["RoleName"] for r in (obs.instance_profile or {}).get("Roles", [])]
    if d.role_name not in roles:
        steps.append(Step(MODIFY, "instance-profile-role", name=d.instance_profile_name))
    nat_sg_id = obs.security_groups.get(ROLE_NAT_SG, {}).get("GroupId", "")
    wanted = launch_template_data(d, obs.nat_ami, nat_sg_id)
    if not obs.launch_template:
        steps.append(Step(CREATE, "launch-template", name=d.launch_template_name, detail=obs.nat_ami))
    elif _template_differs(wanted, obs.launch_template_data):
        steps.append(Step(MODIFY, "launch-template", name=d.launch_template_name, detail="new default version"))
    return steps


def _template_differs(wanted: dict, current: dict) -> bool:
    if any(wanted[k] != current.get(k) for k in TEMPLATE_KEYS):
        return True
    interfaces = current.get("NetworkInterfaces") or [{}]
    if len(interfaces) != 1 or any(interfaces[0].get(k) != v for k, v in wanted["NetworkInterfaces"][0].items()):
        return True
    metadata = current.get("MetadataOptions", {})
    return any(metadata.get(k) != v for k, v in wanted["MetadataOptions"].items() if k != "HttpEndpoint")


def _plan_instances(d: Desired, obs: Observed) -> list[Step]:
    steps: list[Step] = []
    for az in d.azs:
        nat = obs.instances.get((ROLE_NAT, az))
        if not nat:
            steps.append(Step(CREATE, "nat-instance", zone=az, detail=f"{d.nat_instance_type} {d.nat_market.label}"))
        if not nat or nat.get("SourceDestCheck", True):
            steps.append(Step(MODIFY, "source-dest-check", zone=az, detail="off"))
        eip = obs.addresses.get(az)
        if not eip:
            steps.append(Step(CREATE, "elastic-ip", zone=az))
        if not nat or not eip or eip.get("InstanceId") != nat["InstanceId"]:
            steps.append(Step(MODIFY, "associate-elastic-ip", zone=az))
        steps += _plan_extra_addresses(d, obs, az, nat)
    if d.admin_enabled and not obs.instances.get((ROLE_ADMIN, "")):
        steps.append(Step(CREATE, "admin-instance", zone=d.azs[0], detail=d.admin_instance_type))
    return steps


def _plan_extra_addresses(d: Desired, obs: Observed, az: str, nat: dict | None) -> list[Step]:
    """nat.addresses > 1: the zone's extra Elastic IPs (tag hanat:address = 1..N-1), each on its own
    secondary private address of the NAT's interface; ones beyond N (the setting went down) released."""
    steps: list[Step] = []
    extras = obs.extra_addresses.get(az, {})
    wanted = range(1, d.nat_addresses)
    for i in wanted:
        if i not in extras:
            steps.append(Step(CREATE, "elastic-ip", zone=az, name=f"{EXTRA_ADDRESS}{i}"))
    if wanted and not _extras_placed(nat, [extras.get(i) for i in wanted]):
        steps.append(Step(MODIFY, "place-extra-elastic-ips", zone=az,
                          detail=f"{len(wanted)} on secondary private addresses of NAT {az}"))
    for i, address in sorted(extras.items()):
        if i not in wanted:
            steps.append(Step(MODIFY, "release-elastic-ip", zone=az, name=address["AllocationId"],
                              detail=f"{address.get('PublicIp', '')}: nat.addresses = {d.nat_addresses}"))
    return steps


def _extras_placed(nat: dict | None, extras: list[dict | None]) -> bool:
    """Every extra Elastic IP on the NAT's interface, each on its own secondary private address."""
    if not nat or any(a is None for a in extras):
        return False
    interface = nat["NetworkInterfaces"][0]
    privates = [a.get("PrivateIpAddress") for a in extras]
    return (all(a.get("NetworkInterfaceId") == interface["NetworkInterfaceId"] for a in extras)
            and interface.get("PrivateIpAddress") not in privates and len(set(privates)) == len(privates))


def _plan_private_routes(d: Desired, obs: Observed, roles: tuple[str, ...]) -> list[Step]:
    steps: list[Step] = []
    live_enis = {obs.nat_eni(az) for az in d.azs} - {""}
    for role in roles:
        for az in d.azs:
            table = obs.route_tables.get((role, az))
            if not table:
                steps.append(Step(CREATE, "route-table", zone=az, name=role))
            if not associated(table, obs.subnets.get((role, az))):
                steps.append(Step(MODIFY, "associate-route-table", zone=az, name=role))
            target = (default_route(table) or {}).get("NetworkInterfaceId")
            own = obs.nat_eni(az)
            wrong = target not in live_enis if role == ROLE_PRIVATE else (not own or target != own)
            if wrong:
                steps.append(Step(MODIFY, "default-route", zone=az, name=role, detail=f"-> NAT {az}"))
    return steps


def _plan_permissions(d: Desired, obs: Observed) -> list[Step]:
    steps: list[Step] = []
    for user in d.users:
        policy = obs.user_policies.get(user.policy_name)
        if not policy:
            steps.append(Step(CREATE, "user-policy", name=user.user_name, detail=user.policy_name))
        elif policy["Document"] != user.policy_document:
            steps.append(Step(MODIFY, "user-policy", name=user.user_name, detail="new default version"))
        state = obs.users.get(user.user_name)
        if not policy or not state or policy["Arn"] not in state.attached:
            steps.append(Step(MODIFY, "attach-user-policy", name=user.user_name))
        run_as = (state.tags.get(RUN_AS_TAG) if state else None) == RUN_AS_USER
        if user.run_as_tag != run_as:
            detail = f"tag {RUN_AS_TAG}={RUN_AS_USER}" if user.run_as_tag else f"untag {RUN_AS_TAG}"
            steps.append(Step(MODIFY, "user-run-as", name=user.user_name, detail=detail))
    return steps


def _plan_services(d: Desired, obs: Observed) -> list[Step]:
    steps: list[Step] = []
    if not obs.table:
        steps.append(Step(CREATE, "table", name=d.table_name))
    if not ttl_is_on(obs.table_ttl):
        steps.append(Step(MODIFY, "table-ttl", name=d.table_name, detail=f"expire items by {TTL_ATTRIBUTE}"))
    if not obs.topic_arn:
        steps.append(Step(CREATE, "topic", name=d.topic_name))
    for email in d.emails:
        if email not in obs.subscribed:
            steps.append(Step(CREATE, "subscription", name=email))
    return steps


def ttl_is_on(description: dict) -> bool:
    """True when the state table already expires items by ``expires_at`` (or is switching it on).

    TTL on another attribute cannot be changed here (AWS allows one TTL change per table per hour
    and old items would never expire): that is refused, naming both attributes."""
    status, attribute = description.get("TimeToLiveStatus"), description.get("AttributeName")
    if status in ("ENABLED", "ENABLING") and attribute != TTL_ATTRIBUTE:
        raise InputError(f"state table TTL AttributeName={attribute!r} ({status}), hanat needs "
                         f"{TTL_ATTRIBUTE!r}: disable TTL on that table, wait an hour, re-run `hanat up`",
                         title="the deployed stack differs from the config")
    return status in ("ENABLED", "ENABLING")


def _plan_parameter(config: HanatConfig, d: Desired, obs: Observed) -> list[Step]:
    topology = topology_from(config, d, obs)
    stored = json.loads(obs.parameter_value) if obs.parameter_value else None
    if topology is not None and stored == topology.to_dict():
        return []
    return [Step(CREATE if obs.parameter_value is None else MODIFY, "topology-parameter",
                 name=d.topology_parameter)]
