"""SSM Parameter Store adapter: the topology parameter ``/hanat/<stack>/topology`` and other
parameters hanat reads (the Slack webhook SecureString)."""
from __future__ import annotations

from ..errors import AwsError, NotFoundError
from ..naming import STACK_TAG
from ..topology import Topology
from .calls import aws_call

PARAMETER_NOT_FOUND = "ParameterNotFound"


def get_parameter_value(ssm, name: str, *, decrypt: bool = False) -> str:
    """The parameter's value; a missing parameter is NotFoundError naming it."""
    try:
        response = aws_call(f"ssm.GetParameter {name}", ssm.get_parameter, Name=name, WithDecryption=decrypt)
    except AwsError as err:
        if err.code == PARAMETER_NOT_FOUND:
            raise NotFoundError(f"SSM parameter {name} does not exist") from err
        raise
    return response["Parameter"]["Value"]


def read_topology(ssm, name: str) -> Topology:
    """The topology stored under ``name``; NotFoundError when the stack was never built."""
    try:
        return Topology.from_json(get_parameter_value(ssm, name))
    except NotFoundError as err:
        raise NotFoundError(f"topology parameter {name} not found: run `hanat up` first") from err


def write_topology(ssm, topology: Topology) -> None:
    """Store the topology (overwrites; the parameter carries the stack tag when first created)."""
    name = topology.topology_parameter
    try:
        get_parameter_value(ssm, name)
        exists = True
    except NotFoundError:
        exists = False
    if exists:
        aws_call(f"ssm.PutParameter {name}", ssm.put_parameter, Name=name, Value=topology.to_json(),
                 Type="String", Overwrite=True)
    else:
        aws_call(f"ssm.PutParameter {name}", ssm.put_parameter, Name=name, Value=topology.to_json(),
                 Type="String", Tags=[{"Key": STACK_TAG, "Value": topology.stack}])
