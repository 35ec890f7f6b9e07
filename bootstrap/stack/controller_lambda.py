"""Adapter for what ``hanat deploy`` leaves in an account: the controller's Lambda functions and the
network interfaces Lambda keeps in the probe subnets for them (client in, aws_call inside).

``hanat down`` reads these before changing anything: a deployed controller must go first, and its
VPC network interfaces must be gone before the probe subnets and security group can be deleted.
"""
from __future__ import annotations

from dataclasses import dataclass

from chalicelib.aws.calls import aws_call
from chalicelib.naming import APP_NAME

from .pages import collect

# Chalice names every function <app_name>-<stage>-<handler>, and hanat's app name is fixed: only
# these functions are looked at (one tag read each), not every function of the account.
FUNCTION_PREFIX = f"{APP_NAME}-"
# How the network interfaces Lambda creates for a VPC function show up in EC2 (Hyperplane ENIs have
# InterfaceType "lambda"; older ones only the description).
LAMBDA_INTERFACE_TYPE = "lambda"
LAMBDA_ENI_DESCRIPTION = "AWS Lambda VPC ENI"


@dataclass(frozen=True)
class LambdaFunction:
    name: str
    arn: str
    tags: dict[str, str]


def hanat_functions(lambda_client) -> list[LambdaFunction]:
    """Every function named ``hanat-*`` in the region, with its tags (whatever stack they carry)."""
    listed = collect("lambda.ListFunctions", lambda_client, "list_functions", "Functions")
    return [LambdaFunction(f["FunctionName"], f["FunctionArn"], function_tags(lambda_client, f["FunctionArn"]))
            for f in listed if f["FunctionName"].startswith(FUNCTION_PREFIX)]


def function_tags(lambda_client, function_arn: str) -> dict[str, str]:
    return dict(aws_call(f"lambda.ListTags {function_arn}", lambda_client.list_tags,
                         Resource=function_arn).get("Tags", {}))


def lambda_network_interfaces(ec2, vpc_ids: list[str]) -> list[dict]:
    """Network interfaces Lambda manages inside ``vpc_ids`` (they block deleting subnets and groups)."""
    if not vpc_ids:
        return []
    interfaces = collect("ec2.DescribeNetworkInterfaces", ec2, "describe_network_interfaces",
                         "NetworkInterfaces", Filters=[{"Name": "vpc-id", "Values": list(vpc_ids)}])
    return [i for i in interfaces if i.get("InterfaceType") == LAMBDA_INTERFACE_TYPE
            or i.get("Description", "").startswith(LAMBDA_ENI_DESCRIPTION)]
