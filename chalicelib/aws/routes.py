"""Moving default routes at run time (adapter), one table at a time: move one safely (tag-checked,
verified), and re-pin a zone's probe route to its (new) NAT. The reads are ``observe``; a sweep's move
(claim, writes, read-back) is ``claims.move``; building the tables is ``route_tables``."""
from __future__ import annotations

import time
from collections.abc import Callable

from ..errors import NotFoundError
from ..naming import STACK_TAG
from .calls import aws_call
from .claims import RouteWrite, read_back, write_routes
from .observe import DEFAULT_ROUTE, PINNED_TAG, describe_route_tables
from .tags import tag_map


def point_default_route(ec2, route_table_id: str, eni_id: str, *, stack: str, deadline: float | None = None,
                        sleep: Callable[[float], None] = time.sleep) -> bool:
    """Make ``0.0.0.0/0`` of ``route_table_id`` point at ``eni_id``; True when it changed.

    Refuses (HanatError) a table that is not this stack's or is pinned. An existing default route is
    replaced whatever its target (a NAT gateway, an internet gateway, a blackhole, an instance):
    CreateRoute would fail with RouteAlreadyExists. Reads back to verify, riding out EC2's eventual
    consistency for up to READ_BACK_S (and never past ``deadline``, a ``time.monotonic()`` instant).
    """
    view = describe_route_tables(ec2, [route_table_id], stack=stack, deadline=deadline).get(route_table_id)
    return bool(write_routes(ec2, [RouteWrite(route_table_id, eni_id, view)], deadline=deadline, sleep=sleep))


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
    read_back(ec2, {route_table_id: eni_id}, op, deadline=deadline, sleep=sleep)
