"""Rolling-replacement records (adapter): the stack's one roll (pk="roll", sk="current") and what the
automatic roll did in the current maintenance window (pk="roll", sk="window")."""
from __future__ import annotations

import json

from ..errors import AwsError, ConflictError
from .calls import aws_call
from .replacement_records import record_from_item
from .state_table import CONDITION_FAILED, ROLL_PK, ROLL_SK, ROLL_WINDOW_SK, key


def load_roll(dynamodb, table: str) -> dict | None:
    """The stack's latest roll record (its data, ``version`` and ``status``), or None."""
    resp = aws_call(f"dynamodb.GetItem {table} roll", dynamodb.get_item, TableName=table,
                    Key=key(ROLL_PK, ROLL_SK), ConsistentRead=True)
    item = resp.get("Item")
    return record_from_item(item) if item else None


def put_roll(dynamodb, table: str, record: dict, *, expected_version: int | None,
             final_statuses: tuple[str, ...]) -> int:
    """Write the roll record (version bumped); the new version. ``expected_version=None`` starts a roll:
    only when there is none or the last one's status is in ``final_statuses``. A lost condition raises
    ConflictError (another run started or advanced the roll)."""
    new_version = (record.get("version") or 0) + 1
    data = {k: v for k, v in record.items() if k not in ("version", "status")}
    item = {**key(ROLL_PK, ROLL_SK), "status": {"S": record["status"]}, "version": {"N": str(new_version)},
            "data": {"S": json.dumps(data, sort_keys=True)}}
    if expected_version is None:
        finals = {f":f{i}": {"S": status} for i, status in enumerate(final_statuses)}
        condition = f"attribute_not_exists(pk) OR #status IN ({', '.join(finals)})"
        names, values = {"#status": "status"}, finals
    else:
        condition, names = "#version = :expected", {"#version": "version"}
        values = {":expected": {"N": str(expected_version)}}
    try:
        aws_call(f"dynamodb.PutItem {table} roll", dynamodb.put_item, TableName=table, Item=item,
                 ConditionExpression=condition, ExpressionAttributeNames=names, ExpressionAttributeValues=values)
    except AwsError as err:
        if err.code == CONDITION_FAILED:
            raise ConflictError("the roll record changed concurrently") from err
        raise
    return new_version


def load_roll_window(dynamodb, table: str) -> dict:
    """What the automatic roll noted about the current maintenance window ({} when nothing)."""
    item = aws_call(f"dynamodb.GetItem {table} roll/window", dynamodb.get_item, TableName=table,
                    Key=key(ROLL_PK, ROLL_WINDOW_SK), ConsistentRead=True).get("Item")
    return json.loads(item["data"]["S"]) if item else {}


def put_roll_window(dynamodb, table: str, data: dict) -> None:
    aws_call(f"dynamodb.PutItem {table} roll/window", dynamodb.put_item, TableName=table,
             Item={**key(ROLL_PK, ROLL_WINDOW_SK), "data": {"S": json.dumps(data, sort_keys=True)}})
