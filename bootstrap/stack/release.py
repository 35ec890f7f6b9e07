"""Release an adopted VPC's route tables (the first step of ``down``): check where each goes, then point it back.

Each listed table's default route goes back to the target recorded when it was adopted (or to
``release_to``), through the controller's own release when the state table is there, so a running
controller sees the zones released and leaves them alone.
"""
from __future__ import annotations

from chalicelib.aws import adopted_vpc as api
from chalicelib.aws import instances, network, params, state_table
from chalicelib.errors import InputError
from chalicelib.naming import topology_parameter
from chalicelib.service.adoption import plan_release, release
from chalicelib.service.deps import Clients
from chalicelib.service.make_deps import deps_for_topology
from chalicelib.topology import Topology

from ..adopt.facts import default_target
from .clients import StackClients


def _stored_topology(clients: StackClients, stack: str) -> Topology | None:
    parameter = params.get_parameter(clients.ssm, topology_parameter(stack))
    return Topology.from_json(parameter["Value"]) if parameter is not None else None


def check_release_tables(clients: StackClients, stack: str, release_to: str = "") -> dict[str, tuple]:
    """Reads only: where ``release``/``down`` point each adopted table back to (az -> ((table, target), ...); {} for a
    stack that built its VPC). InputError (nothing changed) when a recorded NAT gateway is gone and
    ``release_to`` names no available one, or when a table still points at this stack's NAT with no
    record of where it pointed before."""
    topology = _stored_topology(clients, stack)
    if topology is not None and topology.adopts_vpc:
        return plan_release(clients.ec2, topology, topology.azs, release_to)
    enis = {i["NetworkInterfaces"][0]["NetworkInterfaceId"] for i in instances.describe_stack_instances(clients.ec2, stack)
            if i.get("NetworkInterfaces")}
    stuck = [t["RouteTableId"] for t in network.describe_tagged(clients.ec2, "route-table", stack)
             if api.is_adopted_by(t, stack) and default_target(t) in enis]
    if stuck:
        raise InputError([f"route table {t} (adopted) points 0.0.0.0/0 at this stack's NAT, and the stack has no "
                          "topology recording where it pointed before: point it back by hand first" for t in stuck],
                         title=f"stack {stack!r} cannot give its adopted route tables back; nothing was changed")
    return {}


def release_tables(clients: StackClients, stack: str, release_to: str = "", progress=lambda _m: None) -> list[str]:
    """Point every adopted table back at its original target (checked first, as ``check_release_tables``),
    through the controller's own protocol when the state table is there, so a running controller sees
    the zones released and leaves them alone; the changed tables."""
    targets = check_release_tables(clients, stack, release_to)
    if not targets:
        return []
    topology = _stored_topology(clients, stack)
    if state_table.describe_table(clients.dynamodb, topology.table_name) is not None:
        sns = clients.sns if topology.topic_arn else None    # people hear about the release as from the controller
        deps = deps_for_topology(topology, Clients(ec2=clients.ec2, dynamodb=clients.dynamodb, sns=sns,
                                                   ssm=clients.ssm),
                                 owner=f"down:{stack}", stage=None, metric=lambda name, value, unit, dimensions=None: None)
        changed = release(deps, list(targets), release_to=release_to, reason="hanat down")["changed"]
    else:
        changed = [table for pairs in targets.values() for table, target in pairs
                   if api.release_default_route(clients.ec2, table, target, stack=stack)]
    for az, pairs in targets.items():
        for table, target in pairs:
            if table in changed:
                progress(f"gave back {table} ({az}): 0.0.0.0/0 -> {target or 'no default route'}")
    return changed
