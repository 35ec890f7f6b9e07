"""Every adoption rule of issue 11 through `hanat up` against moto: a bad config exits 2, names the key and
the table (or subnet, VPC, CIDR), and nothing is created or changed (no tagged resource, no tag on any
of the VPC's tables, no parameter, role or table)."""
from __future__ import annotations

import copy
import json

import boto3
import pytest
from moto import mock_aws

from controller.cli import main
from lab.aws.foreignvpc import build_foreign_vpc, routes_of
from tests.support.stack import REGION

AZS = ("ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d")
STACK = "payments"
MISSING = {"vpc": "vpc-0123456789abcdef0", "subnet": "subnet-0123456789abcdef0", "rtb": "rtb-0123456789abcdef0"}


def raw_config(foreign) -> dict:
    return {"stack": {"name": STACK, "region": REGION, "vpc_id": foreign.vpc_id},
            "zones": [{"az": z.az, "public_subnet_id": z.public_subnet_id,
                       "private_route_table_ids": list(z.private_route_table_ids)} for z in foreign.zones],
            "probe": {"targets": ["tcp://203.0.113.10:443"]}}


def to_toml(raw: dict) -> str:
    def value(v):
        return json.dumps(v)   # strings and lists of strings: TOML and JSON agree
    lines = []
    for section in ("stack", "probe"):
        lines += [f"[{section}]", *(f"{k} = {value(v)}" for k, v in raw[section].items()), ""]
    for zone in raw["zones"]:
        lines += ["[[zones]]", *(f"{k} = {value(v)}" for k, v in zone.items()), ""]
    return "\n".join(lines)


def set_default_route(ec2, table_id: str, **target) -> None:
    ec2.replace_route(RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0", **target)


# --- the cases: (id, change the account, change the config, the problem as reported) ------------------
def _zone0(raw, key, value):
    raw["zones"][0][key] = value


def peer_subnet(ec2, f):
    return ec2.create_subnet(VpcId=f.peer_vpc_id, CidrBlock="10.99.1.0/24", AvailabilityZone=AZS[0])["Subnet"]["SubnetId"]


def peer_table(ec2, f):
    return ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [f.peer_vpc_id]}])["RouteTables"][0][
        "RouteTableId"]


def transit_gateway(ec2, f):
    tgw = ec2.create_transit_gateway(Description="hub")["TransitGateway"]["TransitGatewayId"]
    set_default_route(ec2, f.zones[0].private_route_table_ids[0], TransitGatewayId=tgw)
    return tgw


def vpn_gateway(ec2, f):
    vgw = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
    ec2.attach_vpn_gateway(VpcId=f.vpc_id, VpnGatewayId=vgw)
    set_default_route(ec2, f.zones[0].private_route_table_ids[0], GatewayId=vgw)
    return vgw


CASES = [
    ("vpc-missing", None, lambda raw, f, x: raw["stack"].update(vpc_id=MISSING["vpc"]),
     lambda f, x: f"stack.vpc_id {MISSING['vpc']} does not exist in region {REGION}"),
    ("dns-support-off", lambda ec2, f: ec2.modify_vpc_attribute(VpcId=f.vpc_id, EnableDnsSupport={"Value": False}),
     None, lambda f, x: f"stack.vpc_id {f.vpc_id} has enableDnsSupport off"),
    ("public-subnet-missing", None, lambda raw, f, x: _zone0(raw, "public_subnet_id", MISSING["subnet"]),
     lambda f, x: f"zones[0].public_subnet_id {MISSING['subnet']} does not exist in region {REGION}"),
    ("public-subnet-of-another-vpc", peer_subnet, lambda raw, f, x: _zone0(raw, "public_subnet_id", x),
     lambda f, x: f"zones[0].public_subnet_id {x} is in {f.peer_vpc_id}, not stack.vpc_id {f.vpc_id}"),
    ("public-subnet-of-another-az", None,
     lambda raw, f, x: _zone0(raw, "public_subnet_id", f.zones[1].private_subnet_ids[0]),
     lambda f, x: f"zones[0].public_subnet_id {f.zones[1].private_subnet_ids[0]} is in {AZS[1]}, not the zone's az "
                  f"{AZS[0]}"),
    ("public-subnet-without-internet-gateway", None,
     lambda raw, f, x: _zone0(raw, "public_subnet_id", f.zones[0].private_subnet_ids[0]),
     lambda f, x: f"zones[0].public_subnet_id {f.zones[0].private_subnet_ids[0]} is not a public subnet: its route "
                  f"table {f.zones[0].private_route_table_ids[0]} sends 0.0.0.0/0 to NAT gateway "
                  f"{f.zones[0].nat_gateway_id}"),
    ("table-missing", None, lambda raw, f, x: _zone0(raw, "private_route_table_ids", [MISSING["rtb"]]),
     lambda f, x: f"zones[0].private_route_table_ids[0] {MISSING['rtb']} does not exist in region {REGION}"),
    ("table-of-another-vpc", peer_table, lambda raw, f, x: _zone0(raw, "private_route_table_ids", [x]),
     lambda f, x: f"zones[0].private_route_table_ids[0] {x} is in {f.peer_vpc_id}, not stack.vpc_id {f.vpc_id}"),
    ("table-listed-for-two-zones", None,
     lambda raw, f, x: raw["zones"][1]["private_route_table_ids"].append(f.zones[0].private_route_table_ids[0]),
     lambda f, x: f"zones[1].private_route_table_ids[2] {f.zones[0].private_route_table_ids[0]} is listed for "
                  "zones[0].private_route_table_ids[0] too: a route table belongs to one zone only"),
    ("table-public", None, lambda raw, f, x: _zone0(raw, "private_route_table_ids", [f.public_route_table_id]),
     lambda f, x: f"zones[0].private_route_table_ids[0] {f.public_route_table_id} is the route table of "
                  "zones[0].public_subnet_id, zones[1].public_subnet_id, zones[2].public_subnet_id"),
    ("default-route-to-internet-gateway",
     lambda ec2, f: set_default_route(ec2, f.zones[0].private_route_table_ids[0], GatewayId=f.igw_id), None,
     lambda f, x: f"zones[0].private_route_table_ids[0] {f.zones[0].private_route_table_ids[0]} is a public route "
                  f"table (0.0.0.0/0 -> internet gateway {f.igw_id})"),
    ("default-route-to-transit-gateway", transit_gateway, None,
     lambda f, x: f"zones[0].private_route_table_ids[0] {f.zones[0].private_route_table_ids[0]} sends 0.0.0.0/0 to "
                  f"transit gateway {x}"),
    ("default-route-to-peering-connection",
     lambda ec2, f: set_default_route(ec2, f.zones[0].private_route_table_ids[0],
                                      VpcPeeringConnectionId=f.peering_id), None,
     lambda f, x: f"zones[0].private_route_table_ids[0] {f.zones[0].private_route_table_ids[0]} sends 0.0.0.0/0 to "
                  f"VPC peering connection {f.peering_id}"),
    ("default-route-to-virtual-private-gateway", vpn_gateway, None,
     lambda f, x: f"zones[0].private_route_table_ids[0] {f.zones[0].private_route_table_ids[0]} sends 0.0.0.0/0 to "
                  f"virtual private gateway {x}"),
    ("table-of-another-stack",
     lambda ec2, f: ec2.create_tags(Resources=[f.zones[0].private_route_table_ids[0]],
                                    Tags=[{"Key": "hanat:stack", "Value": "ledger"}]), None,
     lambda f, x: f"zones[0].private_route_table_ids[0] {f.zones[0].private_route_table_ids[0]} already belongs to "
                  "hanat stack 'ledger'"),
    ("probe-cidr-outside-the-vpc", None, lambda raw, f, x: _zone0(raw, "probe_cidr", "10.43.0.0/28"),
     lambda f, x: f"zones[0].probe_cidr 10.43.0.0/28 is outside {f.vpc_id}'s CIDR blocks 10.42.0.0/16"),
    ("probe-cidr-taken", None, lambda raw, f, x: _zone0(raw, "probe_cidr", "10.42.16.0/28"),
     lambda f, x: f"zones[0].probe_cidr 10.42.16.0/28 is not free: it overlaps subnet {f.zones[0].private_subnet_ids[0]}"
                  " 10.42.16.0/22"),
]


@pytest.mark.parametrize("change_account,change_config,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_adoption_exits_2_names_it_and_changes_nothing(aws_env, tmp_path, capsys, change_account, change_config,
                                                           expected):
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        foreign = build_foreign_vpc(ec2, AZS)
        extra = change_account(ec2, foreign) if change_account else None
        raw = copy.deepcopy(raw_config(foreign))
        if change_config:
            change_config(raw, foreign, extra)
        path = tmp_path / "hanat.toml"
        path.write_text(to_toml(raw))
        before = routes_of(ec2, foreign.vpc_id)
        with pytest.raises(SystemExit) as info:
            main(["up", "--config", str(path)])
        err = " ".join(capsys.readouterr().err.split())
        assert info.value.code == 2, err
        assert expected(foreign, extra) in err
        assert_nothing_created(ec2)
        assert routes_of(ec2, foreign.vpc_id) == before


def assert_nothing_created(ec2) -> None:
    by_stack = [{"Name": "tag:hanat:stack", "Values": [STACK]}]
    assert ec2.describe_instances(Filters=by_stack)["Reservations"] == []
    for method, key in (("describe_subnets", "Subnets"), ("describe_route_tables", "RouteTables"),
                        ("describe_security_groups", "SecurityGroups"), ("describe_addresses", "Addresses"),
                        ("describe_launch_templates", "LaunchTemplates")):
        assert getattr(ec2, method)(Filters=by_stack)[key] == [], method
    assert not any(t["Key"] == "hanat:adopted" for table in ec2.describe_route_tables()["RouteTables"]
                   for t in table.get("Tags", []))
    ssm = boto3.client("ssm", region_name=REGION)
    assert ssm.get_parameters(Names=[f"/hanat/{STACK}/topology"])["InvalidParameters"]
    assert boto3.client("dynamodb", region_name=REGION).list_tables()["TableNames"] == []
    assert boto3.client("iam", region_name=REGION).list_roles()["Roles"] == []


def test_a_vpc_with_no_free_28_left_says_so_and_suggests_a_secondary_block(aws_env, tmp_path, capsys):
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.60.0.0/24")["Vpc"]["VpcId"]
        igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        public_rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=public_rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
        zones = []
        for i, az in enumerate(AZS[:2]):       # four /26: the whole /24 is taken
            public = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.60.0.{128 * i}/26", AvailabilityZone=az)["Subnet"]
            private = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.60.0.{128 * i + 64}/26", AvailabilityZone=az)["Subnet"]
            ec2.associate_route_table(RouteTableId=public_rt, SubnetId=public["SubnetId"])
            table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
            ec2.associate_route_table(RouteTableId=table, SubnetId=private["SubnetId"])
            zones.append({"az": az, "public_subnet_id": public["SubnetId"], "private_route_table_ids": [table]})
        raw = {"stack": {"name": STACK, "region": REGION, "vpc_id": vpc}, "zones": zones,
               "probe": {"targets": ["tcp://203.0.113.10:443"]}}
        path = tmp_path / "hanat.toml"
        path.write_text(to_toml(raw))
        with pytest.raises(SystemExit) as info:
            main(["plan", "--config", str(path)])
        err = " ".join(capsys.readouterr().err.split())
        assert info.value.code == 2
        assert f"zones[0].probe_cidr: {vpc} (10.60.0.0/24) has no free /28 left for the probe subnet of {AZS[0]}: " \
               "add a secondary CIDR block to the VPC (aws ec2 associate-vpc-cidr-block)" in err
        assert_nothing_created(ec2)
