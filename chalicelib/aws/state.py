"""DynamoDB adapter for controller state: zone records (versioned, with route-write claims), the
sweeper lease, the targets-down memory and event de-duplication markers.

Table layout (pk, sk strings): ("zone", az) | ("control", "global") | ("lease", "sweeper") |
("event", event id). ``expires_at`` (epoch seconds) is the table's TTL attribute.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..engine.state import ZoneState
from ..errors import AwsError, ConflictError
from .calls import aws_call

ZONE_PK, CONTROL_PK, LEASE_PK, EVENT_PK = "zone", "control", "lease", "event"
CONTROL_SK, LEASE_SK = "global", "sweeper"
TTL_ATTRIBUTE = "expires_at"  # `hanat up` turns the table's TTL on for it
CONDITION_FAILED = "ConditionalCheckFailedException"
NOT_PENDING = "(attribute_not_exists(pending_until) OR pending_until < :now)"


@dataclass(frozen=True)
class StoredZone:
    state: ZoneState
    exists: bool = True
    pending_owner: str = ""     # a run that claimed the zone and is writing its routes
    pending_until: float = 0.0

    def is_pending(self, now: float) -> bool:
        return bool(self.pending_owner) and self.pending_until >= now


@dataclass(frozen=True)
class Snapshot:
    """All zone records read at one moment (consistent reads)."""

    zones: dict[str, StoredZone]
    critical_active: bool = False
    control_version: int = 0
    control_exists: bool = False
    read_at: float = 0.0

    def states(self) -> dict[str, ZoneState]:
        return {az: z.state for az, z in self.zones.items()}


@dataclass(frozen=True)
class LeaseStatus:
    acquired: bool
    holder: str
    expires_at: float


@dataclass
class Commit:
    """What ``commit`` wrote: the stored states (new versions) and the claim token."""

    states: dict[str, ZoneState] = field(default_factory=dict)
    claimed: tuple[str, ...] = ()
    token: str = ""


def _key(pk: str, sk: str) -> dict:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def load_snapshot(ddb, table: str, azs: list[str] | tuple[str, ...], now: float) -> Snapshot:
    """Read every zone record and the control record; a missing zone is a fresh UNKNOWN state."""
    items = aws_call(f"dynamodb.Query {table}", ddb.query, TableName=table, ConsistentRead=True,
                     KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": ZONE_PK}})
    stored: dict[str, StoredZone] = {}
    for item in items.get("Items", []):
        az = item["sk"]["S"]
        state = ZoneState.from_dict({**json.loads(item["state"]["S"]), "az": az,
                                     "version": int(item["version"]["N"])})
        stored[az] = StoredZone(state=state, pending_owner=item.get("pending_owner", {}).get("S", ""),
                                pending_until=float(item.get("pending_until", {}).get("N", 0)))
    zones = {az: stored.get(az, StoredZone(state=ZoneState(az=az), exists=False)) for az in azs}
    control = aws_call(f"dynamodb.GetItem {table}", ddb.get_item, TableName=table, ConsistentRead=True,
                       Key=_key(CONTROL_PK, CONTROL_SK)).get("Item")
    return Snapshot(zones=zones, read_at=now,
                    critical_active=bool(control and control["critical_active"]["BOOL"]),
                    control_version=int(control["version"]["N"]) if control else 0,
                    control_exists=control is not None)


def _version_condition(exists: bool, version: int) -> tuple[str, dict]:
    if exists:
        return "version = :v", {":v": {"N": str(version)}}
    return "attribute_not_exists(pk)", {}


def commit(ddb, table: str, snapshot: Snapshot, new_states: dict[str, ZoneState], *, now: float,
           claim: list[str] | tuple[str, ...] = (), owner: str = "", token: str = "", claim_ttl_s: float = 60.0,
           critical_active: bool | None = None) -> Commit:
    """Write ``new_states`` in one transaction, each conditioned on the version read in ``snapshot``
    and on nobody else holding a route-write claim; zones in ``claim`` get this run's claim. Every
    other zone is condition-checked too, so a decision made on stale facts never lands.
    A lost condition raises ConflictError (re-read and re-decide)."""
    ops: list[dict] = []
    written: dict[str, ZoneState] = {}
    for az, stored in snapshot.zones.items():
        cond, values = _version_condition(stored.exists, stored.state.version)
        if az in new_states or az in claim:
            new = new_states.get(az, stored.state).evolve(version=stored.state.version + 1)
            body = {k: v for k, v in new.to_dict().items() if k not in ("az", "version")}
            item = {**_key(ZONE_PK, az), "state": {"S": json.dumps(body, sort_keys=True)},
                    "version": {"N": str(new.version)}}
            if az in claim:
                item.update(pending_owner={"S": owner}, pending_token={"S": token},
                            pending_until={"N": str(now + claim_ttl_s)})
            ops.append({"Put": {"TableName": table, "Item": item,
                                "ConditionExpression": f"({cond}) AND {NOT_PENDING}",
                                "ExpressionAttributeValues": {**values, ":now": {"N": str(now)}}}})
            written[az] = new
        else:
            check = {"TableName": table, "Key": _key(ZONE_PK, az), "ConditionExpression": cond}
            if values:
                check["ExpressionAttributeValues"] = values
            ops.append({"ConditionCheck": check})
    if critical_active is not None and critical_active != snapshot.critical_active:
        cond, values = _version_condition(snapshot.control_exists, snapshot.control_version)
        item = {**_key(CONTROL_PK, CONTROL_SK), "critical_active": {"BOOL": critical_active},
                "version": {"N": str(snapshot.control_version + 1)}}
        put = {"TableName": table, "Item": item, "ConditionExpression": cond}
        if values:
            put["ExpressionAttributeValues"] = values
        ops.append({"Put": put})
    if not written and len(ops) == len(snapshot.zones):
        return Commit(states=snapshot.states())
    _transact(ddb, table, ops)
    return Commit(states={**snapshot.states(), **written}, claimed=tuple(claim), token=token)


def _transact(ddb, table: str, ops: list[dict]) -> None:
    try:
        aws_call(f"dynamodb.TransactWriteItems {table}", ddb.transact_write_items, TransactItems=ops)
    except AwsError as err:
        if err.code in ("TransactionCanceledException", "TransactionConflictException", CONDITION_FAILED):
            raise ConflictError(f"state changed under us ({err.aws_message}); re-read and decide again") from err
        raise


def release_claims(ddb, table: str, azs: list[str] | tuple[str, ...], token: str) -> None:
    """End this run's route-write claims (the routes are written, or the write failed and the next
    sweep repairs the drift). A claim someone else took over raises ConflictError."""
    lost = []
    for az in azs:
        try:
            aws_call(f"dynamodb.UpdateItem release {az}", ddb.update_item, TableName=table,
                     Key=_key(ZONE_PK, az), UpdateExpression="REMOVE pending_owner, pending_token, pending_until",
                     ConditionExpression="pending_token = :t", ExpressionAttributeValues={":t": {"S": token}})
        except AwsError as err:
            if err.code != CONDITION_FAILED:
                raise
            lost.append(az)
    if lost:
        raise ConflictError(f"route-write claim of zone(s) {', '.join(lost)} was taken over by another run")


# --- the sweeper lease --------------------------------------------------------------------------
def acquire_lease(ddb, table: str, owner: str, *, now: float, ttl_s: float) -> LeaseStatus:
    """Take (or renew) the sweeper lease; when another owner holds an unexpired lease, report it."""
    try:
        aws_call("dynamodb.PutItem lease", ddb.put_item,
                     TableName=table, Item={**_key(LEASE_PK, LEASE_SK), "owner": {"S": owner},
                                            TTL_ATTRIBUTE: {"N": str(int(now + ttl_s) + 1)},
                                            "lease_until": {"N": str(now + ttl_s)}},
                     ConditionExpression="attribute_not_exists(pk) OR lease_until < :now OR #o = :me",
                     ExpressionAttributeNames={"#o": "owner"},
                     ExpressionAttributeValues={":now": {"N": str(now)}, ":me": {"S": owner}})
        return LeaseStatus(acquired=True, holder=owner, expires_at=now + ttl_s)
    except AwsError as err:
        if err.code != CONDITION_FAILED:
            raise
    item = aws_call("dynamodb.GetItem lease", ddb.get_item, TableName=table, ConsistentRead=True,
                    Key=_key(LEASE_PK, LEASE_SK)).get("Item", {})
    return LeaseStatus(acquired=False, holder=item.get("owner", {}).get("S", "?"),
                       expires_at=float(item.get("lease_until", {}).get("N", 0)))


def release_lease(ddb, table: str, owner: str) -> None:
    """Give the lease up; a lease that expired and was taken by someone else is left alone."""
    try:
        aws_call("dynamodb.DeleteItem lease", ddb.delete_item,
                        TableName=table, Key=_key(LEASE_PK, LEASE_SK), ConditionExpression="#o = :me",
                        ExpressionAttributeNames={"#o": "owner"},
                        ExpressionAttributeValues={":me": {"S": owner}})
    except AwsError as err:
        if err.code != CONDITION_FAILED:
            raise
        raise ConflictError(f"the sweeper lease is no longer held by {owner}") from err


# --- event de-duplication ---------------------------------------------------------------------
def put_event_marker(ddb, table: str, event_id: str, *, now: float, ttl_s: float, owner: str) -> bool:
    """Mark ``event_id`` as being handled; False when it already was (a duplicate delivery)."""
    try:
        aws_call("dynamodb.PutItem event", ddb.put_item,
                     TableName=table, Item={**_key(EVENT_PK, event_id), "owner": {"S": owner},
                                            TTL_ATTRIBUTE: {"N": str(int(now + ttl_s))}},
                     ConditionExpression="attribute_not_exists(pk)")
        return True
    except AwsError as err:
        if err.code != CONDITION_FAILED:
            raise
        return False


def delete_event_marker(ddb, table: str, event_id: str) -> None:
    """Forget an event whose handling failed, so EventBridge's retry is acted on."""
    aws_call("dynamodb.DeleteItem event", ddb.delete_item, TableName=table, Key=_key(EVENT_PK, event_id))
