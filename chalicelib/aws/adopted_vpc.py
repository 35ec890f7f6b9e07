"""Adapter for a VPC hanat adopts (did not build): read what is there, tag the route tables it takes
over, release their default route to its original target, and take its two tags off again.

These are the only calls hanat makes on resources without its ``hanat:stack`` tag: reads, and
``CreateTags`` of the two hanat keys on a route table the operator listed. Every write to an adopted
table first checks that it carries ``hanat:stack=<stack>`` and ``hanat:adopted=true``, and is
verified by reading it back.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from ..errors import AwsError, HanatError
from ..naming import ADOPTED_TAG, STACK_TAG
from .calls import aws_call, paginate
from .claims import read_back
from .network import ec2_call
from .observe import DEFAULT_ROUTE, RouteTableView, describe_route_tables
from .tags import tag_map

# The route target fields a release writes, by the id's prefix (EC2 API Reference, ReplaceRoute).
RELEASE_FIELDS = {"nat-": "NatGatewayId", "eni-": "NetworkInterfaceId", "i-": "InstanceId"}
NAT_GATEWAY_AVAILABLE = "available"   # "able to process traffic" (EC2 API Reference, NatGateway.State)
# NatGateway.ConnectivityType private|public: a private NAT gateway reaches other VPCs or on-premises
# networks, never the internet ("if you route traffic from the private NAT gateway to the internet
# gateway, the internet gateway drops the traffic": Amazon VPC User Guide, NAT gateways,
# https://docs.aws.amazon.com/vpc/latest/userguide/vpc-nat-gateway.html).
PRIVATE_CONNECTIVITY = "private"
# NatGateway.AvailabilityMode zonal|regional (botocore ec2 2016-11-15 model): a regional NAT gateway is one
# gateway for every AZ of the VPC, with no subnet of its own (announced 2025-11-19; Amazon VPC User Guide,
# Regional NAT gateways: https://docs.aws.amazon.com/vpc/latest/userguide/nat-gateways-regional.html).
REGIONAL_MODE = "regional"


def is_private_nat_gateway(gateway: dict | None) -> bool:
    return (gateway or {}).get("ConnectivityType") == PRIVATE_CONNECTIVITY


def nat_gateway_label(gateway: dict) -> str:
    """``nat-... (subnet-...)`` for a zonal NAT gateway, ``nat-... (regional)`` for a regional one."""
    where = "regional" if gateway.get("AvailabilityMode") == REGIONAL_MODE else gateway.get("SubnetId")
    return f"{gateway['NatGatewayId']} ({where})"


def _vpc_filter(vpc_id: str) -> list[dict]:
    return [{"Name": "vpc-id", "Values": [vpc_id]}]


# --- reading an adopted VPC -----------------------------------------------------------------------
def describe_vpc(ec2, vpc_id: str) -> dict | None:
    """The VPC, or None when the region has no such VPC (a filter never fails on an unknown id)."""
    vpcs = paginate(f"ec2.DescribeVpcs {vpc_id}", ec2, "describe_vpcs", "Vpcs",
                    Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
    return vpcs[0] if vpcs else None


def vpc_cidr_blocks(vpc: dict) -> tuple[str, ...]:
    """The VPC's associated IPv4 CIDR blocks, the primary first."""
    blocks = [vpc["CidrBlock"]]
    for association in vpc.get("CidrBlockAssociationSet", []):
        cidr = association.get("CidrBlock")
        if association.get("CidrBlockState", {}).get("State", "associated") == "associated" and cidr not in blocks:
            blocks.append(cidr)
    return tuple(blocks)


def vpc_dns_support(ec2, vpc_id: str) -> bool:
    resp = ec2_call(f"ec2.DescribeVpcAttribute {vpc_id}", ec2.describe_vpc_attribute, VpcId=vpc_id,
                    Attribute="enableDnsSupport")
    return bool(resp["EnableDnsSupport"]["Value"])


def vpc_subnets(ec2, vpc_id: str) -> list[dict]:
    return paginate("ec2.DescribeSubnets", ec2, "describe_subnets", "Subnets", Filters=_vpc_filter(vpc_id))


def vpc_route_tables(ec2, vpc_id: str) -> list[dict]:
    return paginate("ec2.DescribeRouteTables", ec2, "describe_route_tables", "RouteTables",
                    Filters=_vpc_filter(vpc_id))


def vpc_internet_gateways(ec2, vpc_id: str) -> list[dict]:
    return paginate("ec2.DescribeInternetGateways", ec2, "describe_internet_gateways", "InternetGateways",
                    Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])


def vpc_nat_gateways(ec2, vpc_id: str) -> list[dict]:
    """Every NAT gateway of the VPC, whatever its state (deleted ones stay listed for about an hour)."""
    return paginate("ec2.DescribeNatGateways", ec2, "describe_nat_gateways", "NatGateways",
                    Filter=_vpc_filter(vpc_id))


def nat_gateways(ec2, nat_gateway_ids: list[str] | tuple[str, ...]) -> dict[str, dict]:
    """id -> NAT gateway for the ids that exist (by filter: an unknown id is absent, not an error)."""
    ids = sorted(set(nat_gateway_ids))
    if not ids:
        return {}
    found = paginate("ec2.DescribeNatGateways", ec2, "describe_nat_gateways", "NatGateways",
                     Filter=[{"Name": "nat-gateway-id", "Values": ids}])
    return {g["NatGatewayId"]: g for g in found}


def network_interfaces(ec2, eni_ids: list[str] | tuple[str, ...]) -> dict[str, dict]:
    """id -> network interface for the ids that exist."""
    ids = sorted(set(eni_ids))
    if not ids:
        return {}
    found = paginate("ec2.DescribeNetworkInterfaces", ec2, "describe_network_interfaces", "NetworkInterfaces",
                     Filters=[{"Name": "network-interface-id", "Values": ids}])
    return {i["NetworkInterfaceId"]: i for i in found}


# --- tagging the tables hanat takes over -------------------------------------------------------------
def adopted_tags(stack: str) -> list[dict]:
    return [{"Key": STACK_TAG, "Value": stack}, {"Key": ADOPTED_TAG, "Value": "true"}]


def is_adopted_by(table: dict, stack: str) -> bool:
    """True when the route table (a DescribeRouteTables item) carries both of ``stack``'s adoption tags."""
    tags = tag_map(table)
    return tags.get(STACK_TAG) == stack and tags.get(ADOPTED_TAG, "").lower() == "true"


def tag_adopted_table(ec2, route_table_id: str, stack: str) -> None:
    """Put ``hanat:stack=<stack>`` and ``hanat:adopted=true`` on a listed route table (nothing else)."""
    ec2_call(f"ec2.CreateTags {route_table_id}", ec2.create_tags, Resources=[route_table_id],
             Tags=adopted_tags(stack))


def untag_adopted_table(ec2, route_table_id: str, stack: str) -> bool:
    """Take hanat's two tags off an adopted table again (one call: the policy allows it while the table
    still carries the stack tag); False when the table is gone or no longer ours."""
    views = describe_route_tables(ec2, [route_table_id]) if route_table_id else {}
    view = views.get(route_table_id)
    if view is None or view.tags.get(STACK_TAG) != stack:
        return False
    ec2_call(f"ec2.DeleteTags {route_table_id}", ec2.delete_tags, Resources=[route_table_id],
             Tags=[{"Key": STACK_TAG}, {"Key": ADOPTED_TAG}])
    return True


# --- giving a default route back ---------------------------------------------------------------------
def release_default_route(ec2, route_table_id: str, target: str, *, stack: str, deadline: float | None = None,
                          sleep: Callable[[float], None] = time.sleep) -> bool:
    """Point the adopted table's ``0.0.0.0/0`` at ``target`` (a NAT gateway ``nat-...``, a network
    interface ``eni-...`` or an instance ``i-...``), or delete it (``target`` ""); True when it changed.

    Refuses (HanatError) a table that does not carry this stack's two adoption tags; reads back to verify
    (``claims.read_back``: EC2's reads lag its writes; never past ``deadline``, a ``time.monotonic()`` instant).
    """
    view = describe_route_tables(ec2, [route_table_id], deadline=deadline).get(route_table_id)
    if view is None:
        raise AwsError("ec2.DescribeRouteTables", "NotFound", f"route table {route_table_id} not found")
    if view.tags.get(STACK_TAG) != stack or view.tags.get(ADOPTED_TAG, "").lower() != "true":
        raise HanatError(f"refusing to change {route_table_id}: it does not carry {STACK_TAG}={stack} and "
                         f"{ADOPTED_TAG}=true (not a route table this stack adopted)")
    if _shows(view, target):
        return False
    if not target:
        aws_call(f"ec2.DeleteRoute {route_table_id} {DEFAULT_ROUTE}", ec2.delete_route, deadline=deadline,
                 RouteTableId=route_table_id, DestinationCidrBlock=DEFAULT_ROUTE)
    else:
        field = next((f for prefix, f in RELEASE_FIELDS.items() if target.startswith(prefix)), None)
        if field is None:
            raise HanatError(f"cannot point {route_table_id} at {target!r}: not a NAT gateway, network "
                             "interface or instance id")
        verb = "ReplaceRoute" if view.default_target else "CreateRoute"
        aws_call(f"ec2.{verb} {route_table_id} -> {target}", getattr(ec2, "replace_route" if view.default_target
                                                                       else "create_route"),
                 deadline=deadline, RouteTableId=route_table_id, DestinationCidrBlock=DEFAULT_ROUTE, **{field: target})
    read_back(ec2, {route_table_id: target or None}, f"ec2.{'DeleteRoute' if not target else 'ReplaceRoute'} "
              f"{route_table_id}", shows=lambda _table, after: _shows(after, target), deadline=deadline, sleep=sleep)
    return True


def _shows(view: RouteTableView | None, target: str) -> bool:
    """True when the table's default route is ``target`` (none for ""); an instance target reads back as
    its network interface, so it is compared with what EC2 reports for the instance."""
    seen = view.default_target if view else None
    return seen == (target or None) or (target.startswith("i-") and view is not None and view.default_instance == target)


def subnets_by_id(ec2, subnet_ids: list[str] | tuple[str, ...]) -> dict[str, dict]:
    """id -> subnet for the ids that exist, in any VPC of the region."""
    ids = sorted(set(subnet_ids))
    if not ids:
        return {}
    found = paginate("ec2.DescribeSubnets", ec2, "describe_subnets", "Subnets",
                     Filters=[{"Name": "subnet-id", "Values": ids}])
    return {s["SubnetId"]: s for s in found}


def route_tables_by_id(ec2, route_table_ids: list[str] | tuple[str, ...]) -> dict[str, dict]:
    """id -> route table for the ids that exist, in any VPC of the region."""
    ids = sorted(set(route_table_ids))
    if not ids:
        return {}
    found = paginate("ec2.DescribeRouteTables", ec2, "describe_route_tables", "RouteTables",
                     Filters=[{"Name": "route-table-id", "Values": ids}])
    return {t["RouteTableId"]: t for t in found}
