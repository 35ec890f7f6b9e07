"""What the lab data plane should look like: plain dataclasses, built by hand or from the emulator.

A ``DataPlaneSpec`` is the emulator's view of the VPC reduced to what the kernel needs: subnets,
NAT instances (private IP, state, the lab address standing for the Elastic IP associated with that
private IP, its secondary private IPs and theirs, the instance tags its agent reads from IMDS) and, per subnet, which NAT ENI its
``0.0.0.0/0`` route points at. In an adopted VPC the user's managed NAT gateways are there too
(``NatGatewayPlane``): a subnet whose default route names a NAT gateway goes out through it.
``eip_translations`` is what the internet gateway translates 1:1 (lab.dataplane.netns.igw).
"""
from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from chalicelib.engine.model import EC2_STATES, RUNNING, TERMINATED
from chalicelib.errors import InputError


@dataclass(frozen=True)
class NatPlane:
    """One NAT instance as the data plane sees it."""

    instance_id: str
    eni_id: str
    private_ip: str            # in its zone's public subnet
    public_cidr: str           # the public subnet it lives in
    state: str = RUNNING
    lab_address: str | None = None  # stands for the EIP associated with private_ip (None: none, no way out)
    tags: tuple[tuple[str, str], ...] = ()  # instance tags, sorted (IMDS serves them to its agent)
    # nat.addresses > 1: its interface's secondary private addresses, each with the lab address standing for
    # the Elastic IP associated with it (None: none)
    secondary: tuple[tuple[str, str | None], ...] = ()

    @property
    def addresses(self) -> tuple[tuple[str, str | None], ...]:
        """(private address, lab address or None) of every address of its one interface, the primary first."""
        return ((self.private_ip, self.lab_address), *self.secondary)

    @property
    def running(self) -> bool:
        return self.state == RUNNING

    @property
    def tag_map(self) -> dict[str, str]:
        return dict(self.tags)


NAT_GATEWAY_AVAILABLE = "available"


@dataclass(frozen=True)
class NatGatewayPlane:
    """A managed NAT gateway of an adopted VPC (the user's, not hanat's): it translates the VPC's
    traffic to its own public address, as AWS's NAT gateway does to its Elastic IP."""

    gateway_id: str
    private_ip: str            # in its public subnet
    public_cidr: str           # the public subnet it lives in
    lab_address: str           # stands for its Elastic IP
    state: str = NAT_GATEWAY_AVAILABLE

    @property
    def available(self) -> bool:
        return self.state == NAT_GATEWAY_AVAILABLE


def sorted_tags(tags: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in tags.items()))


@dataclass(frozen=True)
class ZonePlane:
    """One availability zone: its three subnets and the NAT that belongs to it."""

    az: str
    public_cidr: str
    private_cidr: str
    probe_cidr: str
    nat: NatPlane


@dataclass(frozen=True)
class DataPlaneSpec:
    """The whole data plane. ``routes`` maps a subnet CIDR to its default route's target: a NAT's ENI
    or a NAT gateway's id (None: no default route, or one pointing at something that is not a known NAT)."""

    vpc_cidr: str
    zones: tuple[ZonePlane, ...]
    routes: dict[str, str | None] = field(default_factory=dict)
    other_nats: tuple[NatPlane, ...] = ()  # NATs no zone owns any more (e.g. the one being replaced)
    nat_gateways: tuple[NatGatewayPlane, ...] = ()  # an adopted VPC's managed NAT gateways

    # --- look-ups -------------------------------------------------------------------------
    @property
    def nats(self) -> tuple[NatPlane, ...]:
        return tuple(z.nat for z in self.zones) + self.other_nats

    def zone(self, az: str) -> ZonePlane:
        for z in self.zones:
            if z.az == az:
                return z
        raise InputError(f"zone {az!r} is not in the data plane (zones: {', '.join(z.az for z in self.zones)})")

    def zone_index(self, az: str) -> int:
        return self.zones.index(self.zone(az))

    def nat_by_eni(self, eni_id: str | None) -> NatPlane | None:
        return next((n for n in self.nats if eni_id and n.eni_id == eni_id), None)

    def nat_by_id(self, instance_id: str) -> NatPlane | None:
        return next((n for n in self.nats if n.instance_id == instance_id), None)

    def nat_gateway(self, gateway_id: str | None) -> NatGatewayPlane | None:
        return next((g for g in self.nat_gateways if gateway_id and g.gateway_id == gateway_id), None)

    def eip_translations(self) -> dict[str, str]:
        """Elastic IP (its lab address) -> the private address it is associated with: every NAT instance
        that is not terminated and holds one, and every NAT gateway (the internet gateway's 1:1 NAT)."""
        out = {lab: private for n in self.nats if n.state != TERMINATED for private, lab in n.addresses if lab}
        out.update({g.lab_address: g.private_ip for g in self.nat_gateways})
        return out

    # --- edits (copies) -------------------------------------------------------------------
    def with_route(self, subnet_cidr: str, eni_id: str | None) -> DataPlaneSpec:
        """A copy whose ``subnet_cidr`` default route points at ``eni_id``."""
        return replace(self, routes={**self.routes, subnet_cidr: eni_id})

    def with_nat_state(self, instance_id: str, state: str) -> DataPlaneSpec:
        """A copy with one NAT instance in another EC2 state."""
        if self.nat_by_id(instance_id) is None:
            raise InputError(f"NAT {instance_id!r} is not in the data plane")
        zones = tuple(replace(z, nat=replace(z.nat, state=state)) if z.nat.instance_id == instance_id else z
                      for z in self.zones)
        others = tuple(replace(n, state=state) if n.instance_id == instance_id else n for n in self.other_nats)
        return replace(self, zones=zones, other_nats=others)

    def with_nat_address(self, instance_id: str, lab_address: str | None) -> DataPlaneSpec:
        """A copy where NAT ``instance_id`` holds the Elastic IP ``lab_address`` (None: disassociated)."""
        if self.nat_by_id(instance_id) is None:
            raise InputError(f"NAT {instance_id!r} is not in the data plane")
        zones = tuple(replace(z, nat=replace(z.nat, lab_address=lab_address)) if z.nat.instance_id == instance_id
                      else z for z in self.zones)
        others = tuple(replace(n, lab_address=lab_address) if n.instance_id == instance_id else n
                       for n in self.other_nats)
        return replace(self, zones=zones, other_nats=others)

    def with_nat_tags(self, instance_id: str, tags: Mapping[str, str]) -> DataPlaneSpec:
        """A copy where NAT ``instance_id`` carries exactly ``tags`` (what its IMDS serves)."""
        if self.nat_by_id(instance_id) is None:
            raise InputError(f"NAT {instance_id!r} is not in the data plane")
        new = sorted_tags(tags)
        zones = tuple(replace(z, nat=replace(z.nat, tags=new)) if z.nat.instance_id == instance_id else z
                      for z in self.zones)
        others = tuple(replace(n, tags=new) if n.instance_id == instance_id else n for n in self.other_nats)
        return replace(self, zones=zones, other_nats=others)

    def with_zone_nat(self, az: str, nat: NatPlane) -> DataPlaneSpec:
        """A copy where ``nat`` now serves zone ``az`` (a replacement); the old NAT is kept in
        ``other_nats`` so the data plane can follow its state until it is terminated."""
        old = self.zone(az).nat
        zones = tuple(replace(z, nat=nat) if z.az == az else z for z in self.zones)
        others = tuple(n for n in self.other_nats if n.instance_id != nat.instance_id)
        if old.instance_id != nat.instance_id:
            others += (old,)
        return replace(self, zones=zones, other_nats=others)


def validate_spec(spec: DataPlaneSpec) -> None:
    """Raise ``InputError`` naming every inconsistency before anything is built."""
    problems: list[str] = []
    try:
        vpc = ipaddress.ip_network(spec.vpc_cidr)
    except ValueError:
        problems.append(f"vpc_cidr={spec.vpc_cidr!r} is not a CIDR")
        vpc = None
    if not spec.zones:
        problems.append("zones: at least one zone is needed")
    subnets: list[tuple[str, ipaddress.IPv4Network]] = []
    for z in spec.zones:
        for key in ("public_cidr", "private_cidr", "probe_cidr"):
            value = getattr(z, key)
            try:
                net = ipaddress.ip_network(value)
            except ValueError:
                problems.append(f"zones[{z.az}].{key}={value!r} is not a CIDR")
                continue
            if vpc is not None and not net.subnet_of(vpc):
                problems.append(f"zones[{z.az}].{key}={value} is outside vpc_cidr {spec.vpc_cidr}")
            if net.num_addresses < 16:
                problems.append(f"zones[{z.az}].{key}={value} is smaller than a /28")
            subnets.append((f"zones[{z.az}].{key}", net))
    for i, (name_a, a) in enumerate(subnets):
        for name_b, b in subnets[i + 1:]:
            if a.overlaps(b):
                problems.append(f"{name_a}={a} overlaps {name_b}={b}")
    seen: set[str] = set()
    for n in spec.nats:
        where = f"nat {n.instance_id}"
        if n.instance_id in seen:
            problems.append(f"{where} appears twice")
        seen.add(n.instance_id)
        if n.state not in EC2_STATES:
            problems.append(f"{where}: state={n.state!r} is not one of {', '.join(EC2_STATES)}")
        for private, lab in n.addresses:
            try:
                if ipaddress.ip_address(private) not in ipaddress.ip_network(n.public_cidr):
                    problems.append(f"{where}: private_ip={private} is outside its subnet {n.public_cidr}")
            except ValueError:
                problems.append(f"{where}: private_ip={private!r} / public_cidr={n.public_cidr!r} invalid")
            if lab is not None:
                try:
                    ipaddress.ip_address(lab)
                except ValueError:
                    problems.append(f"{where}: lab_address={lab!r} is not an IP address")
    problems += _nat_gateway_problems(spec)
    holders: dict[str, str] = {}
    for holder, address in [(n.instance_id, lab) for n in spec.nats if n.state != TERMINATED
                            for _, lab in n.addresses] + [(g.gateway_id, g.lab_address) for g in spec.nat_gateways]:
        if not address:
            continue
        if address in holders:
            problems.append(f"lab_address={address} is held by both {holders[address]} and {holder} "
                            "(an Elastic IP is associated with one private address)")
        holders.setdefault(address, holder)
    known_subnets = {str(net) for _, net in subnets}
    for cidr in spec.routes:
        if cidr not in known_subnets:
            problems.append(f"routes[{cidr}] is not a subnet of any zone")
    if problems:
        raise InputError(problems, title="invalid data plane spec")


def _nat_gateway_problems(spec: DataPlaneSpec) -> list[str]:
    problems: list[str] = []
    public = {z.public_cidr for z in spec.zones}
    taken = {n.private_ip: n.instance_id for n in spec.nats}
    seen: set[str] = set()
    for g in spec.nat_gateways:
        where = f"nat gateway {g.gateway_id}"
        if g.gateway_id in seen:
            problems.append(f"{where} appears twice")
        seen.add(g.gateway_id)
        if g.public_cidr not in public:
            problems.append(f"{where}: public_cidr={g.public_cidr!r} is no zone's public subnet")
        try:
            if ipaddress.ip_address(g.private_ip) not in ipaddress.ip_network(g.public_cidr):
                problems.append(f"{where}: private_ip={g.private_ip} is outside its subnet {g.public_cidr}")
            ipaddress.ip_address(g.lab_address)
        except ValueError:
            problems.append(f"{where}: private_ip={g.private_ip!r} / public_cidr={g.public_cidr!r} / "
                            f"lab_address={g.lab_address!r} invalid")
        if g.private_ip in taken:
            problems.append(f"{where}: private_ip={g.private_ip} is also NAT {taken[g.private_ip]}'s")
    return problems
