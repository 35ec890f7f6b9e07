"""Where moto (5.x) treats a NAT's extra addresses unlike EC2, made as EC2 does it; the lab's moto server
applies ``apply()`` before it serves (lab/aws/moto_server.py).

1. ``AssociateAddress PrivateIpAddress``: moto drops it and reports every Elastic IP of an interface on the
   interface's primary address. EC2 associates it with that secondary private address and DescribeAddresses
   reports it there ("If no private IP address is specified, the Elastic IP address is associated with the
   primary private IP address", EC2 API Reference, AssociateAddress); an address the interface does not hold
   is ``InvalidParameterValue``; an Elastic IP already on that private address is disassociated from it
   ("If you associate an Elastic IP address with an instance that has an existing Elastic IP address, the
   existing address is disassociated"). The interface's own public address stays its primary's.
2. ``RunInstances NetworkInterfaces[].SecondaryPrivateIpAddressCount``: moto ignores it; EC2 assigns that many
   secondary private addresses at launch (InstanceNetworkInterfaceSpecification).
3. ``AssignPrivateIpAddresses SecondaryPrivateIpAddressCount``: moto draws random host addresses of the subnet
   (the subnet's router, .0, or another instance's address among them); EC2 gives free ones, as moto does
   for a primary address (``Subnet.get_available_subnet_ip``). The addresses are not returned to the subnet
   when the instance ends (the lab never runs out: a /24 public subnet, a handful of NATs).
"""
from __future__ import annotations

_APPLIED: list[bool] = []


def _patch_addresses() -> None:
    from moto.ec2.exceptions import InvalidParameterValueError
    from moto.ec2.models.elastic_ip_addresses import ElasticAddress
    from moto.ec2.responses.elastic_ip_addresses import ElasticIPAddresses

    def private_ip_address(self) -> str | None:
        if not self.eni:
            return None
        return getattr(self, "hanat_private_ip", None) or self.eni.private_ip_address

    ElasticAddress.private_ip_address = property(private_ip_address)
    original = ElasticIPAddresses.associate_address

    def associate_address(self):
        private_ip, eni_id = self._get_param("PrivateIpAddress"), self._get_param("NetworkInterfaceId")
        eni = self.ec2_backend.get_network_interface(eni_id) if eni_id else None
        held = {p["PrivateIpAddress"] for p in eni.private_ip_addresses} | {eni.private_ip_address} if eni else set()
        if private_ip and eni is not None and private_ip not in held:
            raise InvalidParameterValueError(private_ip)
        before = eni.public_ip if eni is not None else None
        target = private_ip or (eni.private_ip_address if eni is not None else None)
        result = original(self)
        allocation_id, public_ip = self._get_param("AllocationId"), self._get_param("PublicIp")
        eip = next(a for a in self.ec2_backend.addresses
                   if (allocation_id and a.allocation_id == allocation_id) or (public_ip and a.public_ip == public_ip))
        eip.hanat_private_ip = private_ip or None
        if eni is not None:
            for other in self.ec2_backend.addresses:
                if other is not eip and other.eni is eni and other.private_ip_address == target:
                    other.eni, other.instance, other.association_id = None, None, None
            if private_ip and private_ip != eni.private_ip_address:
                eni.public_ip = before      # a secondary's Elastic IP is not the interface's public address
        return result

    ElasticIPAddresses.associate_address = associate_address


def _patch_secondaries() -> None:
    from moto.ec2.models.elastic_network_interfaces import NetworkInterfaceBackend
    from moto.ec2.models.instances import Instance

    original_assign = NetworkInterfaceBackend.assign_private_ip_addresses

    def assign_private_ip_addresses(self, eni_id, private_ip_addresses=None, secondary_ips_count=None):
        if private_ip_addresses or not secondary_ips_count:
            return original_assign(self, eni_id, private_ip_addresses, secondary_ips_count)
        eni = self.get_network_interface(eni_id)
        free = [eni.subnet.get_available_subnet_ip(instance=eni.instance) for _ in range(int(secondary_ips_count))]
        return original_assign(self, eni_id, free, None)

    NetworkInterfaceBackend.assign_private_ip_addresses = assign_private_ip_addresses
    original_prep = Instance.prep_nics

    def prep_nics(self, nic_spec, *args, **kwargs):
        original_prep(self, nic_spec, *args, **kwargs)
        for nic in nic_spec or []:
            count = int(nic.get("SecondaryPrivateIpAddressCount") or 0)
            device = int(nic.get("DeviceIndex", 0))
            if count and device in self.nics:
                self.ec2_backend.assign_private_ip_addresses(self.nics[device].id, secondary_ips_count=count)

    Instance.prep_nics = prep_nics


def apply() -> None:
    """Patch moto's EC2 models in this process (once)."""
    if _APPLIED:
        return
    _patch_addresses()
    _patch_secondaries()
    _APPLIED.append(True)
