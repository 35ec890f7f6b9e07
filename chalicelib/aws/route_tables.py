"""Building a stack's route tables (adapter for the stack builder): create, associate, set the default
route, disassociate, delete. The controller's run-time move of a default route is ``routes``."""
from __future__ import annotations

from .network import delete_quietly, ec2_call, tag_spec


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
