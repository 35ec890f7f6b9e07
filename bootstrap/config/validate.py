"""Strict validation of a TOML-shaped configuration dict into a frozen ``HanatConfig``.

Every rule runs and every problem is collected, so one ``ConfigError`` lists them all; each
problem starts with the key it is about (``key_names`` lets an importer show its own key names,
e.g. ``PersonalSettings.vpc_cidr`` for ``stack.vpc_cidr``). Nothing here touches AWS.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

from chalicelib.engine.window import parse_window
from chalicelib.errors import ConfigError, InputError
from chalicelib.probes.targets import target_problem
from chalicelib.settings import (
    DEFAULT_PROBE_TARGETS,
    MAX_PROBE_TIMEOUT_S,
    METRICS_LEVELS,
    REVERT_MODES,
    FailoverSettings,
    MaintenanceSettings,
    MarketSettings,
    ProbeSettings,
)

from .adopt_zones import ADOPT_ZONE_KEYS, adopted_zones, reject_adopt_keys
from .capacity import TRAFFIC_KEYS, addresses_problem, traffic_config
from .derive import MAX_ZONES, MIN_ZONES, SMALLEST_SUBNET_PREFIX, SUBNET_KINDS, derive_missing, layout_prefix
from .names import PLACEHOLDERS, name_problem, render_name, template_problem
from .schema import (
    AdminConfig,
    AlertsConfig,
    HanatConfig,
    MetricsConfig,
    NameTemplates,
    NatConfig,
    PermissionConfig,
    StackConfig,
    ZoneConfig,
)
from .table import Problems, Table, describe
from .value_checks import (
    ami_problem,
    az_problem,
    ec2_id_problem,
    email_problem,
    handoff_note,
    iam_user_arn_problem,
    instance_type_problem,
    market_problem,
    parse_cidr,
    pv_only_problem,
    region_problem,
    ssm_parameter_problem,
    stack_name_problem,
)

SECTION_KEYS = {
    "stack": {"name", "region", "vpc_cidr", "vpc_id"},
    "nat": {"instance_type", "ami", "addresses", "market", "spot_fallback"},
    "probe": {"interval_s", "timeout_s", "fail_after", "recover_after", "min_hold_s", "targets"},
    "failover": {"revert", "replace_after_s", "handoff_s", "handoff_ack_timeout_s", "degraded_after",
                 "degraded_clear_after", "degraded_min_hold_s", "degraded_conntrack_percent", "degraded_drops",
                 "headroom_percent"},
    "maintenance": {"window", "max_instance_age_days", "drain_s"},
    "alerts": {"emails", "slack_webhook_parameter"},
    "admin": {"enabled", "instance_type"},
    "names": set(PLACEHOLDERS),
    "traffic": set(TRAFFIC_KEYS),
    "metrics": {"level"},
}
LIST_SECTION_KEYS = {
    "zones": {"az", *(f"{kind}_cidr" for kind in SUBNET_KINDS), *ADOPT_ZONE_KEYS},
    "permissions": {"iam_user_arn", "allow_ssh", "allow_sudo"},
}
VPC_PREFIX_RANGE = (16, 24)       # AWS allows /16../28 for a VPC; hanat needs room for its subnets
SUBNET_PREFIX_RANGE = (16, SMALLEST_SUBNET_PREFIX)
MAX_PROBE_INTERVAL_S = 60         # the heartbeat runs once a minute
MAX_HANDOFF_ACK_TIMEOUT_S = 30    # a planned move holds its sweep (and its zones' claims) while it waits
Net = ipaddress.IPv4Network


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
    adopting = isinstance(raw.get("stack"), Mapping) and "vpc_id" in raw["stack"]
    zones = _zones(p, raw, stack.region if stack else None, vpc if isinstance(vpc, Net) else None, adopting)
    nat, admin = _instances(p, raw)
    probe, failover = _probe(p, raw), _failover(p, raw)
    maintenance = _maintenance(p, raw, failover)
    alerts, permissions = _alerts(p, raw), _permissions(p, raw)
    names = _names(p, raw, stack.name if stack else None, zones)
    traffic = traffic_config(p, raw)
    metrics_t = Table(p, "metrics", raw.get("metrics", {}), SECTION_KEYS["metrics"])
    level = metrics_t.checked("level", metrics_t.string("level", MetricsConfig.level), _metrics_level_problem)
    if p.items:
        raise ConfigError(p.items, source=source)
    notes = [note for note in (handoff_note(nat.instance_type),) if note]
    return HanatConfig(stack=stack, zones=zones, nat=nat, probe=probe, failover=failover, maintenance=maintenance,
                       alerts=alerts, admin=admin, permissions=permissions, names=names, traffic=traffic,
                       metrics=MetricsConfig(level=level or MetricsConfig.level),
                       source=source,
                       warnings=tuple(warnings) + tuple(notes))


def _stack(p: Problems, raw: Mapping) -> StackConfig | None:
    if "stack" not in raw:
        p.items.append(f"{p.name('stack')} is required (name, region, vpc_cidr)")
        return None
    t = Table(p, "stack", raw["stack"], SECTION_KEYS["stack"])
    name = t.checked("name", t.string("name", required=True), stack_name_problem)
    region = t.checked("region", t.string("region", required=True), region_problem)
    vpc_id = t.checked("vpc_id", t.string("vpc_id"), lambda value: ec2_id_problem(value, "vpc"))
    vpc_text = t.string("vpc_cidr")
    if "vpc_cidr" in t.data and "vpc_id" in t.data:
        p.add("stack.vpc_cidr", f"and {p.name('stack.vpc_id')} exclude each other: vpc_cidr builds a new VPC, "
                                "vpc_id adopts an existing one; keep one")
        vpc_text = vpc_id = None
    elif t.is_table and "vpc_cidr" not in t.data and "vpc_id" not in t.data:
        p.add("stack.vpc_cidr", f"is required (or {p.name('stack.vpc_id')} to adopt an existing VPC)")
    if vpc_text is not None:
        vpc = parse_cidr(vpc_text)
        if isinstance(vpc, str):
            p.add("stack.vpc_cidr", f"{vpc_text!r} {vpc}")
            vpc_text = None
        elif not VPC_PREFIX_RANGE[0] <= vpc.prefixlen <= VPC_PREFIX_RANGE[1]:
            low, high = VPC_PREFIX_RANGE
            p.add("stack.vpc_cidr", f"{vpc_text} must be a /{low} to /{high} network, got /{vpc.prefixlen}")
            vpc_text = None
    return StackConfig(name=name, region=region, vpc_cidr="" if vpc_id else vpc_text, vpc_id=vpc_id or "")


def _table_list(p: Problems, raw: Mapping, section: str) -> list[Table]:
    value = raw.get(section, [])
    if not isinstance(value, list):
        p.add(section, f"must be a list of tables ([[{section}]]), got {describe(value)}")
        return []
    return [Table(p, f"{section}[{i}]", item, LIST_SECTION_KEYS[section]) for i, item in enumerate(value)]


def _zones(p: Problems, raw: Mapping, region: str | None, vpc: Net | None,
           adopting: bool = False) -> tuple[ZoneConfig, ...]:
    tables = _table_list(p, raw, "zones")
    if not MIN_ZONES <= len(tables) <= MAX_ZONES and isinstance(raw.get("zones", []), list):
        p.add("zones", f"must list {MIN_ZONES} to {MAX_ZONES} zones, got {len(tables)}")
    seen_azs: dict[str, str] = {}
    explicit: dict[tuple[int, str], Net] = {}
    cidrs: dict[tuple[int, str], str | None] = {}
    azs: list[str | None] = []
    for index, t in enumerate(tables):
        az = t.string("az", required=True)
        if az is not None and region is not None:
            az = t.checked("az", az, lambda value: az_problem(value, region))
        if az is not None and az in seen_azs:
            p.add(t.key("az"), f"{az} repeats {p.name(seen_azs[az])}")
        elif az is not None:
            seen_azs[az] = t.key("az")
        azs.append(az)
        if adopting:   # the subnets exist (bootstrap/config/adopt_zones.py)
            continue
        for kind in SUBNET_KINDS:
            if f"{kind}_cidr" in t.data or vpc is None:
                net = _explicit_subnet(t, kind, vpc)
                cidrs[index, kind] = None if net is None else str(net)
                if net is not None:
                    _report_overlap(p, t.key(f"{kind}_cidr"), net, explicit)
                    explicit[index, kind] = net
    if adopting:
        return adopted_zones(p, tables, azs)
    reject_adopt_keys(p, tables)
    if vpc is not None:
        _derive(p, vpc, len(tables), explicit, cidrs)
    return tuple(ZoneConfig(az=az, **{f"{kind}_cidr": cidrs.get((i, kind)) for kind in SUBNET_KINDS})
                 for i, az in enumerate(azs))


def _explicit_subnet(t: Table, kind: str, vpc: Net | None) -> Net | None:
    key = f"{kind}_cidr"
    text = t.string(key)
    if text is None:
        return None
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
    return net


def _report_overlap(p: Problems, key: str, net: Net, earlier: Mapping[tuple[int, str], Net]) -> None:
    for (index, kind), other in earlier.items():
        if net.overlaps(other):
            p.add(key, f"{net} overlaps {p.name(f'zones[{index}].{kind}_cidr')} {other}")


def _derive(p: Problems, vpc: Net, zone_count: int, explicit: Mapping[tuple[int, str], Net],
            cidrs: dict[tuple[int, str], str | None]) -> None:
    """Fill the subnets the config leaves out (bootstrap/config/derive.py), around the explicit ones."""
    derivation = derive_missing(vpc, zone_count, explicit)
    for key, net in derivation.subnets.items():
        cidrs.setdefault(key, str(net))
    if derivation.no_room:
        names = ", ".join(f"{p.name(f'zones[{i}].{kind}_cidr')} (/{layout_prefix(vpc, kind)})"
                          for i, kind in derivation.no_room)
        p.add("stack.vpc_cidr", f"{vpc} has no free room left for {names}: use a larger vpc_cidr "
                                "or smaller explicit subnets")


def _instances(p: Problems, raw: Mapping) -> tuple[NatConfig, AdminConfig]:
    nat_t = Table(p, "nat", raw.get("nat", {}), SECTION_KEYS["nat"])
    nat_type = nat_t.checked("instance_type", nat_t.string("instance_type", NatConfig.instance_type),
                             _instance_type_problem)
    ami = nat_t.checked("ami", nat_t.string("ami", NatConfig.ami), ami_problem)
    addresses = nat_t.integer("addresses", NatConfig.addresses, minimum=1)
    if addresses is not None and (problem := addresses_problem(addresses, nat_type)):
        p.add("nat.addresses", problem)
    market = nat_t.checked("market", nat_t.string("market", MarketSettings.market), market_problem)
    fallback = nat_t.boolean("spot_fallback", MarketSettings.spot_fallback)
    admin_t = Table(p, "admin", raw.get("admin", {}), SECTION_KEYS["admin"])
    enabled = admin_t.boolean("enabled", AdminConfig.enabled)
    admin_type = admin_t.checked("instance_type", admin_t.string("instance_type", AdminConfig.instance_type),
                                 _instance_type_problem)
    nat = NatConfig(instance_type=nat_type, ami=ami, addresses=addresses or NatConfig.addresses,
                    market=MarketSettings(market=market or MarketSettings.market, spot_fallback=bool(fallback)))
    return nat, AdminConfig(enabled=enabled, instance_type=admin_type)


def _metrics_level_problem(level: str) -> str | None:
    """``[metrics] level``: what the heartbeat publishes of the NATs' counters (chalicelib/nat_readings.py)."""
    return None if level in METRICS_LEVELS else f"must be one of {', '.join(METRICS_LEVELS)}"


def _instance_type_problem(instance_type: str) -> str | None:
    return instance_type_problem(instance_type) or pv_only_problem(instance_type)


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
        revert = None
    percent = {k: t.number(k, getattr(d, k), above=0) for k in ("degraded_conntrack_percent", "headroom_percent")}
    for k, v in percent.items():
        if v is not None and v > 100:
            p.add(f"failover.{k}", f"must be a percentage <= 100, got {v}")
            percent[k] = None
    return FailoverSettings(revert=revert, replace_after_s=t.number("replace_after_s", d.replace_after_s, above=0),
                            handoff_s=t.number("handoff_s", d.handoff_s, at_least=0),
                            handoff_ack_timeout_s=t.number("handoff_ack_timeout_s", d.handoff_ack_timeout_s,
                                                           at_least=0, at_most=MAX_HANDOFF_ACK_TIMEOUT_S),
                            degraded_after=t.integer("degraded_after", d.degraded_after, minimum=0),
                            degraded_clear_after=t.integer("degraded_clear_after", d.degraded_clear_after, minimum=1),
                            degraded_min_hold_s=t.number("degraded_min_hold_s", d.degraded_min_hold_s, at_least=0),
                            degraded_drops=t.integer("degraded_drops", d.degraded_drops, minimum=0), **percent)


def _maintenance(p: Problems, raw: Mapping, failover: FailoverSettings) -> MaintenanceSettings:
    t = Table(p, "maintenance", raw.get("maintenance", {}), SECTION_KEYS["maintenance"])
    d = MaintenanceSettings()
    window = t.string("window", d.window)
    if window is not None:
        try:
            window = parse_window(window).text
        except InputError as err:
            for problem in err.problems:
                p.add("maintenance.window", problem)
            window = None
    drain_s = t.number("drain_s", d.drain_s, at_least=0)
    if drain_s is not None and failover.handoff_s is not None and drain_s > failover.handoff_s:
        p.add("maintenance.drain_s", f"{drain_s:g} must be at most {p.name('failover.handoff_s')} "
                                     f"{failover.handoff_s:g} (the old NAT hands flows back only that long)")
    if failover.revert == "window" and window == "":
        p.add("failover.revert", f"'window' needs a {p.name('maintenance.window')} (it is \"\": never)")
    return MaintenanceSettings(window=window, drain_s=drain_s,
                               max_instance_age_days=t.integer("max_instance_age_days", d.max_instance_age_days,
                                                               minimum=0))


def _names(p: Problems, raw: Mapping, stack: str | None, zones: Sequence[ZoneConfig]) -> NameTemplates:
    t = Table(p, "names", raw.get("names", {}), SECTION_KEYS["names"])
    templates = {}
    for field, placeholders in PLACEHOLDERS.items():
        template = t.checked(field, t.string(field, ""), lambda text, ph=placeholders: template_problem(text, ph))
        templates[field] = template
        if not template or stack is None:
            continue
        rendered = {render_name(template, stack=stack, kind=kind, az=zone.az or "", zone=i + 1)
                    for i, zone in enumerate(zones) for kind in SUBNET_KINDS} or {render_name(template, stack=stack)}
        problems = sorted({f"{name!r}, which {problem}" for name in rendered if (problem := name_problem(name))})
        for problem in problems[:1]:        # one is enough: every name of a template shares the problem
            p.add(t.key(field), f"{template!r} gives the name {problem}")
    return NameTemplates(**templates)


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
