"""Route-write claims (adapter): a run claims the zones whose routes it moves in the zone records'
commit (``zone_records.commit``); here it drops them once its routes are written (or not)."""
from __future__ import annotations

from ..errors import AwsError, ConflictError
from .calls import aws_call
from .state_table import CONDITION_FAILED, ZONE_PK, key


def drop_claims(ddb, table: str, azs: list[str] | tuple[str, ...], token: str, *,
                   deadline: float | None = None) -> None:
    """End this run's route-write claims (the routes are written, or the write failed and the next
    sweep repairs the route drift). A claim someone else took over raises ConflictError."""
    lost = []
    for az in azs:
        try:
            aws_call(f"dynamodb.UpdateItem drop claim {az}", ddb.update_item, deadline=deadline, TableName=table,
                     Key=key(ZONE_PK, az), UpdateExpression="REMOVE pending_owner, pending_token, pending_until",
                     ConditionExpression="pending_token = :t", ExpressionAttributeValues={":t": {"S": token}})
        except AwsError as err:
            if err.code != CONDITION_FAILED:
                raise
            lost.append(az)
    if lost:
        raise ConflictError(f"route-write claim of zone(s) {', '.join(lost)} was taken over by another run")
