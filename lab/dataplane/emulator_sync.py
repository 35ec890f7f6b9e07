"""Read the emulator's (or any EC2 endpoint's) view of a stack into a ``DataPlaneSpec``.

The EC2 client is passed in and every read goes through chalicelib/aws (``paginate``). Only
resources carrying the stack's ``hanat:stack`` tag are read. Instances tagged ``hanat:role=nat`` are
NATs (the admin instance is not); the zone's NAT is the topology's, and the others (a NAT being
replaced) are followed too so their namespaces track their state until they are terminated. Each
NAT's instance tags come along: the lab's IMDS stand-in serves them to the NAT's agent (handoffs).
A NAT's lab address stands for the Elastic IP associated with its private address (DescribeAddresses'
``PrivateIpAddress``), so ``AssociateAddress``/``DisassociateAddress`` move the internet gateway's 1:1
translation (lab.dataplane.netns.igw). moto's Elastic IPs are random public addresses, not the lab's
documentation range: each is mapped to a lab address by its allocation id (lab.dataplane.addresses).
A terminated NAT translates nothing (``DataPlaneSpec.eip_translations``). A NAT's secondary private
addresses (``nat.addresses`` > 1) come along, each with the lab address of the Elastic IP on it.

In an adopted VPC the user's public and private subnets carry no hanat tag: the ones the topology
names are read by id. Its managed NAT gateways (a default route's ``NatGatewayId``, and every adopted
table's recorded original target, so the gateway is there again at release) become ``NatGatewayPlane``s
with lab addresses of their own (203.0.113.51 on, in the topology's zone order).
"""
from __future__ import annotations

from chalicelib.aws import adopted_vpc
from chalicelib.aws.calls import aws_call, paginate
from chalicelib.aws.tags import stack_filter
from chalicelib.errors import NotFoundError
from chalicelib.naming import ROLE_TAG, STACK_TAG
from chalicelib.topology import Topology

from .addresses import lab_addresses, nat_gateway_lab_addresses, nat_gateway_private_ip
from .spec import DataPlaneSpec, NatGatewayPlane, NatPlane, ZonePlane, sorted_tags

DEFAULT_ROUTE = "0.0.0.0/0"


def _nat_role_filter() -> list[dict]:
    return [{"Name": f"tag:{ROLE_TAG}", "Values": ["nat"]}]


def _primary_eni(instance: dict) -> str:
    for eni in instance.get("NetworkInterfaces", []):
        if eni.get("Attachment", {}).get("DeviceIndex") == 0:
            return eni["NetworkInterfaceId"]
    enis = instance.get("NetworkInterfaces", [])
    return enis[0]["NetworkInterfaceId"] if enis else ""


def _secondary_ips(instance: dict) -> list[str]:
    """The secondary private addresses of the instance's primary interface (nat.addresses > 1)."""
    for eni in instance.get("NetworkInterfaces", []):
        if eni.get("Attachment", {}).get("DeviceIndex", 0) == 0:
            return [p["PrivateIpAddress"] for p in eni.get("PrivateIpAddresses", []) if not p.get("Primary")]
    return []


def spec_from_emulator(ec2_client, topology: Topology) -> DataPlaneSpec:
    """The data plane ``topology``'s stack should have, as EC2 reports it now."""
    stack = topology.stack
    subnets = {s["SubnetId"]: s["CidrBlock"] for s in paginate(
        "ec2.DescribeSubnets", ec2_client, "describe_subnets", "Subnets", Filters=stack_filter(stack))}
    if topology.adopts_vpc:   # the user's own subnets carry no hanat tag
        named = {sid for z in topology.zones for sid in (z.public_subnet_id, z.private_subnet_id) if sid}
        subnets.update({sid: s["CidrBlock"] for sid, s in adopted_vpc.subnets_by_id(
            ec2_client, sorted(named - set(subnets))).items()})
    instances = [i for r in paginate("ec2.DescribeInstances", ec2_client, "describe_instances",
                                     "Reservations", Filters=stack_filter(stack) + _nat_role_filter())
                 for i in r.get("Instances", [])]
    tables = paginate("ec2.DescribeRouteTables", ec2_client, "describe_route_tables", "RouteTables",
                      Filters=stack_filter(stack))
    addresses = aws_call("ec2.describe_addresses", ec2_client.describe_addresses,
                         Filters=stack_filter(stack)).get("Addresses", [])

    zone_allocs = [z.nat_eip_allocation_id for z in topology.zones if z.nat_eip_allocation_id]
    zone_allocs += [a.allocation_id for z in topology.zones for a in z.extra_addresses]   # nat.addresses > 1
    lab_of = lab_addresses(zone_allocs + sorted(a["AllocationId"] for a in addresses if "AllocationId" in a))
    # An Elastic IP is associated with a private address (DescribeAddresses' PrivateIpAddress); the
    # internet gateway translates it to that address, so a NAT holds the EIP associated with its own.
    lab_by_private_ip = {a["PrivateIpAddress"]: lab_of[a["AllocationId"]] for a in addresses
                         if a.get("PrivateIpAddress") and a.get("AllocationId") in lab_of}
    eni_by_instance = {i["InstanceId"]: _primary_eni(i) for i in instances}

    missing: list[str] = []

    def cidr_of(subnet_id: str, what: str) -> str:
        if subnet_id not in subnets:
            missing.append(f"{what} {subnet_id} (no subnet with tag {STACK_TAG}={stack})")
            return ""
        return subnets[subnet_id]

    def nat_plane(instance: dict) -> NatPlane:
        return NatPlane(
            instance_id=instance["InstanceId"], eni_id=eni_by_instance[instance["InstanceId"]],
            private_ip=instance.get("PrivateIpAddress", ""),
            public_cidr=subnets.get(instance.get("SubnetId", ""), ""),
            state=instance["State"]["Name"], lab_address=lab_by_private_ip.get(instance.get("PrivateIpAddress", "")),
            tags=sorted_tags({t["Key"]: t["Value"] for t in instance.get("Tags", [])}),
            secondary=tuple((ip, lab_by_private_ip.get(ip)) for ip in _secondary_ips(instance)))

    by_id = {i["InstanceId"]: i for i in instances}
    zones = []
    for z in topology.zones:
        public = cidr_of(z.public_subnet_id, f"zone {z.az} public subnet")
        private = cidr_of(z.private_subnet_id, f"zone {z.az} private subnet")
        probe = cidr_of(z.probe_subnet_id, f"zone {z.az} probe subnet")
        if z.nat_instance_id not in by_id:
            missing.append(f"zone {z.az} NAT instance {z.nat_instance_id} (no instance with tag {STACK_TAG}={stack})")
            continue
        zones.append(ZonePlane(z.az, public, private, probe, nat_plane(by_id[z.nat_instance_id])))
    if missing:
        raise NotFoundError("the emulator does not have: " + "; ".join(missing))

    zone_nats = {z.nat.instance_id for z in zones}
    public_cidrs = {z.public_cidr for z in zones}
    others = tuple(nat_plane(i) for i in sorted(instances, key=lambda i: i["InstanceId"])
                   if i["InstanceId"] not in zone_nats and subnets.get(i.get("SubnetId", "")) in public_cidrs)

    routes: dict[str, str | None] = {}
    for table in tables:
        target = None
        for route in table.get("Routes", []):
            if route.get("DestinationCidrBlock") == DEFAULT_ROUTE:
                target = (route.get("NetworkInterfaceId") or eni_by_instance.get(route.get("InstanceId", ""))
                          or route.get("NatGatewayId"))
        for assoc in table.get("Associations", []):
            if assoc.get("SubnetId") in subnets:
                routes[subnets[assoc["SubnetId"]]] = target
    managed = {c for z in zones for c in (z.private_cidr, z.probe_cidr)}
    routes = {c: t for c, t in routes.items() if c in managed}
    return DataPlaneSpec(vpc_cidr=topology.vpc_cidr, zones=tuple(zones), routes=routes, other_nats=others,
                         nat_gateways=_nat_gateways(ec2_client, topology, routes.values(), subnets))


def _nat_gateways(ec2_client, topology: Topology, targets, subnets: dict[str, str]) -> tuple[NatGatewayPlane, ...]:
    """The NAT gateways a route points at or an adopted table goes back to at release (none for a stack
    that built its VPC: nothing of it ever names one)."""
    recorded = [t.original_target for z in topology.zones for t in z.adopted if t.original_target.startswith("nat-")]
    ids = list(dict.fromkeys(recorded + sorted({t for t in targets if t and t.startswith("nat-")})))
    if not ids:
        return ()
    lab_of = nat_gateway_lab_addresses(ids)
    found = adopted_vpc.nat_gateways(ec2_client, ids)
    out = []
    for gateway_id in ids:
        gateway = found.get(gateway_id)
        public_cidr = subnets.get((gateway or {}).get("SubnetId", ""))
        if gateway is None or public_cidr is None:   # deleted, or not in a subnet the lab builds
            continue
        reported = next((a.get("PrivateIp") for a in gateway.get("NatGatewayAddresses", [])), None)
        out.append(NatGatewayPlane(gateway_id=gateway_id, private_ip=nat_gateway_private_ip(reported, public_cidr),
                                   public_cidr=public_cidr, lab_address=lab_of[gateway_id],
                                   state=gateway.get("State", "")))
    return tuple(out)
