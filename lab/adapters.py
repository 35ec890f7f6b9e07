"""The lab's own AWS calls (against the emulator only): fault injection and observation.

Adapter style like chalicelib/aws: every function takes its boto3 client and goes through
``aws_call``, so the lab never needs patching and a failed call is an ``AwsError``. Only resources
carrying the stack's tag are touched.
"""
from __future__ import annotations

from dataclasses import dataclass

from chalicelib.aws.calls import aws_call
from chalicelib.errors import InputError
from chalicelib.naming import ROLE_TAG, STACK_TAG, ZONE_TAG


@dataclass(frozen=True)
class NatInstance:
    instance_id: str
    state: str
    az: str            # the hanat:zone tag (the zone it belongs to)
    eni_ids: tuple[str, ...]
    launched_at: str = ""


def _tags(resource: dict) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def describe_nats(ec2, stack: str) -> list[NatInstance]:
    """Every NAT instance of ``stack`` (any state, terminated ones while EC2 still lists them)."""
    filters = [{"Name": f"tag:{STACK_TAG}", "Values": [stack]}, {"Name": f"tag:{ROLE_TAG}", "Values": ["nat"]}]
    out, token = [], None
    while True:
        page = aws_call("ec2.DescribeInstances (lab)", ec2.describe_instances, Filters=filters,
                        **({"NextToken": token} if token else {}))
        for reservation in page["Reservations"]:
            for inst in reservation["Instances"]:
                out.append(NatInstance(
                    instance_id=inst["InstanceId"], state=inst["State"]["Name"],
                    az=_tags(inst).get(ZONE_TAG, ""),
                    eni_ids=tuple(n["NetworkInterfaceId"] for n in inst.get("NetworkInterfaces", [])),
                    launched_at=str(inst.get("LaunchTime", ""))))
        token = page.get("NextToken")
        if not token:
            return out


def default_route_targets(ec2, route_table_ids: list[str]) -> dict[str, str | None]:
    """route table id -> the ENI its 0.0.0.0/0 route points at (None: none / not an ENI)."""
    if not route_table_ids:
        return {}
    resp = aws_call("ec2.DescribeRouteTables (lab)", ec2.describe_route_tables, RouteTableIds=route_table_ids)
    out: dict[str, str | None] = {}
    for table in resp["RouteTables"]:
        target = None
        for route in table.get("Routes", []):
            if route.get("DestinationCidrBlock") == "0.0.0.0/0":
                target = route.get("NetworkInterfaceId")
        out[table["RouteTableId"]] = target
    return out


def _require_stack_nat(ec2, stack: str, instance_id: str) -> None:
    if instance_id not in {n.instance_id for n in describe_nats(ec2, stack)}:
        raise InputError(f"instance {instance_id!r} is not a NAT of stack {stack!r}: the lab leaves it alone")


def stop_instance(ec2, stack: str, instance_id: str) -> None:
    _require_stack_nat(ec2, stack, instance_id)
    aws_call(f"ec2.StopInstances {instance_id}", ec2.stop_instances, InstanceIds=[instance_id])


def start_instance(ec2, stack: str, instance_id: str) -> None:
    _require_stack_nat(ec2, stack, instance_id)
    aws_call(f"ec2.StartInstances {instance_id}", ec2.start_instances, InstanceIds=[instance_id])


def terminate_instance(ec2, stack: str, instance_id: str) -> None:
    _require_stack_nat(ec2, stack, instance_id)
    aws_call(f"ec2.TerminateInstances {instance_id}", ec2.terminate_instances, InstanceIds=[instance_id])


def put_secure_parameter(ssm, name: str, value: str, stack: str) -> None:
    """Store the Slack webhook URL the way operators do (SecureString), tagged with the stack."""
    aws_call(f"ssm.PutParameter {name}", ssm.put_parameter, Name=name, Value=value, Type="SecureString",
             Overwrite=True)
    aws_call(f"ssm.AddTagsToResource {name}", ssm.add_tags_to_resource, ResourceType="Parameter",
             ResourceId=name, Tags=[{"Key": STACK_TAG, "Value": stack}])
