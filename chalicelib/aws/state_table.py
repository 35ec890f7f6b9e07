"""The state table: the one DynamoDB table of a stack (adapter). Zone records (versioned, with
route-write claims), the sweeper lease, the targets-down memory, event de-duplication markers and
NAT replacement records.

Table layout (pk, sk strings): ("zone", az) | ("control", "global") | ("lease", "sweeper") |
("event", event id) | ("replacement", az) | ("roll", "current") the rolling replacement | ("roll", "window")
what the automatic roll did in the current maintenance window | ("history", "<epoch>#<id>") what happened
(route moves, replacements, rolls, alerts), kept for a while. ``expires_at`` (epoch seconds) is the
table's TTL attribute.
Records are plain data here: a zone record's ``body`` is the controller's zone state as JSON data,
mapped to and from the engine's ``ZoneState`` by ``chalicelib.service.reconcile``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..errors import AwsError, ConflictError
from .calls import absent_is_none, aws_call, paginate

ZONE_PK, CONTROL_PK, LEASE_PK, EVENT_PK, REPLACEMENT_PK = "zone", "control", "lease", "event", "replacement"
ROLL_PK, HISTORY_PK = "roll", "history"
ROLL_SK, ROLL_WINDOW_SK = "current", "window"
CONTROL_SK, LEASE_SK = "global", "sweeper"
TTL_ATTRIBUTE = "expires_at"  # `hanat up` turns the table's TTL on for it
CONDITION_FAILED = "ConditionalCheckFailedException"
NOT_PENDING = "(attribute_not_exists(pending_until) OR pending_until < :now)"


@dataclass(frozen=True)
class ZoneRecord:
    """One zone's stored record. ``body`` is the zone state as JSON data ({} when never written)."""

    az: str
    body: dict = field(default_factory=dict)
    version: int = 0
    exists: bool = True
    pending_owner: str = ""     # a run that claimed the zone and is writing its routes
    pending_until: float = 0.0

    def is_pending(self, now: float) -> bool:
        return bool(self.pending_owner) and self.pending_until >= now


@dataclass(frozen=True)
class Snapshot:
    """All zone records read at one moment (consistent reads)."""

    zones: dict[str, ZoneRecord]
    critical_active: bool = False
    control_version: int = 0
    control_exists: bool = False
    read_at: float = 0.0


@dataclass(frozen=True)
class LeaseStatus:
    acquired: bool
    holder: str
    expires_at: float


def _key(pk: str, sk: str) -> dict:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def load_snapshot(ddb, table: str, azs: list[str] | tuple[str, ...], now: float, *,
                  deadline: float | None = None) -> Snapshot:
    """Read every zone record and the control record; a missing zone is a fresh UNKNOWN state.
    (``deadline``, here and below: a ``time.monotonic()`` instant no call starts or retries after.)"""
    items = aws_call(f"dynamodb.Query {table}", ddb.query, deadline=deadline, TableName=table, ConsistentRead=True,
                     KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": ZONE_PK}})
    stored: dict[str, ZoneRecord] = {}
    for item in items.get("Items", []):
        az = item["sk"]["S"]
        stored[az] = ZoneRecord(az=az, body=json.loads(item["state"]["S"]), version=int(item["version"]["N"]),
                                pending_owner=item.get("pending_owner", {}).get("S", ""),
                                pending_until=float(item.get("pending_until", {}).get("N", 0)))
    zones = {az: stored.get(az, ZoneRecord(az=az, exists=False)) for az in azs}
    control = aws_call(f"dynamodb.GetItem {table}", ddb.get_item, deadline=deadline, TableName=table,
                       ConsistentRead=True, Key=_key(CONTROL_PK, CONTROL_SK)).get("Item")
    return Snapshot(zones=zones, read_at=now,
                    critical_active=bool(control and control["critical_active"]["BOOL"]),
                    control_version=int(control["version"]["N"]) if control else 0,
                    control_exists=control is not None)


def _version_condition(exists: bool, version: int) -> tuple[str, dict]:
    if exists:
        return "version = :v", {":v": {"N": str(version)}}
    return "attribute_not_exists(pk)", {}


def commit(ddb, table: str, snapshot: Snapshot, new_bodies: dict[str, dict], *, now: float,
           claim: list[str] | tuple[str, ...] = (), owner: str = "", token: str = "", claim_ttl_s: float = 60.0,
           critical_active: bool | None = None, deadline: float | None = None) -> dict[str, int]:
    """Write ``new_bodies`` (az -> zone state data) in one transaction, each conditioned on the version
    read in ``snapshot`` and on nobody else holding a route-write claim; zones in ``claim`` get this
    run's claim. Every other zone is condition-checked too, so a decision made on stale facts never
    lands. Returns az -> new version of every record written. A lost condition raises ConflictError
    (re-read and re-decide)."""
    ops: list[dict] = []
    written: dict[str, int] = {}
    for az, stored in snapshot.zones.items():
        cond, values = _version_condition(stored.exists, stored.version)
        if az in new_bodies or az in claim:
            version = stored.version + 1
            body = new_bodies.get(az, stored.body)
            item = {**_key(ZONE_PK, az), "state": {"S": json.dumps(body, sort_keys=True)},
                    "version": {"N": str(version)}}
            if az in claim:
                item.update(pending_owner={"S": owner}, pending_token={"S": token},
                            pending_until={"N": str(now + claim_ttl_s)})
            ops.append({"Put": {"TableName": table, "Item": item,
                                "ConditionExpression": f"({cond}) AND {NOT_PENDING}",
                                "ExpressionAttributeValues": {**values, ":now": {"N": str(now)}}}})
            written[az] = version
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
        return {}
    _transact(ddb, table, ops, deadline)
    return written


def _transact(ddb, table: str, ops: list[dict], deadline: float | None = None) -> None:
    try:
        aws_call(f"dynamodb.TransactWriteItems {table}", ddb.transact_write_items, deadline=deadline,
                 TransactItems=ops)
    except AwsError as err:
        if err.code in ("TransactionCanceledException", "TransactionConflictException", CONDITION_FAILED):
            raise ConflictError(f"state changed under us ({err.aws_message}); re-read and decide again") from err
        raise


def release_claims(ddb, table: str, azs: list[str] | tuple[str, ...], token: str, *,
                   deadline: float | None = None) -> None:
    """End this run's route-write claims (the routes are written, or the write failed and the next
    sweep repairs the drift). A claim someone else took over raises ConflictError."""
    lost = []
    for az in azs:
        try:
            aws_call(f"dynamodb.UpdateItem release {az}", ddb.update_item, deadline=deadline, TableName=table,
                     Key=_key(ZONE_PK, az), UpdateExpression="REMOVE pending_owner, pending_token, pending_until",
                     ConditionExpression="pending_token = :t", ExpressionAttributeValues={":t": {"S": token}})
        except AwsError as err:
            if err.code != CONDITION_FAILED:
                raise
            lost.append(az)
    if lost:
        raise ConflictError(f"route-write claim of zone(s) {', '.join(lost)} was taken over by another run")


# --- the sweeper lease --------------------------------------------------------------------------
def acquire_lease(ddb, table: str, owner: str, *, now: float, ttl_s: float,
                  deadline: float | None = None) -> LeaseStatus:
    """Take (or renew) the sweeper lease; when another owner holds an unexpired lease, report it."""
    try:
        aws_call("dynamodb.PutItem lease", ddb.put_item, deadline=deadline,
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
    item = aws_call("dynamodb.GetItem lease", ddb.get_item, deadline=deadline, TableName=table, ConsistentRead=True,
                    Key=_key(LEASE_PK, LEASE_SK)).get("Item", {})
    return LeaseStatus(acquired=False, holder=item.get("owner", {}).get("S", "?"),
                       expires_at=float(item.get("lease_until", {}).get("N", 0)))


def release_lease(ddb, table: str, owner: str, *, deadline: float | None = None) -> None:
    """Give the lease up; a lease that expired and was taken by someone else is left alone."""
    try:
        aws_call("dynamodb.DeleteItem lease", ddb.delete_item, deadline=deadline,
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


# --- replacement records (pk="replacement", sk=<az>) ------------------------------------------
def _record_from_item(item: dict) -> dict:
    data = json.loads(item["data"]["S"])
    data["version"] = int(item["version"]["N"])
    data["status"] = item["status"]["S"]
    return data


def load_record(dynamodb, table: str, az: str) -> dict | None:
    resp = aws_call(f"dynamodb.GetItem {table} replacement/{az}", dynamodb.get_item, TableName=table,
                    Key={"pk": {"S": REPLACEMENT_PK}, "sk": {"S": az}}, ConsistentRead=True)
    item = resp.get("Item")
    return _record_from_item(item) if item else None


def list_records(dynamodb, table: str) -> list[dict]:
    items = paginate(f"dynamodb.Query {table} replacement", dynamodb, "query", "Items", TableName=table,
                     KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": REPLACEMENT_PK}},
                     ConsistentRead=True)
    return [_record_from_item(i) for i in items]


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


# --- the table itself (created and removed by the stack builder) -----------------------------------
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


# --- the rolling replacement (pk="roll", sk="current"): one roll per stack at a time ------------------
def load_roll(dynamodb, table: str) -> dict | None:
    """The stack's latest roll record (its data, ``version`` and ``status``), or None."""
    resp = aws_call(f"dynamodb.GetItem {table} roll", dynamodb.get_item, TableName=table,
                    Key=_key(ROLL_PK, ROLL_SK), ConsistentRead=True)
    item = resp.get("Item")
    return _record_from_item(item) if item else None


def put_roll(dynamodb, table: str, record: dict, *, expected_version: int | None,
             final_statuses: tuple[str, ...]) -> int:
    """Write the roll record (version bumped); the new version. ``expected_version=None`` starts a roll:
    only when there is none or the last one's status is in ``final_statuses``. A lost condition raises
    ConflictError (another run started or advanced the roll)."""
    new_version = (record.get("version") or 0) + 1
    data = {k: v for k, v in record.items() if k not in ("version", "status")}
    item = {**_key(ROLL_PK, ROLL_SK), "status": {"S": record["status"]}, "version": {"N": str(new_version)},
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
                    Key=_key(ROLL_PK, ROLL_WINDOW_SK), ConsistentRead=True).get("Item")
    return json.loads(item["data"]["S"]) if item else {}


def put_roll_window(dynamodb, table: str, data: dict) -> None:
    aws_call(f"dynamodb.PutItem {table} roll/window", dynamodb.put_item, TableName=table,
             Item={**_key(ROLL_PK, ROLL_WINDOW_SK), "data": {"S": json.dumps(data, sort_keys=True)}})


# --- history (pk="history", sk="<epoch seconds, fixed width>#<id>"), removed by TTL -----------------
def history_sort_key(at: float, ident: str) -> str:
    """Sorts as time does (fixed width), so a Query by range reads a time span."""
    return f"{at:017.6f}#{ident}"


def put_history(dynamodb, table: str, *, at: float, ident: str, data: dict, ttl_s: float) -> None:
    aws_call(f"dynamodb.PutItem {table} history", dynamodb.put_item, TableName=table,
             Item={**_key(HISTORY_PK, history_sort_key(at, ident)), "data": {"S": json.dumps(data, default=str)},
                   TTL_ATTRIBUTE: {"N": str(int(at + ttl_s))}})


def query_history(dynamodb, table: str, *, since: float, until: float, limit: int) -> list[dict]:
    """History entries from ``since`` to ``until`` (epoch seconds), newest first, at most ``limit``."""
    items: list[dict] = []
    values = {":pk": {"S": HISTORY_PK}, ":lo": {"S": history_sort_key(since, "")},
              ":hi": {"S": history_sort_key(until, "~")}}
    kwargs: dict = {"TableName": table, "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
                    "ExpressionAttributeValues": values, "ScanIndexForward": False, "Limit": min(limit, 1000)}
    while len(items) < limit:
        resp = aws_call(f"dynamodb.Query {table} history", dynamodb.query, **kwargs)
        items.extend(json.loads(i["data"]["S"]) for i in resp.get("Items", []))
        if "LastEvaluatedKey" not in resp:
            break
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
    return items[:limit]
