"""EC2 instance adapter: the NAT instances (run state, launch from the stack's template, source/dest
check, termination) and their Elastic IPs. Every change first checks the stack's ``hanat:stack`` tag."""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from ..errors import AwsError, NotFoundError
from ..naming import STACK_TAG
from .calls import RetryPolicy, aws_call, paginate
from .markets import market_of, spot_request_tags
from .network import NOT_YET_VISIBLE, delete_quietly, ec2_call
from .read_back import until_shown
from .tags import stack_filter, tag_map, tag_spec

LAUNCH_TOKEN_TAG = "hanat:launch-token"
# EC2 tags every instance launched from a launch template with the template's id and version
# ("aws:" tags, set by EC2 itself); the outdated-NAT check compares the version with the template's default.
LAUNCH_TEMPLATE_ID_TAG = "aws:ec2launchtemplate:id"
LAUNCH_TEMPLATE_VERSION_TAG = "aws:ec2launchtemplate:version"
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


def nat_instance(raw: dict, stack: str) -> NatInstance:
    """A DescribeInstances/RunInstances instance as the controller sees it."""
    enis = sorted(raw.get("NetworkInterfaces", []) or [],
                  key=lambda n: (n.get("Attachment") or {}).get("DeviceIndex", 0))
    tags = tag_map(raw)
    return NatInstance(
        instance_id=raw["InstanceId"],
        state=raw.get("State", {}).get("Name", "unknown"),
        eni_id=enis[0]["NetworkInterfaceId"] if enis else "",
        source_dest_check=bool(raw.get("SourceDestCheck", True)),
        tagged=tags.get(STACK_TAG) == stack,
        launch_token=tags.get(LAUNCH_TOKEN_TAG, ""),
    )


# --- instances ------------------------------------------------------------------------------
def launch_from_template(ec2, *, launch_template_id: str, subnet_id: str, security_group_id: str,
                         tags: list[dict], client_token: str, market_options: dict | None = None,
                         secondary_addresses: int = 0) -> NatInstance:
    """Run one NAT instance from the stack's launch template in ``subnet_id``.

    The template's network interface has no subnet (it differs per zone), and AWS refuses an
    instance-level SubnetId next to a network interface ("Network interfaces and an instance-level
    subnet ID may not be specified on the same request"; RunInstances: "If you specify a network
    interface, you must specify any subnets as part of the network interface"): device 0 is given
    whole, with the NAT security group and a public address from boot (the Elastic IP replaces it).
    ``client_token`` makes a retried call return the same instance; it is also stored as a tag so a
    later run can find an instance whose launch was claimed but never recorded. ``market_options``: the
    RunInstances ``InstanceMarketOptions`` (``markets.market_options``; None = on-demand).
    ``secondary_addresses``: one secondary private address per extra Elastic IP (``nat.addresses`` - 1),
    there from boot.
    """
    extra = {"InstanceMarketOptions": market_options} if market_options else {}
    # the spot request gets its own token: an on-demand fallback after a refused spot launch must not reuse
    # it ("If you repeat a request with the same client token but different parameters": IdempotentParameter-
    # Mismatch, EC2 API Reference, Ensuring idempotency); the tag keeps the one the record knows.
    request_token = (client_token + "-spot")[-64:] if market_options else client_token
    all_tags = [*tags, {"Key": LAUNCH_TOKEN_TAG, "Value": client_token}]
    interface = {"DeviceIndex": 0, "SubnetId": subnet_id, "AssociatePublicIpAddress": True,
                 "DeleteOnTermination": True}
    if security_group_id:  # `hanat up` always records it in the topology
        interface["Groups"] = [security_group_id]
    if secondary_addresses:
        interface["SecondaryPrivateIpAddressCount"] = secondary_addresses
    resp = aws_call(
        f"ec2.RunInstances {launch_template_id} in {subnet_id}", ec2.run_instances,
        LaunchTemplate={"LaunchTemplateId": launch_template_id, "Version": "$Default"},
        NetworkInterfaces=[interface],
        MinCount=1, MaxCount=1, ClientToken=request_token,
        # the ENI and volume carry the stack tag too: the controller's IAM policy only lets it move
        # an EIP to, or launch, resources tagged with its stack
        TagSpecifications=[{"ResourceType": kind, "Tags": all_tags}
                           for kind in ("instance", "network-interface", "volume")]
        + spot_request_tags(market_options, all_tags),
        **extra,
    )
    raw = resp["Instances"][0]
    stack = next((t["Value"] for t in tags if t["Key"] == STACK_TAG), "")
    return nat_instance(raw, stack)


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
            return nat_instance(raw, stack)
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
            return nat_instance(raw, stack)
    return None


@dataclass(frozen=True)
class InstanceBuild:
    """What an instance runs: AMI, type, launch time, and the launch template (version) it came from."""

    instance_id: str
    state: str
    image_id: str
    instance_type: str
    launched_at: float          # epoch seconds
    template_id: str = ""
    template_version: str = ""
    market: str = ""            # spot | on-demand (DescribeInstances InstanceLifecycle)


def describe_builds(ec2, instance_ids: list[str] | tuple[str, ...]) -> dict[str, InstanceBuild]:
    """instance id -> its build, in one DescribeInstances filtered by id (ids EC2 no longer knows are
    left out rather than failing the call)."""
    ids = [i for i in instance_ids if i]
    if not ids:
        return {}
    out = {}
    for raw in _describe_instances(ec2, [{"Name": "instance-id", "Values": ids}]):
        tags = tag_map(raw)
        launched = raw.get("LaunchTime")
        out[raw["InstanceId"]] = InstanceBuild(
            instance_id=raw["InstanceId"], state=raw.get("State", {}).get("Name", "unknown"),
            image_id=raw.get("ImageId", ""), instance_type=raw.get("InstanceType", ""),
            launched_at=launched.timestamp() if hasattr(launched, "timestamp") else 0.0,
            template_id=tags.get(LAUNCH_TEMPLATE_ID_TAG, ""),
            template_version=tags.get(LAUNCH_TEMPLATE_VERSION_TAG, ""), market=market_of(raw))
    return out


def console_output_tail(ec2, instance_id: str, lines: int = 20) -> list[str]:
    """The last ``lines`` lines of the instance's console output ([] when EC2 has none yet).

    GetConsoleOutput returns the output base64-encoded, and by default only what was posted shortly
    after a state transition (start, stop, ...); ``Latest`` asks for the current serial console
    output, which only Nitro instance types support (AWS API reference, GetConsoleOutput): fall back
    to the buffered output when EC2 refuses it.
    """
    operation = f"ec2.GetConsoleOutput {instance_id}"
    try:
        resp = aws_call(operation, ec2.get_console_output, InstanceId=instance_id, Latest=True)
    except AwsError as err:
        if err.code not in ("UnsupportedOperation", "InvalidParameterCombination", "InvalidParameterValue"):
            raise
        resp = aws_call(operation, ec2.get_console_output, InstanceId=instance_id)
    encoded = resp.get("Output") or ""
    try:
        text = base64.b64decode(encoded).decode("utf-8", "replace") if encoded else ""
    except (binascii.Error, ValueError):
        text = encoded
    return [line.rstrip("\r") for line in text.splitlines() if line.strip()][-lines:]


def disable_source_dest_check(ec2, instance: NatInstance, *, deadline: float | None = None) -> None:
    """A NAT forwards packets that are not addressed to it (read back: EC2's reads lag its writes)."""
    if not instance.tagged:
        raise NotFoundError(f"instance {instance.instance_id} does not carry the stack tag; not modified")
    op = f"ec2.ModifyInstanceAttribute {instance.instance_id} SourceDestCheck=false"
    aws_call(op, ec2.modify_instance_attribute, InstanceId=instance.instance_id,
             SourceDestCheck={"Value": False}, deadline=deadline)
    until_shown(op, lambda: describe_instance(ec2, instance.instance_id, ""),   # (the tag is not read here)
                lambda seen: seen is not None and not seen.source_dest_check, "source/dest check off",
                deadline=deadline)


STOPPING_FOR_GOOD = ("shutting-down", "terminated")


def terminate_tagged_instance(ec2, instance_id: str, stack: str, *, deadline: float | None = None) -> bool:
    """Terminate ``instance_id`` only if it exists and carries this stack's tag; True if asked to. Read
    back until EC2 shows it on its way out (or no longer knows it)."""
    inst = describe_instance(ec2, instance_id, stack)
    if inst is None or not inst.tagged or inst.state in STOPPING_FOR_GOOD:
        return False
    op = f"ec2.TerminateInstances {instance_id}"
    aws_call(op, ec2.terminate_instances, InstanceIds=[instance_id], deadline=deadline)
    until_shown(op, lambda: describe_instance(ec2, instance_id, stack),
                lambda seen: seen is None or seen.state in STOPPING_FOR_GOOD, "shutting-down or terminated",
                deadline=deadline)
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


def move_eip(ec2, allocation_id: str, eni_id: str, stack: str, *, deadline: float | None = None) -> None:
    """Associate the zone's Elastic IP with ``eni_id``, taking it from wherever it is now; read back until
    DescribeAddresses shows it there."""
    resp = aws_call(f"ec2.DescribeAddresses {allocation_id}", ec2.describe_addresses,
                    AllocationIds=[allocation_id])
    addresses = resp.get("Addresses", [])
    if not addresses:
        raise NotFoundError(f"Elastic IP {allocation_id} not found")
    if tag_map(addresses[0]).get(STACK_TAG) != stack:
        raise NotFoundError(f"Elastic IP {allocation_id} does not carry the stack tag {stack!r}; not moved")
    op = f"ec2.AssociateAddress {allocation_id} -> {eni_id}"
    aws_call(op, ec2.associate_address, AllocationId=allocation_id, NetworkInterfaceId=eni_id,
             AllowReassociation=True, deadline=deadline)
    until_shown(op, lambda: eip_eni(ec2, allocation_id), lambda seen: seen == eni_id, eni_id, deadline=deadline)


# --- building a stack: instances, launch templates, Elastic IPs --------------------------------
# A new instance profile takes a few seconds before RunInstances accepts it.
RUN_POLICY = RetryPolicy(within_s=60.0, base_delay_s=1.0, max_delay_s=8.0)


def describe_stack_instances(ec2, stack: str,
                             states: tuple[str, ...] = ("pending", "running", "stopping", "stopped")) -> list[dict]:
    """Stack instances in ``states`` (default: neither terminated nor on their way out)."""
    return _describe_instances(ec2, stack_filter(stack) + [{"Name": "instance-state-name", "Values": list(states)}])


def describe_instances_by_id(ec2, instance_ids: list[str]) -> list[dict]:
    return _describe_instances(ec2, [], InstanceIds=instance_ids)


def _describe_instances(ec2, filters: list[dict], **kwargs) -> list[dict]:
    reservations = paginate("ec2.DescribeInstances", ec2, "describe_instances", "Reservations",
                           Filters=filters, **kwargs)
    return [instance for r in reservations for instance in r["Instances"]]


def launch_template_data(ec2, template_id: str, *, retry_on=NOT_YET_VISIBLE) -> dict:
    """The default version's data; ``retry_on=()``: a NotFound is the caller's to judge (AwsError)."""
    resp = ec2_call(f"ec2.DescribeLaunchTemplateVersions {template_id}", ec2.describe_launch_template_versions,
                    retry_on=retry_on, LaunchTemplateId=template_id, Versions=["$Default"])
    return resp["LaunchTemplateVersions"][0]["LaunchTemplateData"]


def default_launch_template_version(ec2, template_id: str) -> tuple[int, dict]:
    """(version number, launch template data) of the template's default version: what a launch of
    ``$Default`` gets now."""
    version = aws_call(f"ec2.DescribeLaunchTemplateVersions {template_id}", ec2.describe_launch_template_versions,
                       LaunchTemplateId=template_id, Versions=["$Default"])["LaunchTemplateVersions"][0]
    return int(version["VersionNumber"]), version.get("LaunchTemplateData", {})


def create_launch_template(ec2, name: str, data: dict, tags: list[dict]) -> dict:
    return ec2_call(f"ec2.CreateLaunchTemplate {name}", ec2.create_launch_template, LaunchTemplateName=name,
                 LaunchTemplateData=data,
                 TagSpecifications=tag_spec("launch-template", tags))["LaunchTemplate"]


def new_default_launch_template_version(ec2, template_id: str, data: dict) -> int:
    version = ec2_call(f"ec2.CreateLaunchTemplateVersion {template_id}", ec2.create_launch_template_version,
                    LaunchTemplateId=template_id,
                    LaunchTemplateData=data)["LaunchTemplateVersion"]["VersionNumber"]
    op = f"ec2.ModifyLaunchTemplate {template_id}"
    ec2_call(op, ec2.modify_launch_template, LaunchTemplateId=template_id, DefaultVersion=str(version))
    until_shown(op, lambda: default_launch_template_version(ec2, template_id)[0], lambda seen: seen == version,
                f"default version {version}")
    return version


def delete_launch_template(ec2, template_id: str) -> bool:
    return delete_quietly(f"ec2.DeleteLaunchTemplate {template_id}", ec2.delete_launch_template,
                          LaunchTemplateId=template_id)


def run_instance(ec2, **kwargs) -> dict:
    """One instance (MinCount = MaxCount = 1); kwargs are RunInstances parameters."""
    return ec2_call("ec2.RunInstances", ec2.run_instances, MinCount=1, MaxCount=1,
                 retry_on=NOT_YET_VISIBLE + ("InvalidParameterValue",), policy=RUN_POLICY,
                 **kwargs)["Instances"][0]


def terminate_instances(ec2, instance_ids: list[str]) -> None:
    ec2_call("ec2.TerminateInstances", ec2.terminate_instances, InstanceIds=instance_ids)


def allocate_address(ec2, tags: list[dict]) -> dict:
    return ec2_call("ec2.AllocateAddress", ec2.allocate_address, Domain="vpc",
                 TagSpecifications=tag_spec("elastic-ip", tags))


def associate_address(ec2, allocation_id: str, instance_id: str) -> None:
    ec2_call(f"ec2.AssociateAddress {allocation_id} {instance_id}", ec2.associate_address,
          AllocationId=allocation_id, InstanceId=instance_id, AllowReassociation=True)


def disassociate_address(ec2, association_id: str) -> bool:
    return delete_quietly(f"ec2.DisassociateAddress {association_id}", ec2.disassociate_address,
                          AssociationId=association_id)


def release_address(ec2, allocation_id: str) -> bool:
    return delete_quietly(f"ec2.ReleaseAddress {allocation_id}", ec2.release_address, AllocationId=allocation_id)
