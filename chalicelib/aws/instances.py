"""EC2 instance adapter: the run state of the NAT instances."""
from __future__ import annotations

from .calls import aws_call

GONE = "terminated"  # an instance EC2 no longer lists is as good as terminated


def describe_instance_states(ec2, instance_ids: list[str] | tuple[str, ...]) -> dict[str, str]:
    """instance id -> state name (running, stopped, ...); ids EC2 does not know map to ``terminated``."""
    ids = [i for i in instance_ids if i]
    if not ids:
        return {}
    states = {i: GONE for i in ids}
    paginator = ec2.get_paginator("describe_instances")
    pages = aws_call("ec2.DescribeInstances", lambda: list(paginator.paginate(
        Filters=[{"Name": "instance-id", "Values": ids}])))
    for page in pages:
        for reservation in page.get("Reservations", []):
            for inst in reservation.get("Instances", []):
                states[inst["InstanceId"]] = inst["State"]["Name"]
    return states
