"""A NAT's extra Elastic IPs (``nat.addresses`` > 1): each on its own secondary private address of the NAT's
one interface, placed there by ``hanat up`` and moved with the zone's first Elastic IP by every replacement.

AWS: an interface holds a primary and secondary private IPv4 addresses, and "you can associate an Elastic IP
address with each private IPv4 address" (EC2 User Guide, "Multiple IP addresses"); AssignPrivateIpAddresses
``SecondaryPrivateIpAddressCount`` adds addresses from the subnet; AssociateAddress ``PrivateIpAddress``
names the one an Elastic IP goes to ("If no private IP address is specified, the Elastic IP address is
associated with the primary private IP address"), and ``AllowReassociation`` takes it from wherever it is.
Every Elastic IP moved must carry the stack's tag, as in ``instances.move_eip``.
"""
from __future__ import annotations

from ..errors import HanatError, NotFoundError
from ..naming import STACK_TAG
from .network import ec2_call
from .tags import tag_map


def _addresses(ec2, allocation_ids: list[str]) -> list[dict]:
    resp = ec2_call(f"ec2.DescribeAddresses {','.join(allocation_ids)}", ec2.describe_addresses,
                    AllocationIds=allocation_ids)
    found = resp.get("Addresses", [])
    missing = set(allocation_ids) - {a.get("AllocationId") for a in found}
    if missing:
        raise NotFoundError(f"Elastic IP(s) {', '.join(sorted(missing))} not found")
    return found


def common_eni(ec2, allocation_ids: list[str]) -> str:
    """The interface every one of the Elastic IPs is associated with ("" when one is not associated, or
    they are not all on the same one): a replacement has moved them all only when this is the new NAT's."""
    enis = {a.get("NetworkInterfaceId", "") or "" for a in _addresses(ec2, allocation_ids)}
    return enis.pop() if len(enis) == 1 else ""


def private_addresses(ec2, eni_id: str) -> tuple[str, list[str]]:
    """(primary, secondaries in EC2's order) of the interface."""
    resp = ec2_call(f"ec2.DescribeNetworkInterfaces {eni_id}", ec2.describe_network_interfaces,
                    NetworkInterfaceIds=[eni_id])
    interfaces = resp.get("NetworkInterfaces", [])
    if not interfaces:
        raise NotFoundError(f"network interface {eni_id} not found")
    listed = interfaces[0].get("PrivateIpAddresses", [])
    primary = next((p["PrivateIpAddress"] for p in listed if p.get("Primary")), interfaces[0].get("PrivateIpAddress", ""))
    return primary, [p["PrivateIpAddress"] for p in listed if not p.get("Primary")]


def place_extra_addresses(ec2, eni_id: str, allocation_ids: list[str], stack: str) -> dict[str, str]:
    """Associate each extra Elastic IP with its own secondary private address of ``eni_id`` (assigning the
    secondaries the interface lacks); an Elastic IP already on one of them stays. Returns allocation id ->
    private address. Idempotent: a second call changes nothing."""
    if not allocation_ids:
        return {}
    found = _addresses(ec2, allocation_ids)
    foreign = [a["AllocationId"] for a in found if tag_map(a).get(STACK_TAG) != stack]
    if foreign:
        raise NotFoundError(f"Elastic IP(s) {', '.join(foreign)} do not carry the stack tag {stack!r}; not moved")
    _, secondaries = private_addresses(ec2, eni_id)
    if len(secondaries) < len(allocation_ids):
        ec2_call(f"ec2.AssignPrivateIpAddresses {eni_id}", ec2.assign_private_ip_addresses,
                 NetworkInterfaceId=eni_id, SecondaryPrivateIpAddressCount=len(allocation_ids) - len(secondaries))
        _, secondaries = private_addresses(ec2, eni_id)
        if len(secondaries) < len(allocation_ids):
            raise HanatError(f"{eni_id} holds {len(secondaries)} secondary private addresses after "
                             f"AssignPrivateIpAddresses; {len(allocation_ids)} are needed")
    by_id = {a["AllocationId"]: a for a in found}
    placed = {aid: by_id[aid].get("PrivateIpAddress", "") for aid in allocation_ids
              if by_id[aid].get("NetworkInterfaceId") == eni_id and by_id[aid].get("PrivateIpAddress") in secondaries}
    # two Elastic IPs on one private address cannot be: keep the first, move the other
    kept: dict[str, str] = {}
    for aid in allocation_ids:
        if aid in placed and placed[aid] not in kept.values():
            kept[aid] = placed[aid]
    free = [ip for ip in secondaries if ip not in kept.values()]
    for aid in allocation_ids:
        if aid in kept:
            continue
        private_ip = free.pop(0)
        ec2_call(f"ec2.AssociateAddress {aid} -> {eni_id} {private_ip}", ec2.associate_address,
                 AllocationId=aid, NetworkInterfaceId=eni_id, PrivateIpAddress=private_ip, AllowReassociation=True)
        kept[aid] = private_ip
    return kept
