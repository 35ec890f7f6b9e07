"""EC2 network adapter: the VPC, its DNS attributes, the internet gateway, subnets and security groups
of a stack, and the helpers every EC2 adapter shares for eventual consistency and idempotent deletes.

Creates carry their tags in TagSpecifications, so a resource never exists untagged (a crash right
after a create leaves something the next run finds by tag instead of a duplicate).
"""
from __future__ import annotations

from typing import Any

from ..errors import AwsError
from .calls import RetryPolicy, aws_call, paginate
from .tags import stack_filter, tag_spec

# A freshly created id may not be visible to the next call yet (EC2 eventual consistency).
NOT_YET_VISIBLE = (
    "InvalidVpcID.NotFound", "InvalidSubnetID.NotFound", "InvalidRouteTableID.NotFound",
    "InvalidInternetGatewayID.NotFound", "InvalidGroup.NotFound", "InvalidInstanceID.NotFound",
    "InvalidAllocationID.NotFound", "InvalidNetworkInterfaceID.NotFound",
    "InvalidLaunchTemplateId.NotFound",
)
# Deleting in order still meets leftovers AWS releases asynchronously (ENIs of terminated instances).
DELETE_POLICY = RetryPolicy(within_s=240.0, base_delay_s=0.5, max_delay_s=10.0)
GONE = ("NotFound", "InvalidAssociationID.NotFound")
# How the network interfaces Lambda creates for a VPC function show up in EC2 (Hyperplane ENIs have
# InterfaceType "lambda"; older ones only the description). They block deleting subnets and groups.
LAMBDA_INTERFACE_TYPE = "lambda"
LAMBDA_ENI_DESCRIPTION = "AWS Lambda VPC ENI"

TAGGED_DESCRIBES = {
    "vpc": ("describe_vpcs", "Vpcs"),
    "internet-gateway": ("describe_internet_gateways", "InternetGateways"),
    "subnet": ("describe_subnets", "Subnets"),
    "route-table": ("describe_route_tables", "RouteTables"),
    "security-group": ("describe_security_groups", "SecurityGroups"),
    "elastic-ip": ("describe_addresses", "Addresses"),
    "launch-template": ("describe_launch_templates", "LaunchTemplates"),
}


def ec2_call(op: str, fn, /, *args, retry_on=NOT_YET_VISIBLE, **kwargs) -> Any:
    """An EC2 call that rides out ids not yet visible after their create (eventual consistency)."""
    return aws_call(op, fn, *args, retry_on=retry_on, **kwargs)


def is_gone(err: AwsError) -> bool:
    return err.code.endswith(".NotFound") or err.code in GONE


def delete_quietly(operation: str, fn, /, **kwargs) -> bool:
    """Run a delete; True if it deleted, False if the thing was already gone."""
    try:
        ec2_call(operation, fn, retry_on=("DependencyViolation",), policy=DELETE_POLICY, **kwargs)
        return True
    except AwsError as err:
        if is_gone(err):
            return False
        raise


def describe_tagged(ec2, resource_type: str, stack: str) -> list[dict]:
    """Every resource of one type carrying ``hanat:stack=<stack>`` (nothing untagged, ever)."""
    method, key = TAGGED_DESCRIBES[resource_type]
    if resource_type == "elastic-ip":  # not paginated
        return ec2_call(f"ec2.{method}", getattr(ec2, method), Filters=stack_filter(stack))[key]
    return paginate(f"ec2.{method}", ec2, method, key, retry_on=NOT_YET_VISIBLE, Filters=stack_filter(stack))


def vpc_dns(ec2, vpc_id: str, *, retry_on=NOT_YET_VISIBLE) -> dict[str, bool]:
    """The VPC's two DNS attributes; ``retry_on=()``: a NotFound is the caller's to judge (AwsError)."""
    out = {}
    for attr, key in (("enableDnsSupport", "EnableDnsSupport"), ("enableDnsHostnames", "EnableDnsHostnames")):
        resp = ec2_call(f"ec2.DescribeVpcAttribute {vpc_id}", ec2.describe_vpc_attribute,
                        retry_on=retry_on, VpcId=vpc_id, Attribute=attr)
        out[attr] = bool(resp[key]["Value"])
    return out


def create_vpc(ec2, cidr: str, tags: list[dict]) -> dict:
    return ec2_call("ec2.CreateVpc", ec2.create_vpc, CidrBlock=cidr, TagSpecifications=tag_spec("vpc", tags))["Vpc"]


def set_vpc_attribute(ec2, vpc_id: str, attribute: str, value: bool) -> None:
    key = attribute[0].upper() + attribute[1:]
    ec2_call(f"ec2.ModifyVpcAttribute {vpc_id} {attribute}", ec2.modify_vpc_attribute,
          VpcId=vpc_id, **{key: {"Value": value}})


def create_internet_gateway(ec2, tags: list[dict]) -> dict:
    return ec2_call("ec2.CreateInternetGateway", ec2.create_internet_gateway,
                 TagSpecifications=tag_spec("internet-gateway", tags))["InternetGateway"]


def attach_internet_gateway(ec2, igw_id: str, vpc_id: str) -> None:
    ec2_call(f"ec2.AttachInternetGateway {igw_id}", ec2.attach_internet_gateway,
          InternetGatewayId=igw_id, VpcId=vpc_id)


def set_tags(ec2, resource_id: str, tags: list[dict]) -> None:
    """Add or overwrite ``tags`` on one resource (callers only touch resources of their stack)."""
    ec2_call(f"ec2.CreateTags {resource_id}", ec2.create_tags, Resources=[resource_id], Tags=tags)


def create_subnet(ec2, vpc_id: str, cidr: str, az: str, tags: list[dict]) -> dict:
    return ec2_call(f"ec2.CreateSubnet {cidr}", ec2.create_subnet, VpcId=vpc_id, CidrBlock=cidr,
                 AvailabilityZone=az, TagSpecifications=tag_spec("subnet", tags))["Subnet"]


def create_security_group(ec2, vpc_id: str, name: str, description: str, tags: list[dict]) -> str:
    return ec2_call(f"ec2.CreateSecurityGroup {name}", ec2.create_security_group, VpcId=vpc_id, GroupName=name,
                 Description=description, TagSpecifications=tag_spec("security-group", tags))["GroupId"]


def all_traffic(cidr: str) -> list[dict]:
    return [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": cidr}]}]


def authorize_ingress(ec2, group_id: str, cidr: str) -> None:
    ec2_call(f"ec2.AuthorizeSecurityGroupIngress {group_id}", ec2.authorize_security_group_ingress,
          GroupId=group_id, IpPermissions=all_traffic(cidr))


def authorize_ingress_rules(ec2, group_id: str, permissions: list[dict]) -> None:
    ec2_call(f"ec2.AuthorizeSecurityGroupIngress {group_id}", ec2.authorize_security_group_ingress,
             GroupId=group_id, IpPermissions=permissions)


def revoke_ingress_rules(ec2, group_id: str, permissions: list[dict]) -> None:
    ec2_call(f"ec2.RevokeSecurityGroupIngress {group_id}", ec2.revoke_security_group_ingress,
             GroupId=group_id, IpPermissions=permissions)


def authorize_egress(ec2, group_id: str, cidr: str) -> None:
    ec2_call(f"ec2.AuthorizeSecurityGroupEgress {group_id}", ec2.authorize_security_group_egress,
          GroupId=group_id, IpPermissions=all_traffic(cidr))


def detach_internet_gateway(ec2, igw_id: str, vpc_id: str) -> bool:
    return delete_quietly(f"ec2.DetachInternetGateway {igw_id}", ec2.detach_internet_gateway,
                          InternetGatewayId=igw_id, VpcId=vpc_id)


def delete_internet_gateway(ec2, igw_id: str) -> bool:
    return delete_quietly(f"ec2.DeleteInternetGateway {igw_id}", ec2.delete_internet_gateway,
                          InternetGatewayId=igw_id)


def delete_subnet(ec2, subnet_id: str) -> bool:
    return delete_quietly(f"ec2.DeleteSubnet {subnet_id}", ec2.delete_subnet, SubnetId=subnet_id)


def delete_security_group(ec2, group_id: str) -> bool:
    return delete_quietly(f"ec2.DeleteSecurityGroup {group_id}", ec2.delete_security_group, GroupId=group_id)


def delete_vpc(ec2, vpc_id: str) -> bool:
    return delete_quietly(f"ec2.DeleteVpc {vpc_id}", ec2.delete_vpc, VpcId=vpc_id)


def subnet_network_interfaces(ec2, subnet_id: str) -> list[dict]:
    """Every network interface in ``subnet_id`` (what keeps a subnet from being deleted)."""
    return paginate("ec2.DescribeNetworkInterfaces", ec2, "describe_network_interfaces", "NetworkInterfaces",
                    Filters=[{"Name": "subnet-id", "Values": [subnet_id]}])


def lambda_network_interfaces(ec2, vpc_ids: list[str]) -> list[dict]:
    """Network interfaces Lambda manages inside ``vpc_ids`` (they block deleting subnets and groups)."""
    if not vpc_ids:
        return []
    interfaces = paginate("ec2.DescribeNetworkInterfaces", ec2, "describe_network_interfaces",
                         "NetworkInterfaces", Filters=[{"Name": "vpc-id", "Values": list(vpc_ids)}])
    return [i for i in interfaces if i.get("InterfaceType") == LAMBDA_INTERFACE_TYPE
            or i.get("Description", "").startswith(LAMBDA_ENI_DESCRIPTION)]
