"""NAT replacement records (adapter): one versioned record per zone (pk="replacement", sk=<az>)."""
from __future__ import annotations

import json

from ..errors import AwsError, ConflictError
from .calls import aws_call, paginate
from .state_table import REPLACEMENT_PK


def record_from_item(item: dict) -> dict:
    data = json.loads(item["data"]["S"])
    data["version"] = int(item["version"]["N"])
    data["status"] = item["status"]["S"]
    return data


def load_record(dynamodb, table: str, az: str) -> dict | None:
    resp = aws_call(f"dynamodb.GetItem {table} replacement/{az}", dynamodb.get_item, TableName=table,
                    Key={"pk": {"S": REPLACEMENT_PK}, "sk": {"S": az}}, ConsistentRead=True)
    item = resp.get("Item")
    return record_from_item(item) if item else None


def list_records(dynamodb, table: str) -> list[dict]:
    items = paginate(f"dynamodb.Query {table} replacement", dynamodb, "query", "Items", TableName=table,
                     KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": REPLACEMENT_PK}},
                     ConsistentRead=True)
    return [record_from_item(i) for i in items]


def put_record(dynamodb, table: str, record: dict, *, expected_version: int | None) -> int:
    """Write ``record`` (with version bumped); returns the new version.

    ``expected_version=None`` starts a replacement: allowed only when the zone has none or its last
    one is done/failed (one replacement per zone at a time). Otherwise the stored version must match.
    Losing either condition raises ConflictError.
    """
    new_version = (record.get("version") or 0) + 1
    data = {k: v for k, v in record.items() if k not in ("version", "status")}
    item = {"pk": {"S": REPLACEMENT_PK}, "sk": {"S": record["az"]}, "status": {"S": record["status"]},
            "version": {"N": str(new_version)}, "data": {"S": json.dumps(data, sort_keys=True)}}
    if expected_version is None:
        condition = "attribute_not_exists(pk) OR #status IN (:done, :failed)"
        values = {":done": {"S": "done"}, ":failed": {"S": "failed"}}
        names = {"#status": "status"}
    else:
        condition = "#version = :expected"
        values = {":expected": {"N": str(expected_version)}}
        names = {"#version": "version"}
    try:
        aws_call(f"dynamodb.PutItem {table} replacement/{record['az']}", dynamodb.put_item,
                 TableName=table, Item=item, ConditionExpression=condition,
                 ExpressionAttributeNames=names, ExpressionAttributeValues=values)
    except AwsError as err:
        if err.code == "ConditionalCheckFailedException":
            raise ConflictError(f"replacement record of {record['az']} changed concurrently") from err
        raise
    return new_version
