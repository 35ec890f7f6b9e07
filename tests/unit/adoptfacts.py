"""A small adopted VPC as plain ``VpcFacts`` (what DescribeVpcs/Subnets/RouteTables/NatGateways return),
for the pure adoption rules: two zones, a public subnet each behind one public table, an app subnet
each behind its own table (0.0.0.0/0 -> the zone's NAT gateway, a peer network via a peering
connection), database subnets of both zones behind one table without a default route."""
from __future__ import annotations

import copy

from bootstrap.adopt.facts import VpcFacts
from bootstrap.config.validate import build_config

REGION = "eu-west-1"
VPC = "vpc-0a0a0a0a"
IGW = "igw-0b0b0b0b"
PCX = "pcx-0c0c0c0c"
NAT = {"a": "nat-0000000a", "b": "nat-0000000b"}
PUBLIC = {"a": "subnet-0000001a", "b": "subnet-0000001b"}
APP = {"a": "subnet-0000002a", "b": "subnet-0000002b"}
DB = {"a": "subnet-0000003a", "b": "subnet-0000003b"}
RT_MAIN, RT_PUBLIC, RT_DB = "rtb-00000000", "rtb-0000000f", "rtb-000000db"
RT_APP = {"a": "rtb-0000002a", "b": "rtb-0000002b"}
AZ = {"a": "eu-west-1a", "b": "eu-west-1b"}


def _tags(name: str, **extra: str) -> list[dict]:
    return [{"Key": "Name", "Value": name}, *({"Key": k, "Value": v} for k, v in extra.items())]


def route(cidr: str, **target: str) -> dict:
    return {"DestinationCidrBlock": cidr, "State": "active", "Origin": "CreateRoute", **target}


def table(table_id: str, routes: list[dict], subnets: list[str] = (), *, main: bool = False, name: str = "",
          vpc: str = VPC, tags: list[dict] | None = None) -> dict:
    associations = [{"SubnetId": s, "RouteTableAssociationId": f"rtbassoc-{s[-8:]}", "Main": False} for s in subnets]
    if main:
        associations.append({"Main": True, "RouteTableAssociationId": "rtbassoc-main0000"})
    local = {"DestinationCidrBlock": "10.42.0.0/16", "GatewayId": "local", "State": "active",
             "Origin": "CreateRouteTable"}
    return {"RouteTableId": table_id, "VpcId": vpc, "Routes": [local, *routes], "Associations": associations,
            "Tags": tags if tags is not None else _tags(name or table_id)}


def subnet(subnet_id: str, cidr: str, az: str, vpc: str = VPC, tags: list[dict] | None = None) -> dict:
    return {"SubnetId": subnet_id, "CidrBlock": cidr, "AvailabilityZone": az, "VpcId": vpc,
            "Tags": tags if tags is not None else _tags(subnet_id)}


def base_facts() -> VpcFacts:
    subnets = {}
    for i, z in enumerate("ab"):
        subnets[PUBLIC[z]] = subnet(PUBLIC[z], f"10.42.{i}.0/24", AZ[z])
        subnets[APP[z]] = subnet(APP[z], f"10.42.{16 * (i + 1)}.0/22", AZ[z])
        subnets[DB[z]] = subnet(DB[z], f"10.42.{100 + i}.0/24", AZ[z])
    tables = {
        RT_MAIN: table(RT_MAIN, [], main=True, name="main"),
        RT_PUBLIC: table(RT_PUBLIC, [route("0.0.0.0/0", GatewayId=IGW)], [PUBLIC["a"], PUBLIC["b"]], name="public"),
        RT_DB: table(RT_DB, [route("10.99.0.0/16", VpcPeeringConnectionId=PCX)], [DB["a"], DB["b"]], name="database"),
    }
    for z in "ab":
        tables[RT_APP[z]] = table(RT_APP[z], [route("0.0.0.0/0", NatGatewayId=NAT[z]),
                                              route("10.99.0.0/16", VpcPeeringConnectionId=PCX)], [APP[z]],
                                  name=f"app-{AZ[z]}")
    nats = {NAT[z]: {"NatGatewayId": NAT[z], "SubnetId": PUBLIC[z], "VpcId": VPC, "State": "available"} for z in "ab"}
    return VpcFacts(vpc_id=VPC, region=REGION, vpc={"VpcId": VPC, "CidrBlock": "10.42.0.0/16", "Tags": _tags("payments")},
                    cidr_blocks=("10.42.0.0/16",), subnets=subnets, route_tables=tables, internet_gateways=(IGW,),
                    nat_gateways=nats)


def with_default(facts: VpcFacts, table_id: str, **target: str) -> VpcFacts:
    """A copy whose table ``table_id`` sends 0.0.0.0/0 to ``target`` (no target: no default route)."""
    tables = copy.deepcopy(facts.route_tables)
    routes = [r for r in tables[table_id]["Routes"] if r.get("DestinationCidrBlock") != "0.0.0.0/0"]
    if target:
        state = target.pop("State", "active")
        routes.append({**route("0.0.0.0/0", **target), "State": state})
    tables[table_id]["Routes"] = routes
    return VpcFacts(**{**facts.__dict__, "route_tables": tables})


RAW = {
    "stack": {"name": "payments", "region": REGION, "vpc_id": VPC},
    "zones": [{"az": AZ[z], "public_subnet_id": PUBLIC[z], "private_route_table_ids": [RT_APP[z]]} for z in "ab"],
    "probe": {"targets": ["tcp://203.0.113.10:443"]},
}


def config(raw: dict | None = None):
    return build_config(raw or RAW, source="adopt.toml")
