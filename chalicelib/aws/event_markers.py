"""Event de-duplication markers (adapter): one item per EC2 state-change event being handled."""
from __future__ import annotations

from ..errors import AwsError
from .calls import aws_call
from .state_table import CONDITION_FAILED, EVENT_PK, TTL_ATTRIBUTE, key


def put_event_marker(ddb, table: str, event_id: str, *, now: float, ttl_s: float, owner: str) -> bool:
    """Mark ``event_id`` as being handled; False when it already was (a duplicate delivery)."""
    try:
        aws_call("dynamodb.PutItem event", ddb.put_item,
                     TableName=table, Item={**key(EVENT_PK, event_id), "owner": {"S": owner},
                                            TTL_ATTRIBUTE: {"N": str(int(now + ttl_s))}},
                     ConditionExpression="attribute_not_exists(pk)")
        return True
    except AwsError as err:
        if err.code != CONDITION_FAILED:
            raise
        return False


def delete_event_marker(ddb, table: str, event_id: str) -> None:
    """Forget an event whose handling failed, so EventBridge's retry is acted on."""
    aws_call("dynamodb.DeleteItem event", ddb.delete_item, TableName=table, Key=key(EVENT_PK, event_id))
