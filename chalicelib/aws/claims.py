"""Claims in the state table and the writes they guard (adapter): the sweeper lease (one run sweeps at
a time), and a zone's route-write claim, taken in ONE conditioned transaction with the zone records
(no other run writes a claimed zone's routes), the default routes written under it, verified by
reading back, and the claim dropped again.

``move`` is the whole move in one entry: the claim (with the records), then the route writes in the
same batch of the retry layer (issued at once, only when the claim held, none started after the
claim's write deadline), the read-back, the claims dropped (also when the write failed). A planned
move that waits for the NATs' agents between claim and write uses the steps one by one: ``commit``,
``write_routes``, ``drop_claims``. The tables are written as observed (``observe.RouteTableView``:
their guard problem, whether a default route exists, where it points), not read again.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..errors import AwsError, ConflictError, HanatError, OutOfTimeError
from .calls import Call, RetryPolicy, aws_call, aws_calls, raise_first
from .observe import DEFAULT_ROUTE, RouteTableView, Snapshot, describe_route_tables
from .state_table import CONDITION_FAILED, CONTROL_PK, CONTROL_SK, LEASE_PK, LEASE_SK, TTL_ATTRIBUTE, ZONE_PK

log = logging.getLogger("hanat.aws")

NOT_PENDING = "(attribute_not_exists(pending_until) OR pending_until < :now)"
# EC2 reads are eventually consistent: a ReplaceRoute may not show in the next DescribeRouteTables at once
# (https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html): read back for this long.
READ_BACK_S = 10.0
READ_BACK_POLICY = RetryPolicy(within_s=READ_BACK_S, base_delay_s=0.1, max_delay_s=2.0)
# A throttled route write is retried sooner than botocore's 1 s first back-off: EC2 refills each API's
# token bucket every second, mutating actions at 5 tokens a second by default, so a token is back within
# 0.2 s (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html, "Request token bucket
# sizes and refill rates"); the write is what ends an outage, and it stays bounded (6 attempts, the deadline).
ROUTE_WRITE_BACKOFF_S = 0.2
CANCELLED = ("TransactionCanceledException", "TransactionConflictException", CONDITION_FAILED)


def _key(pk: str, sk: str) -> dict:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


# --- the sweeper lease ----------------------------------------------------------------------------
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


def drop_lease(ddb, table: str, owner: str, *, deadline: float | None = None) -> None:
    """Drop the lease; a lease that expired and was taken by someone else is left alone."""
    try:
        aws_call("dynamodb.DeleteItem lease", ddb.delete_item, deadline=deadline,
                 TableName=table, Key=_key(LEASE_PK, LEASE_SK), ConditionExpression="#o = :me",
                 ExpressionAttributeNames={"#o": "owner"}, ExpressionAttributeValues={":me": {"S": owner}})
    except AwsError as err:
        if err.code != CONDITION_FAILED:
            raise
        raise ConflictError(f"the sweeper lease is no longer held by {owner}") from err


# --- the zone records' commit, with the route-write claims -----------------------------------------
def _version_condition(exists: bool, version: int) -> tuple[str, dict]:
    if exists:
        return "version = :v", {":v": {"N": str(version)}}
    return "attribute_not_exists(pk)", {}


def _commit_ops(table: str, snapshot: Snapshot, new_bodies: Mapping[str, dict], *, now: float,
                claim: Sequence[str], owner: str, token: str, claim_ttl_s: float,
                critical_active: bool | None) -> tuple[list[dict], dict[str, int]]:
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
        return [], {}
    return ops, written


def _transact_call(ddb, table: str, ops: list[dict]) -> Call:
    return Call(f"dynamodb.TransactWriteItems {table}", ddb.transact_write_items, {"TransactItems": ops})


def _committed(outcome) -> None:
    if isinstance(outcome, AwsError):
        if outcome.code in CANCELLED:
            raise ConflictError(f"state changed under us ({outcome.aws_message}); re-read and decide again") \
                from outcome
        raise outcome


def commit(ddb, table: str, snapshot: Snapshot, new_bodies: Mapping[str, dict], *, now: float,
           claim: Sequence[str] = (), owner: str = "", token: str = "", claim_ttl_s: float = 60.0,
           critical_active: bool | None = None, deadline: float | None = None) -> dict[str, int]:
    """Write ``new_bodies`` (az -> zone state data) in one transaction, each conditioned on the version
    read in ``snapshot`` and on nobody else holding a route-write claim; zones in ``claim`` get this
    run's claim. Every other zone is condition-checked too, so a decision made on out-of-date facts never
    lands. Returns az -> new version of every record written. A lost condition raises ConflictError
    (re-read and re-decide)."""
    ops, written = _commit_ops(table, snapshot, new_bodies, now=now, claim=claim, owner=owner, token=token,
                               claim_ttl_s=claim_ttl_s, critical_active=critical_active)
    if ops:
        (outcome,) = aws_calls([_transact_call(ddb, table, ops)], deadline=deadline)
        _committed(outcome)
    return written


def drop_claims(ddb, table: str, azs: Sequence[str], token: str, *, deadline: float | None = None) -> None:
    """End this run's route-write claims (the routes are written, or the write failed and the next
    sweep repairs the route drift), all at once. A claim someone else took over raises ConflictError."""
    calls = [Call(f"dynamodb.UpdateItem drop claim {az}", ddb.update_item,
                  {"TableName": table, "Key": _key(ZONE_PK, az),
                   "UpdateExpression": "REMOVE pending_owner, pending_token, pending_until",
                   "ConditionExpression": "pending_token = :t", "ExpressionAttributeValues": {":t": {"S": token}}})
             for az in azs]
    out = aws_calls(calls, deadline=deadline) if calls else []
    raise_first(o for o in out if not (isinstance(o, AwsError) and o.code == CONDITION_FAILED))
    lost = [az for az, o in zip(azs, out, strict=True) if isinstance(o, AwsError)]
    if lost:
        raise ConflictError(f"route-write claim of zone(s) {', '.join(lost)} was taken over by another run")


# --- route writes ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class RouteWrite:
    """Point ``0.0.0.0/0`` of ``route_table_id`` (``view``: as observed, None when not found) at ``eni_id``."""

    route_table_id: str
    eni_id: str
    view: RouteTableView | None


def _write_calls(ec2, writes: Sequence[RouteWrite], write_deadline: float | None,
                 expires: tuple[Callable[[], float], float] | None) -> tuple[list[RouteWrite], list[Call]]:
    """The writes that change something, and their calls. ReplaceRoute "replaces an existing route" of
    any target (a NAT gateway of an adopted table too); only a table with no default route at all needs
    CreateRoute (EC2 API Reference, ReplaceRoute)."""
    todo = [w for w in writes if w.view is not None and w.view.problem is None and w.view.default_eni != w.eni_id]
    calls = [Call(f"ec2.{'ReplaceRoute' if w.view.has_default else 'CreateRoute'} {w.route_table_id} -> {w.eni_id}",
                  ec2.replace_route if w.view.has_default else ec2.create_route,
                  {"RouteTableId": w.route_table_id, "DestinationCidrBlock": DEFAULT_ROUTE,
                   "NetworkInterfaceId": w.eni_id}, (), write_deadline, expires,
                  backoff_s=ROUTE_WRITE_BACKOFF_S) for w in todo]
    return todo, calls


def _finish_writes(ec2, writes: Sequence[RouteWrite], todo: list[RouteWrite], outcomes: list, *,
                   write_deadline: float | None, expires: tuple[Callable[[], float], float] | None,
                   deadline: float | None,
                   sleep: Callable[[float], None]) -> list[str]:
    """After the write batch: a CreateRoute that met a route created meanwhile is replaced, a write
    refused for time is OutOfTimeError, the written tables are read back; then the first refusal (a
    table not found, not this stack's, pinned) or error. The changed tables."""
    retry = [w for w, o in zip(todo, outcomes, strict=True)
             if isinstance(o, AwsError) and o.code == "RouteAlreadyExists"]
    if retry:
        again = aws_calls([Call(f"ec2.ReplaceRoute {w.route_table_id} -> {w.eni_id}", ec2.replace_route,
                                {"RouteTableId": w.route_table_id, "DestinationCidrBlock": DEFAULT_ROUTE,
                                 "NetworkInterfaceId": w.eni_id}, (), write_deadline, expires,
                                backoff_s=ROUTE_WRITE_BACKOFF_S) for w in retry],
                          deadline=deadline)
        fixed = dict(zip((w.route_table_id for w in retry), again, strict=True))
        outcomes = [fixed.get(w.route_table_id, o) for w, o in zip(todo, outcomes, strict=True)]
    late = [w for w, o in zip(todo, outcomes, strict=True) if isinstance(o, AwsError) and o.code == "Deadline"]
    written = [w for w, o in zip(todo, outcomes, strict=True) if not isinstance(o, AwsError)]
    if written:
        read_back(ec2, {w.route_table_id: w.eni_id for w in written}, "ec2.ReplaceRoute",
                  deadline=deadline, sleep=sleep)
    for w in writes:
        if w.view is None:
            raise AwsError("ec2.DescribeRouteTables", "NotFound", f"route table {w.route_table_id} not found")
        if w.view.problem:
            raise HanatError(f"refusing to change {w.route_table_id}: {w.view.problem}")
    if late:
        raise OutOfTimeError(f"gave up writing {', '.join(w.route_table_id for w in late)}: the claim ends within "
                             "its margin or the run's time is up; the next sweep repairs it")
    raise_first(o for o in outcomes if not (isinstance(o, AwsError) and o.code == "Deadline"))
    return [w.route_table_id for w in written]


def write_routes(ec2, writes: Sequence[RouteWrite], *, write_deadline: float | None = None,
                 expires: tuple[Callable[[], float], float] | None = None, deadline: float | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> list[str]:
    """Point every table of ``writes`` at its ENI, at once; verified by reading back; the changed tables.
    No write starts after ``write_deadline`` (a claim's, monotonic), ``expires`` ((clock, instant): the
    same on the caller's clock) or ``deadline``: one given up raises OutOfTimeError."""
    todo, calls = _write_calls(ec2, writes, write_deadline, expires)
    outcomes = aws_calls(calls, deadline=deadline) if calls else []
    return _finish_writes(ec2, writes, todo, outcomes, write_deadline=write_deadline, expires=expires,
                          deadline=deadline, sleep=sleep)


def move(ddb, ec2, table: str, snapshot: Snapshot, new_bodies: Mapping[str, dict], writes: Sequence[RouteWrite], *,
         now: float, claim: Sequence[str], owner: str, token: str, claim_ttl_s: float,
         critical_active: bool | None = None, write_deadline: float | None = None,
         expires: tuple[Callable[[], float], float] | None = None, deadline: float | None = None,
         sleep: Callable[[float], None] = time.sleep) -> tuple[dict[str, int], list[str]]:
    """Claim (commit the records with the claims), write the routes (at once, in the same batch, only
    when the claim held), verify, drop the claims (also when the write failed): (az -> new version,
    changed tables). ConflictError when the claim was lost (nothing written)."""
    ops, written = _commit_ops(table, snapshot, new_bodies, now=now, claim=claim, owner=owner, token=token,
                               claim_ttl_s=claim_ttl_s, critical_active=critical_active)
    todo, calls = _write_calls(ec2, writes, write_deadline, expires)
    first = [_transact_call(ddb, table, ops)] if ops else []
    outcomes = aws_calls(first, calls, deadline=deadline)
    if first:
        _committed(outcomes[0])
    try:
        changed = _finish_writes(ec2, writes, todo, outcomes[len(first):], write_deadline=write_deadline,
                                 expires=expires, deadline=deadline, sleep=sleep)
    except BaseException:
        try:
            drop_claims(ddb, table, claim, token, deadline=deadline)
        except HanatError as err:
            log.warning("could not drop claims after a failed route write: %s", err)
        raise
    drop_claims(ddb, table, claim, token, deadline=deadline)
    return written, changed


def read_back(ec2, expected: Mapping[str, str | None], op: str, *,
              shows: Callable[[str, RouteTableView | None], bool] | None = None, deadline: float | None = None,
              sleep: Callable[[float], None] = time.sleep) -> None:
    """After a write: read the tables (all at once) until each shows what ``expected`` names (its default
    route's ENI; ``shows(table, view)`` instead when given, the view None when the table is not found),
    riding out EC2's eventual consistency (READ_BACK_POLICY's delays) for up to READ_BACK_S and never
    past ``deadline``; then AwsError ``VerifyFailed`` from ``op`` naming the table and what it expected."""
    started = time.monotonic()
    give_up = started + READ_BACK_S if deadline is None else min(started + READ_BACK_S, deadline)
    check = shows or (lambda t, v: v is not None and v.default_eni == expected[t])
    waiting = list(expected)
    attempt, views = 0, {}
    while True:
        attempt += 1
        try:
            views = describe_route_tables(ec2, waiting, deadline=deadline)
        except AwsError as err:
            if err.code != "Deadline" or attempt == 1:
                raise
            late = True    # the run's time ran out between two reads: it never showed (the last read says what)
        else:
            late = False
            waiting = [t for t in waiting if not check(t, views.get(t))]
            if not waiting:
                return
        delay = READ_BACK_POLICY.delay(attempt)
        if late or time.monotonic() + delay > give_up:
            table = waiting[0]
            after = views.get(table)
            raise AwsError(op, "VerifyFailed", f"read back {after.default_target if after else None}, expected "
                                               f"{expected[table]} (route table {table}, {attempt} reads in "
                                               f"{time.monotonic() - started:.1f}s)")
        sleep(delay)
