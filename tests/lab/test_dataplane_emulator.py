"""The data plane following the emulator: EC2 (in-process moto) -> spec_from_emulator -> sync."""
from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from chalicelib.errors import NotFoundError
from chalicelib.naming import STACK_TAG
from chalicelib.topology import Topology, ZoneTopology
from lab.dataplane.emulator_sync import spec_from_emulator
from lab.dataplane.netns.namespaces import Namespaces

STACK, REGION = "lab", "ap-northeast-1"
AZS = ("ap-northeast-1a", "ap-northeast-1c")


def tags(kind: str, stack: str = STACK) -> list[dict]:
    return [{"ResourceType": kind, "Tags": [{"Key": STACK_TAG, "Value": stack}]}]


def launch_nat(ec2, subnet_id: str) -> dict:
    return ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="t3.micro",
                             SubnetId=subnet_id,
                             TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                 {"Key": STACK_TAG, "Value": STACK}, {"Key": "hanat:role", "Value": "nat"}]}],
                             )["Instances"][0]


def route_table(ec2, vpc_id: str, subnet_id: str, eni_id: str) -> str:
    rtb = ec2.create_route_table(VpcId=vpc_id, TagSpecifications=tags("route-table"))["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", NetworkInterfaceId=eni_id)
    ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnet_id)
    return rtb


def build_stack(ec2) -> Topology:
    """A 2-zone hanat network in moto, plus an untagged decoy the lab must ignore."""
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=tags("vpc"))["Vpc"]["VpcId"]
    zones = []
    for i, az in enumerate(AZS):
        sub = {kind: ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az,
                                       TagSpecifications=tags("subnet"))["Subnet"]["SubnetId"]
               for kind, cidr in (("pub", f"10.0.{i * 10}.0/24"), ("prv", f"10.0.{i * 10 + 1}.0/24"),
                                  ("prb", f"10.0.{i * 10 + 2}.0/28"))}
        inst = launch_nat(ec2, sub["pub"])
        eni = inst["NetworkInterfaces"][0]["NetworkInterfaceId"]
        eip = ec2.allocate_address(Domain="vpc", TagSpecifications=tags("elastic-ip"))
        ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=inst["InstanceId"])
        zones.append(ZoneTopology(
            az=az, public_subnet_id=sub["pub"], private_subnet_id=sub["prv"], probe_subnet_id=sub["prb"],
            nat_instance_id=inst["InstanceId"], nat_eni_id=eni, nat_eip=eip["PublicIp"],
            nat_eip_allocation_id=eip["AllocationId"],
            private_route_table_ids=(route_table(ec2, vpc, sub["prv"], eni),),
            probe_route_table_id=route_table(ec2, vpc, sub["prb"], eni)))
    decoy_vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    ec2.create_subnet(VpcId=decoy_vpc, CidrBlock="10.9.0.0/24")
    return Topology(stack=STACK, region=REGION, vpc_id=vpc, vpc_cidr="10.0.0.0/16", table_name="t",
                    topic_arn="arn", topology_parameter="/hanat/lab/topology", zones=tuple(zones))


@pytest.fixture
def ec2(aws_env):
    with mock_aws():
        yield boto3.client("ec2", region_name=REGION)


def test_spec_reads_the_stack_and_maps_eips_to_lab_addresses(ec2):
    topo = build_stack(ec2)
    spec = spec_from_emulator(ec2, topo)
    assert spec.vpc_cidr == "10.0.0.0/16"
    assert [z.az for z in spec.zones] == list(AZS)
    for i, (z, zt) in enumerate(zip(spec.zones, topo.zones)):
        assert (z.public_cidr, z.private_cidr, z.probe_cidr) == (
            f"10.0.{i * 10}.0/24", f"10.0.{i * 10 + 1}.0/24", f"10.0.{i * 10 + 2}.0/28")
        assert z.nat.instance_id == zt.nat_instance_id and z.nat.eni_id == zt.nat_eni_id
        assert z.nat.state == "running" and z.nat.private_ip.startswith(f"10.0.{i * 10}.")
        assert z.nat.lab_address == f"203.0.113.{101 + i}"  # not moto's fake public IP
        assert spec.routes[z.private_cidr] == spec.routes[z.probe_cidr] == zt.nat_eni_id
    assert spec.other_nats == ()


def test_missing_resources_are_named(ec2):
    topo = build_stack(ec2)
    zone = topo.zones[0]
    broken = topo.with_zone(ZoneTopology(**{**zone.to_dict(), "nat_instance_id": "i-gone",
                                            "private_subnet_id": "subnet-gone",
                                            "private_route_table_ids": ()}))
    with pytest.raises(NotFoundError) as err:
        spec_from_emulator(ec2, broken)
    assert "i-gone" in str(err.value) and "subnet-gone" in str(err.value)


@pytest.mark.netns
def test_dataplane_follows_route_moves_stops_and_replacement_in_the_emulator(ec2):
    topo = build_stack(ec2)
    a, b = topo.zones
    with Namespaces(spec_from_emulator(ec2, topo)) as dp:
        assert dp.http_get(dp.priv_role(a.az)).you == "203.0.113.101"

        # Failover as the controller does it: zone A's private route -> NAT B's ENI.
        ec2.replace_route(RouteTableId=a.private_route_table_ids[0], DestinationCidrBlock="0.0.0.0/0",
                          NetworkInterfaceId=b.nat_eni_id)
        dp.sync(spec_from_emulator(ec2, topo))
        assert dp.http_get(dp.priv_role(a.az)).you == "203.0.113.102"
        assert dp.http_get(dp.probe_role(a.az)).you == "203.0.113.101"  # the probe route is pinned

        # NAT A stopped: its namespace loses its links.
        ec2.stop_instances(InstanceIds=[a.nat_instance_id])
        assert [x.kind for x in dp.sync(spec_from_emulator(ec2, topo))] == ["link_down"]
        assert not dp.http_get(dp.probe_role(a.az), timeout=0.5).ok

        # Replacement: terminate A, launch a new NAT, move A's EIP and routes to it.
        ec2.terminate_instances(InstanceIds=[a.nat_instance_id])
        new = launch_nat(ec2, a.public_subnet_id)
        new_eni = new["NetworkInterfaces"][0]["NetworkInterfaceId"]
        ec2.associate_address(AllocationId=a.nat_eip_allocation_id, InstanceId=new["InstanceId"],
                              AllowReassociation=True)
        for rtb in (*a.private_route_table_ids, a.probe_route_table_id):
            ec2.replace_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", NetworkInterfaceId=new_eni)
        new_zone = ZoneTopology(**{**a.to_dict(), "nat_instance_id": new["InstanceId"], "nat_eni_id": new_eni})
        actions = dp.sync(spec_from_emulator(ec2, topo.with_zone(new_zone)))
        assert sorted(x.kind for x in actions) == ["create", "delete", "link_up"]
        for role in (dp.priv_role(a.az), dp.probe_role(a.az)):
            assert dp.http_get(role).you == "203.0.113.101", role  # same EIP, new instance
        assert dp.http_get(dp.priv_role(b.az)).you == "203.0.113.102"


def test_spec_follows_associate_and_disassociate_address_by_private_ip(ec2):
    # DescribeAddresses names the private address an EIP is associated with (PrivateIpAddress, EC2 API
    # Reference, Address); the internet gateway translates the EIP to that address.
    topo = build_stack(ec2)
    a, b = topo.zones
    spec = spec_from_emulator(ec2, topo)
    nat_a, nat_b = spec.zone(a.az).nat, spec.zone(b.az).nat
    assert spec.eip_translations() == {"203.0.113.101": nat_a.private_ip, "203.0.113.102": nat_b.private_ip}
    association = ec2.describe_addresses(AllocationIds=[a.nat_eip_allocation_id])["Addresses"][0]["AssociationId"]
    ec2.disassociate_address(AssociationId=association)
    spec = spec_from_emulator(ec2, topo)
    assert spec.zone(a.az).nat.lab_address is None
    assert spec.eip_translations() == {"203.0.113.102": nat_b.private_ip}
    ec2.associate_address(AllocationId=a.nat_eip_allocation_id, NetworkInterfaceId=a.nat_eni_id)   # as a replacement does
    assert spec_from_emulator(ec2, topo).eip_translations()["203.0.113.101"] == nat_a.private_ip


@pytest.mark.netns
def test_the_internet_gateway_follows_disassociate_and_associate_address_in_the_emulator(ec2):
    topo = build_stack(ec2)
    a, b = topo.zones
    with Namespaces(spec_from_emulator(ec2, topo)) as dp:
        assert dp.http_get(dp.priv_role(a.az)).you == "203.0.113.101"
        association = ec2.describe_addresses(AllocationIds=[a.nat_eip_allocation_id])["Addresses"][0]["AssociationId"]
        ec2.disassociate_address(AssociationId=association)
        assert dp.sync(spec_from_emulator(ec2, topo)) == []        # the NAT is untouched: only the gateway changes
        assert not dp.http_get(dp.priv_role(a.az), timeout=0.5).ok  # a NAT without an EIP has no way out
        assert dp.http_get(dp.priv_role(b.az)).you == "203.0.113.102"
        ec2.associate_address(AllocationId=a.nat_eip_allocation_id, InstanceId=a.nat_instance_id)
        dp.sync(spec_from_emulator(ec2, topo))
        assert dp.http_get(dp.priv_role(a.az)).you == "203.0.113.101"
