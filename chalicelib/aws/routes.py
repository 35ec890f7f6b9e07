"""EC2 route-table adapter: read the default routes, move one safely (tag-checked, verified), and
re-pin a zone's probe route to its (new) NAT."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import AwsError, HanatError, NotFoundError
from ..naming import STACK_TAG
from .calls import aws_call
from .network import delete_quietly, ec2_call
from .tags import tag_map, tag_spec

DEFAULT_ROUTE = "0.0.0.0/0"
PINNED_TAG = "hanat:pinned"


# The target fields of an EC2 Route, in the order ``route_target`` reads them (EC2 API Reference, Route).
TARGET_FIELDS = ("NatGatewayId", "NetworkInterfaceId", "InstanceId", "GatewayId", "TransitGatewayId",
                 "VpcPeeringConnectionId", "LocalGatewayId", "CarrierGatewayId", "CoreNetworkArn",
                 "EgressOnlyInternetGatewayId", "VpcEndpointId")


def route_target(route: dict) -> str | None:
    """The id a route sends traffic to (nat-..., eni-..., igw-..., pcx-..., tgw-..., vgw-...), None if none.
    A NAT instance's route names both the instance and its ENI: the ENI is what it is."""
    return next((route[k] for k in TARGET_FIELDS if route.get(k)), None)


@dataclass(frozen=True)
class RouteTableView:
    route_table_id: str
    tags: dict[str, str]
    default_eni: str | None        # the ENI 0.0.0.0/0 points at (None: absent or not an ENI)
    default_instance: str | None
    default_target: str | None = None   # whatever 0.0.0.0/0 points at (None: no default route)
    default_state: str = ""             # "active" | "blackhole" ("" when no default route)

    def guard_problem(self, stack: str) -> str | None:
        """Why hanat must not write this table (None: it may)."""
        if self.tags.get(STACK_TAG) != stack:
            return f"route table {self.route_table_id} does not carry {STACK_TAG}={stack}"
        if self.tags.get(PINNED_TAG, "").lower() == "true":
            return f"route table {self.route_table_id} is pinned ({PINNED_TAG}=true)"
        return None


def _view(table: dict) -> RouteTableView:
    default = next((r for r in table.get("Routes", []) if r.get("DestinationCidrBlock") == DEFAULT_ROUTE), {})
    return RouteTableView(route_table_id=table["RouteTableId"],
                          tags=tag_map(table),
                          default_eni=default.get("NetworkInterfaceId"),
                          default_instance=default.get("InstanceId"),
                          default_target=route_target(default) if default else None,
                          default_state=default.get("State", "active") if default else "")


def describe_route_tables(ec2, route_table_ids: list[str] | tuple[str, ...]) -> dict[str, RouteTableView]:
    """Every listed table with its tags and default-route target (one call)."""
    if not route_table_ids:
        return {}
    out = aws_call("ec2.DescribeRouteTables", ec2.describe_route_tables, RouteTableIds=list(route_table_ids),
                   retry_on=("InvalidRouteTableID.NotFound",))
    return {t["RouteTableId"]: _view(t) for t in out.get("RouteTables", [])}


def point_default_route(ec2, route_table_id: str, eni_id: str, *, stack: str) -> bool:
    """Make ``0.0.0.0/0`` of ``route_table_id`` point at ``eni_id``; True when it changed.

    Refuses (HanatError) a table that is not this stack's or is pinned; reads back to verify.
    """
    views = describe_route_tables(ec2, [route_table_id])
    view = views.get(route_table_id)
    if view is None:
        raise AwsError("ec2.DescribeRouteTables", "NotFound", f"route table {route_table_id} not found")
    problem = view.guard_problem(stack)
    if problem:
        raise HanatError(f"refusing to change {route_table_id}: {problem}")
    if view.default_eni == eni_id:
        return False
    op = f"ec2.ReplaceRoute {route_table_id} -> {eni_id}"
    # ReplaceRoute "replaces an existing route" of any target (a NAT gateway of an adopted table too);
    # only a table with no default route at all needs CreateRoute (EC2 API Reference, ReplaceRoute).
    if view.default_target is None:
        aws_call(op, ec2.create_route, RouteTableId=route_table_id, DestinationCidrBlock=DEFAULT_ROUTE,
                 NetworkInterfaceId=eni_id)
    else:
        aws_call(op, ec2.replace_route, RouteTableId=route_table_id, DestinationCidrBlock=DEFAULT_ROUTE,
                 NetworkInterfaceId=eni_id)
    after = describe_route_tables(ec2, [route_table_id]).get(route_table_id)
    if after is None or after.default_eni != eni_id:
        raise AwsError(op, "VerifyFailed", f"read back {after.default_eni if after else None}, expected {eni_id}")
    return True


# --- the pinned probe route -----------------------------------------------------------------
def _route_table(ec2, route_table_id: str) -> dict:
    resp = aws_call(f"ec2.DescribeRouteTables {route_table_id}", ec2.describe_route_tables,
                    RouteTableIds=[route_table_id])
    tables = resp.get("RouteTables", [])
    if not tables:
        raise NotFoundError(f"route table {route_table_id} not found")
    return tables[0]


def default_route_eni(ec2, route_table_id: str) -> str:
    """The ENI the table's 0.0.0.0/0 route points at ("" when none)."""
    for route in _route_table(ec2, route_table_id).get("Routes", []):
        if route.get("DestinationCidrBlock") == DEFAULT_ROUTE:
            return route.get("NetworkInterfaceId", "") or ""
    return ""


def repin_probe_route(ec2, route_table_id: str, eni_id: str, stack: str) -> None:
    """Point the zone's pinned probe route at ``eni_id``; only a table of this stack tagged
    ``hanat:pinned=true`` (the probe table), verified by reading back."""
    table = _route_table(ec2, route_table_id)
    tags = tag_map(table)
    if tags.get(STACK_TAG) != stack or tags.get(PINNED_TAG, "").lower() != "true":
        raise NotFoundError(f"route table {route_table_id} is not a pinned probe table of stack {stack!r} "
                            f"({STACK_TAG}={tags.get(STACK_TAG)!r}, {PINNED_TAG}={tags.get(PINNED_TAG)!r}); "
                            "not changed")
    has_default = any(r.get("DestinationCidrBlock") == DEFAULT_ROUTE for r in table.get("Routes", []))
    op = f"ec2.{'ReplaceRoute' if has_default else 'CreateRoute'} {route_table_id} -> {eni_id}"
    aws_call(op, ec2.replace_route if has_default else ec2.create_route, RouteTableId=route_table_id,
             DestinationCidrBlock=DEFAULT_ROUTE, NetworkInterfaceId=eni_id)
    after = default_route_eni(ec2, route_table_id)
    if after != eni_id:
        raise AwsError(op, "VerifyFailed", f"read back {after or None}, expected {eni_id}")


# --- building a stack's route tables ----------------------------------------------------------
def create_route_table(ec2, vpc_id: str, tags: list[dict]) -> dict:
    return ec2_call("ec2.CreateRouteTable", ec2.create_route_table, VpcId=vpc_id,
                 TagSpecifications=tag_spec("route-table", tags))["RouteTable"]


def associate_route_table(ec2, route_table_id: str, subnet_id: str) -> str:
    return ec2_call(f"ec2.AssociateRouteTable {route_table_id} {subnet_id}", ec2.associate_route_table,
                 RouteTableId=route_table_id, SubnetId=subnet_id)["AssociationId"]


def put_default_route(ec2, route_table_id: str, *, replace: bool, gateway_id: str = "",
                      eni_id: str = "") -> None:
    """0.0.0.0/0 to an internet gateway or an ENI; ``replace`` when a default route exists."""
    target = {"GatewayId": gateway_id} if gateway_id else {"NetworkInterfaceId": eni_id}
    fn = ec2.replace_route if replace else ec2.create_route
    verb = "ReplaceRoute" if replace else "CreateRoute"
    ec2_call(f"ec2.{verb} {route_table_id}", fn, RouteTableId=route_table_id,
          DestinationCidrBlock="0.0.0.0/0", **target)


def disassociate_route_table(ec2, association_id: str) -> bool:
    return delete_quietly(f"ec2.DisassociateRouteTable {association_id}", ec2.disassociate_route_table,
                          AssociationId=association_id)


def delete_route_table(ec2, route_table_id: str) -> bool:
    return delete_quietly(f"ec2.DeleteRouteTable {route_table_id}", ec2.delete_route_table,
                          RouteTableId=route_table_id)
