"""The state table itself: the one DynamoDB table of a stack, its key layout, and its creation and
removal (by the stack builder). Each kind of record it holds has its own adapter beside this one.

Table layout (pk, sk strings): ("zone", az) zone records with their route-write claims (read by
``observe``, committed and claimed by ``claims``) | ("control", "global") the targets-down memory (the
same) | ("lease", "sweeper") the sweeper lease (``claims``) | ("event", event id) de-duplication markers
(``event_markers``) | ("replacement", az) NAT replacement records (``replacement_records``) |
("roll", "current") the rolling replacement and ("roll", "window") what the automatic roll did in the
current maintenance window (``roll_records``) | ("gray", az) a NAT's gray health and its latest reading
(``gray_records``) | ("history", "<epoch>#<id>") what happened (route moves,
replacements, rolls, alerts), kept for a while (``history_records``). ``expires_at`` (epoch seconds)
is the table's TTL attribute.
"""
from __future__ import annotations

from .calls import absent_is_none, aws_call

ZONE_PK, CONTROL_PK, LEASE_PK, EVENT_PK, REPLACEMENT_PK = "zone", "control", "lease", "event", "replacement"
ROLL_PK, HISTORY_PK, GRAY_PK = "roll", "history", "gray"
ROLL_SK, ROLL_WINDOW_SK = "current", "window"
CONTROL_SK, LEASE_SK = "global", "sweeper"
TTL_ATTRIBUTE = "expires_at"  # `hanat up` turns the table's TTL on for it
CONDITION_FAILED = "ConditionalCheckFailedException"


def key(pk: str, sk: str) -> dict:
    """The item key of record (pk, sk)."""
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def describe_table(dynamodb, name: str) -> dict | None:
    resp = absent_is_none(f"dynamodb.DescribeTable {name}", dynamodb.describe_table, TableName=name)
    return resp["Table"] if resp else None


def table_tags(dynamodb, table_arn: str) -> list[dict]:
    return aws_call(f"dynamodb.ListTagsOfResource {table_arn}", dynamodb.list_tags_of_resource,
                    ResourceArn=table_arn)["Tags"]


def create_table(dynamodb, name: str, tags: list[dict]) -> dict:
    """On-demand table keyed by ``pk`` (S) + ``sk`` (S): the controller's state records."""
    return aws_call(f"dynamodb.CreateTable {name}", dynamodb.create_table, TableName=name,
                    BillingMode="PAY_PER_REQUEST",
                    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                          {"AttributeName": "sk", "AttributeType": "S"}],
                    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                               {"AttributeName": "sk", "KeyType": "RANGE"}],
                    Tags=tags)["TableDescription"]


def table_ttl(dynamodb, name: str) -> dict:
    """The table's TTL setting: ``{"TimeToLiveStatus": ..., "AttributeName": ...}`` (no name when off)."""
    return aws_call(f"dynamodb.DescribeTimeToLive {name}", dynamodb.describe_time_to_live,
                    TableName=name)["TimeToLiveDescription"]


def enable_table_ttl(dynamodb, name: str, attribute: str) -> dict:
    """Let DynamoDB delete items once ``attribute`` (epoch seconds) is past: leases, events, claims."""
    return aws_call(f"dynamodb.UpdateTimeToLive {name}", dynamodb.update_time_to_live, TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute})["TimeToLiveSpecification"]


def delete_table(dynamodb, name: str) -> bool:
    return absent_is_none(f"dynamodb.DeleteTable {name}", dynamodb.delete_table, TableName=name) is not None
