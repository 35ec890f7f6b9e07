"""Make moto refuse what AWS refuses, for the stack builder's tests (moto accepts all of these).

Each rule is a botocore ``before-parameter-build`` hook on one client that raises the ClientError
AWS would answer, with the AWS fact it emulates cited next to it. ``install(client)`` returns the
list of requests seen, so tests can also assert what was asked.
"""
from __future__ import annotations

from collections.abc import Callable

from botocore.exceptions import ClientError

# SSM: "Standard: ... Maximum size of parameter value: 4 KB"; larger values need the advanced tier,
# which Intelligent-Tiering picks by itself (Systems Manager User Guide, Managing parameter tiers).
SSM_STANDARD_MAX_BYTES = 4096


def client_error(operation: str, code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def _run_instances_rule(ec2) -> Callable:
    def check(params, **_kwargs):
        interfaces = params.get("NetworkInterfaces")
        template = params.get("LaunchTemplate")
        if template and not interfaces:
            data = ec2.describe_launch_template_versions(
                LaunchTemplateId=template["LaunchTemplateId"],
                Versions=[template.get("Version", "$Default")])["LaunchTemplateVersions"][0]["LaunchTemplateData"]
            interfaces = data.get("NetworkInterfaces")
        # RunInstances, SubnetId: "If you specify a network interface, you must specify any subnets as part
        # of the network interface"; AWS answers InvalidParameterCombination "Network interfaces and an
        # instance-level subnet ID may not be specified on the same request" (the same for security groups).
        for key, what in (("SubnetId", "subnet ID"), ("SecurityGroupIds", "security groups")):
            if interfaces and params.get(key):
                raise client_error("RunInstances", "InvalidParameterCombination",
                                   f"Network interfaces and an instance-level {what} may not be specified "
                                   "on the same request")
    return check


def _put_parameter_rule(params, **_kwargs):
    tier = params.get("Tier", "Standard")
    if tier == "Standard" and len(params.get("Value", "").encode()) > SSM_STANDARD_MAX_BYTES:
        raise client_error("PutParameter", "ValidationException",
                           "Standard tier parameters support a maximum parameter value of 4096 characters. "
                           "To create a larger parameter value, upgrade the parameter to use the "
                           "advanced-parameter tier.")


def install(client) -> list[tuple[str, dict]]:
    """Add the rules for ``client``'s service; returns the (operation, params) of every call checked."""
    seen: list[tuple[str, dict]] = []
    service = client.meta.service_model.service_name
    rules: dict[str, Callable] = {}
    if service == "ec2":
        rules["RunInstances"] = _run_instances_rule(client)
    elif service == "ssm":
        rules["PutParameter"] = _put_parameter_rule
    for operation, rule in rules.items():
        def hook(params, _op=operation, _rule=rule, **kwargs):
            seen.append((_op, dict(params)))
            _rule(params, **kwargs)
        client.meta.events.register(f"before-parameter-build.{service}.{operation}", hook)
    return seen
