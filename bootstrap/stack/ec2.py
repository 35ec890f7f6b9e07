"""EC2 adapter functions of the stack builder: each takes its client and goes through aws_call.

Creates carry their tags in TagSpecifications, so a resource never exists untagged (a crash right
after a create leaves something the next run finds by tag instead of a duplicate).
"""
from __future__ import annotations

from typing import Any

from chalicelib import naming
from chalicelib.aws.calls import RetryPolicy, aws_call
from chalicelib.errors import AwsError

from .pages import collect

# A freshly created id may not be visible to the next call yet (EC2 eventual consistency).
NOT_YET_VISIBLE = (
    "InvalidVpcID.NotFound", "InvalidSubnetID.NotFound", "InvalidRouteTableID.NotFound",
    "InvalidInternetGatewayID.NotFound", "InvalidGroup.NotFound", "InvalidInstanceID.NotFound",
    "InvalidAllocationID.NotFound", "InvalidNetworkInterfaceID.NotFound",
    "InvalidLaunchTemplateId.NotFound",
)
# Deleting in order still meets leftovers AWS releases asynchronously (ENIs of terminated instances).
DELETE_POLICY = RetryPolicy(attempts=12, base_delay_s=0.5, max_delay_s=10.0, deadline_s=240.0)
# A new instance profile takes a few seconds before RunInstances accepts it.
RUN_POLICY = RetryPolicy(attempts=8, base_delay_s=1.0, max_delay_s=8.0, deadline_s=60.0)
GONE = ("NotFound", "InvalidAssociationID.NotFound")

TAGGED_DESCRIBES = {
    "vpc": ("describe_vpcs", "Vpcs"),
    "internet-gateway": ("describe_internet_gateways", "InternetGateways"),
    "subnet": ("describe_subnets", "Subnets"),
    "route-table": ("describe_route_tables", "RouteTables"),
    "security-group": ("describe_security_groups", "SecurityGroups"),
    "elastic-ip": ("describe_addresses", "Addresses"),
    "launch-template": ("describe_launch_templates", "LaunchTemplates"),
}


def tag_spec(resource_type: str, tags: list[dict]) -> list[dict]:
    return [{"ResourceType": resource_type, "Tags": tags}]


def stack_filter(stack: str) -> list[dict]:
    return [{"Name": f"tag:{naming.STACK_TAG}", "Values": [stack]}]


def _call(op: str, fn, /, *args, retry_on=NOT_YET_VISIBLE, **kwargs) -> Any:
    return aws_call(op, fn, *args, retry_on=retry_on, **kwargs)


def _is_gone(err: AwsError) -> bool:
    return err.code.endswith(".NotFound") or err.code in GONE


# --- reads -------------------------------------------------------------------------------------
def describe_tagged(ec2, resource_type: str, stack: str) -> list[dict]:
    """Every resource of one type carrying ``hanat:stack=<stack>`` (nothing untagged, ever)."""
    method, key = TAGGED_DESCRIBES[resource_type]
    if resource_type == "elastic-ip":  # not paginated
        return _call(f"ec2.{method}", getattr(ec2, method), Filters=stack_filter(stack))[key]
    return collect(f"ec2.{method}", ec2, method, key, Filters=stack_filter(stack))


def describe_stack_instances(ec2, stack: str,
                             states: tuple[str, ...] = ("pending", "running", "stopping", "stopped")) -> list[dict]:
    """Stack instances in ``states`` (default: neither terminated nor on their way out)."""
    return _describe_instances(ec2, stack_filter(stack) + [{"Name": "instance-state-name", "Values": list(states)}])


def describe_instances_by_id(ec2, instance_ids: list[str]) -> list[dict]:
    return _describe_instances(ec2, [], InstanceIds=instance_ids)


def _describe_instances(ec2, filters: list[dict], **kwargs) -> list[dict]:
    reservations = collect("ec2.DescribeInstances", ec2, "describe_instances", "Reservations",
                           Filters=filters, **kwargs)
    return [instance for r in reservations for instance in r["Instances"]]


def vpc_dns(ec2, vpc_id: str) -> dict[str, bool]:
    out = {}
    for attr, key in (("enableDnsSupport", "EnableDnsSupport"), ("enableDnsHostnames", "EnableDnsHostnames")):
        resp = _call(f"ec2.DescribeVpcAttribute {vpc_id}", ec2.describe_vpc_attribute,
                     VpcId=vpc_id, Attribute=attr)
        out[attr] = bool(resp[key]["Value"])
    return out


def launch_template_data(ec2, template_id: str) -> dict:
    resp = _call(f"ec2.DescribeLaunchTemplateVersions {template_id}", ec2.describe_launch_template_versions,
                 LaunchTemplateId=template_id, Versions=["$Default"])
    return resp["LaunchTemplateVersions"][0]["LaunchTemplateData"]


# --- creates and modifies ------------------------------------------------------------------------
def create_vpc(ec2, cidr: str, tags: list[dict]) -> dict:
    return _call("ec2.CreateVpc", ec2.create_vpc, CidrBlock=cidr, TagSpecifications=tag_spec("vpc", tags))["Vpc"]


def set_vpc_attribute(ec2, vpc_id: str, attribute: str, value: bool) -> None:
    key = attribute[0].upper() + attribute[1:]
    _call(f"ec2.ModifyVpcAttribute {vpc_id} {attribute}", ec2.modify_vpc_attribute,
          VpcId=vpc_id, **{key: {"Value": value}})


def create_internet_gateway(ec2, tags: list[dict]) -> dict:
    return _call("ec2.CreateInternetGateway", ec2.create_internet_gateway,
                 TagSpecifications=tag_spec("internet-gateway", tags))["InternetGateway"]


def attach_internet_gateway(ec2, igw_id: str, vpc_id: str) -> None:
    _call(f"ec2.AttachInternetGateway {igw_id}", ec2.attach_internet_gateway,
          InternetGatewayId=igw_id, VpcId=vpc_id)


def create_subnet(ec2, vpc_id: str, cidr: str, az: str, tags: list[dict]) -> dict:
    return _call(f"ec2.CreateSubnet {cidr}", ec2.create_subnet, VpcId=vpc_id, CidrBlock=cidr,
                 AvailabilityZone=az, TagSpecifications=tag_spec("subnet", tags))["Subnet"]


def create_route_table(ec2, vpc_id: str, tags: list[dict]) -> dict:
    return _call("ec2.CreateRouteTable", ec2.create_route_table, VpcId=vpc_id,
                 TagSpecifications=tag_spec("route-table", tags))["RouteTable"]


def associate_route_table(ec2, route_table_id: str, subnet_id: str) -> str:
    return _call(f"ec2.AssociateRouteTable {route_table_id} {subnet_id}", ec2.associate_route_table,
                 RouteTableId=route_table_id, SubnetId=subnet_id)["AssociationId"]


def put_default_route(ec2, route_table_id: str, *, replace: bool, gateway_id: str = "",
                      eni_id: str = "") -> None:
    """0.0.0.0/0 to an internet gateway or an ENI; ``replace`` when a default route exists."""
    target = {"GatewayId": gateway_id} if gateway_id else {"NetworkInterfaceId": eni_id}
    fn = ec2.replace_route if replace else ec2.create_route
    verb = "ReplaceRoute" if replace else "CreateRoute"
    _call(f"ec2.{verb} {route_table_id}", fn, RouteTableId=route_table_id,
          DestinationCidrBlock="0.0.0.0/0", **target)


def create_security_group(ec2, vpc_id: str, name: str, description: str, tags: list[dict]) -> str:
    return _call(f"ec2.CreateSecurityGroup {name}", ec2.create_security_group, VpcId=vpc_id, GroupName=name,
                 Description=description, TagSpecifications=tag_spec("security-group", tags))["GroupId"]


def all_traffic(cidr: str) -> list[dict]:
    return [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": cidr}]}]


def authorize_ingress(ec2, group_id: str, cidr: str) -> None:
    _call(f"ec2.AuthorizeSecurityGroupIngress {group_id}", ec2.authorize_security_group_ingress,
          GroupId=group_id, IpPermissions=all_traffic(cidr))


def authorize_egress(ec2, group_id: str, cidr: str) -> None:
    _call(f"ec2.AuthorizeSecurityGroupEgress {group_id}", ec2.authorize_security_group_egress,
          GroupId=group_id, IpPermissions=all_traffic(cidr))


def create_launch_template(ec2, name: str, data: dict, tags: list[dict]) -> dict:
    return _call(f"ec2.CreateLaunchTemplate {name}", ec2.create_launch_template, LaunchTemplateName=name,
                 LaunchTemplateData=data,
                 TagSpecifications=tag_spec("launch-template", tags))["LaunchTemplate"]


def new_default_launch_template_version(ec2, template_id: str, data: dict) -> int:
    version = _call(f"ec2.CreateLaunchTemplateVersion {template_id}", ec2.create_launch_template_version,
                    LaunchTemplateId=template_id,
                    LaunchTemplateData=data)["LaunchTemplateVersion"]["VersionNumber"]
    _call(f"ec2.ModifyLaunchTemplate {template_id}", ec2.modify_launch_template,
          LaunchTemplateId=template_id, DefaultVersion=str(version))
    return version


def run_instance(ec2, **kwargs) -> dict:
    """One instance (MinCount = MaxCount = 1); kwargs are RunInstances parameters."""
    return _call("ec2.RunInstances", ec2.run_instances, MinCount=1, MaxCount=1,
                 retry_on=NOT_YET_VISIBLE + ("InvalidParameterValue",), policy=RUN_POLICY,
                 **kwargs)["Instances"][0]


def disable_source_dest_check(ec2, instance_id: str) -> None:
    _call(f"ec2.ModifyInstanceAttribute {instance_id}", ec2.modify_instance_attribute,
          InstanceId=instance_id, SourceDestCheck={"Value": False})


def allocate_address(ec2, tags: list[dict]) -> dict:
    return _call("ec2.AllocateAddress", ec2.allocate_address, Domain="vpc",
                 TagSpecifications=tag_spec("elastic-ip", tags))


def associate_address(ec2, allocation_id: str, instance_id: str) -> None:
    _call(f"ec2.AssociateAddress {allocation_id} {instance_id}", ec2.associate_address,
          AllocationId=allocation_id, InstanceId=instance_id, AllowReassociation=True)


# --- deletes (already gone counts as done) -------------------------------------------------------
def delete_quietly(operation: str, fn, /, **kwargs) -> bool:
    """Run a delete; True if it deleted, False if the thing was already gone."""
    try:
        _call(operation, fn, retry_on=("DependencyViolation",), policy=DELETE_POLICY, **kwargs)
        return True
    except AwsError as err:
        if _is_gone(err):
            return False
        raise


def terminate_instances(ec2, instance_ids: list[str]) -> None:
    _call("ec2.TerminateInstances", ec2.terminate_instances, InstanceIds=instance_ids)


def disassociate_address(ec2, association_id: str) -> bool:
    return delete_quietly(f"ec2.DisassociateAddress {association_id}", ec2.disassociate_address,
                          AssociationId=association_id)


def release_address(ec2, allocation_id: str) -> bool:
    return delete_quietly(f"ec2.ReleaseAddress {allocation_id}", ec2.release_address, AllocationId=allocation_id)


def disassociate_route_table(ec2, association_id: str) -> bool:
    return delete_quietly(f"ec2.DisassociateRouteTable {association_id}", ec2.disassociate_route_table,
                          AssociationId=association_id)


def delete_route_table(ec2, route_table_id: str) -> bool:
    return delete_quietly(f"ec2.DeleteRouteTable {route_table_id}", ec2.delete_route_table,
                          RouteTableId=route_table_id)


def delete_subnet(ec2, subnet_id: str) -> bool:
    return delete_quietly(f"ec2.DeleteSubnet {subnet_id}", ec2.delete_subnet, SubnetId=subnet_id)


def detach_internet_gateway(ec2, igw_id: str, vpc_id: str) -> bool:
    return delete_quietly(f"ec2.DetachInternetGateway {igw_id}", ec2.detach_internet_gateway,
                          InternetGatewayId=igw_id, VpcId=vpc_id)


def delete_internet_gateway(ec2, igw_id: str) -> bool:
    return delete_quietly(f"ec2.DeleteInternetGateway {igw_id}", ec2.delete_internet_gateway,
                          InternetGatewayId=igw_id)


def delete_security_group(ec2, group_id: str) -> bool:
    return delete_quietly(f"ec2.DeleteSecurityGroup {group_id}", ec2.delete_security_group, GroupId=group_id)


def delete_vpc(ec2, vpc_id: str) -> bool:
    return delete_quietly(f"ec2.DeleteVpc {vpc_id}", ec2.delete_vpc, VpcId=vpc_id)


def delete_launch_template(ec2, template_id: str) -> bool:
    return delete_quietly(f"ec2.DeleteLaunchTemplate {template_id}", ec2.delete_launch_template,
                          LaunchTemplateId=template_id)
