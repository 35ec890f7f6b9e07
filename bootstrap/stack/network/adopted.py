"""The network of a VPC hanat adopts (``stack.vpc_id``): check, observe, plan, apply, zone topology.

What differs from a VPC hanat builds: the VPC, its internet gateway, the public subnets and the
private route tables exist and are the user's. hanat creates only its own parts (probe subnets in
free space with their pinned route tables, the two security groups; the NATs, IAM, table, topic and
parameter as always), and marks each listed private route table with ``hanat:stack=<name>`` and
``hanat:adopted=true``, recording its original default target in the topology. ``up`` moves no
route: a zone's default routes move at cutover (``hanat cutover`` or the controller, once the zone's
NAT is proven). It never deletes, re-associates or re-routes anything it did not create. Giving the tables back is
``bootstrap/stack/release.py``.
"""
from __future__ import annotations

from chalicelib.aws import adopted_vpc as api
from chalicelib.aws import instances, network, params
from chalicelib.aws.tags import tag_map
from chalicelib.errors import NotFoundError
from chalicelib.naming import topology_parameter
from chalicelib.topology import Topology, ZoneTopology

from ...adopt.check import AdoptedVpc, check_adoption, kind_of
from ...adopt.facts import read_vpc_facts
from ...config.schema import HanatConfig
from ..clients import StackClients
from ..desired import (
    ROLE_NAT,
    ROLE_NAT_SG,
    ROLE_PROBE,
    ROLE_PROBE_SG,
    ROLE_PUBLIC,
    ROUTE_TABLE_SUFFIX,
    Desired,
)
from ..model import CREATE, MODIFY, Context, Network, Observed, Step
from ..tagged import by_role_zone
from .security_groups import allows_all, egress_steps

ADOPT_TABLE = "adopt-route-table"
BLOCK_INGRESS = "security-group-ingress-block"


# --- check (reads only) ---------------------------------------------------------------------------
def inspect_adoption(clients: StackClients, config: HanatConfig) -> AdoptedVpc | None:
    """For an adopting config: the VPC read and checked (InputError naming every problem, nothing
    changed); None for a stack that builds its VPC."""
    if not config.adopts_vpc:
        return None
    ec2, stack = clients.ec2, config.stack.name
    facts = read_vpc_facts(ec2, config.stack.vpc_id, config.stack.region,
                           subnet_ids=[z.public_subnet_id for z in config.zones],
                           route_table_ids=[t for z in config.zones for t in z.private_route_table_ids])
    stored = None
    parameter = params.get_parameter(clients.ssm, topology_parameter(stack))
    if parameter is not None:
        stored = Topology.from_json(parameter["Value"])
    enis = frozenset(i["NetworkInterfaces"][0]["NetworkInterfaceId"]
                     for i in instances.describe_stack_instances(ec2, stack) if i.get("NetworkInterfaces"))
    return check_adoption(config, facts, stored=stored, stack_enis=enis)


# --- observe --------------------------------------------------------------------------------------
def observe(ec2, d: Desired, obs: Observed) -> None:
    """The adopted VPC, the user's public subnets, the listed tables, and the stack's own tagged parts."""
    adopted = d.adopted
    obs.vpc = api.describe_vpc(ec2, adopted.vpc_id)
    if obs.vpc is None:
        raise NotFoundError(f"VPC {adopted.vpc_id} is gone")
    vpc_id = adopted.vpc_id
    in_vpc = [s for s in network.describe_tagged(ec2, "subnet", d.stack) if s["VpcId"] == vpc_id]
    obs.subnets = by_role_zone(in_vpc, "SubnetId")
    public = api.subnets_by_id(ec2, [z.public_subnet_id for z in adopted.zones])
    for zone in adopted.zones:
        obs.subnets[(ROLE_PUBLIC, zone.az)] = public[zone.public_subnet_id]
    tables = [t for t in network.describe_tagged(ec2, "route-table", d.stack) if t["VpcId"] == vpc_id]
    obs.route_tables = {(role.removesuffix(ROUTE_TABLE_SUFFIX), zone): t
                        for (role, zone), t in by_role_zone(tables, "RouteTableId").items()
                        if role.endswith(ROUTE_TABLE_SUFFIX)}
    groups = [g for g in network.describe_tagged(ec2, "security-group", d.stack) if g["VpcId"] == vpc_id]
    obs.security_groups = {role: g for (role, _), g in by_role_zone(groups, "GroupId").items()}
    obs.adopted_tables = api.route_tables_by_id(ec2, [t for z in adopted.zones for t in z.route_table_ids])


# --- plan (pure) ----------------------------------------------------------------------------------
def plan(d: Desired, obs: Observed) -> list[Step]:
    """Probe subnets and the two security groups; the NAT group admits every CIDR block of the VPC."""
    steps: list[Step] = []
    for s in d.subnets:
        if not obs.subnets.get((s.role, s.az)):
            steps.append(Step(CREATE, "subnet", zone=s.az, name=s.role, detail=s.cidr))
    nat_sg, probe_sg = obs.security_groups.get(ROLE_NAT_SG), obs.security_groups.get(ROLE_PROBE_SG)
    if not nat_sg:
        steps.append(Step(CREATE, "security-group", name=ROLE_NAT_SG))
    for cidr in d.adopted.cidr_blocks:
        if not allows_all((nat_sg or {}).get("IpPermissions", []), cidr):
            steps.append(Step(MODIFY, BLOCK_INGRESS, name=ROLE_NAT_SG, detail=cidr))
    return steps + egress_steps(nat_sg, probe_sg)


def plan_tables(d: Desired, obs: Observed) -> list[Step]:
    """Mark every listed table not yet marked; each step says which default route it will take over."""
    steps: list[Step] = []
    for zone in d.adopted.zones:
        for table in zone.tables:
            if api.is_adopted_by(obs.adopted_tables.get(table.route_table_id, {}), d.stack):
                continue
            now = table.original_target
            taken = f"0.0.0.0/0 from {kind_of(now)} {now}" if now else "0.0.0.0/0 (none today)"
            steps.append(Step(MODIFY, ADOPT_TABLE, zone=zone.az, name=table.route_table_id,
                              detail=f"tag hanat:stack, hanat:adopted; take over {taken} at cutover"))
    return steps


def zone_topology(d: Desired, az: str, obs: Observed) -> ZoneTopology:
    """A zone of the adopted VPC as the controller knows it (KeyError while a part is missing)."""
    zone = d.adopted.zone(az)
    nat, eip = obs.instances[(ROLE_NAT, az)], obs.addresses[az]
    return ZoneTopology(
        az=az, public_subnet_id=zone.public_subnet_id,
        private_subnet_id=zone.private_subnet_ids[0] if zone.private_subnet_ids else "",
        probe_subnet_id=obs.subnets[(ROLE_PROBE, az)]["SubnetId"],
        nat_instance_id=nat["InstanceId"], nat_eni_id=obs.nat_eni(az),
        nat_eip=eip["PublicIp"], nat_eip_allocation_id=eip["AllocationId"],
        extra_addresses=obs.extra_topology(az, d.nat_addresses),
        private_route_table_ids=zone.route_table_ids,
        probe_route_table_id=obs.route_tables[(ROLE_PROBE, az)]["RouteTableId"],
        public_route_table_id=zone.public_route_table_id,
        adopted=zone.tables,
    )


# --- apply ----------------------------------------------------------------------------------------
def _adopt_table(ctx: Context, step: Step) -> None:
    api.tag_adopted_table(ctx.ec2, step.name, ctx.desired.stack)
    table = ctx.obs.adopted_tables.setdefault(step.name, {"RouteTableId": step.name})
    tags = {**tag_map(table), **tag_map(api.adopted_tags(ctx.desired.stack))}
    table["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]


def _block_ingress(ctx: Context, step: Step) -> None:
    network.authorize_ingress(ctx.ec2, ctx.obs.security_groups[step.name]["GroupId"], step.detail)


HANDLERS = {ADOPT_TABLE: _adopt_table, BLOCK_INGRESS: _block_ingress}

NETWORK = Network(observe=observe, plan=plan, plan_route_tables=plan_tables,
                  # the user's private tables: their routes move at cutover, never by `up`
                  private_route_roles=(ROLE_PROBE,), zone_topology=zone_topology)
