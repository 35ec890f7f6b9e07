"""The frozen, validated configuration. Built only by the loaders after validation passed."""
from __future__ import annotations

from dataclasses import dataclass, field

from chalicelib.settings import FailoverSettings, MaintenanceSettings, MarketSettings, ProbeSettings


@dataclass(frozen=True)
class StackConfig:
    name: str
    region: str
    vpc_cidr: str      # the VPC hanat builds; "" when it adopts one (vpc_id)
    vpc_id: str = ""   # an existing VPC to adopt (exclusive with vpc_cidr)


@dataclass(frozen=True)
class ZoneConfig:
    az: str
    public_cidr: str   # always filled after validation (derived from vpc_cidr when omitted); "" when adopting
    private_cidr: str  # "" when adopting
    probe_cidr: str    # adopting: "" = a free /28 of the VPC's CIDR blocks, found when the account is read
    public_subnet_id: str = ""                     # adopting: the existing subnet the zone's NAT goes in
    private_route_table_ids: tuple[str, ...] = ()  # adopting: the tables whose default route hanat takes over


@dataclass(frozen=True)
class NatConfig:
    instance_type: str = "t4g.nano"
    ami: str = ""  # "" = the AL2023 SSM alias matching the instance type's architecture
    addresses: int = 1  # Elastic IPs per NAT, SNAT spread across them (1..MAX_NAT_ADDRESSES)
    market: MarketSettings = field(default_factory=MarketSettings)  # nat.market, nat.spot_fallback

    def to_table(self) -> dict:
        """The ``[nat]`` table of a config file that validates back to this (market's keys sit flat in it)."""
        table = {"instance_type": self.instance_type, "addresses": self.addresses, **self.market.to_dict()}
        return {**table, "ami": self.ami} if self.ami else table


@dataclass(frozen=True)
class TrafficConfig:
    """Expected traffic per NAT (0 = not stated): ``plan`` and ``cost`` warn when it exceeds the NAT
    type's baseline bandwidth (chalicelib/instance_types.py)."""
    gb_per_month: float = 0.0
    peak_mbps: float = 0.0


@dataclass(frozen=True)
class MetricsConfig:
    """What the heartbeat publishes of each NAT's counters (chalicelib/nat_readings.py): off | essential | full
    (``chalicelib.settings.METRICS_LEVELS``)."""
    level: str = "off"


@dataclass(frozen=True)
class AlertsConfig:
    emails: tuple[str, ...] = ()
    slack_webhook_parameter: str = ""


@dataclass(frozen=True)
class AdminConfig:
    enabled: bool = False
    instance_type: str = "t4g.nano"


@dataclass(frozen=True)
class NameTemplates:
    """Name tag templates (bootstrap/config/names.py): {stack}; subnets and route tables also {kind},
    {az}, {zone}. "" = hanat's own name, hanat-<stack>-<role>[-<az>]."""
    vpc: str = ""
    subnet: str = ""
    route_table: str = ""
    internet_gateway: str = ""


@dataclass(frozen=True)
class PermissionConfig:
    iam_user_arn: str
    allow_ssh: bool = True
    allow_sudo: bool = False


@dataclass(frozen=True)
class HanatConfig:
    stack: StackConfig
    zones: tuple[ZoneConfig, ...]
    nat: NatConfig = field(default_factory=NatConfig)
    probe: ProbeSettings = field(default_factory=ProbeSettings)
    failover: FailoverSettings = field(default_factory=FailoverSettings)
    maintenance: MaintenanceSettings = field(default_factory=MaintenanceSettings)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    admin: AdminConfig = field(default_factory=AdminConfig)
    permissions: tuple[PermissionConfig, ...] = ()
    names: NameTemplates = field(default_factory=NameTemplates)
    traffic: TrafficConfig = field(default_factory=TrafficConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    source: str = ""                  # the file it came from
    warnings: tuple[str, ...] = ()    # non-fatal notes (e.g. retired OpsWorks keys in settings.cfg)

    @property
    def azs(self) -> tuple[str, ...]:
        return tuple(z.az for z in self.zones)

    @property
    def adopts_vpc(self) -> bool:
        """True when the stack lives in an existing VPC (``stack.vpc_id``) instead of building one."""
        return bool(self.stack.vpc_id)
