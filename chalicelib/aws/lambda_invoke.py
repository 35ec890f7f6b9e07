"""Adapter: invoke a Lambda function synchronously with a JSON payload (RequestResponse)."""
from __future__ import annotations

import json

from ..errors import AwsError
from .calls import aws_call


def invoke_json(lambda_client, function_name: str, payload: dict) -> dict:
    """Invoke ``function_name`` and return its decoded JSON result.

    A function error (the handler raised, or timed out inside Lambda) becomes an AwsError with
    code ``FunctionError`` and Lambda's error text, so callers see one error tree. Timeouts of the
    call itself are the client's ``read_timeout`` (build the client with retries off: a retried
    invoke would run the function twice).
    """
    operation = f"lambda.Invoke {function_name}"
    response = aws_call(operation, lambda_client.invoke, FunctionName=function_name,
                        InvocationType="RequestResponse", Payload=json.dumps(payload).encode())
    body = response["Payload"].read()
    if response.get("FunctionError"):
        raise AwsError(operation, "FunctionError", body.decode(errors="replace")[:500])
    try:
        return json.loads(body or b"null")
    except ValueError as exc:
        raise AwsError(operation, "InvalidResponse", f"not JSON: {body[:200]!r}") from exc


def make_invoke_client(region: str | None, read_timeout_s: float):
    """A Lambda client for synchronous probe invokes: no retries (a retry would run the probe twice)
    and a read timeout just above the probe's own deadline."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": 0, "mode": "standard"}, connect_timeout=3,
                    read_timeout=read_timeout_s, max_pool_connections=16)
    return boto3.session.Session(region_name=region).client("lambda", region_name=region, config=config)
