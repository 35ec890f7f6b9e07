"""SSM Parameter Store adapter: the topology parameter ``/hanat/<stack>/topology`` and other
parameters hanat reads (the Slack webhook SecureString)."""
from __future__ import annotations

from ..errors import AwsError, NotFoundError
from ..naming import STACK_TAG
from ..topology import Topology
from .calls import absent_is_none, aws_call, paginate

PARAMETER_NOT_FOUND = "ParameterNotFound"
# The topology outgrows a standard parameter's 4 KB (6 zones with default targets: 3.7 KB); with
# Intelligent-Tiering Parameter Store picks the advanced tier (8 KB) only when the value needs it
# (Systems Manager User Guide, "Managing parameter tiers": Intelligent-Tiering).
TOPOLOGY_TIER = "Intelligent-Tiering"


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
                 Type="String", Overwrite=True, Tier=TOPOLOGY_TIER)
    else:
        aws_call(f"ssm.PutParameter {name}", ssm.put_parameter, Name=name, Value=topology.to_json(),
                 Type="String", Tags=[{"Key": STACK_TAG, "Value": topology.stack}], Tier=TOPOLOGY_TIER)


# --- the stack builder's parameter calls -----------------------------------------------------
def resolve_ami(ssm, alias: str) -> str:
    """The AMI id behind an SSM public parameter (e.g. the AL2023 alias)."""
    return aws_call(f"ssm.GetParameter {alias}", ssm.get_parameter, Name=alias)["Parameter"]["Value"]


def get_parameter(ssm, name: str) -> dict | None:
    resp = absent_is_none(f"ssm.GetParameter {name}", ssm.get_parameter, Name=name)
    return resp["Parameter"] if resp else None


def parameter_tags(ssm, name: str) -> list[dict]:
    return aws_call(f"ssm.ListTagsForResource {name}", ssm.list_tags_for_resource,
                    ResourceType="Parameter", ResourceId=name)["TagList"]


def put_parameter(ssm, name: str, value: str, *, tags: list[dict] | None, tier: str = "Standard") -> None:
    """Create with tags (``tags`` given) or overwrite (``tags=None``; AWS refuses both at once)."""
    kwargs = {"Tags": tags} if tags is not None else {"Overwrite": True}
    aws_call(f"ssm.PutParameter {name}", ssm.put_parameter, Name=name, Value=value, Type="String", Tier=tier,
             **kwargs)


def parameters_under(ssm, prefix: str) -> list[str]:
    params = paginate(f"ssm.GetParametersByPath {prefix}", ssm, "get_parameters_by_path", "Parameters",
                     Path=prefix, Recursive=True)
    return [p["Name"] for p in params]


def delete_parameter(ssm, name: str) -> bool:
    return absent_is_none(f"ssm.DeleteParameter {name}", ssm.delete_parameter, Name=name) is not None


def put_secure_string(ssm, name: str, value: str, tags: list[dict]) -> None:
    """Store a SecureString (as operators store the Slack webhook URL), tagged (overwrites)."""
    aws_call(f"ssm.PutParameter {name}", ssm.put_parameter, Name=name, Value=value, Type="SecureString",
             Overwrite=True)
    aws_call(f"ssm.AddTagsToResource {name}", ssm.add_tags_to_resource, ResourceType="Parameter",
             ResourceId=name, Tags=tags)


# --- SSM documents ----------------------------------------------------------------------------
def get_document_content(ssm, name: str) -> str | None:
    """The (default version's) JSON content of SSM document ``name``; None when it does not exist
    (SSM answers InvalidDocument for a name it does not know)."""
    try:
        resp = aws_call(f"ssm.GetDocument {name}", ssm.get_document, Name=name, DocumentFormat="JSON")
    except AwsError as err:
        if err.code == "InvalidDocument":
            return None
        raise
    return resp["Content"]
