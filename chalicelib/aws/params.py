"""SSM adapter for the topology parameter ``/hanat/<stack>/topology``."""
from __future__ import annotations

from ..errors import AwsError, NotFoundError
from ..naming import STACK_TAG
from ..topology import Topology
from .calls import aws_call


def read_topology(ssm, name: str) -> Topology:
    """The topology stored under ``name``; NotFoundError when the stack was never built."""
    try:
        out = aws_call(f"ssm.GetParameter {name}", ssm.get_parameter, Name=name)
    except AwsError as err:
        if err.code == "ParameterNotFound":
            raise NotFoundError(f"topology parameter {name} not found: run `hanat up` first") from err
        raise
    return Topology.from_json(out["Parameter"]["Value"])


def write_topology(ssm, topology: Topology) -> None:
    """Store the topology (overwrites; the parameter carries the stack tag when first created)."""
    name = topology.topology_parameter
    try:
        aws_call(f"ssm.GetParameter {name}", ssm.get_parameter, Name=name)
        exists = True
    except AwsError as err:
        if err.code != "ParameterNotFound":
            raise
        exists = False
    if exists:
        aws_call(f"ssm.PutParameter {name}", ssm.put_parameter, Name=name, Value=topology.to_json(),
                 Type="String", Overwrite=True)
    else:
        aws_call(f"ssm.PutParameter {name}", ssm.put_parameter, Name=name, Value=topology.to_json(),
                 Type="String", Tags=[{"Key": STACK_TAG, "Value": topology.stack}])
