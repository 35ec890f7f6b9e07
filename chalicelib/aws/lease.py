"""The sweeper lease (adapter): one conditional item that lets one heartbeat run sweep at a time;
taken or renewed, dropped, or expired (its ``lease_until`` passed)."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import AwsError, ConflictError
from .calls import aws_call
from .state_table import CONDITION_FAILED, LEASE_PK, LEASE_SK, TTL_ATTRIBUTE, key


@dataclass(frozen=True)
class LeaseStatus:
    acquired: bool
    holder: str
    expires_at: float


def acquire_lease(ddb, table: str, owner: str, *, now: float, ttl_s: float,
                  deadline: float | None = None) -> LeaseStatus:
    """Take (or renew) the sweeper lease; when another owner holds an unexpired lease, report it."""
    try:
        aws_call("dynamodb.PutItem lease", ddb.put_item, deadline=deadline,
                     TableName=table, Item={**key(LEASE_PK, LEASE_SK), "owner": {"S": owner},
                                            TTL_ATTRIBUTE: {"N": str(int(now + ttl_s) + 1)},
                                            "lease_until": {"N": str(now + ttl_s)}},
                     ConditionExpression="attribute_not_exists(pk) OR lease_until < :now OR #o = :me",
                     ExpressionAttributeNames={"#o": "owner"},
                     ExpressionAttributeValues={":now": {"N": str(now)}, ":me": {"S": owner}})
        return LeaseStatus(acquired=True, holder=owner, expires_at=now + ttl_s)
    except AwsError as err:
        if err.code != CONDITION_FAILED:
            raise
    item = aws_call("dynamodb.GetItem lease", ddb.get_item, deadline=deadline, TableName=table, ConsistentRead=True,
                    Key=key(LEASE_PK, LEASE_SK)).get("Item", {})
    return LeaseStatus(acquired=False, holder=item.get("owner", {}).get("S", "?"),
                       expires_at=float(item.get("lease_until", {}).get("N", 0)))


def drop_lease(ddb, table: str, owner: str, *, deadline: float | None = None) -> None:
    """Drop the lease; a lease that expired and was taken by someone else is left alone."""
    try:
        aws_call("dynamodb.DeleteItem lease", ddb.delete_item, deadline=deadline,
                        TableName=table, Key=key(LEASE_PK, LEASE_SK), ConditionExpression="#o = :me",
                        ExpressionAttributeNames={"#o": "owner"},
                        ExpressionAttributeValues={":me": {"S": owner}})
    except AwsError as err:
        if err.code != CONDITION_FAILED:
            raise
        raise ConflictError(f"the sweeper lease is no longer held by {owner}") from err
