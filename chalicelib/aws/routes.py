"""Moving default routes at run time (adapter): read the default routes, move one safely (tag-checked,
verified), and re-pin a zone's probe route to its (new) NAT. Building the tables is ``route_tables``."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import AwsError, HanatError, NotFoundError
from ..naming import STACK_TAG
from .calls import RetryPolicy, aws_call, paginate
from .tags import tag_map

log = logging.getLogger("hanat.aws")

DEFAULT_ROUTE = "0.0.0.0/0"
PINNED_TAG = "hanat:pinned"
# "The specified route table does not exist": one unknown id fails a whole DescribeRouteTables call
# (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
TABLE_NOT_FOUND = "InvalidRouteTableID.NotFound"
# EC2 reads are eventually consistent: a ReplaceRoute may not show in the next DescribeRouteTables at once
# (https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html): read back for this long.
READ_BACK_S = 10.0
READ_BACK_POLICY = RetryPolicy(within_s=READ_BACK_S, base_delay_s=0.1, max_delay_s=2.0)


# The target fields of an EC2 Route, in the order ``route_target`` reads them (EC2 API Reference, Route).
TARGET_FIELDS = ("NatGatewayId", "NetworkInterfaceId", "InstanceId", "GatewayId", "TransitGatewayId",
                 "VpcPeeringConnectionId", "LocalGatewayId", "CarrierGatewayId", "CoreNetworkArn",
                 "EgressOnlyInternetGatewayId", "VpcEndpointId")


def route_target(route: dict) -> str | None:
    """The id a route sends traffic to (nat-..., eni-..., igw-..., pcx-..., tgw-..., vgw-...), None if none.
    A NAT instance's route names both the instance and its ENI: the ENI is what it is."""
    return next((route[k] for k in TARGET_FIELDS if route.get(k)), None)


@dataclass(frozen=True)
class RouteTableView:
    route_table_id: str
    tags: dict[str, str]
    default_eni: str | None        # the ENI 0.0.0.0/0 points at (None: absent or not an ENI)
    default_instance: str | None
    default_target: str | None = None   # whatever 0.0.0.0/0 points at (None: no default route)
    default_state: str = ""             # "active" | "blackhole" ("" when no default route)
    subnet_ids: tuple[str, ...] = ()    # the subnets explicitly associated with it
    main: bool = False                  # the VPC's main table (it also serves every unassociated subnet)

    @property
    def has_default(self) -> bool:
        """A 0.0.0.0/0 route exists, whatever its target (ENI, NAT gateway, IGW, blackhole): it is
        replaced, never created again."""
        return self.default_target is not None

    def guard_problem(self, stack: str) -> str | None:
        """Why hanat must not write this table (None: it may)."""
        if self.tags.get(STACK_TAG) != stack:
            return f"route table {self.route_table_id} does not carry {STACK_TAG}={stack}"
        if self.tags.get(PINNED_TAG, "").lower() == "true":
            return f"route table {self.route_table_id} is pinned ({PINNED_TAG}=true)"
        return None


def _view(table: dict) -> RouteTableView:
    default = next((r for r in table.get("Routes", []) if r.get("DestinationCidrBlock") == DEFAULT_ROUTE), {})
    return RouteTableView(route_table_id=table["RouteTableId"],
                          tags=tag_map(table),
                          default_eni=default.get("NetworkInterfaceId"),
                          default_instance=default.get("InstanceId"),
                          default_target=route_target(default) if default else None,
                          default_state=default.get("State", "active") if default else "",
                          subnet_ids=tuple(a["SubnetId"] for a in table.get("Associations", []) if a.get("SubnetId")),
                          main=any(a.get("Main") for a in table.get("Associations", [])))


def describe_route_tables(ec2, route_table_ids: list[str] | tuple[str, ...], *,
                          deadline: float | None = None) -> dict[str, RouteTableView]:
    """Every listed table that exists, with its tags and default-route target (one call).

    One unknown id (a table deleted by hand, a topology older than the VPC) must not blind every zone:
    when EC2 refuses the batch for an unknown id, the same tables are read with a ``route-table-id``
    filter (which skips ids that do not exist) and the missing ids are logged; they are absent from
    the answer."""
    if not route_table_ids:
        return {}
    try:
        out = aws_call("ec2.DescribeRouteTables", ec2.describe_route_tables, RouteTableIds=list(route_table_ids),
                       deadline=deadline)
        tables = out.get("RouteTables", [])
    except AwsError as err:
        if err.code != TABLE_NOT_FOUND:
            raise
        tables = paginate("ec2.DescribeRouteTables (by filter)", ec2, "describe_route_tables", "RouteTables",
                          Filters=[{"Name": "route-table-id", "Values": list(route_table_ids)}], deadline=deadline)
        missing = sorted(set(route_table_ids) - {t["RouteTableId"] for t in tables})
        log.warning("[WARN] route table(s) %s not found (deleted, or the topology is out of date); "
                    "read the others", ", ".join(missing))
    return {t["RouteTableId"]: _view(t) for t in tables}


def point_default_route(ec2, route_table_id: str, eni_id: str, *, stack: str, deadline: float | None = None,
                        sleep: Callable[[float], None] = time.sleep) -> bool:
    """Make ``0.0.0.0/0`` of ``route_table_id`` point at ``eni_id``; True when it changed.

    Refuses (HanatError) a table that is not this stack's or is pinned. An existing default route is
    replaced whatever its target (a NAT gateway, an internet gateway, a blackhole, an instance):
    CreateRoute would fail with RouteAlreadyExists. Reads back to verify, riding out EC2's eventual
    consistency for up to READ_BACK_S (and never past ``deadline``, a ``time.monotonic()`` instant).
    """
    view = describe_route_tables(ec2, [route_table_id], deadline=deadline).get(route_table_id)
    if view is None:
        raise AwsError("ec2.DescribeRouteTables", "NotFound", f"route table {route_table_id} not found")
    problem = view.guard_problem(stack)
    if problem:
        raise HanatError(f"refusing to change {route_table_id}: {problem}")
    if view.default_eni == eni_id:
        return False
    target = {"RouteTableId": route_table_id, "DestinationCidrBlock": DEFAULT_ROUTE, "NetworkInterfaceId": eni_id}
    op = f"ec2.ReplaceRoute {route_table_id} -> {eni_id}"
    # ReplaceRoute "replaces an existing route" of any target (a NAT gateway of an adopted table too);
    # only a table with no default route at all needs CreateRoute (EC2 API Reference, ReplaceRoute).
    if view.has_default:
        aws_call(op, ec2.replace_route, deadline=deadline, **target)
    else:
        try:
            aws_call(f"ec2.CreateRoute {route_table_id} -> {eni_id}", ec2.create_route, deadline=deadline, **target)
        except AwsError as err:
            if err.code != "RouteAlreadyExists":   # created meanwhile: replace it
                raise
            aws_call(op, ec2.replace_route, deadline=deadline, **target)
    read_back(ec2, route_table_id, eni_id, op, shows=lambda v: v is not None and v.default_eni == eni_id,
              deadline=deadline, sleep=sleep)
    return True


def read_back(ec2, route_table_id: str, expected: str | None, op: str, *,
              shows: Callable[[RouteTableView | None], bool], deadline: float | None = None,
              sleep: Callable[[float], None] = time.sleep) -> None:
    """After a write: read the table until ``shows(view)`` (the view is None when the table is not found),
    riding out EC2's eventual consistency (READ_BACK_POLICY's delays) for up to READ_BACK_S and never past
    ``deadline``; then AwsError ``VerifyFailed`` from ``op`` naming the table and ``expected``."""
    started = time.monotonic()
    give_up = started + READ_BACK_S if deadline is None else min(started + READ_BACK_S, deadline)
    attempt = 0
    while True:
        attempt += 1
        after = describe_route_tables(ec2, [route_table_id], deadline=deadline).get(route_table_id)
        if shows(after):
            return
        delay = READ_BACK_POLICY.delay(attempt)
        if time.monotonic() + delay > give_up:
            raise AwsError(op, "VerifyFailed", f"read back {after.default_target if after else None}, expected "
                                               f"{expected} (route table {route_table_id}, {attempt} reads in "
                                               f"{time.monotonic() - started:.1f}s)")
        sleep(delay)


# --- the pinned probe route -----------------------------------------------------------------
def _route_table(ec2, route_table_id: str, deadline: float | None = None) -> dict:
    resp = aws_call(f"ec2.DescribeRouteTables {route_table_id}", ec2.describe_route_tables,
                    RouteTableIds=[route_table_id], deadline=deadline)
    tables = resp.get("RouteTables", [])
    if not tables:
        raise NotFoundError(f"route table {route_table_id} not found")
    return tables[0]


def repin_probe_route(ec2, route_table_id: str, eni_id: str, stack: str, *, deadline: float | None = None,
                      sleep: Callable[[float], None] = time.sleep) -> None:
    """Point the zone's pinned probe route at ``eni_id``; only a table of this stack tagged
    ``hanat:pinned=true`` (the probe table), verified by reading back (``read_back``: EC2's reads lag its
    writes; never past ``deadline``)."""
    table = _route_table(ec2, route_table_id, deadline)
    tags = tag_map(table)
    if tags.get(STACK_TAG) != stack or tags.get(PINNED_TAG, "").lower() != "true":
        raise NotFoundError(f"route table {route_table_id} is not a pinned probe table of stack {stack!r} "
                            f"({STACK_TAG}={tags.get(STACK_TAG)!r}, {PINNED_TAG}={tags.get(PINNED_TAG)!r}); "
                            "not changed")
    has_default = any(r.get("DestinationCidrBlock") == DEFAULT_ROUTE for r in table.get("Routes", []))
    op = f"ec2.{'ReplaceRoute' if has_default else 'CreateRoute'} {route_table_id} -> {eni_id}"
    aws_call(op, ec2.replace_route if has_default else ec2.create_route, RouteTableId=route_table_id,
             DestinationCidrBlock=DEFAULT_ROUTE, NetworkInterfaceId=eni_id, deadline=deadline)
    read_back(ec2, route_table_id, eni_id, op, shows=lambda v: v is not None and v.default_eni == eni_id,
              deadline=deadline, sleep=sleep)
