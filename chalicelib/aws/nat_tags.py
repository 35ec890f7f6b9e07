"""EC2 adapter for the connection handoff: the NATs' private addresses and handoff tags, and the CIDRs of
the subnets a zone's route tables serve.

Only ``hanat:handoff:*`` tags are ever written or deleted, and only on instances that carry the stack's
``hanat:stack`` tag (checked on the instance as just described, before every write). The controller's
IAM policy allows exactly that: CreateTags/DeleteTags on instances tagged with its stack, for keys under
``hanat:handoff:`` (bootstrap/deploy/policy.py).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import HanatError, NotFoundError
from ..naming import HANDOFF_TAG_PREFIX, STACK_TAG
from .calls import aws_call, paginate
from .tags import tag_map


@dataclass(frozen=True)
class NatView:
    """A NAT instance as the handoff needs it."""

    instance_id: str
    state: str
    private_ip: str
    tagged: bool                     # carries this stack's tag
    tags: dict[str, str] = field(default_factory=dict)

    def handoff_tags(self) -> dict[str, str]:
        return {k: v for k, v in self.tags.items() if k.startswith(HANDOFF_TAG_PREFIX)}


def describe_nats(ec2, instance_ids: list[str] | tuple[str, ...], stack: str, *,
                  deadline: float | None = None) -> dict[str, NatView]:
    """instance id -> its view, in one DescribeInstances filtered by id (ids EC2 no longer knows are
    left out rather than failing the call)."""
    ids = sorted({i for i in instance_ids if i})
    if not ids:
        return {}
    reservations = paginate("ec2.DescribeInstances (handoff NATs)", ec2, "describe_instances", "Reservations",
                            Filters=[{"Name": "instance-id", "Values": ids}], deadline=deadline)
    out = {}
    for raw in (i for r in reservations for i in r.get("Instances", [])):
        tags = tag_map(raw)
        out[raw["InstanceId"]] = NatView(instance_id=raw["InstanceId"], state=raw.get("State", {}).get("Name", ""),
                                         private_ip=raw.get("PrivateIpAddress", ""),
                                         tagged=tags.get(STACK_TAG) == stack, tags=tags)
    return out


def _check(nat: NatView, keys: list[str], stack: str, what: str) -> None:
    if not nat.tagged:
        raise NotFoundError(f"instance {nat.instance_id} does not carry {STACK_TAG}={stack}; its tags are not {what}")
    foreign = [k for k in keys if not k.startswith(HANDOFF_TAG_PREFIX)]
    if foreign:
        raise HanatError(f"refusing to change tag(s) {', '.join(foreign)} of {nat.instance_id}: only "
                         f"{HANDOFF_TAG_PREFIX}* tags are the controller's")


def put_handoff_tags(ec2, nat: NatView, tags: Mapping[str, str], stack: str, *, deadline: float | None = None) -> None:
    """Add or overwrite handoff tags on one of the stack's NATs (CreateTags)."""
    if not tags:
        return
    _check(nat, list(tags), stack, "written")
    aws_call(f"ec2.CreateTags {nat.instance_id} {', '.join(sorted(tags))}", ec2.create_tags,
             Resources=[nat.instance_id], Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())],
             deadline=deadline)


def delete_handoff_tags(ec2, nat: NatView, tags: Mapping[str, str], stack: str, *,
                        deadline: float | None = None) -> None:
    """Delete handoff tags of one of the stack's NATs, each only while it still has the value given
    ("When you specify both a value and a key name, the tag is deleted only if the tag's value matches
    the specified value": EC2 API Reference, DeleteTags), so a newer handoff written meanwhile stays."""
    if not tags:
        return
    _check(nat, list(tags), stack, "deleted")
    aws_call(f"ec2.DeleteTags {nat.instance_id} {', '.join(sorted(tags))}", ec2.delete_tags,
             Resources=[nat.instance_id], Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())],
             deadline=deadline)


def subnet_cidrs(ec2, subnet_ids: list[str] | tuple[str, ...], *, deadline: float | None = None) -> dict[str, str]:
    """subnet id -> its IPv4 CIDR (one DescribeSubnets; ids EC2 does not know are left out)."""
    ids = sorted({s for s in subnet_ids if s})
    if not ids:
        return {}
    subnets = paginate("ec2.DescribeSubnets (handoff)", ec2, "describe_subnets", "Subnets",
                       Filters=[{"Name": "subnet-id", "Values": ids}], deadline=deadline)
    return {s["SubnetId"]: s["CidrBlock"] for s in subnets if s.get("CidrBlock")}


def unassociated_subnets(ec2, vpc_id: str, *, deadline: float | None = None) -> list[str]:
    """The VPC's subnets with no explicit route-table association: the main route table serves them
    ("Subnets that aren't explicitly associated with any route table are implicitly associated with the
    main route table": Amazon VPC User Guide, Route tables)."""
    subnets = paginate("ec2.DescribeSubnets (vpc)", ec2, "describe_subnets", "Subnets",
                       Filters=[{"Name": "vpc-id", "Values": [vpc_id]}], deadline=deadline)
    tables = paginate("ec2.DescribeRouteTables (vpc)", ec2, "describe_route_tables", "RouteTables",
                      Filters=[{"Name": "vpc-id", "Values": [vpc_id]}], deadline=deadline)
    associated = {a["SubnetId"] for t in tables for a in t.get("Associations", []) if a.get("SubnetId")}
    return sorted(s["SubnetId"] for s in subnets if s["SubnetId"] not in associated)
