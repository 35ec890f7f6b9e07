"""Strict validation of a TOML-shaped configuration dict into a frozen ``HanatConfig``.

Every rule runs and every problem is collected, so one ``ConfigError`` lists them all; each
problem starts with the key it is about (``key_names`` lets an importer show its own key names,
e.g. ``PersonalSettings.vpc_cidr`` for ``stack.vpc_cidr``). Nothing here touches AWS.
"""
from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping, Sequence
from typing import Any

from chalicelib.errors import ConfigError
from chalicelib.settings import DEFAULT_PROBE_TARGETS, REVERT_MODES, FailoverSettings, ProbeSettings

from .derive import MAX_ZONES, MIN_ZONES, SMALLEST_SUBNET_PREFIX, SUBNET_KINDS, NoRoomToDerive, derive_subnet
from .model import (
    AdminConfig,
    AlertsConfig,
    HanatConfig,
    NatConfig,
    PermissionConfig,
    StackConfig,
    ZoneConfig,
)
from .rules import (
    ami_problem,
    az_problem,
    email_problem,
    iam_user_arn_problem,
    instance_type_problem,
    parse_cidr,
    region_problem,
    ssm_parameter_problem,
    stack_name_problem,
    target_problem,
)

SECTION_KEYS = {
    "stack": {"name", "region", "vpc_cidr"},
    "nat": {"instance_type", "ami"},
    "probe": {"interval_s", "timeout_s", "fail_after", "recover_after", "min_hold_s", "targets"},
    "failover": {"revert", "replace_after_s"},
    "alerts": {"emails", "slack_webhook_parameter"},
    "admin": {"enabled", "instance_type"},
}
LIST_SECTION_KEYS = {
    "zones": {"az", *(f"{kind}_cidr" for kind in SUBNET_KINDS)},
    "permissions": {"iam_user_arn", "allow_ssh", "allow_sudo"},
}
VPC_PREFIX_RANGE = (16, 24)       # AWS allows /16../28 for a VPC; hanat needs room for its subnets
SUBNET_PREFIX_RANGE = (16, SMALLEST_SUBNET_PREFIX)
MAX_PROBE_TIMEOUT_S = 30
MAX_PROBE_INTERVAL_S = 60         # the heartbeat runs once a minute


class Problems:
    """Collects problems, each prefixed by the key it is about (shown under the importer's name)."""

    def __init__(self, key_names: Mapping[str, str] | None = None, initial: Sequence[str] = ()):
        self.key_names = dict(key_names or {})
        self.items: list[str] = list(initial)

    def name(self, path: str) -> str:
        return self.key_names.get(path, path)

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{self.name(path)} {message}")


def describe(value: Any) -> str:
    """How a wrong value is quoted in a message ("string '5'", "boolean true", "a list")."""
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


class Table:
    """One table being read: typed getters that report (not raise) and return None when invalid."""

    def __init__(self, problems: Problems, path: str, data: Any, known: set[str]):
        self.problems, self.path = problems, path
        self.is_table = isinstance(data, dict)
        self.data: dict = data if self.is_table else {}
        if not self.is_table:
            problems.add(path, f"must be a table, got {describe(data)}")
        for key in self.data:
            if key not in known:
                problems.items.append(f"unknown key {problems.name(self.key(key))}")

    def key(self, key: str) -> str:
        return f"{self.path}.{key}"

    def _raw(self, key: str, default: Any, required: bool) -> tuple[bool, Any]:
        if key in self.data:
            return True, self.data[key]
        if required and self.is_table:   # a non-table was reported once already
            self.problems.add(self.key(key), "is required")
        return False, default

    def string(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        present, value = self._raw(key, default, required)
        if present and not isinstance(value, str):
            self.problems.add(self.key(key), f"must be a string, got {describe(value)}")
            return None
        return value

    def boolean(self, key: str, default: bool) -> bool | None:
        present, value = self._raw(key, default, False)
        if present and not isinstance(value, bool):
            self.problems.add(self.key(key), f"must be true or false, got {describe(value)}")
            return None
        return value

    def integer(self, key: str, default: int, *, minimum: int) -> int | None:
        present, value = self._raw(key, default, False)
        if not present:
            return value
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            self.problems.add(self.key(key), f"must be {kind}, got {describe(value)}")
            return None
        return value

    def number(self, key: str, default: float, *, above: float | None = None, at_least: float | None = None,
               at_most: float | None = None) -> float | None:
        present, value = self._raw(key, default, False)
        if not present:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.problems.add(self.key(key), f"must be a number (seconds), got {describe(value)}")
            return None
        if above is not None and not value > above:
            self.problems.add(self.key(key), f"must be a number > {above}, got {value}")
            return None
        if at_least is not None and not value >= at_least:
            self.problems.add(self.key(key), f"must be a number >= {at_least}, got {value}")
            return None
        if at_most is not None and value > at_most:
            self.problems.add(self.key(key), f"must be at most {at_most} seconds, got {value}")
            return None
        return value

    def string_list(self, key: str, default: Sequence[str]) -> list[str] | None:
        present, value = self._raw(key, list(default), False)
        if not present:
            return value
        if not isinstance(value, list):
            self.problems.add(self.key(key), f"must be a list of strings, got {describe(value)}")
            return None
        bad = [f"[{i}] {describe(item)}" for i, item in enumerate(value) if not isinstance(item, str)]
        if bad:
            self.problems.add(self.key(key), f"must be a list of strings, got {', '.join(bad)}")
            return None
        return value

    def checked(self, key: str, value: str | None, problem_of) -> str | None:
        """Apply a pure ``rule(value) -> problem | None`` to a string already read."""
        problem = problem_of(value) if value is not None else None
        if problem:
            self.problems.add(self.key(key), f"{value!r} {problem}")
            return None
        return value


def build_config(raw: Mapping, *, source: str, warnings: Sequence[str] = (),
                 key_names: Mapping[str, str] | None = None, problems: Sequence[str] = ()) -> HanatConfig:
    """Validate ``raw`` (a TOML-shaped dict) and freeze it; raise ConfigError listing every problem.

    ``problems`` are earlier ones (e.g. from an importer) to report in the same error.
    """
    p = Problems(key_names, problems)
    if not isinstance(raw, Mapping):
        raw = {}
        p.items.append("the configuration must be a table of sections")
    for key in raw:
        if key not in SECTION_KEYS and key not in LIST_SECTION_KEYS:
            p.items.append(f"unknown key {p.name(key)}")
    stack = _stack(p, raw)
    vpc = parse_cidr(stack.vpc_cidr) if stack and stack.vpc_cidr else None
    zones = _zones(p, raw, stack.region if stack else None, vpc if isinstance(vpc, ipaddress.IPv4Network) else None)
    nat, admin = _instances(p, raw)
    probe, failover = _probe(p, raw), _failover(p, raw)
    alerts, permissions = _alerts(p, raw), _permissions(p, raw)
    if p.items:
        raise ConfigError(p.items, source=source)
    return HanatConfig(stack=stack, zones=zones, nat=nat, probe=probe, failover=failover, alerts=alerts,
                       admin=admin, permissions=permissions, source=source, warnings=tuple(warnings))


def _stack(p: Problems, raw: Mapping) -> StackConfig | None:
    if "stack" not in raw:
        p.items.append(f"{p.name('stack')} is required (name, region, vpc_cidr)")
        return None
    t = Table(p, "stack", raw["stack"], SECTION_KEYS["stack"])
    name = t.checked("name", t.string("name", required=True), stack_name_problem)
    region = t.checked("region", t.string("region", required=True), region_problem)
    vpc_text = t.string("vpc_cidr", required=True)
    if vpc_text is not None:
        vpc = parse_cidr(vpc_text)
        if isinstance(vpc, str):
            p.add("stack.vpc_cidr", f"{vpc_text!r} {vpc}")
            vpc_text = None
        elif not VPC_PREFIX_RANGE[0] <= vpc.prefixlen <= VPC_PREFIX_RANGE[1]:
            low, high = VPC_PREFIX_RANGE
            p.add("stack.vpc_cidr", f"{vpc_text} must be a /{low} to /{high} network, got /{vpc.prefixlen}")
            vpc_text = None
    return StackConfig(name=name, region=region, vpc_cidr=vpc_text)


def _table_list(p: Problems, raw: Mapping, section: str) -> list[Table]:
    value = raw.get(section, [])
    if not isinstance(value, list):
        p.add(section, f"must be a list of tables ([[{section}]]), got {describe(value)}")
        return []
    return [Table(p, f"{section}[{i}]", item, LIST_SECTION_KEYS[section]) for i, item in enumerate(value)]


def _zones(p: Problems, raw: Mapping, region: str | None,
           vpc: ipaddress.IPv4Network | None) -> tuple[ZoneConfig, ...]:
    tables = _table_list(p, raw, "zones")
    if not MIN_ZONES <= len(tables) <= MAX_ZONES and isinstance(raw.get("zones", []), list):
        p.add("zones", f"must list {MIN_ZONES} to {MAX_ZONES} zones, got {len(tables)}")
    seen_azs: dict[str, str] = {}
    subnets: list[tuple[str, ipaddress.IPv4Network, bool]] = []   # (key, network, derived)
    zones = []
    for index, t in enumerate(tables):
        az = t.string("az", required=True)
        if az is not None and region is not None:
            az = t.checked("az", az, lambda value: az_problem(value, region))
        if az is not None and az in seen_azs:
            p.add(t.key("az"), f"{az} repeats {p.name(seen_azs[az])}")
        elif az is not None:
            seen_azs[az] = t.key("az")
        cidrs = {kind: _zone_subnet(t, index, kind, vpc, subnets) for kind in SUBNET_KINDS}
        missing = [t.key(f"{kind}_cidr") for kind, cidr in cidrs.items() if cidr is _NO_ROOM]
        if missing:
            names = ", ".join(p.name(key) for key in missing)
            p.add("stack.vpc_cidr", f"{vpc} is too small to derive {names}: set them explicitly "
                                    "or use a larger vpc_cidr")
        zones.append(ZoneConfig(az=az, **{f"{kind}_cidr": cidr for kind, cidr in cidrs.items()}))
    _report_overlaps(p, subnets)
    return tuple(zones)


_NO_ROOM = object()


def _zone_subnet(t: Table, index: int, kind: str, vpc: ipaddress.IPv4Network | None,
                 subnets: list) -> Any:
    key = f"{kind}_cidr"
    text = t.string(key)
    if text is None:
        if key in t.data or vpc is None:
            return None
        try:
            derived = derive_subnet(vpc, index, kind)
        except NoRoomToDerive:
            return _NO_ROOM
        subnets.append((t.key(key), derived, True))
        return str(derived)
    net = parse_cidr(text)
    if isinstance(net, str):
        t.problems.add(t.key(key), f"{text!r} {net}")
        return None
    low, high = SUBNET_PREFIX_RANGE
    if not low <= net.prefixlen <= high:
        t.problems.add(t.key(key), f"{text} must be a /{low} to /{high} subnet (AWS limit), got /{net.prefixlen}")
        return None
    if vpc is not None and not net.subnet_of(vpc):
        t.problems.add(t.key(key), f"{text} is outside {t.problems.name('stack.vpc_cidr')} {vpc}")
        return None
    subnets.append((t.key(key), net, False))
    return text


def _report_overlaps(p: Problems, subnets: list[tuple[str, ipaddress.IPv4Network, bool]]) -> None:
    for later, (key, net, derived) in enumerate(subnets):
        for other_key, other_net, other_derived in subnets[:later]:
            if net.overlaps(other_net):
                mine = f"{net} (derived)" if derived else str(net)
                theirs = f"{other_net} (derived)" if other_derived else str(other_net)
                hint = f"; set {p.name(key)} explicitly" if derived else ""
                p.add(key, f"{mine} overlaps {p.name(other_key)} {theirs}{hint}")


def _instances(p: Problems, raw: Mapping) -> tuple[NatConfig, AdminConfig]:
    nat_t = Table(p, "nat", raw.get("nat", {}), SECTION_KEYS["nat"])
    nat_type = nat_t.checked("instance_type", nat_t.string("instance_type", NatConfig.instance_type),
                             instance_type_problem)
    ami = nat_t.checked("ami", nat_t.string("ami", NatConfig.ami), ami_problem)
    admin_t = Table(p, "admin", raw.get("admin", {}), SECTION_KEYS["admin"])
    enabled = admin_t.boolean("enabled", AdminConfig.enabled)
    admin_type = admin_t.checked("instance_type", admin_t.string("instance_type", AdminConfig.instance_type),
                                 instance_type_problem)
    return NatConfig(instance_type=nat_type, ami=ami), AdminConfig(enabled=enabled, instance_type=admin_type)


def _probe(p: Problems, raw: Mapping) -> ProbeSettings:
    t = Table(p, "probe", raw.get("probe", {}), SECTION_KEYS["probe"])
    d = ProbeSettings()
    targets = t.string_list("targets", DEFAULT_PROBE_TARGETS)
    if targets is not None and not targets:
        p.add("probe.targets", "must list at least one target (tcp://host:port or http(s)://host/...)")
    seen: dict[str, int] = {}
    for i, target in enumerate(targets or []):
        key = f"probe.targets[{i}]"
        problem = target_problem(target)
        if problem:
            p.add(key, f"{target!r} {problem}")
        elif target in seen:
            p.add(key, f"{target} repeats {p.name(f'probe.targets[{seen[target]}]')}")
        seen.setdefault(target, i)
    return ProbeSettings(
        interval_s=t.number("interval_s", d.interval_s, above=0, at_most=MAX_PROBE_INTERVAL_S),
        timeout_s=t.number("timeout_s", d.timeout_s, above=0, at_most=MAX_PROBE_TIMEOUT_S),
        fail_after=t.integer("fail_after", d.fail_after, minimum=1),
        recover_after=t.integer("recover_after", d.recover_after, minimum=1),
        min_hold_s=t.number("min_hold_s", d.min_hold_s, at_least=0),
        targets=tuple(targets or ()),
    )


def _failover(p: Problems, raw: Mapping) -> FailoverSettings:
    t = Table(p, "failover", raw.get("failover", {}), SECTION_KEYS["failover"])
    d = FailoverSettings()
    revert = t.string("revert", d.revert)
    if revert is not None and revert not in REVERT_MODES:
        p.add("failover.revert", f"must be one of {', '.join(REVERT_MODES)}, got {revert!r}")
    return FailoverSettings(revert=revert, replace_after_s=t.number("replace_after_s", d.replace_after_s, above=0))


def _alerts(p: Problems, raw: Mapping) -> AlertsConfig:
    t = Table(p, "alerts", raw.get("alerts", {}), SECTION_KEYS["alerts"])
    emails = t.string_list("emails", AlertsConfig.emails) or []
    for i, email in enumerate(emails):
        problem = email_problem(email)
        if problem:
            p.add(f"alerts.emails[{i}]", f"{email!r} {problem}")
    slack = t.checked("slack_webhook_parameter", t.string("slack_webhook_parameter", ""), ssm_parameter_problem)
    return AlertsConfig(emails=tuple(dict.fromkeys(emails)), slack_webhook_parameter=slack)


def _permissions(p: Problems, raw: Mapping) -> tuple[PermissionConfig, ...]:
    seen: dict[str, str] = {}
    permissions = []
    for t in _table_list(p, raw, "permissions"):
        arn = t.checked("iam_user_arn", t.string("iam_user_arn", required=True), iam_user_arn_problem)
        if arn is not None and arn in seen:
            p.add(t.key("iam_user_arn"), f"{arn} repeats {p.name(seen[arn])}")
        elif arn is not None:
            seen[arn] = t.key("iam_user_arn")
        permissions.append(PermissionConfig(iam_user_arn=arn, allow_ssh=t.boolean("allow_ssh", True),
                                            allow_sudo=t.boolean("allow_sudo", False)))
    return tuple(permissions)
