"""The topology: what ``hanat up`` built, stored as JSON in ``/hanat/<stack>/topology``.

It is the contract between the bootstrap (writer), the controller Lambdas, the CLI and the lab
(readers). The modern equivalent of the DupsWorks stack's custom_json.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace

from .errors import InputError, NotFoundError
from .settings import METRICS_LEVELS, FailoverSettings, MaintenanceSettings, MarketSettings, ProbeSettings

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class AdoptedRouteTable:
    """A route table of an adopted VPC whose default route hanat took over, and where that route
    pointed before (``original_target``: ``nat-...``, ``eni-...``, ``i-...``; "" = no default route):
    ``release`` and ``down`` point it back there."""

    route_table_id: str
    original_target: str

    def to_dict(self) -> dict:
        return {"route_table_id": self.route_table_id, "original_target": self.original_target}


@dataclass(frozen=True)
class ExtraAddress:
    """One of a NAT's extra Elastic IPs (``nat.addresses`` > 1), associated with a secondary private
    address of the NAT's one interface; it moves with the zone's first one on every replacement."""

    allocation_id: str
    public_ip: str

    def to_dict(self) -> dict:
        return {"allocation_id": self.allocation_id, "public_ip": self.public_ip}


@dataclass(frozen=True)
class ZoneTopology:
    az: str
    public_subnet_id: str
    private_subnet_id: str
    probe_subnet_id: str
    nat_instance_id: str
    nat_eni_id: str
    nat_eip: str  # the Elastic IP's public address: the zone's egress IP
    nat_eip_allocation_id: str
    private_route_table_ids: tuple[str, ...]
    probe_route_table_id: str
    public_route_table_id: str = ""
    # An adopted VPC's zone: its private_route_table_ids are the user's tables, each with its original
    # default target (empty for a zone whose tables hanat built).
    adopted: tuple[AdoptedRouteTable, ...] = ()
    extra_addresses: tuple[ExtraAddress, ...] = ()   # nat.addresses - 1 of them, in index order

    @property
    def egress_ips(self) -> tuple[str, ...]:
        """Every public address the zone's NAT sends from: its Elastic IP, then the extra ones."""
        return (self.nat_eip, *(a.public_ip for a in self.extra_addresses))

    @property
    def is_adopted(self) -> bool:
        return bool(self.adopted)

    def original_target(self, route_table_id: str) -> str:
        """Where an adopted table's default route pointed before hanat ("" = nowhere)."""
        return next((t.original_target for t in self.adopted if t.route_table_id == route_table_id), "")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["private_route_table_ids"] = list(self.private_route_table_ids)
        if self.adopted:
            d["adopted"] = [t.to_dict() for t in self.adopted]
        else:
            del d["adopted"]     # a stack that built its VPC stores what it stored before
        if self.extra_addresses:
            d["extra_addresses"] = [a.to_dict() for a in self.extra_addresses]
        else:
            del d["extra_addresses"]   # one address per NAT: stored as before
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ZoneTopology:
        d = dict(d)
        d["private_route_table_ids"] = tuple(d.get("private_route_table_ids", ()))
        d["adopted"] = tuple(AdoptedRouteTable(**t) for t in d.get("adopted", ()))
        d["extra_addresses"] = tuple(ExtraAddress(**a) for a in d.get("extra_addresses", ()))
        return cls(**d)


@dataclass(frozen=True)
class Topology:
    stack: str
    region: str
    vpc_id: str
    vpc_cidr: str
    table_name: str
    topic_arn: str
    topology_parameter: str
    zones: tuple[ZoneTopology, ...]
    probe: ProbeSettings = field(default_factory=ProbeSettings)
    failover: FailoverSettings = field(default_factory=FailoverSettings)
    maintenance: MaintenanceSettings = field(default_factory=MaintenanceSettings)
    launch_template_id: str = ""
    nat_security_group_id: str = ""
    probe_security_group_id: str = ""
    slack_webhook_parameter: str = ""
    nat_market: MarketSettings = field(default_factory=MarketSettings)
    metrics: str = "off"       # [metrics] level: what the heartbeat publishes of the NATs' counters
    schema_version: int = SCHEMA_VERSION
    # The zones' names in ring order, set when made (a plain field, read without a call).
    azs: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.metrics not in METRICS_LEVELS:
            raise InputError(f"metrics {self.metrics!r} is not one of {', '.join(METRICS_LEVELS)}")
        object.__setattr__(self, "azs", tuple(z.az for z in self.zones))

    # --- look-ups -------------------------------------------------------------------------

    def zone(self, az: str) -> ZoneTopology:
        """The zone named ``az``; an unknown name is bad input (lists the valid zones)."""
        for z in self.zones:
            if z.az == az:
                return z
        raise InputError(f"zone {az!r} is not in stack {self.stack!r} (valid zones: {', '.join(self.azs)})")

    @property
    def adopts_vpc(self) -> bool:
        """True when the stack lives in a VPC it adopted (its zones' route tables are the user's)."""
        return any(z.is_adopted for z in self.zones)

    def zone_of_instance(self, instance_id: str) -> ZoneTopology | None:
        """The zone whose NAT is ``instance_id`` (None: not one of this stack's NATs)."""
        for z in self.zones:
            if z.nat_instance_id == instance_id:
                return z
        return None

    def with_zone(self, zone: ZoneTopology) -> Topology:
        """A copy with one zone replaced (e.g. after a NAT replacement)."""
        if zone.az not in self.azs:
            raise NotFoundError(f"zone {zone.az} not in topology")
        return replace(self, zones=tuple(zone if z.az == zone.az else z for z in self.zones))

    # --- JSON -----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "schema_version": self.schema_version,
            "stack": self.stack,
            "region": self.region,
            "vpc_id": self.vpc_id,
            "vpc_cidr": self.vpc_cidr,
            "table_name": self.table_name,
            "topic_arn": self.topic_arn,
            "topology_parameter": self.topology_parameter,
            "launch_template_id": self.launch_template_id,
            "nat_security_group_id": self.nat_security_group_id,
            "probe_security_group_id": self.probe_security_group_id,
            "slack_webhook_parameter": self.slack_webhook_parameter,
            "metrics": self.metrics,
            "probe": self.probe.to_dict(),
            "failover": self.failover.to_dict(),
            "maintenance": self.maintenance.to_dict(),
            "nat_market": self.nat_market.to_dict(),
            "zones": [z.to_dict() for z in self.zones],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=None, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> Topology:
        d = dict(d)
        d["zones"] = tuple(ZoneTopology.from_dict(z) for z in d.get("zones", ()))
        d["probe"] = ProbeSettings.from_dict(d.get("probe", {}))
        d["failover"] = FailoverSettings.from_dict(d.get("failover", {}))
        d["maintenance"] = MaintenanceSettings.from_dict(d.get("maintenance", {}))
        d["nat_market"] = MarketSettings.from_dict(d.get("nat_market", {}))
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> Topology:
        return cls.from_dict(json.loads(text))
