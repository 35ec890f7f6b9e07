"""Import a DupsWorks ``settings.cfg`` (configobj format) into a validated HanatConfig.

A file made the way DupsWorks' README says (copy ``settings.cfg.example``, edit
``[PersonalSettings]``) imports as it is. The file is mapped onto hanat's TOML shape, then
validated by the same rules as a TOML file; problems name the settings.cfg key (e.g.
``PersonalSettings.vpc_subnet_az2_private_cidr``). What has a meaning in hanat is mapped:

- CIDRs, region, zones, stack name, ``[[stack_permissions]]``, instance types (a type that
  cannot boot hanat's HVM AMI, such as the example's ``t1.micro``, becomes the default, with a warning);
- ``vpc_name`` and the ``[VPC] *_name_template`` keys become Name tag templates (``names``);
- ``target_via_checking_nat_az<N>`` (hosts the seed pinged through the other NAT) and
  ``target_via_inetgw_az<N>`` (hosts it pinged through the internet gateway) become TCP probe
  targets on port 443, with a warning each: hanat probes TCP, not ICMP.

The rest of the published example (dupsworks_keys.py) is accepted with one warning per key or
retired section; a key that is in no DupsWorks release is an error.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Any

from configobj import ConfigObj, ConfigObjError, Section

from chalicelib.errors import ConfigError

from . import dupsworks_keys as keys
from .names import from_dupsworks
from .schema import AdminConfig, HanatConfig, NatConfig
from .validate import build_config
from .value_checks import STACK_NAME_RULE, pv_only_problem

SEED_PROBE_PORT = 443
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def import_dupsworks(text: str, *, source: str) -> HanatConfig:
    """Map, then validate; raise ConfigError listing every problem (syntax, unknown keys, bad values)."""
    document = _parse(text, source)
    importer = _Importer()
    importer.run(document)
    return build_config(importer.raw, source=source, warnings=importer.warnings,
                        key_names=importer.key_names, problems=importer.problems)


def sanitise_stack_name(name: str) -> str:
    """The seed's stack_name made into a hanat stack name ("My_Stack 2" -> "my-stack-2"), "" if impossible."""
    name = re.sub(r"[^a-z0-9]+", "-", name.lower())
    name = re.sub(r"^[^a-z]+", "", name)
    return name[:32].rstrip("-")


def seed_target_to_url(host: str) -> str:
    """The seed pinged a host name or IP; hanat probes it by TCP on port 443. URLs pass unchanged."""
    if "://" in host:
        return host
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"tcp://[{host}]:{SEED_PROBE_PORT}"
    except ValueError:
        pass
    return f"tcp://{host}:{SEED_PROBE_PORT}"


def _parse(text: str, source: str) -> ConfigObj:
    try:
        return ConfigObj(text.splitlines(), interpolation=False, list_values=True, file_error=False)
    except ConfigObjError as exc:
        errors = getattr(exc, "errors", None) or [exc]
        problems = [f"{source} line {getattr(e, 'line_number', '?')}: {getattr(e, 'msg', e)}" for e in errors]
        raise ConfigError(problems, source=source) from None


def _as_boolean(value: Any) -> Any:
    """configobj keeps "True"/"no" as strings; unknown words stay strings so validation names them."""
    if isinstance(value, str) and value.strip().lower() in _TRUE:
        return True
    if isinstance(value, str) and value.strip().lower() in _FALSE:
        return False
    return value


class _Importer:
    """Builds the TOML-shaped dict, the key-name map, early problems and warnings."""

    def __init__(self) -> None:
        self.raw: dict[str, Any] = {}
        self.key_names: dict[str, str] = {}
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.vpc_name: str | None = None

    def run(self, document: ConfigObj) -> None:
        for key in document.scalars:
            self.problems.append(f"unknown key {key} (outside any section)")
        if "PersonalSettings" in document.sections:     # first: [VPC] templates use its vpc_name
            self._personal(document["PersonalSettings"])
        else:
            self.problems.append("section [PersonalSettings] is missing")
            self._personal(Section(document, 1, document, name="PersonalSettings"))
        handlers = {"OptionalSettings": self._optional, "VPC": self._vpc}
        for name in document.sections:
            if name in handlers:
                handlers[name](document[name])
            elif name in keys.RETIRED_SECTIONS:
                self._retired_section(name, document[name])
            elif name != "PersonalSettings":
                self.problems.append(f"unknown section [{name}] (known: {', '.join(keys.KNOWN_SECTIONS)})")

    def _unknown(self, section: Section, path: str, known_subsections: tuple[str, ...] = ()) -> None:
        for name in section.sections:
            if name not in known_subsections:
                self.problems.append(f"unknown section {path}.{name}")

    def _retired(self, section: str, key: str) -> bool:
        reason = keys.RETIRED_KEYS.get(section, {}).get(key)
        if reason:
            self.warnings.append(f"{section}.{key} ignored: {reason}")
        return reason is not None

    # --- [PersonalSettings] ---------------------------------------------------------------
    def _personal(self, section: Section) -> None:
        stack: dict[str, Any] = {}
        zones: dict[int, dict[str, Any]] = {}
        for key in section.scalars:
            value = section[key]
            match = keys.ZONE_KEY.fullmatch(key)
            if key == "stack_name":
                stack["name"] = self._stack_name(value)
            elif key in ("region", "vpc_cidr"):
                stack[key] = value
            elif key == "vpc_name":
                self.vpc_name = value if isinstance(value, str) else None
                self._name("vpc", value.replace("{", "{{").replace("}", "}}") if isinstance(value, str) else value,
                           "PersonalSettings.vpc_name")
            elif self._retired("PersonalSettings", key):
                pass
            elif match:
                field = "az" if match.group(2) is None else f"{match.group(2)}_cidr"
                zones.setdefault(int(match.group(1)), {})[field] = value
            else:
                self.problems.append(f"unknown key PersonalSettings.{key}")
        self._unknown(section, "PersonalSettings", ("stack_permissions",))
        if "stack_permissions" in section.sections:
            self._permissions(section["stack_permissions"])
        self.raw["stack"] = stack
        for field, key in (("name", "stack_name"), ("region", "region"), ("vpc_cidr", "vpc_cidr")):
            self.key_names[f"stack.{field}"] = f"PersonalSettings.{key}"
        self.raw["zones"] = []
        self.key_names["zones"] = "PersonalSettings.vpc_subnet_az<N>"
        for index, number in enumerate(sorted(zones)):
            self.raw["zones"].append(zones[number])
            base = f"PersonalSettings.vpc_subnet_az{number}"
            self.key_names[f"zones[{index}].az"] = base
            for kind in ("public", "private"):
                self.key_names[f"zones[{index}].{kind}_cidr"] = f"{base}_{kind}_cidr"

    def _stack_name(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        name = sanitise_stack_name(value)
        if not name:
            return value   # validation reports the original value
        if name != value:
            self.warnings.append(f"PersonalSettings.stack_name {value!r} became stack name {name!r} "
                                 f"(hanat stack names are {STACK_NAME_RULE})")
        return name

    def _permissions(self, section: Section) -> None:
        base = "PersonalSettings.stack_permissions"
        for key in section.scalars:
            self.problems.append(f"unknown key {base}.{key} (each user is a [[[subsection]]])")
        permissions = self.raw.setdefault("permissions", [])
        for user in section.sections:
            entry: dict[str, Any] = {}
            for key in section[user].scalars:
                if key in keys.PERMISSION_KEYS:
                    value = section[user][key]
                    entry[key] = value if key == "iam_user_arn" else _as_boolean(value)
                else:
                    self.problems.append(f"unknown key {base}.{user}.{key}")
            self._unknown(section[user], f"{base}.{user}")
            for key in keys.PERMISSION_KEYS:
                self.key_names[f"permissions[{len(permissions)}].{key}"] = f"{base}.{user}.{key}"
            permissions.append(entry)

    # --- [OptionalSettings] ---------------------------------------------------------------
    def _optional(self, section: Section) -> None:
        self._unknown(section, "OptionalSettings")
        for key in section.scalars:
            if key in keys.INSTANCE_TYPE_KEYS:
                self._instance_type(keys.INSTANCE_TYPE_KEYS[key], f"OptionalSettings.{key}", section[key])
            elif not self._retired("OptionalSettings", key):
                self.problems.append(f"unknown key OptionalSettings.{key}")

    def _instance_type(self, role: str, path: str, value: Any) -> None:
        self.key_names[f"{role}.instance_type"] = path
        default = NatConfig.instance_type if role == "nat" else AdminConfig.instance_type
        retired = pv_only_problem(value) if isinstance(value, str) else None
        note = f"{value} {retired}: using the default {default}" if retired else ""
        if role == "admin" and value != "":
            self.raw["admin"] = {"enabled": True, **({} if retired else {"instance_type": value})}
            kind = f"; its type {note}" if retired else f" of type {value}"
            self.warnings.append(f"{path} is set: admin.enabled = true (an admin instance, as the seed "
                                 f"built one){kind}")
        elif role == "nat" and value != "":
            if retired:
                self.warnings.append(f"{path} {note}")
            else:
                self.raw.setdefault("nat", {})["instance_type"] = value

    # --- [VPC] ----------------------------------------------------------------------------
    def _vpc(self, section: Section) -> None:
        self._unknown(section, "VPC")
        checking: list[tuple[int, str, Any]] = []
        via_igw: list[tuple[int, str, Any]] = []
        for key in section.scalars:
            value = section[key]
            if key in keys.NAME_TEMPLATE_KEYS:
                self._template(key, value)
            elif match := keys.CHECKING_NAT_KEY.fullmatch(key):
                checking.append((int(match.group(1)), key, value))
            elif match := keys.INTERNET_GATEWAY_KEY.fullmatch(key):
                via_igw.append((int(match.group(1)), key, value))
            else:
                self.problems.append(f"unknown key VPC.{key}")
        targets: list[str] = []
        checked = self._targets(sorted(checking), targets)
        gateway = self._targets(sorted(via_igw), targets)
        if targets:
            self.raw["probe"] = {"targets": targets}
            self.key_names["probe.targets"] = "VPC.target_via_*_az<N>"
        if checked:
            self.warnings.append(
                "VPC.target_via_checking_nat_az<N>: the seed pinged these hosts (ICMP) through the other zone's "
                "NAT; hanat probes TCP, not ICMP, through each zone's own NAT, so each must accept TCP "
                f"connections on port {SEED_PROBE_PORT}: {', '.join(checked)}")
        if gateway:
            self.warnings.append(
                "VPC.target_via_inetgw_az<N>: the seed pinged these hosts through the internet gateway, to tell "
                "a dead partner NAT from a dead internet; hanat's heartbeat makes that check itself (its control "
                "probe, through no NAT) against probe.targets, so they are probe targets too (TCP, not ICMP): "
                f"{', '.join(gateway)}")

    def _targets(self, found: list[tuple[int, str, Any]], targets: list[str]) -> list[str]:
        """Append each host as a URL (no repeats); returns "key host -> url" for the warning."""
        notes = []
        for _, key, value in found:
            if not isinstance(value, str) or not value.strip():
                self.problems.append(f"VPC.{key} must be one host name or IP address, got {value!r}")
                continue
            url = seed_target_to_url(value.strip())
            notes.append(f"{key.rsplit('_', 1)[-1]} {value.strip()}" + (f" -> {url}" if url != value.strip() else ""))
            if url not in targets:
                self.key_names[f"probe.targets[{len(targets)}]"] = f"VPC.{key}"
                targets.append(url)
        return notes

    def _template(self, key: str, value: Any) -> None:
        path = f"VPC.{key}"
        if not isinstance(value, str):
            self.problems.append(f"{path} must be one text, got {value!r} (configobj reads a value with commas "
                                 "as a list: quote it)")
            return
        fields = () if key == "igw_name_template" else ("layer", "group")
        if "%(vpc_name)s" in value and self.vpc_name is None:
            self.problems.append(f"{path} uses %(vpc_name)s but PersonalSettings.vpc_name is not set")
            return
        template, unknown = from_dupsworks(value, self.vpc_name or "", fields)
        if unknown:
            known = ", ".join(f"%({f})s" for f in ("vpc_name", *fields))
            self.problems.append(f"{path} {value!r} has unknown placeholders {', '.join(unknown)} "
                                 f"(DupsWorks filled in {known})")
            return
        self._name(keys.NAME_TEMPLATE_KEYS[key], template, path)

    def _name(self, field: str, template: Any, path: str) -> None:
        self.raw.setdefault("names", {})[field] = template
        self.key_names[f"names.{field}"] = path

    # --- [OpsWorks], [awscli] -------------------------------------------------------------
    def _retired_section(self, name: str, section: Section) -> None:
        self._unknown(section, name)
        known = keys.RETIRED_SECTIONS[name]
        present = [key for key in section.scalars if key in known]
        self.problems.extend(f"unknown key {name}.{key}" for key in section.scalars if key not in known)
        listed = f" ({', '.join(present)})" if present else ""
        self.warnings.append(f"section [{name}]{listed} ignored: {keys.RETIRED_SECTION_REASONS[name]}")
