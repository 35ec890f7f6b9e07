"""Lambda functions adapter: what ``hanat deploy`` leaves in an account (the controller's functions and
their tags). ``hanat down`` reads these before changing anything: a deployed controller must go first."""
from __future__ import annotations

from dataclasses import dataclass

from ..naming import APP_NAME
from .calls import aws_call, paginate

# Chalice names every function <app_name>-<stage>-<handler>, and hanat's app name is fixed: only
# these functions are looked at (one tag read each), not every function of the account.
FUNCTION_PREFIX = f"{APP_NAME}-"


@dataclass(frozen=True)
class LambdaFunction:
    name: str
    arn: str
    tags: dict[str, str]


def hanat_functions(lambda_client) -> list[LambdaFunction]:
    """Every function named ``hanat-*`` in the region, with its tags (whatever stack they carry)."""
    listed = paginate("lambda.ListFunctions", lambda_client, "list_functions", "Functions")
    return [LambdaFunction(f["FunctionName"], f["FunctionArn"], function_tags(lambda_client, f["FunctionArn"]))
            for f in listed if f["FunctionName"].startswith(FUNCTION_PREFIX)]


def function_tags(lambda_client, function_arn: str) -> dict[str, str]:
    return dict(aws_call(f"lambda.ListTags {function_arn}", lambda_client.list_tags,
                         Resource=function_arn).get("Tags", {}))


def account_concurrency(lambda_client) -> tuple[int, int]:
    """(ConcurrentExecutions, UnreservedConcurrentExecutions) of the account in the client's region."""
    limit = aws_call("lambda.GetAccountSettings", lambda_client.get_account_settings)["AccountLimit"]
    return int(limit["ConcurrentExecutions"]), int(limit["UnreservedConcurrentExecutions"])
