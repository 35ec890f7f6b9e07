"""History records (adapter): what happened (pk="history", sk="<epoch seconds, fixed width>#<id>"),
removed by the table's TTL."""
from __future__ import annotations

import json

from .calls import aws_call
from .state_table import HISTORY_PK, TTL_ATTRIBUTE, key


def history_sortkey(at: float, ident: str) -> str:
    """Sorts as time does (fixed width), so a Query by range reads a time span."""
    return f"{at:017.6f}#{ident}"


def put_history(dynamodb, table: str, *, at: float, ident: str, data: dict, ttl_s: float) -> None:
    aws_call(f"dynamodb.PutItem {table} history", dynamodb.put_item, TableName=table,
             Item={**key(HISTORY_PK, history_sortkey(at, ident)), "data": {"S": json.dumps(data, default=str)},
                   TTL_ATTRIBUTE: {"N": str(int(at + ttl_s))}})


def query_history(dynamodb, table: str, *, since: float, until: float, limit: int) -> list[dict]:
    """History entries from ``since`` to ``until`` (epoch seconds), newest first, at most ``limit``."""
    items: list[dict] = []
    values = {":pk": {"S": HISTORY_PK}, ":lo": {"S": history_sortkey(since, "")},
              ":hi": {"S": history_sortkey(until, "~")}}
    kwargs: dict = {"TableName": table, "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
                    "ExpressionAttributeValues": values, "ScanIndexForward": False, "Limit": min(limit, 1000)}
    while len(items) < limit:
        resp = aws_call(f"dynamodb.Query {table} history", dynamodb.query, **kwargs)
        items.extend(json.loads(i["data"]["S"]) for i in resp.get("Items", []))
        if "LastEvaluatedKey" not in resp:
            break
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
    return items[:limit]
