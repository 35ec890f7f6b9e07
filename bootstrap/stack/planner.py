"""Decide: compare the desired stack with the observed one and list the ordered changes (pure).

Steps come in dependency order (VPC before subnets, NAT instance before the routes to its ENI,
everything before the topology parameter). An empty plan means ``up`` has nothing to do.
Private default routes are only created or repaired (when they do not point at a live NAT of the
stack): pointing at another zone's NAT is the controller's failover, which ``up`` must not undo.
Probe routes are pinned to their own zone's NAT and always corrected.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from chalicelib.aws.state_table import TTL_ATTRIBUTE
from chalicelib.aws.tags import tag_map
from chalicelib.errors import InputError
from chalicelib.topology import Topology, ZoneTopology

from ..config.schema import HanatConfig
from . import adopted
from .desired import (
    ROLE_ADMIN,
    ROLE_IGW,
    ROLE_NAT,
    ROLE_NAT_SG,
    ROLE_PRIVATE,
    ROLE_PROBE,
    ROLE_PROBE_SG,
    ROLE_PUBLIC,
    ROLE_VPC,
    ROUTE_TABLE_SUFFIX,
    RUN_AS_TAG,
    RUN_AS_USER,
    SUBNET_ROLES,
    Desired,
    launch_template_data,
)
from .observe import Observed
from .rules import VXLAN_PORT, ingress_changes

CREATE, MODIFY = "create", "modify"
ALL_IPV4 = "0.0.0.0/0"
TEMPLATE_KEYS = ("ImageId", "InstanceType", "IamInstanceProfile", "UserData")


@dataclass(frozen=True)
class Step:
    action: str        # create | modify
    kind: str          # what the executor does (see executor.HANDLERS)
    zone: str = ""
    name: str = ""     # role, user name, e-mail ... whatever tells same-kind steps apart
    detail: str = ""   # for people

    def describe(self) -> str:
        where = " ".join(x for x in (self.name, self.zone) if x)
        return f"{self.action} {self.kind}{' ' + where if where else ''}{': ' + self.detail if self.detail else ''}"

    def to_dict(self) -> dict:
        return asdict(self)


def plan_changes(config: HanatConfig, desired: Desired, obs: Observed) -> list[Step]:
    if obs.replacing:
        raise InputError([f"zone {az}: the controller is replacing its NAT (step {step!r}); `hanat up` could "
                          "undo it (Elastic IP, probe route)" for az, step in sorted(obs.replacing.items())]
                         + ["wait until `hanat status` shows the replacement done or failed, then re-run"],
                         title=f"stack {desired.stack!r}: nothing changed")
    steps: list[Step] = []
    drift: list[str] = []
    steps += adopted.plan_network(desired, obs) if desired.adopted else _plan_network(desired, obs, drift)
    if drift:
        raise InputError(drift + ["hanat cannot change these in place: fix the config or run `hanat down` first"],
                         title="the deployed stack differs from the config")
    steps += _plan_names(desired, obs)
    steps += _plan_iam_and_template(desired, obs)
    steps += _plan_instances(desired, obs)
    steps += _plan_private_routes(desired, obs)
    steps += adopted.plan_tables(desired, obs) if desired.adopted else []
    steps += _plan_permissions(desired, obs)
    steps += _plan_services(desired, obs)
    steps += _plan_parameter(config, desired, obs)
    return steps


def _route(table: dict | None) -> dict | None:
    for route in (table or {}).get("Routes", []):
        if route.get("DestinationCidrBlock") == ALL_IPV4:
            return route
    return None


def _associated(table: dict | None, subnet: dict | None) -> bool:
    if not table or not subnet:
        return False
    return any(a.get("SubnetId") == subnet["SubnetId"] for a in table.get("Associations", []))


def allows_all(permissions: list[dict], cidr: str) -> bool:
    return any(p.get("IpProtocol") == "-1" and any(r.get("CidrIp") == cidr for r in p.get("IpRanges", []))
               for p in permissions)


def _plan_network(d: Desired, obs: Observed, drift: list[str]) -> list[Step]:
    steps: list[Step] = []
    if not obs.vpc:
        steps.append(Step(CREATE, "vpc", detail=d.vpc_cidr))
    elif obs.vpc["CidrBlock"] != d.vpc_cidr:
        drift.append(f"stack.vpc_cidr: VPC {obs.vpc['VpcId']} is {obs.vpc['CidrBlock']}, "
                     f"the config asks for {d.vpc_cidr}")
    for attr in ("enableDnsSupport", "enableDnsHostnames"):
        if not obs.vpc_dns.get(attr):
            steps.append(Step(MODIFY, "vpc-attribute", name=attr, detail="true"))
    if not obs.igw:
        steps.append(Step(CREATE, "internet-gateway"))
    if not obs.vpc or not any(a.get("VpcId") == obs.vpc["VpcId"] for a in (obs.igw or {}).get("Attachments", [])):
        steps.append(Step(MODIFY, "attach-internet-gateway"))
    for s in d.subnets:
        found = obs.subnets.get((s.role, s.az))
        if not found:
            steps.append(Step(CREATE, "subnet", zone=s.az, name=s.role, detail=s.cidr))
        elif found["CidrBlock"] != s.cidr or found["AvailabilityZone"] != s.az:
            drift.append(f"zones.{s.az}.{s.role}_cidr: subnet {found['SubnetId']} is {found['CidrBlock']} "
                         f"in {found['AvailabilityZone']}, the config asks for {s.cidr}")
    public = obs.route_tables.get((ROLE_PUBLIC, ""))
    if not public:
        steps.append(Step(CREATE, "route-table", name=ROLE_PUBLIC))
    route = _route(public)
    if not route or not obs.igw or route.get("GatewayId") != obs.igw["InternetGatewayId"]:
        steps.append(Step(MODIFY, "default-route", name=ROLE_PUBLIC, detail="-> internet gateway"))
    for az in d.azs:
        if not _associated(public, obs.subnets.get((ROLE_PUBLIC, az))):
            steps.append(Step(MODIFY, "associate-route-table", zone=az, name=ROLE_PUBLIC))
    nat_sg, probe_sg = obs.security_groups.get(ROLE_NAT_SG), obs.security_groups.get(ROLE_PROBE_SG)
    if not nat_sg:
        steps.append(Step(CREATE, "security-group", name=ROLE_NAT_SG))
    add, revoke = ingress_changes(d.vpc_cidr, (nat_sg or {}).get("GroupId", ""), (nat_sg or {}).get("IpPermissions", []))
    if not nat_sg or add or revoke:
        detail = "; ".join([*(f"allow {r.describe()}" for r in add), *(f"revoke {r.describe()}" for r in revoke)])
        steps.append(Step(MODIFY, "security-group-ingress", name=ROLE_NAT_SG,
                          detail=detail or f"TCP, UDP, ICMP from {d.vpc_cidr}; UDP {VXLAN_PORT} from the NAT group"))
    return steps + egress_steps(nat_sg, probe_sg)


def egress_steps(nat_sg: dict | None, probe_sg: dict | None) -> list[Step]:
    """Both groups let everything out; the probe group is created here (the NAT group by its ingress step)."""
    steps: list[Step] = []
    if nat_sg and not allows_all(nat_sg.get("IpPermissionsEgress", []), ALL_IPV4):
        steps.append(Step(MODIFY, "security-group-egress", name=ROLE_NAT_SG, detail="all"))
    if not probe_sg:
        steps.append(Step(CREATE, "security-group", name=ROLE_PROBE_SG))
    elif not allows_all(probe_sg.get("IpPermissionsEgress", []), ALL_IPV4):
        steps.append(Step(MODIFY, "security-group-egress", name=ROLE_PROBE_SG, detail="all"))
    return steps


def named_resources(d: Desired, obs: Observed) -> list[tuple[str, str, str, dict]]:
    """(resource id, role, zone, resource) of every existing resource a ``[names]`` template names."""
    found: list[tuple[str, str, str, dict]] = []
    if obs.vpc:
        found.append((obs.vpc["VpcId"], ROLE_VPC, "", obs.vpc))
    if obs.igw:
        found.append((obs.igw["InternetGatewayId"], ROLE_IGW, "", obs.igw))
    for (role, az), subnet in sorted(obs.subnets.items()):
        found.append((subnet["SubnetId"], role, az, subnet))
    for (role, az), table in sorted(obs.route_tables.items()):
        found.append((table["RouteTableId"], f"{role}{ROUTE_TABLE_SUFFIX}", az, table))
    return found


def _plan_names(d: Desired, obs: Observed) -> list[Step]:
    """Name tags that differ from what the templates (or hanat's own names) give."""
    steps = []
    for resource_id, role, zone, resource in named_resources(d, obs):
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
            steps.append(Step(CREATE, "nat-instance", zone=az, detail=d.nat_instance_type))
        if not nat or nat.get("SourceDestCheck", True):
            steps.append(Step(MODIFY, "source-dest-check", zone=az, detail="off"))
        eip = obs.addresses.get(az)
        if not eip:
            steps.append(Step(CREATE, "elastic-ip", zone=az))
        if not nat or not eip or eip.get("InstanceId") != nat["InstanceId"]:
            steps.append(Step(MODIFY, "associate-elastic-ip", zone=az))
    if d.admin_enabled and not obs.instances.get((ROLE_ADMIN, "")):
        steps.append(Step(CREATE, "admin-instance", zone=d.azs[0], detail=d.admin_instance_type))
    return steps


def _plan_private_routes(d: Desired, obs: Observed) -> list[Step]:
    steps: list[Step] = []
    live_enis = {obs.nat_eni(az) for az in d.azs} - {""}
    # an adopted VPC's private tables are the user's: their routes move at cutover, never by `up`
    for role in (ROLE_PROBE,) if d.adopted else (ROLE_PRIVATE, ROLE_PROBE):
        for az in d.azs:
            table = obs.route_tables.get((role, az))
            if not table:
                steps.append(Step(CREATE, "route-table", zone=az, name=role))
            if not _associated(table, obs.subnets.get((role, az))):
                steps.append(Step(MODIFY, "associate-route-table", zone=az, name=role))
            target = (_route(table) or {}).get("NetworkInterfaceId")
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


def topology_from(config: HanatConfig, d: Desired, obs: Observed) -> Topology | None:
    """The topology the observed stack amounts to; None while any id is still missing."""
    try:
        zones = tuple(adopted.zone_topology(d, az, obs) if d.adopted else _zone_topology(az, obs) for az in d.azs)
        topology = Topology(
            stack=d.stack, region=d.region, vpc_id=obs.vpc["VpcId"], vpc_cidr=d.vpc_cidr,
            table_name=obs.table["TableName"], topic_arn=obs.topic_arn or "",
            topology_parameter=d.topology_parameter, zones=zones,
            probe=config.probe, failover=config.failover, maintenance=config.maintenance,
            launch_template_id=obs.launch_template["LaunchTemplateId"],
            nat_security_group_id=obs.security_groups[ROLE_NAT_SG]["GroupId"],
            probe_security_group_id=obs.security_groups[ROLE_PROBE_SG]["GroupId"],
            slack_webhook_parameter=config.alerts.slack_webhook_parameter,
        )
    except (KeyError, TypeError):
        return None
    return topology if topology.topic_arn else None


def _zone_topology(az: str, obs: Observed) -> ZoneTopology:
    nat, eip = obs.instances[(ROLE_NAT, az)], obs.addresses[az]
    ids = {role: obs.subnets[(role, az)]["SubnetId"] for role in SUBNET_ROLES}
    return ZoneTopology(
        az=az,
        public_subnet_id=ids[ROLE_PUBLIC], private_subnet_id=ids[ROLE_PRIVATE], probe_subnet_id=ids[ROLE_PROBE],
        nat_instance_id=nat["InstanceId"], nat_eni_id=obs.nat_eni(az),
        nat_eip=eip["PublicIp"], nat_eip_allocation_id=eip["AllocationId"],
        private_route_table_ids=(obs.route_tables[(ROLE_PRIVATE, az)]["RouteTableId"],),
        probe_route_table_id=obs.route_tables[(ROLE_PROBE, az)]["RouteTableId"],
        public_route_table_id=obs.route_tables[(ROLE_PUBLIC, "")]["RouteTableId"],
    )


