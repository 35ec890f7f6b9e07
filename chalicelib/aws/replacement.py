"""EC2 / DynamoDB adapters for replacing a NAT instance (self-healing).

Every function takes its boto3 client as an argument and goes through ``aws_call``. Anything that
changes a resource first checks that it carries this stack's ``hanat:stack`` tag. (The topology
parameter is written through ``chalicelib.aws.params``.)
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from ..errors import AwsError, ConflictError, NotFoundError
from ..naming import STACK_TAG
from .calls import aws_call

LAUNCH_TOKEN_TAG = "hanat:launch-token"
PINNED_TAG = "hanat:pinned"
DEFAULT_ROUTE = "0.0.0.0/0"
RECORD_PK = "replacement"
# EC2 is eventually consistent: a just-launched instance may be unknown for a moment.
_NOT_YET_VISIBLE = ("InvalidInstanceID.NotFound",)


@dataclass(frozen=True)
class NatInstance:
    instance_id: str
    state: str
    eni_id: str
    source_dest_check: bool
    tagged: bool          # carries this stack's tag
    launch_token: str = ""


def _tags(resource: dict) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", []) or []}


def _instance(raw: dict, stack: str) -> NatInstance:
    enis = sorted(raw.get("NetworkInterfaces", []) or [],
                  key=lambda n: (n.get("Attachment") or {}).get("DeviceIndex", 0))
    tags = _tags(raw)
    return NatInstance(
        instance_id=raw["InstanceId"],
        state=raw.get("State", {}).get("Name", "unknown"),
        eni_id=enis[0]["NetworkInterfaceId"] if enis else "",
        source_dest_check=bool(raw.get("SourceDestCheck", True)),
        tagged=tags.get(STACK_TAG) == stack,
        launch_token=tags.get(LAUNCH_TOKEN_TAG, ""),
    )


# --- instances ------------------------------------------------------------------------------
def launch_from_template(ec2, *, launch_template_id: str, subnet_id: str, tags: list[dict],
                         client_token: str) -> NatInstance:
    """Run one NAT instance from the stack's launch template in ``subnet_id``.

    ``client_token`` makes a retried call return the same instance; it is also stored as a tag so a
    later run can find an instance whose launch was claimed but never recorded.
    """
    all_tags = [*tags, {"Key": LAUNCH_TOKEN_TAG, "Value": client_token}]
    resp = aws_call(
        f"ec2.RunInstances {launch_template_id} in {subnet_id}", ec2.run_instances,
        LaunchTemplate={"LaunchTemplateId": launch_template_id, "Version": "$Default"},
        SubnetId=subnet_id, MinCount=1, MaxCount=1, ClientToken=client_token,
        # the ENI and volume carry the stack tag too: the controller's IAM policy only lets it move
        # an EIP to, or launch, resources tagged with its stack
        TagSpecifications=[{"ResourceType": kind, "Tags": all_tags}
                           for kind in ("instance", "network-interface", "volume")],
    )
    raw = resp["Instances"][0]
    stack = next((t["Value"] for t in tags if t["Key"] == STACK_TAG), "")
    return _instance(raw, stack)


def find_instance_by_token(ec2, stack: str, token: str) -> NatInstance | None:
    """The (not terminated) instance of this stack launched with ``token``, if any."""
    resp = aws_call(
        f"ec2.DescribeInstances token={token}", ec2.describe_instances,
        Filters=[{"Name": f"tag:{STACK_TAG}", "Values": [stack]},
                 {"Name": f"tag:{LAUNCH_TOKEN_TAG}", "Values": [token]},
                 {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}],
    )
    for reservation in resp.get("Reservations", []):
        for raw in reservation.get("Instances", []):
            return _instance(raw, stack)
    return None


def describe_instance(ec2, instance_id: str, stack: str) -> NatInstance | None:
    """The instance, or None when EC2 does not know it (yet, or any more)."""
    if not instance_id:
        return None
    try:
        resp = aws_call(f"ec2.DescribeInstances {instance_id}", ec2.describe_instances,
                        InstanceIds=[instance_id])
    except AwsError as err:
        if err.code in _NOT_YET_VISIBLE:
            return None
        raise
    for reservation in resp.get("Reservations", []):
        for raw in reservation.get("Instances", []):
            return _instance(raw, stack)
    return None


def disable_source_dest_check(ec2, instance: NatInstance) -> None:
    """A NAT forwards packets that are not addressed to it."""
    if not instance.tagged:
        raise NotFoundError(f"instance {instance.instance_id} does not carry the stack tag; not modified")
    aws_call(f"ec2.ModifyInstanceAttribute {instance.instance_id} SourceDestCheck=false",
             ec2.modify_instance_attribute, InstanceId=instance.instance_id,
             SourceDestCheck={"Value": False})


def terminate_tagged_instance(ec2, instance_id: str, stack: str) -> bool:
    """Terminate ``instance_id`` only if it exists and carries this stack's tag; True if asked to."""
    inst = describe_instance(ec2, instance_id, stack)
    if inst is None or not inst.tagged or inst.state in ("shutting-down", "terminated"):
        return False
    aws_call(f"ec2.TerminateInstances {instance_id}", ec2.terminate_instances, InstanceIds=[instance_id])
    return True


# --- Elastic IP -----------------------------------------------------------------------------
def eip_eni(ec2, allocation_id: str) -> str:
    """The ENI the Elastic IP is associated with ("" when not associated)."""
    resp = aws_call(f"ec2.DescribeAddresses {allocation_id}", ec2.describe_addresses,
                    AllocationIds=[allocation_id])
    addresses = resp.get("Addresses", [])
    if not addresses:
        raise NotFoundError(f"Elastic IP {allocation_id} not found")
    return addresses[0].get("NetworkInterfaceId", "") or ""


def move_eip(ec2, allocation_id: str, eni_id: str, stack: str) -> None:
    """Associate the zone's Elastic IP with ``eni_id``, taking it from wherever it is now."""
    resp = aws_call(f"ec2.DescribeAddresses {allocation_id}", ec2.describe_addresses,
                    AllocationIds=[allocation_id])
    addresses = resp.get("Addresses", [])
    if not addresses:
        raise NotFoundError(f"Elastic IP {allocation_id} not found")
    if _tags(addresses[0]).get(STACK_TAG) != stack:
        raise NotFoundError(f"Elastic IP {allocation_id} does not carry the stack tag {stack!r}; not moved")
    aws_call(f"ec2.AssociateAddress {allocation_id} -> {eni_id}", ec2.associate_address,
             AllocationId=allocation_id, NetworkInterfaceId=eni_id, AllowReassociation=True)


# --- the pinned probe route -----------------------------------------------------------------
def _route_table(ec2, route_table_id: str) -> dict:
    resp = aws_call(f"ec2.DescribeRouteTables {route_table_id}", ec2.describe_route_tables,
                    RouteTableIds=[route_table_id])
    tables = resp.get("RouteTables", [])
    if not tables:
        raise NotFoundError(f"route table {route_table_id} not found")
    return tables[0]


def default_route_eni(ec2, route_table_id: str) -> str:
    """The ENI the table's 0.0.0.0/0 route points at ("" when none)."""
    for route in _route_table(ec2, route_table_id).get("Routes", []):
        if route.get("DestinationCidrBlock") == DEFAULT_ROUTE:
            return route.get("NetworkInterfaceId", "") or ""
    return ""


def repin_probe_route(ec2, route_table_id: str, eni_id: str, stack: str) -> None:
    """Point the zone's pinned probe route at ``eni_id``; only a table of this stack tagged
    ``hanat:pinned=true`` (the probe table), verified by reading back."""
    table = _route_table(ec2, route_table_id)
    tags = _tags(table)
    if tags.get(STACK_TAG) != stack or tags.get(PINNED_TAG, "").lower() != "true":
        raise NotFoundError(f"route table {route_table_id} is not a pinned probe table of stack {stack!r} "
                            f"({STACK_TAG}={tags.get(STACK_TAG)!r}, {PINNED_TAG}={tags.get(PINNED_TAG)!r}); "
                            "not changed")
    has_default = any(r.get("DestinationCidrBlock") == DEFAULT_ROUTE for r in table.get("Routes", []))
    op = f"ec2.{'ReplaceRoute' if has_default else 'CreateRoute'} {route_table_id} -> {eni_id}"
    aws_call(op, ec2.replace_route if has_default else ec2.create_route, RouteTableId=route_table_id,
             DestinationCidrBlock=DEFAULT_ROUTE, NetworkInterfaceId=eni_id)
    after = default_route_eni(ec2, route_table_id)
    if after != eni_id:
        raise AwsError(op, "VerifyFailed", f"read back {after or None}, expected {eni_id}")


# --- replacement records (DynamoDB state table: pk="replacement", sk=<az>) ------------------
def _record_from_item(item: dict) -> dict:
    data = json.loads(item["data"]["S"])
    data["version"] = int(item["version"]["N"])
    data["status"] = item["status"]["S"]
    return data


def load_record(dynamodb, table: str, az: str) -> dict | None:
    resp = aws_call(f"dynamodb.GetItem {table} replacement/{az}", dynamodb.get_item, TableName=table,
                    Key={"pk": {"S": RECORD_PK}, "sk": {"S": az}}, ConsistentRead=True)
    item = resp.get("Item")
    return _record_from_item(item) if item else None


def list_records(dynamodb, table: str) -> list[dict]:
    records, kwargs = [], {}
    while True:
        resp = aws_call(f"dynamodb.Query {table} replacement", dynamodb.query, TableName=table,
                        KeyConditionExpression="pk = :pk",
                        ExpressionAttributeValues={":pk": {"S": RECORD_PK}}, ConsistentRead=True,
                        **kwargs)
        records.extend(_record_from_item(i) for i in resp.get("Items", []))
        if not resp.get("LastEvaluatedKey"):
            return records
        kwargs = {"ExclusiveStartKey": resp["LastEvaluatedKey"]}


def put_record(dynamodb, table: str, record: dict, *, expected_version: int | None) -> int:
    """Write ``record`` (with version bumped); returns the new version.

    ``expected_version=None`` starts a replacement: allowed only when the zone has none or its last
    one is done/failed (one replacement per zone at a time). Otherwise the stored version must match.
    Losing either condition raises ConflictError.
    """
    new_version = (record.get("version") or 0) + 1
    data = {k: v for k, v in record.items() if k not in ("version", "status")}
    item = {"pk": {"S": RECORD_PK}, "sk": {"S": record["az"]}, "status": {"S": record["status"]},
            "version": {"N": str(new_version)}, "data": {"S": json.dumps(data, sort_keys=True)}}
    if expected_version is None:
        condition = "attribute_not_exists(pk) OR #status IN (:done, :failed)"
        values = {":done": {"S": "done"}, ":failed": {"S": "failed"}}
        names = {"#status": "status"}
    else:
        condition = "#version = :expected"
        values = {":expected": {"N": str(expected_version)}}
        names = {"#version": "version"}
    try:
        aws_call(f"dynamodb.PutItem {table} replacement/{record['az']}", dynamodb.put_item,
                 TableName=table, Item=item, ConditionExpression=condition,
                 ExpressionAttributeNames=names, ExpressionAttributeValues=values)
    except AwsError as err:
        if err.code == "ConditionalCheckFailedException":
            raise ConflictError(f"replacement record of {record['az']} changed concurrently") from err
        raise
    return new_version
