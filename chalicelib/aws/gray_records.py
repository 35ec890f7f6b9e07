"""NATs' gray-health records (adapter): one versioned record per zone (pk="gray", sk=<az>) holding the
NAT's gray state (``chalicelib.engine.gray``) and its latest reading, which ``hanat status`` shows."""
from __future__ import annotations

import json

from ..errors import AwsError, ConflictError
from .calls import aws_call, paginate
from .state_table import CONDITION_FAILED, GRAY_PK


def list_gray(dynamodb, table: str, *, deadline: float | None = None) -> dict[str, dict]:
    """az -> its record (the JSON body with ``version``), for every zone that has one."""
    items = paginate(f"dynamodb.Query {table} gray", dynamodb, "query", "Items", TableName=table,
                     KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": GRAY_PK}},
                     ConsistentRead=True, deadline=deadline)
    out = {}
    for item in items:
        body = json.loads(item["data"]["S"])
        body["version"] = int(item["version"]["N"])
        out[item["sk"]["S"]] = body
    return out


def put_gray(dynamodb, table: str, az: str, body: dict, *, expected_version: int,
             deadline: float | None = None) -> int:
    """Write zone ``az``'s record if its stored version is still ``expected_version`` (0: none stored);
    the new version. Losing the condition (another run wrote it) raises ConflictError."""
    new_version = expected_version + 1
    data = {k: v for k, v in body.items() if k != "version"}
    item = {"pk": {"S": GRAY_PK}, "sk": {"S": az}, "version": {"N": str(new_version)},
            "data": {"S": json.dumps(data, sort_keys=True)}}
    if expected_version:
        condition, values = "#version = :expected", {":expected": {"N": str(expected_version)}}
        extra = {"ExpressionAttributeNames": {"#version": "version"}, "ExpressionAttributeValues": values}
    else:
        condition, extra = "attribute_not_exists(pk)", {}
    try:
        aws_call(f"dynamodb.PutItem {table} gray/{az}", dynamodb.put_item, TableName=table, Item=item,
                 ConditionExpression=condition, deadline=deadline, **extra)
    except AwsError as err:
        if err.code == CONDITION_FAILED:
            raise ConflictError(f"gray record of {az} changed concurrently") from err
        raise
    return new_version
