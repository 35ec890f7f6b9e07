"""A VPC built by a plain boto3 script the way a VPC module (Terraform's terraform-aws-modules/vpc, CDK's
ec2.Vpc) builds one: no hanat tags anywhere. Per zone a public subnet, a NAT gateway with its Elastic
IP, two private subnets each with its own route table (0.0.0.0/0 -> the zone's NAT gateway, and a peer
network through a VPC peering connection); one public route table (0.0.0.0/0 -> the internet gateway);
one database route table for the database subnets of every zone, with no default route.

Works against in-process moto and the loopback moto server alike (it only uses the EC2 client it is
given, as a user's own script would: these are the user's resources, not hanat's, so its calls do not go
through chalicelib/aws). The integration tests build one to adopt; the lab builds one for the ``cutover``
drill (``LabSession(..., adopt=True)``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

VPC_CIDR = "10.42.0.0/16"
PEER_CIDR = "10.99.0.0/16"
MODULE_TAGS = [{"Key": "terraform", "Value": "true"}, {"Key": "Environment", "Value": "payments"}]


@dataclass
class ForeignZone:
    az: str
    public_subnet_id: str
    nat_gateway_id: str
    private_subnet_ids: list[str]
    private_route_table_ids: list[str]
    database_subnet_id: str


@dataclass
class ForeignVpc:
    vpc_id: str
    igw_id: str
    public_route_table_id: str
    database_route_table_id: str
    peering_id: str
    peer_vpc_id: str
    zones: list[ForeignZone] = field(default_factory=list)

    @property
    def private_route_table_ids(self) -> list[str]:
        return [t for z in self.zones for t in z.private_route_table_ids]

    @property
    def nat_of_table(self) -> dict[str, str]:
        return {t: z.nat_gateway_id for z in self.zones for t in z.private_route_table_ids}


def _tags(kind: str, name: str) -> list[dict]:
    return [{"ResourceType": kind, "Tags": [*MODULE_TAGS, {"Key": "Name", "Value": name}]}]


def build_foreign_vpc(ec2, azs: list[str] | tuple[str, ...], *, name: str = "payments") -> ForeignVpc:
    vpc = ec2.create_vpc(CidrBlock=VPC_CIDR, TagSpecifications=_tags("vpc", name))["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    igw = ec2.create_internet_gateway(TagSpecifications=_tags("internet-gateway", name))["InternetGateway"]
    igw_id = igw["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc)
    peer = ec2.create_vpc(CidrBlock=PEER_CIDR, TagSpecifications=_tags("vpc", "shared-services"))["Vpc"]["VpcId"]
    pcx = ec2.create_vpc_peering_connection(VpcId=vpc, PeerVpcId=peer)["VpcPeeringConnection"]
    pcx_id = pcx["VpcPeeringConnectionId"]
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx_id)

    public_rt = ec2.create_route_table(VpcId=vpc, TagSpecifications=_tags("route-table", f"{name}-public"))
    public_rt_id = public_rt["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_rt_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    database_rt = ec2.create_route_table(VpcId=vpc, TagSpecifications=_tags("route-table", f"{name}-database"))
    database_rt_id = database_rt["RouteTable"]["RouteTableId"]

    out = ForeignVpc(vpc_id=vpc, igw_id=igw_id, public_route_table_id=public_rt_id,
                     database_route_table_id=database_rt_id, peering_id=pcx_id, peer_vpc_id=peer)
    for i, az in enumerate(azs):
        def subnet(cidr: str, label: str, _az=az) -> str:
            return ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=_az,
                                     TagSpecifications=_tags("subnet", f"{name}-{label}-{_az}"))["Subnet"]["SubnetId"]
        public = subnet(f"10.42.{i}.0/24", "public")
        ec2.associate_route_table(RouteTableId=public_rt_id, SubnetId=public)
        eip = ec2.allocate_address(Domain="vpc", TagSpecifications=_tags("elastic-ip", f"{name}-{az}"))
        nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=eip["AllocationId"],
                                     TagSpecifications=_tags("natgateway", f"{name}-{az}"))["NatGateway"]
        privates, tables = [], []
        for j, tier in enumerate(("app", "jobs")):
            private = subnet(f"10.42.{16 * (i + 1) + 4 * j}.0/22", f"private-{tier}")
            rt = ec2.create_route_table(VpcId=vpc, TagSpecifications=_tags("route-table", f"{name}-{tier}-{az}"))
            rt_id = rt["RouteTable"]["RouteTableId"]
            ec2.associate_route_table(RouteTableId=rt_id, SubnetId=private)
            ec2.create_route(RouteTableId=rt_id, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat["NatGatewayId"])
            ec2.create_route(RouteTableId=rt_id, DestinationCidrBlock=PEER_CIDR, VpcPeeringConnectionId=pcx_id)
            privates.append(private)
            tables.append(rt_id)
        database = subnet(f"10.42.{100 + i}.0/24", "database")
        ec2.associate_route_table(RouteTableId=database_rt_id, SubnetId=database)
        out.zones.append(ForeignZone(az=az, public_subnet_id=public, nat_gateway_id=nat["NatGatewayId"],
                                     private_subnet_ids=privates, private_route_table_ids=tables,
                                     database_subnet_id=database))
    return out


def routes_of(ec2, vpc_id: str) -> dict[str, list[tuple[str, str | None]]]:
    """route table id -> sorted (destination, target) of every route: to compare before and after."""
    keys = ("NatGatewayId", "NetworkInterfaceId", "GatewayId", "VpcPeeringConnectionId", "InstanceId",
            "TransitGatewayId")
    out = {}
    for table in ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]:
        out[table["RouteTableId"]] = sorted(
            (r.get("DestinationCidrBlock", ""), next((r[k] for k in keys if r.get(k)), None)) for r in table["Routes"])
    return out


def default_targets(ec2, table_ids: list[str]) -> dict[str, str | None]:
    """route table id -> what its 0.0.0.0/0 points at (the NAT gateway, the NAT's ENI, None)."""
    out = {}
    for table in ec2.describe_route_tables(RouteTableIds=table_ids)["RouteTables"]:
        route = next((r for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"), {})
        out[table["RouteTableId"]] = route.get("NatGatewayId") or route.get("NetworkInterfaceId")
    return out


def adopt_config(foreign: ForeignVpc, *, stack: str = "payments", region: str, extra: str = "") -> str:
    """The hanat.toml a user writes (or `hanat adopt` writes) for ``foreign``."""
    zones = "".join(
        f'\n[[zones]]\naz = "{z.az}"\npublic_subnet_id = "{z.public_subnet_id}"\n'
        f'private_route_table_ids = [{", ".join(repr(t) for t in z.private_route_table_ids)}]\n'
        for z in foreign.zones).replace("'", '"')
    return (f'[stack]\nname = "{stack}"\nregion = "{region}"\nvpc_id = "{foreign.vpc_id}"\n{zones}\n'
            f'[probe]\ntargets = ["tcp://203.0.113.10:443"]\n{extra}')
