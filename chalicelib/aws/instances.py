"""EC2 instance adapter: the run state of the NAT instances."""
from __future__ import annotations

from ..errors import AwsError
from .calls import aws_call

GONE = "terminated"  # an instance EC2 no longer lists is as good as terminated
# DescribeInstanceStatus refuses the whole call when one id is unknown (or not an id at all).
UNKNOWN_ID_CODES = ("InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed")


def describe_instance_states(ec2, instance_ids: list[str] | tuple[str, ...]) -> dict[str, str]:
    """instance id -> state name (running, stopped, ...); ids EC2 does not know map to ``terminated``.

    One DescribeInstanceStatus call (state only: a fraction of DescribeInstances' payload, which
    grows with every zone); when EC2 refuses an id, one DescribeInstances filtered by id instead,
    which lists what still exists and skips the rest.
    """
    ids = [i for i in instance_ids if i]
    if not ids:
        return {}
    states = {i: GONE for i in ids}
    try:
        statuses = _instance_statuses(ec2, ids)
    except AwsError as err:
        if err.code not in UNKNOWN_ID_CODES:
            raise
        states.update(_states_by_filter(ec2, ids))
        return states
    states.update({s["InstanceId"]: s["InstanceState"]["Name"] for s in statuses})
    return states


def _instance_statuses(ec2, ids: list[str]) -> list[dict]:
    paginator = ec2.get_paginator("describe_instance_status")
    pages = aws_call("ec2.DescribeInstanceStatus", lambda: list(paginator.paginate(
        InstanceIds=ids, IncludeAllInstances=True)))
    return [s for page in pages for s in page.get("InstanceStatuses", [])]


def _states_by_filter(ec2, ids: list[str]) -> dict[str, str]:
    paginator = ec2.get_paginator("describe_instances")
    pages = aws_call("ec2.DescribeInstances", lambda: list(paginator.paginate(
        Filters=[{"Name": "instance-id", "Values": ids}])))
    return {inst["InstanceId"]: inst["State"]["Name"]
            for page in pages for reservation in page.get("Reservations", [])
            for inst in reservation.get("Instances", [])}
