"""Adapter: read SSM parameters (the topology, the Slack webhook SecureString)."""
from __future__ import annotations

from ..errors import AwsError, NotFoundError
from .calls import aws_call


def get_parameter_value(ssm_client, name: str, *, decrypt: bool = False) -> str:
    """The parameter's value; a missing parameter is NotFoundError naming it."""
    try:
        response = aws_call(f"ssm.GetParameter {name}", ssm_client.get_parameter,
                            Name=name, WithDecryption=decrypt)
    except AwsError as err:
        if err.code == "ParameterNotFound":
            raise NotFoundError(f"SSM parameter {name} does not exist") from err
        raise
    return response["Parameter"]["Value"]
