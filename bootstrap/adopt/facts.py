"""What an existing VPC holds, read once (reads only): the facts adoption is checked against and
``hanat adopt`` discovers zones from. ``VpcFacts`` is plain data, so the rules over it are pure."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from chalicelib.aws import adopted_vpc as api
from chalicelib.aws.observe import DEFAULT_ROUTE, route_target


@dataclass(frozen=True)
class VpcFacts:
    vpc_id: str
    region: str
    vpc: dict | None                       # None: no such VPC in the region
    cidr_blocks: tuple[str, ...] = ()      # primary first
    dns_support: bool = True
    subnets: dict[str, dict] = field(default_factory=dict)       # id -> subnet (the VPC's and any listed)
    route_tables: dict[str, dict] = field(default_factory=dict)  # id -> table (the VPC's and any listed)
    internet_gateways: tuple[str, ...] = ()                      # attached to the VPC
    nat_gateways: dict[str, dict] = field(default_factory=dict)  # id -> NAT gateway of the VPC (any state)

    @property
    def exists(self) -> bool:
        return self.vpc is not None

    @property
    def main_route_table_id(self) -> str:
        return next((t["RouteTableId"] for t in self.vpc_tables()
                     if any(a.get("Main") for a in t.get("Associations", []))), "")

    def vpc_tables(self) -> list[dict]:
        return sorted((t for t in self.route_tables.values() if t.get("VpcId") == self.vpc_id),
                      key=lambda t: t["RouteTableId"])

    def vpc_subnets(self) -> list[dict]:
        return sorted((s for s in self.subnets.values() if s.get("VpcId") == self.vpc_id),
                      key=lambda s: s["SubnetId"])

    def route_table_of(self, subnet_id: str) -> dict | None:
        """The table a subnet uses: its explicit association, else the VPC's main table."""
        for table in self.vpc_tables():
            if any(a.get("SubnetId") == subnet_id for a in table.get("Associations", [])):
                return table
        return self.route_tables.get(self.main_route_table_id)

    def subnets_of(self, table_id: str) -> list[dict]:
        """The VPC's subnets that use ``table_id`` (explicitly, or implicitly when it is the main table)."""
        return [s for s in self.vpc_subnets() if (self.route_table_of(s["SubnetId"]) or {}).get("RouteTableId")
                == table_id]


def default_route(table: dict | None) -> dict | None:
    return next((r for r in (table or {}).get("Routes", []) if r.get("DestinationCidrBlock") == DEFAULT_ROUTE),
                None)


def default_target(table: dict | None) -> str:
    """What the table's 0.0.0.0/0 points at ("" when it has none)."""
    route = default_route(table)
    return (route_target(route) or "") if route else ""


def read_vpc_facts(ec2, vpc_id: str, region: str, *, subnet_ids: Iterable[str] = (),
                   route_table_ids: Iterable[str] = ()) -> VpcFacts:
    """Everything adoption looks at, plus the listed subnets and tables wherever they are (so a wrong id
    can be told apart from one in another VPC)."""
    vpc = api.describe_vpc(ec2, vpc_id)
    listed_subnets = api.subnets_by_id(ec2, list(subnet_ids))
    listed_tables = api.route_tables_by_id(ec2, list(route_table_ids))
    if vpc is None:
        return VpcFacts(vpc_id=vpc_id, region=region, vpc=None, subnets=listed_subnets, route_tables=listed_tables)
    subnets = {s["SubnetId"]: s for s in api.vpc_subnets(ec2, vpc_id)}
    tables = {t["RouteTableId"]: t for t in api.vpc_route_tables(ec2, vpc_id)}
    return VpcFacts(
        vpc_id=vpc_id, region=region, vpc=vpc, cidr_blocks=api.vpc_cidr_blocks(vpc),
        dns_support=api.vpc_dns_support(ec2, vpc_id),
        subnets={**listed_subnets, **subnets}, route_tables={**listed_tables, **tables},
        internet_gateways=tuple(sorted(g["InternetGatewayId"] for g in api.vpc_internet_gateways(ec2, vpc_id))),
        nat_gateways={g["NatGatewayId"]: g for g in api.vpc_nat_gateways(ec2, vpc_id)},
    )
