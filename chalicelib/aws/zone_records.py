"""Zone records (adapter): every zone's stored state with its version, and the targets-down memory,
read in one consistent look and committed in ONE conditioned transaction that also takes the
route-write claims (``claims`` drops them). Records are plain data here: a zone record's ``body`` is
the controller's zone state as JSON data, mapped to and from the engine's ``ZoneState`` by
``chalicelib.service.reconcile``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..errors import AwsError, ConflictError
from .calls import aws_call
from .state_table import CONDITION_FAILED, CONTROL_PK, CONTROL_SK, ZONE_PK

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


def _zone_key(pk: str, sk: str) -> dict:
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
                       ConsistentRead=True, Key=_zone_key(CONTROL_PK, CONTROL_SK)).get("Item")
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
    run's claim. Every other zone is condition-checked too, so a decision made on out-of-date facts never
    lands. Returns az -> new version of every record written. A lost condition raises ConflictError
    (re-read and re-decide)."""
    ops: list[dict] = []
    written: dict[str, int] = {}
    for az, stored in snapshot.zones.items():
        cond, values = _version_condition(stored.exists, stored.version)
        if az in new_bodies or az in claim:
            version = stored.version + 1
            body = new_bodies.get(az, stored.body)
            item = {**_zone_key(ZONE_PK, az), "state": {"S": json.dumps(body, sort_keys=True)},
                    "version": {"N": str(version)}}
            if az in claim:
                item.update(pending_owner={"S": owner}, pending_token={"S": token},
                            pending_until={"N": str(now + claim_ttl_s)})
            ops.append({"Put": {"TableName": table, "Item": item,
                                "ConditionExpression": f"({cond}) AND {NOT_PENDING}",
                                "ExpressionAttributeValues": {**values, ":now": {"N": str(now)}}}})
            written[az] = version
        else:
            check = {"TableName": table, "Key": _zone_key(ZONE_PK, az), "ConditionExpression": cond}
            if values:
                check["ExpressionAttributeValues"] = values
            ops.append({"ConditionCheck": check})
    if critical_active is not None and critical_active != snapshot.critical_active:
        cond, values = _version_condition(snapshot.control_exists, snapshot.control_version)
        item = {**_zone_key(CONTROL_PK, CONTROL_SK), "critical_active": {"BOOL": critical_active},
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
