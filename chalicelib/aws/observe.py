"""What the reconciler observes (adapter): the zone records with their versions and route-write claims,
the targets-down memory, the NATs' gray records (``GrayView``: DEGRADED or not, how full), the NAT
instances' states and the private route tables, read in ONE batch
(``read_sweep``: one entry into the retry layer, the calls issued at once, every answer parsed here
once: records, tags, default routes). The same reads one kind at a time: ``load_snapshot``,
``describe_instance_states``, ``describe_route_tables``.

Records are plain data here: a zone record's ``body`` is the controller's zone state as JSON data, mapped
to and from the engine's ``ZoneState`` by ``chalicelib.service.reconcile``. (``deadline``, here and in
every adapter: a ``time.monotonic()`` instant no call starts or retries after.)
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from ..errors import AwsError
from ..naming import STACK_TAG
from .calls import Call, aws_calls, paginate, raise_first
from .state_table import CONTROL_PK, CONTROL_SK, GRAY_PK, ZONE_PK

log = logging.getLogger("hanat.aws")

DEFAULT_ROUTE = "0.0.0.0/0"
PINNED_TAG = "hanat:pinned"
# "The specified route table does not exist": one unknown id fails a whole DescribeRouteTables call
# (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
TABLE_NOT_FOUND = "InvalidRouteTableID.NotFound"
GONE = "terminated"  # an instance EC2 no longer lists is as good as terminated
# DescribeInstanceStatus refuses the whole call when one id is unknown (or not an id at all).
UNKNOWN_ID_CODES = ("InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed")
# The target fields of an EC2 Route, in the order ``route_target`` reads them (EC2 API Reference, Route).
TARGET_FIELDS = ("NatGatewayId", "NetworkInterfaceId", "InstanceId", "GatewayId", "TransitGatewayId",
                 "VpcPeeringConnectionId", "LocalGatewayId", "CarrierGatewayId", "CoreNetworkArn",
                 "EgressOnlyInternetGatewayId", "VpcEndpointId")


# --- zone records -------------------------------------------------------------------------------
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


def _key(pk: str, sk: str) -> dict:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _record_calls(ddb, table: str) -> list[Call]:
    return [Call(f"dynamodb.Query {table}", ddb.query,
                 {"TableName": table, "ConsistentRead": True, "KeyConditionExpression": "pk = :pk",
                  "ExpressionAttributeValues": {":pk": {"S": ZONE_PK}}}),
            Call(f"dynamodb.GetItem {table}", ddb.get_item,
                 {"TableName": table, "ConsistentRead": True, "Key": _key(CONTROL_PK, CONTROL_SK)})]


def _snapshot(items: dict, control_answer: dict, azs, now: float) -> Snapshot:
    stored: dict[str, ZoneRecord] = {}
    for item in items.get("Items", []):
        az = item["sk"]["S"]
        stored[az] = ZoneRecord(az=az, body=json.loads(item["state"]["S"]), version=int(item["version"]["N"]),
                                pending_owner=item.get("pending_owner", {}).get("S", ""),
                                pending_until=float(item.get("pending_until", {}).get("N", 0)))
    control = control_answer.get("Item")
    return Snapshot(zones={az: stored.get(az, ZoneRecord(az=az, exists=False)) for az in azs}, read_at=now,
                    critical_active=bool(control and control["critical_active"]["BOOL"]),
                    control_version=int(control["version"]["N"]) if control else 0,
                    control_exists=control is not None)


def load_snapshot(ddb, table: str, azs: list[str] | tuple[str, ...], now: float, *,
                  deadline: float | None = None) -> Snapshot:
    """Read every zone record and the control record (at once); a missing zone is a fresh UNKNOWN state."""
    out = aws_calls(_record_calls(ddb, table), deadline=deadline)
    raise_first(out)
    return _snapshot(out[0], out[1], azs, now)


# --- route tables -------------------------------------------------------------------------------
def route_target(route: dict) -> str | None:
    """The id a route sends traffic to (nat-..., eni-..., igw-..., pcx-..., tgw-..., vgw-...), None if none.
    A NAT instance's route names both the instance and its ENI: the ENI is what it is."""
    return next((route[k] for k in TARGET_FIELDS if route.get(k)), None)


def guard_problem(route_table_id: str, tags: dict[str, str], stack: str) -> str | None:
    """Why hanat must not write this table for ``stack`` (None: it may): not the stack's, or pinned."""
    if tags.get(STACK_TAG) != stack:
        return f"route table {route_table_id} does not carry {STACK_TAG}={stack}"
    if tags.get(PINNED_TAG, "").lower() == "true":
        return f"route table {route_table_id} is pinned ({PINNED_TAG}=true)"
    return None


@dataclass(frozen=True)
class RouteTableView:
    """A route table as the controller reads it; plain fields, set once when it is read."""

    route_table_id: str
    tags: dict[str, str]
    default_eni: str | None        # the ENI 0.0.0.0/0 points at (None: absent or not an ENI)
    default_instance: str | None
    default_target: str | None = None   # whatever 0.0.0.0/0 points at (None: no default route)
    default_state: str = ""             # "active" | "blackhole" ("" when no default route)
    subnet_ids: tuple[str, ...] = ()    # the subnets explicitly associated with it
    main: bool = False                  # the VPC's main table (it also serves every unassociated subnet)
    # A 0.0.0.0/0 route exists, whatever its target (ENI, NAT gateway, IGW, blackhole): it is replaced,
    # never created again.
    has_default: bool = False
    # Why hanat must not write it (``guard_problem``) for the stack it was read for (None: it may, or
    # it was read for no stack).
    problem: str | None = None

    def guard_problem(self, stack: str) -> str | None:
        """Why hanat must not write this table (None: it may)."""
        return guard_problem(self.route_table_id, self.tags, stack)


def _view(table: dict, stack: str | None) -> RouteTableView:
    default = next((r for r in table.get("Routes", []) if r.get("DestinationCidrBlock") == DEFAULT_ROUTE), {})
    tags = {t["Key"]: t["Value"] for t in table.get("Tags") or []}
    rtb = table["RouteTableId"]
    return RouteTableView(route_table_id=rtb, tags=tags,
                          default_eni=default.get("NetworkInterfaceId"),
                          default_instance=default.get("InstanceId"),
                          default_target=route_target(default) if default else None,
                          default_state=default.get("State", "active") if default else "",
                          subnet_ids=tuple(a["SubnetId"] for a in table.get("Associations", []) if a.get("SubnetId")),
                          main=any(a.get("Main") for a in table.get("Associations", [])),
                          has_default=bool(default) and route_target(default) is not None,
                          problem=guard_problem(rtb, tags, stack) if stack is not None else None)


def _tables_call(ec2, ids) -> Call:
    return Call("ec2.DescribeRouteTables", ec2.describe_route_tables, {"RouteTableIds": list(ids)})


def _tables(ec2, ids, answer, stack: str | None, deadline: float | None) -> dict[str, RouteTableView]:
    """The views of a DescribeRouteTables answer. One unknown id (a table deleted by hand, a topology
    older than the VPC) must not blind every zone: when EC2 refused the batch for an unknown id, the
    same tables are read with a ``route-table-id`` filter (which skips ids that do not exist) and the
    missing ids are logged; they are absent from the answer."""
    if isinstance(answer, AwsError):
        if answer.code != TABLE_NOT_FOUND:
            raise answer
        tables = paginate("ec2.DescribeRouteTables (by filter)", ec2, "describe_route_tables", "RouteTables",
                          Filters=[{"Name": "route-table-id", "Values": list(ids)}], deadline=deadline)
        missing = sorted(set(ids) - {t["RouteTableId"] for t in tables})
        log.warning("[WARN] route table(s) %s not found (deleted, or the topology is out of date); "
                    "read the others", ", ".join(missing))
    else:
        tables = answer.get("RouteTables", [])
    return {t["RouteTableId"]: _view(t, stack) for t in tables}


def describe_route_tables(ec2, route_table_ids: list[str] | tuple[str, ...], *, stack: str | None = None,
                          deadline: float | None = None) -> dict[str, RouteTableView]:
    """Every listed table that exists, with its tags and default-route target (one call; see ``_tables``
    for unknown ids). ``stack``: fill each view's ``problem`` for it."""
    if not route_table_ids:
        return {}
    (answer,) = aws_calls([_tables_call(ec2, route_table_ids)], deadline=deadline)
    return _tables(ec2, route_table_ids, answer, stack, deadline)


# --- instance states ----------------------------------------------------------------------------
def _status_call(ec2, ids) -> Call:
    # With InstanceIds (at most 100) the answer is one page: MaxResults "cannot" be given with them
    # (EC2 API Reference, DescribeInstanceStatus); a NextToken is still followed.
    return Call("ec2.DescribeInstanceStatus", ec2.describe_instance_status,
                {"InstanceIds": list(ids), "IncludeAllInstances": True})


def _instance_states(ec2, ids, answer, deadline: float | None) -> dict[str, str]:
    """instance id -> state name; ids EC2 does not know map to ``terminated``. When EC2 refused an id,
    one DescribeInstances filtered by id instead, which lists what still exists and skips the rest."""
    states = {i: GONE for i in ids}
    if isinstance(answer, AwsError):
        if answer.code not in UNKNOWN_ID_CODES:
            raise answer
        reservations = paginate("ec2.DescribeInstances", ec2, "describe_instances", "Reservations",
                                Filters=[{"Name": "instance-id", "Values": list(ids)}], deadline=deadline)
        states.update({i["InstanceId"]: i["State"]["Name"] for r in reservations for i in r.get("Instances", [])})
        return states
    statuses = answer.get("InstanceStatuses", [])
    if answer.get("NextToken"):
        statuses = paginate("ec2.DescribeInstanceStatus", ec2, "describe_instance_status", "InstanceStatuses",
                            InstanceIds=list(ids), IncludeAllInstances=True, deadline=deadline)
    states.update({s["InstanceId"]: s["InstanceState"]["Name"] for s in statuses})
    return states


def describe_instance_states(ec2, instance_ids: list[str] | tuple[str, ...], *,
                             deadline: float | None = None) -> dict[str, str]:
    """instance id -> state name (running, stopped, ...); ids EC2 does not know map to ``terminated``.
    One DescribeInstanceStatus call (state only: a fraction of DescribeInstances' payload)."""
    ids = [i for i in instance_ids if i]
    if not ids:
        return {}
    (answer,) = aws_calls([_status_call(ec2, ids)], deadline=deadline)
    return _instance_states(ec2, ids, answer, deadline)


# --- one sweep's look -----------------------------------------------------------------------------
@dataclass(frozen=True)
class GrayView:
    """A NAT's gray record (``aws.gray_records``, written by the gray-failure pass) as the failover reads it:
    why it is DEGRADED ("": it is not) and its latest reading's conntrack or busiest-destination port use,
    whichever is higher (None: neither known)."""

    degraded: str = ""
    use_percent: float | None = None


def _gray_view(body: dict) -> GrayView:
    reading = body.get("reading") or {}
    uses = [u for u in (reading.get("conntrack_percent"), reading.get("busiest_port_percent")) if u is not None]
    return GrayView(degraded=(body.get("reason") or "DEGRADED") if body.get("status") == "DEGRADED" else "",
                    use_percent=max(uses) if uses else None)


@dataclass(frozen=True)
class Observed:
    """One batched look: the zone records, the NATs' states, the route tables that exist (their
    ``problem`` filled for the stack) and the listed ones that do not."""

    snapshot: Snapshot
    instance_states: dict[str, str]
    tables: dict[str, RouteTableView]
    missing_tables: tuple[str, ...] = ()
    gray: dict[str, GrayView] = field(default_factory=dict)   # az -> its NAT's gray record (those that have one)


def _gray_call(ddb, table: str) -> Call:
    return Call(f"dynamodb.Query {table} gray", ddb.query,
                {"TableName": table, "ConsistentRead": True, "KeyConditionExpression": "pk = :pk",
                 "ExpressionAttributeValues": {":pk": {"S": GRAY_PK}}})


def gray_views(answer) -> dict[str, GrayView]:
    """The gray records' bodies; none when they could not be read (the failover then ignores gray health:
    the records only rank the targets, the sweep must not fail for them)."""
    if isinstance(answer, AwsError):
        log.warning("[WARN] gray records not read (%s): failover targets ranked without them", answer)
        return {}
    return {item["sk"]["S"]: _gray_view(json.loads(item["data"]["S"])) for item in answer.get("Items", [])}


def read_sweep(ddb, ec2, table: str, azs: list[str] | tuple[str, ...], instance_ids: list[str] | tuple[str, ...],
               route_table_ids: list[str] | tuple[str, ...], *, stack: str, now: float,
               deadline: float | None = None) -> Observed:
    """The zone records, the control record, the NATs' gray records, the NATs' states and the route tables in
    one batch (the five calls at once: the time is the slowest, not the sum)."""
    ids = [i for i in instance_ids if i]
    calls = [*_record_calls(ddb, table), _gray_call(ddb, table)]
    if ids:
        calls.append(_status_call(ec2, ids))
    if route_table_ids:
        calls.append(_tables_call(ec2, route_table_ids))
    out = aws_calls(calls, deadline=deadline)
    for outcome in out[:2]:
        if isinstance(outcome, AwsError):
            raise outcome
    snapshot = _snapshot(out[0], out[1], azs, now)
    rest = iter(out[3:])
    states = _instance_states(ec2, ids, next(rest), deadline) if ids else {}
    tables = _tables(ec2, route_table_ids, next(rest), stack, deadline) if route_table_ids else {}
    return Observed(snapshot=snapshot, instance_states=states, tables=tables,
                    missing_tables=tuple(t for t in route_table_ids if t not in tables), gray=gray_views(out[2]))
