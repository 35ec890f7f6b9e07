"""The stack builder's shared records: a planned ``Step``, the ``Observed`` stack, the apply ``Context``.

The planner and the executor both depend on this module and never on each other (as chalice's
``deploy/planner.py`` and ``deploy/executor.py`` share only ``deploy/models.py``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from chalicelib.aws.tags import has_stack_tag
from chalicelib.topology import ExtraAddress, ZoneTopology

from ..config.schema import HanatConfig
from .clients import StackClients
from .desired import ROLE_IGW, ROLE_NAT, ROLE_VPC, ROUTE_TABLE_SUFFIX, Desired

CREATE, MODIFY = "create", "modify"
EXTRA_ADDRESS = "address-"   # Step.name of an extra Elastic IP's creation: address-<index> (nat.addresses > 1)
ALL_IPV4 = "0.0.0.0/0"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Step:
    action: str        # create | modify
    kind: str          # what the executor does (see executor.HANDLERS)
    zone: str = ""
    name: str = ""     # role, user name, e-mail ... whatever tells same-kind steps apart
    detail: str = ""   # for people

    def describe(self) -> str:
        where = " ".join(x for x in (self.name, self.zone) if x)
        return f"{self.action} {self.kind}{' ' + where if where else ''}{': ' + self.detail if self.detail else ''}"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class UserState:
    tags: dict[str, str]
    attached: list[str]


@dataclass
class Observed:
    vpc: dict | None = None
    vpc_dns: dict[str, bool] = field(default_factory=dict)
    igw: dict | None = None
    subnets: dict[tuple[str, str], dict] = field(default_factory=dict)       # (role, az)
    route_tables: dict[tuple[str, str], dict] = field(default_factory=dict)  # (role, az or "")
    security_groups: dict[str, dict] = field(default_factory=dict)           # role
    launch_template: dict | None = None
    launch_template_data: dict = field(default_factory=dict)
    instances: dict[tuple[str, str], dict] = field(default_factory=dict)     # (nat, az) | (admin, "")
    addresses: dict[str, dict] = field(default_factory=dict)                 # az
    extra_addresses: dict[str, dict[int, dict]] = field(default_factory=dict)  # az -> hanat:address index
    role: dict | None = None
    role_policy: str | None = None            # normalized JSON of the inline policy
    instance_profile: dict | None = None
    user_policies: dict[str, dict] = field(default_factory=dict)  # name -> {"Arn", "Document"}
    users: dict[str, UserState] = field(default_factory=dict)
    table: dict | None = None
    table_ttl: dict = field(default_factory=dict)  # DescribeTimeToLive's description ({} if no table)
    topic_arn: str | None = None
    subscribed: set[str] = field(default_factory=set)
    parameter_value: str | None = None
    replacing: dict[str, str] = field(default_factory=dict)   # az -> step of an active replacement
    nat_ami: str = ""
    admin_ami: str = ""
    adopted_tables: dict[str, dict] = field(default_factory=dict)  # adopted VPC: the listed tables, by id

    def subnet_id(self, role: str, az: str) -> str:
        return self.subnets.get((role, az), {}).get("SubnetId", "")

    def extra_topology(self, az: str, count: int) -> tuple[ExtraAddress, ...]:
        """The zone's extra Elastic IPs 1..count-1 for the topology (KeyError while one is missing)."""
        found = self.extra_addresses.get(az, {})
        return tuple(ExtraAddress(found[i]["AllocationId"], found[i]["PublicIp"]) for i in range(1, count))

    def nat_eni(self, az: str) -> str:
        instance = self.instances.get((ROLE_NAT, az))
        return instance["NetworkInterfaces"][0]["NetworkInterfaceId"] if instance else ""

    def named_resources(self, stack: str) -> list[tuple[str, str, str, dict]]:
        """(resource id, role, zone, resource) of every existing resource a ``[names]`` template names.

        Only the stack's own (tagged ``hanat:stack=<stack>``): an adopted VPC and its public subnets are
        the user's, and hanat never touches their Name (or any) tag."""
        found: list[tuple[str, str, str, dict]] = []
        if self.vpc:
            found.append((self.vpc["VpcId"], ROLE_VPC, "", self.vpc))
        if self.igw:
            found.append((self.igw["InternetGatewayId"], ROLE_IGW, "", self.igw))
        for (role, az), subnet in sorted(self.subnets.items()):
            found.append((subnet["SubnetId"], role, az, subnet))
        for (role, az), table in sorted(self.route_tables.items()):
            found.append((table["RouteTableId"], f"{role}{ROUTE_TABLE_SUFFIX}", az, table))
        return [f for f in found if has_stack_tag(f[3], stack)]


@dataclass
class Context:
    """What every apply step reads and keeps current: the clients, the config, the desired and the
    running observed state (later steps read the ids earlier ones made)."""

    clients: StackClients
    config: HanatConfig
    desired: Desired
    obs: Observed
    wait_interval_s: float = 2.0

    @property
    def ec2(self):
        return self.clients.ec2

    @property
    def vpc_id(self) -> str:
        return self.obs.vpc["VpcId"]


@dataclass(frozen=True)
class Network:
    """What differs between a VPC hanat builds and one it adopts, chosen once per run
    (``network.network_for``): the planner, observer and topology call these and never branch on it."""

    observe: Callable[[object, Desired, Observed], None]      # (ec2, desired, observed): fills the network parts
    plan: Callable[[Desired, Observed], list[Step]]            # the network's steps (InputError: cannot change in place)
    plan_route_tables: Callable[[Desired, Observed], list[Step]]   # the user's tables to mark (adopted only)
    private_route_roles: tuple[str, ...]                      # route tables whose default route `up` writes
    zone_topology: Callable[[Desired, str, Observed], ZoneTopology]   # KeyError while a part is missing


def default_route(table: dict | None) -> dict | None:
    """The table's ``0.0.0.0/0`` route, or None."""
    for route in (table or {}).get("Routes", []):
        if route.get("DestinationCidrBlock") == ALL_IPV4:
            return route
    return None


def associated(table: dict | None, subnet: dict | None) -> bool:
    """True when ``table`` is associated with ``subnet`` (both observed)."""
    if not table or not subnet:
        return False
    return any(a.get("SubnetId") == subnet["SubnetId"] for a in table.get("Associations", []))
