"""`hanat up` never undoes the controller's replacement of a NAT: it follows the topology's instance,
and refuses (exit 2, nothing changed) while a replacement is in progress."""
from __future__ import annotations

import dataclasses
import json

import boto3
import pytest
from moto import mock_aws

from bootstrap.stack import StackClients, build_stack, plan_stack, read_topology
from chalicelib.aws import replacement_records
from chalicelib.aws.params import write_topology
from chalicelib.errors import InputError
from chalicelib.naming import stack_tags
from tests.integration.test_stack_up import REGION, make_config


@pytest.fixture
def aws(aws_env):
    with mock_aws():
        yield StackClients.from_session(boto3.session.Session(region_name=REGION), REGION)


def replaced_zone(aws):
    """Build, then do what a replacement does: a second NAT in zone a, the topology, the EIP and the
    pinned probe route moved to it. The topology names the higher instance id of the two, so picking the
    lowest id (as `up` used to) would hand the zone back to the other one."""
    config = make_config()
    topology = build_stack(config, aws, wait_interval_s=0).topology
    zone = topology.zones[0]
    new = aws.ec2.run_instances(MinCount=1, MaxCount=1, LaunchTemplate={"LaunchTemplateId": topology.launch_template_id},
                                NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": zone.public_subnet_id}],
                                TagSpecifications=[{"ResourceType": "instance",
                                                    "Tags": stack_tags("t", "nat", zone.az)}])["Instances"][0]
    aws.ec2.modify_instance_attribute(InstanceId=new["InstanceId"], SourceDestCheck={"Value": False})
    current = max(zone.nat_instance_id, new["InstanceId"])
    other = min(zone.nat_instance_id, new["InstanceId"])
    eni = aws.ec2.describe_instances(InstanceIds=[current])["Reservations"][0]["Instances"][0][
        "NetworkInterfaces"][0]["NetworkInterfaceId"]
    aws.ec2.associate_address(AllocationId=zone.nat_eip_allocation_id, InstanceId=current, AllowReassociation=True)
    for table in (zone.probe_route_table_id, *zone.private_route_table_ids):
        aws.ec2.replace_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NetworkInterfaceId=eni)
    topology = topology.with_zone(dataclasses.replace(zone, nat_instance_id=current, nat_eni_id=eni))
    write_topology(aws.ssm, topology)
    return config, topology, current, other


def eip_instance(aws, allocation_id):
    return aws.ec2.describe_addresses(AllocationIds=[allocation_id])["Addresses"][0].get("InstanceId")


def test_up_follows_the_nat_the_topology_names(aws):
    config, topology, current, _other = replaced_zone(aws)
    zone = topology.zones[0]
    assert plan_stack(config, aws).steps == []
    result = build_stack(config, aws, wait_interval_s=0)
    assert result.changes == 0 and result.topology.zone(zone.az).nat_instance_id == current
    assert eip_instance(aws, zone.nat_eip_allocation_id) == current
    assert read_topology(aws.ssm, "t").zone(zone.az).nat_instance_id == current


@pytest.mark.parametrize("step", ["proving", "retiring"])
def test_up_and_plan_refuse_while_a_replacement_is_in_progress(aws, step):
    config, topology, current, other = replaced_zone(aws)
    zone = topology.zones[0]
    replacement_records.put_record(aws.dynamodb, topology.table_name,
                           {"az": zone.az, "status": "replacing", "step": step, "old_instance_id": other,
                            "new_instance_id": current}, expected_version=None)
    before = (eip_instance(aws, zone.nat_eip_allocation_id), aws.ssm.get_parameter(Name="/hanat/t/topology")["Parameter"]["Value"])
    for run in (plan_stack, lambda c, a: build_stack(c, a, wait_interval_s=0)):
        with pytest.raises(InputError) as err:
            run(config, aws)
        assert err.value.exit_code == 2
        assert zone.az in str(err.value) and repr(step) in str(err.value)
    after = (eip_instance(aws, zone.nat_eip_allocation_id), aws.ssm.get_parameter(Name="/hanat/t/topology")["Parameter"]["Value"])
    assert json.dumps(after, default=str) == json.dumps(before, default=str)

    replacement_records.put_record(aws.dynamodb, topology.table_name,   # finished: up works again
                           {"az": zone.az, "status": "done", "step": "done"}, expected_version=1)
    assert build_stack(config, aws, wait_interval_s=0).changes == 0
