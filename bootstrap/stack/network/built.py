"""The network of a VPC hanat builds (``stack.vpc_cidr``): observe, plan and apply its VPC, gateway and groups.

Everything here carries ``hanat:stack``: the VPC, its internet gateway, the public, private and probe
subnets with their route tables, the two security groups. A VPC or subnet whose CIDR differs from the
config is a mismatch ``up`` cannot change in place: refused, naming each one, nothing changed.
"""
from __future__ import annotations

from chalicelib.aws import network
from chalicelib.aws.calls import DEFAULT_RETRY
from chalicelib.aws.read_back import until_shown
from chalicelib.errors import AwsError, InputError
from chalicelib.topology import ZoneTopology

from ..desired import (
    ROLE_IGW,
    ROLE_NAT,
    ROLE_NAT_SG,
    ROLE_PRIVATE,
    ROLE_PROBE,
    ROLE_PROBE_SG,
    ROLE_PUBLIC,
    ROLE_VPC,
    ROUTE_TABLE_SUFFIX,
    SUBNET_ROLES,
    Desired,
)
from ..model import CREATE, MODIFY, Context, Network, Observed, Step, associated, default_route
from ..tagged import by_role_zone
from .security_groups import VXLAN_PORT, egress_steps, ingress_changes, ingress_rules


# --- observe --------------------------------------------------------------------------------------
def observe(ec2, d: Desired, obs: Observed) -> None:
    """The stack's VPC, gateway, subnets, route tables and groups, found by tag."""
    stack = d.stack
    obs.vpc, obs.vpc_dns = _vpc_and_dns(ec2, stack)
    if not obs.vpc:
        return
    vpc_id = obs.vpc["VpcId"]
    igws = network.describe_tagged(ec2, "internet-gateway", stack)
    obs.igw = by_role_zone(igws, "InternetGatewayId").get((ROLE_IGW, ""))
    in_vpc = [s for s in network.describe_tagged(ec2, "subnet", stack) if s["VpcId"] == vpc_id]
    obs.subnets = by_role_zone(in_vpc, "SubnetId")
    tables = [t for t in network.describe_tagged(ec2, "route-table", stack) if t["VpcId"] == vpc_id]
    obs.route_tables = {(role.removesuffix(ROUTE_TABLE_SUFFIX), zone): t
                        for (role, zone), t in by_role_zone(tables, "RouteTableId").items()
                        if role.endswith(ROUTE_TABLE_SUFFIX)}
    groups = [g for g in network.describe_tagged(ec2, "security-group", stack) if g["VpcId"] == vpc_id]
    obs.security_groups = {role: g for (role, _), g in by_role_zone(groups, "GroupId").items()}


def _vpc_and_dns(ec2, stack: str) -> tuple[dict | None, dict[str, bool]]:
    """The stack's VPC as its tag listing shows it, with its DNS attributes, both read again until they
    agree. EC2's reads lag its writes ("Eventual consistency in the Amazon EC2 API", EC2 Developer Guide:
    run the Describe again with growing delays): right after ``down`` the listing may still show a VPC
    whose attributes are already InvalidVpcID.NotFound (retrying the attribute alone never ends), right
    after a create the attributes may lag the listing. Each retry reads both: the listing decides."""
    def read() -> tuple[dict | None, dict[str, bool] | None]:
        vpc = by_role_zone(network.describe_tagged(ec2, "vpc", stack), "VpcId").get((ROLE_VPC, ""))
        if not vpc:
            return None, {}
        try:
            return vpc, network.vpc_dns(ec2, vpc["VpcId"], retry_on=())
        except AwsError as err:
            if err.code != "InvalidVpcID.NotFound":
                raise
            return vpc, None
    vpc, dns = until_shown(f"ec2.DescribeVpcAttribute (stack {stack})", read, lambda seen: seen[1] is not None,
                           "the listed VPC's attributes or no VPC listed", policy=DEFAULT_RETRY)
    return vpc, dns or {}


# --- plan (pure) ----------------------------------------------------------------------------------
def plan(d: Desired, obs: Observed) -> list[Step]:
    """The VPC, gateway, subnets, public routes and groups to create or fix; InputError naming every
    mismatch (a CIDR or zone the config changed) that cannot change in place."""
    steps: list[Step] = []
    mismatches: list[str] = []
    if not obs.vpc:
        steps.append(Step(CREATE, "vpc", detail=d.vpc_cidr))
    elif obs.vpc["CidrBlock"] != d.vpc_cidr:
        mismatches.append(f"stack.vpc_cidr: VPC {obs.vpc['VpcId']} is {obs.vpc['CidrBlock']}, "
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
            mismatches.append(f"zones.{s.az}.{s.role}_cidr: subnet {found['SubnetId']} is {found['CidrBlock']} "
                              f"in {found['AvailabilityZone']}, the config asks for {s.cidr}")
    public = obs.route_tables.get((ROLE_PUBLIC, ""))
    if not public:
        steps.append(Step(CREATE, "route-table", name=ROLE_PUBLIC))
    route = default_route(public)
    if not route or not obs.igw or route.get("GatewayId") != obs.igw["InternetGatewayId"]:
        steps.append(Step(MODIFY, "default-route", name=ROLE_PUBLIC, detail="-> internet gateway"))
    for az in d.azs:
        if not associated(public, obs.subnets.get((ROLE_PUBLIC, az))):
            steps.append(Step(MODIFY, "associate-route-table", zone=az, name=ROLE_PUBLIC))
    nat_sg, probe_sg = obs.security_groups.get(ROLE_NAT_SG), obs.security_groups.get(ROLE_PROBE_SG)
    if not nat_sg:
        steps.append(Step(CREATE, "security-group", name=ROLE_NAT_SG))
    add, revoke = ingress_changes(d.vpc_cidr, (nat_sg or {}).get("GroupId", ""), (nat_sg or {}).get("IpPermissions", []))
    if not nat_sg or add or revoke:
        detail = "; ".join([*(f"allow {r.describe()}" for r in add), *(f"revoke {r.describe()}" for r in revoke)])
        steps.append(Step(MODIFY, "security-group-ingress", name=ROLE_NAT_SG,
                          detail=detail or f"TCP, UDP, ICMP from {d.vpc_cidr}; UDP {VXLAN_PORT} from the NAT group"))
    if mismatches:
        raise InputError(mismatches + ["hanat cannot change these in place: fix the config or run `hanat down` first"],
                         title="the deployed stack differs from the config")
    return steps + egress_steps(nat_sg, probe_sg)


def no_tables(d: Desired, obs: Observed) -> list[Step]:
    """A built VPC's private tables are hanat's own: nothing to mark."""
    return []


def zone_topology(d: Desired, az: str, obs: Observed) -> ZoneTopology:
    """A zone of the built VPC as the controller knows it (KeyError while a part is missing)."""
    nat, eip = obs.instances[(ROLE_NAT, az)], obs.addresses[az]
    ids = {role: obs.subnets[(role, az)]["SubnetId"] for role in SUBNET_ROLES}
    return ZoneTopology(
        az=az,
        public_subnet_id=ids[ROLE_PUBLIC], private_subnet_id=ids[ROLE_PRIVATE], probe_subnet_id=ids[ROLE_PROBE],
        nat_instance_id=nat["InstanceId"], nat_eni_id=obs.nat_eni(az),
        nat_eip=eip["PublicIp"], nat_eip_allocation_id=eip["AllocationId"],
        extra_addresses=obs.extra_topology(az, d.nat_addresses),
        private_route_table_ids=(obs.route_tables[(ROLE_PRIVATE, az)]["RouteTableId"],),
        probe_route_table_id=obs.route_tables[(ROLE_PROBE, az)]["RouteTableId"],
        public_route_table_id=obs.route_tables[(ROLE_PUBLIC, "")]["RouteTableId"],
    )


# --- apply ----------------------------------------------------------------------------------------
def _vpc(ctx: Context, step: Step) -> None:
    d = ctx.desired
    ctx.obs.vpc = network.create_vpc(ctx.ec2, d.vpc_cidr, d.tags(ROLE_VPC))


def _vpc_attribute(ctx: Context, step: Step) -> None:
    network.set_vpc_attribute(ctx.ec2, ctx.vpc_id, step.name, True)
    ctx.obs.vpc_dns[step.name] = True


def _internet_gateway(ctx: Context, step: Step) -> None:
    ctx.obs.igw = network.create_internet_gateway(ctx.ec2, ctx.desired.tags(ROLE_IGW))


def _attach_internet_gateway(ctx: Context, step: Step) -> None:
    igw = ctx.obs.igw
    for attachment in igw.get("Attachments", []):  # attached to a VPC we no longer use
        network.detach_internet_gateway(ctx.ec2, igw["InternetGatewayId"], attachment["VpcId"])
    network.attach_internet_gateway(ctx.ec2, igw["InternetGatewayId"], ctx.vpc_id)
    igw["Attachments"] = [{"VpcId": ctx.vpc_id, "State": "available"}]


def _security_group_ingress(ctx: Context, step: Step) -> None:
    """Add the NAT group's missing rules, then drop the all-traffic rule older stacks had."""
    group = ctx.obs.security_groups[step.name]
    add, revoke = ingress_changes(ctx.desired.vpc_cidr, group["GroupId"], group.get("IpPermissions", []))
    if add:
        network.authorize_ingress_rules(ctx.ec2, group["GroupId"], [r.permission() for r in add])
    if revoke:
        network.revoke_ingress_rules(ctx.ec2, group["GroupId"], [r.permission() for r in revoke])
    kept = ingress_rules(group.get("IpPermissions", [])) - set(revoke)
    group["IpPermissions"] = [r.permission() for r in (*kept, *add)]


HANDLERS = {
    "vpc": _vpc, "vpc-attribute": _vpc_attribute, "internet-gateway": _internet_gateway,
    "attach-internet-gateway": _attach_internet_gateway, "security-group-ingress": _security_group_ingress,
}

NETWORK = Network(observe=observe, plan=plan, plan_route_tables=no_tables,
                  private_route_roles=(ROLE_PRIVATE, ROLE_PROBE), zone_topology=zone_topology)
