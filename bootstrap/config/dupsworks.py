"""Import the seed's DupsWorks ``settings.cfg`` (configobj format) into a validated HanatConfig.

The file is mapped onto hanat's TOML shape, then validated by the same rules as a TOML file;
problems name the settings.cfg key (e.g. ``PersonalSettings.vpc_subnet_az2_private_cidr``).
OpsWorks-only settings are accepted with one warning each: OpsWorks Stacks no longer exists.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Any

from configobj import ConfigObj, ConfigObjError, Section

from chalicelib.errors import ConfigError

from .model import HanatConfig
from .rules import STACK_NAME_RULE
from .validate import build_config

OPSWORKS_RETIRED = "OpsWorks Stacks was retired by AWS on 2024-05-26"
RETIRED_KEYS = {
    "stack_service_role_arn": "no OpsWorks service role is needed: the Chalice controller runs under its own "
                              "least-privilege IAM role",
    "stack_default_instance_profile_arn": "hanat's launch template attaches its own instance profile to each "
                                          "NAT instance",
}
RETIRED_SECTIONS = {
    "OpsWorks": "hanat's launch template (NAT user data) sets the instances up and its Chalice controller "
                "watches them and moves routes",
    "awscli": "hanat uses boto3 with the standard AWS settings (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL)",
}
KNOWN_SECTIONS = ("PersonalSettings", "OptionalSettings", "VPC", *RETIRED_SECTIONS)
PERMISSION_KEYS = ("iam_user_arn", "allow_ssh", "allow_sudo")
SEED_PROBE_PORT = 443
_ZONE_KEY = re.compile(r"vpc_subnet_az([1-9]\d*)(?:_(public|private)_cidr)?")
_TARGET_KEY = re.compile(r"target_via_checking_nat_az([1-9]\d*)")
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

    def run(self, document: ConfigObj) -> None:
        for key in document.scalars:
            self.problems.append(f"unknown key {key} (outside any section)")
        handlers = {"PersonalSettings": self._personal, "OptionalSettings": self._optional, "VPC": self._vpc}
        for name in document.sections:
            if name in handlers:
                handlers[name](document[name])
            elif name in RETIRED_SECTIONS:
                self.warnings.append(f"section [{name}] ignored: {OPSWORKS_RETIRED}; {RETIRED_SECTIONS[name]}")
            else:
                self.problems.append(f"unknown section [{name}] (known: {', '.join(KNOWN_SECTIONS)})")
        if "PersonalSettings" not in document.sections:
            self.problems.append("section [PersonalSettings] is missing")
            self._personal(Section(document, 1, document, name="PersonalSettings"))

    def _unknown(self, section: Section, path: str, known_subsections: tuple[str, ...] = ()) -> None:
        for name in section.sections:
            if name not in known_subsections:
                self.problems.append(f"unknown section {path}.{name}")

    def _personal(self, section: Section) -> None:
        stack: dict[str, Any] = {}
        zones: dict[int, dict[str, Any]] = {}
        for key in section.scalars:
            value, path = section[key], f"PersonalSettings.{key}"
            match = _ZONE_KEY.fullmatch(key)
            if key == "stack_name":
                stack["name"] = self._stack_name(value)
            elif key in ("region", "vpc_cidr"):
                stack[key] = value
            elif key == "vpc_name":
                self.warnings.append(f"{path} {value!r} is not used: hanat names the VPC "
                                     "hanat-<stack>-vpc and tags every resource hanat:stack=<stack>")
            elif key in RETIRED_KEYS:
                self.warnings.append(f"{path} ignored: {OPSWORKS_RETIRED}; {RETIRED_KEYS[key]}")
            elif match:
                field = "az" if match.group(2) is None else f"{match.group(2)}_cidr"
                zones.setdefault(int(match.group(1)), {})[field] = value
            else:
                self.problems.append(f"unknown key {path}")
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
                if key in PERMISSION_KEYS:
                    value = section[user][key]
                    entry[key] = value if key == "iam_user_arn" else _as_boolean(value)
                else:
                    self.problems.append(f"unknown key {base}.{user}.{key}")
            self._unknown(section[user], f"{base}.{user}")
            for key in PERMISSION_KEYS:
                self.key_names[f"permissions[{len(permissions)}].{key}"] = f"{base}.{user}.{key}"
            permissions.append(entry)

    def _optional(self, section: Section) -> None:
        self._unknown(section, "OptionalSettings")
        for key in section.scalars:
            value = section[key]
            if key == "instance_type_nat":
                if value != "":
                    self.raw.setdefault("nat", {})["instance_type"] = value
                self.key_names["nat.instance_type"] = f"OptionalSettings.{key}"
            elif key == "instance_type_admin":
                if value != "":
                    self.raw["admin"] = {"enabled": True, "instance_type": value}
                    self.warnings.append(f"OptionalSettings.instance_type_admin is set: admin.enabled = true "
                                         f"(an admin instance of type {value}, as the seed built one)")
                self.key_names["admin.instance_type"] = f"OptionalSettings.{key}"
            else:
                self.problems.append(f"unknown key OptionalSettings.{key}")

    def _vpc(self, section: Section) -> None:
        self._unknown(section, "VPC")
        found: list[tuple[int, str, Any]] = []
        for key in section.scalars:
            match = _TARGET_KEY.fullmatch(key)
            if match:
                found.append((int(match.group(1)), key, section[key]))
            else:
                self.problems.append(f"unknown key VPC.{key}")
        targets: list[Any] = []
        converted: list[str] = []
        for _, key, value in sorted(found):
            if not isinstance(value, str) or not value.strip():
                self.problems.append(f"VPC.{key} must be one host name or IP address, got {value!r}")
                continue
            url = seed_target_to_url(value.strip())
            if url in targets:
                continue
            if url != value:
                converted.append(f"{value} -> {url}")
            self.key_names[f"probe.targets[{len(targets)}]"] = f"VPC.{key}"
            targets.append(url)
        if found:
            self.raw["probe"] = {"targets": targets}
            self.key_names["probe.targets"] = "VPC.target_via_checking_nat_az<N>"
        if converted:
            self.warnings.append("VPC.target_via_checking_nat_az<N>: the seed pinged these hosts; hanat's "
                                 f"probes connect by TCP instead ({', '.join(converted)})")
