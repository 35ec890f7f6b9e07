"""The lab's look at the emulator and its fault injection, built on the controller's adapters
(chalicelib/aws): only resources carrying the stack's tag are touched, a failed call is an AwsError.
Stopping and starting a NAT are the lab's own calls (fault injection against the emulator only):
nothing of hanat itself ever stops or starts an instance.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chalicelib.aws import adopted_vpc, instances, nat_tags, observe, params, routes
from chalicelib.aws.calls import aws_call, paginate
from chalicelib.aws.tags import tag_map
from chalicelib.engine.model import EC2_STATES
from chalicelib.errors import InputError
from chalicelib.naming import ROLE_TAG, STACK_TAG, ZONE_TAG


@dataclass(frozen=True)
class NatInstance:
    instance_id: str
    state: str
    az: str            # the hanat:zone tag (the zone it belongs to)
    eni_ids: tuple[str, ...]
    launched_at: str = ""


def describe_nats(ec2, stack: str) -> list[NatInstance]:
    """Every NAT instance of ``stack`` (any state, terminated ones while EC2 still lists them)."""
    out = []
    for inst in instances.describe_stack_instances(ec2, stack, states=EC2_STATES):
        tags = tag_map(inst)
        if tags.get(ROLE_TAG) != "nat":
            continue
        out.append(NatInstance(
            instance_id=inst["InstanceId"], state=inst["State"]["Name"], az=tags.get(ZONE_TAG, ""),
            eni_ids=tuple(n["NetworkInterfaceId"] for n in inst.get("NetworkInterfaces", [])),
            launched_at=str(inst.get("LaunchTime", ""))))
    return out


def default_route_targets(ec2, route_table_ids: list[str]) -> dict[str, str | None]:
    """route table id -> the ENI its 0.0.0.0/0 route points at (None: none / not an ENI)."""
    return {t: view.default_eni for t, view in observe.describe_route_tables(ec2, route_table_ids).items()}


def route_views(ec2, route_table_ids: list[str]) -> dict[str, observe.RouteTableView]:
    """route table id -> its view (``default_eni``; ``default_target``: whatever 0.0.0.0/0 points at,
    e.g. an adopted VPC's NAT gateway)."""
    return observe.describe_route_tables(ec2, route_table_ids)


def nat_gateway_states(ec2, nat_gateway_ids: list[str]) -> dict[str, str]:
    """NAT gateway id -> its state (``available``, ``deleted``, ...) for the ids that exist (reads only: the
    gateways are the user's, the lab never changes them)."""
    return {gid: g.get("State", "") for gid, g in adopted_vpc.nat_gateways(ec2, nat_gateway_ids).items()}


def _require_stack_nat(ec2, stack: str, instance_id: str) -> None:
    if instance_id not in {n.instance_id for n in describe_nats(ec2, stack)}:
        raise InputError(f"instance {instance_id!r} is not a NAT of stack {stack!r}: the lab leaves it alone")


def stop_instance(ec2, stack: str, instance_id: str) -> None:
    _require_stack_nat(ec2, stack, instance_id)
    aws_call(f"ec2.StopInstances {instance_id} (lab fault)", ec2.stop_instances, InstanceIds=[instance_id])


def start_instance(ec2, stack: str, instance_id: str) -> None:
    _require_stack_nat(ec2, stack, instance_id)
    aws_call(f"ec2.StartInstances {instance_id} (lab fault)", ec2.start_instances, InstanceIds=[instance_id])


def terminate_instance(ec2, stack: str, instance_id: str) -> None:
    """A fault, as a user's TerminateInstances: no read-back (the controller reacts meanwhile; a drill's
    fault moment is the request, not when a read first shows it)."""
    _require_stack_nat(ec2, stack, instance_id)
    aws_call(f"ec2.TerminateInstances {instance_id} (lab fault)", ec2.terminate_instances, InstanceIds=[instance_id])


def put_secure_parameter(ssm, name: str, value: str, stack: str) -> None:
    """Store the Slack webhook URL the way operators do (SecureString), tagged with the stack."""
    params.put_secure_string(ssm, name, value, [{"Key": STACK_TAG, "Value": stack}])


def table_items(dynamodb, table: str) -> list[dict]:
    """Every item of the stack's state table, as DynamoDB returns them (a consistent scan)."""
    return paginate(f"dynamodb.Scan {table} (lab)", dynamodb, "scan", "Items", TableName=table, ConsistentRead=True)


def restore_table(dynamodb, table: str, items: list[dict]) -> None:
    """Make the state table hold exactly ``items`` (from ``table_items``): the others deleted, these put."""
    keep = {(i["pk"]["S"], i["sk"]["S"]) for i in items}
    for item in table_items(dynamodb, table):
        if (item["pk"]["S"], item["sk"]["S"]) not in keep:
            aws_call(f"dynamodb.DeleteItem {table} (lab)", dynamodb.delete_item, TableName=table,
                     Key={"pk": item["pk"], "sk": item["sk"]})
    for item in items:
        aws_call(f"dynamodb.PutItem {table} (lab)", dynamodb.put_item, TableName=table, Item=item)


def clear_handoff_tags(ec2, stack: str, instance_ids: list[str]) -> None:
    """Delete every handoff tag (``hanat:handoff:*``) the controller left on the stack's NATs."""
    for nat in nat_tags.describe_nats(ec2, instance_ids, stack).values():
        nat_tags.delete_handoff_tags(ec2, nat, nat.handoff_tags(), stack)


def point_home(ec2, stack: str, routes_home: dict[str, str]) -> list[str]:
    """Point each route table's default route at its zone's NAT ENI (``routes_home``: table -> ENI); the
    tables that had to change."""
    return [table for table, eni in routes_home.items() if routes.point_default_route(ec2, table, eni, stack=stack)]


class CachedLook:
    """The lab's reads of EC2 for its checks (served by, routes on proven NATs, steady state), kept while
    the emulator's EC2 change count (lab.aws.emulator.Emulator.generation) stands: a drill that polls
    every 0.1 s reads EC2 again only after something changed there (the count is read first)."""

    def __init__(self, ec2, generation: Callable[[], int]):
        self._ec2, self._generation = ec2, generation
        self._lock = threading.Lock()
        self._kept: dict[tuple, tuple[int, object]] = {}

    def _read(self, key: tuple, read: Callable[[], object]):
        generation = self._generation()
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and kept[0] == generation:
            return kept[1]
        value = read()
        with self._lock:
            self._kept[key] = (generation, value)
        return value

    def nats(self, stack: str) -> list[NatInstance]:
        return list(self._read(("nats", stack), lambda: describe_nats(self._ec2, stack)))

    def default_route_targets(self, tables: Sequence[str]) -> dict[str, str | None]:
        return dict(self._read(("targets", *tables), lambda: default_route_targets(self._ec2, list(tables))))

    def route_views(self, tables: Sequence[str]) -> dict:
        return dict(self._read(("views", *tables), lambda: route_views(self._ec2, list(tables))))

    def nat_gateway_states(self, ids: Sequence[str]) -> dict[str, str]:
        return dict(self._read(("gateways", *ids), lambda: nat_gateway_states(self._ec2, list(ids))))
