"""The Service Authorization Reference as parliament ships it: per action, the resource types it authorizes
(required ones marked ``*``), the condition keys each type and the whole request carry, and each key's type.

https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html
(parliament's ``iam_definition.json`` is a copy of those tables.)
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import parliament

from .errors import NotModelled

DATA = Path(parliament.__file__).resolve().parent / "iam_definition.json"
# Global condition keys the evaluator models (IAM User Guide, AWS global condition context keys:
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html): name -> type.
GLOBAL_KEYS = {"aws:requestedregion": "String", "aws:principalarn": "ARN", "aws:principalaccount": "String",
               "aws:calledvia": "ArrayOfString", "aws:viaawsservice": "Bool"}


@dataclass(frozen=True)
class ResourceType:
    name: str                     # "subnet"; "" is the row of keys that apply to the whole request
    required: bool                # "subnet*": every call of the action authorizes one
    keys: tuple[str, ...]         # key templates, lower case: "aws:resourcetag/${tagkey}"


@dataclass(frozen=True)
class Action:
    service: str
    name: str
    resource_types: tuple[ResourceType, ...]   # without the "" row
    request_keys: tuple[str, ...]              # the "" row's keys

    @property
    def full_name(self) -> str:
        return f"{self.service}:{self.name}"

    def resource_type(self, name: str) -> ResourceType | None:
        return next((t for t in self.resource_types if t.name == name), None)

    def modelled_keys(self) -> tuple[str, ...]:
        """Every key template this action knows, on any resource type, plus the global keys modelled."""
        return (*self.request_keys, *(k for t in self.resource_types for k in t.keys), *GLOBAL_KEYS)


# Resource types the Service Authorization Reference lists for an action that parliament's copy (1.6.4)
# lacks. RunInstances with InstanceMarketOptions MarketType spot creates a spot instance request, which it
# authorizes with the tags the request puts on it (EC2 User Guide, "Tag Spot Instance requests": "The
# ec2:RunInstances action ... For Resource, specify spot-instances-request"; Service Authorization
# Reference, Amazon EC2, RunInstances: spot-instances-request with aws:RequestTag/${TagKey}, aws:TagKeys,
# ec2:IsLaunchTemplateResource, ec2:LaunchTemplate). parliament lists the type for CreateTags only.
ADDED_RESOURCE_TYPES = {
    "ec2:runinstances": (("spot-instances-request", ("aws:requesttag/${tagkey}", "aws:tagkeys",
                                                     "ec2:islaunchtemplateresource", "ec2:launchtemplate")),),
}


@lru_cache(maxsize=1)
def _services() -> dict[str, dict]:
    return {service["prefix"]: service for service in json.loads(DATA.read_text())}


@lru_cache(maxsize=1024)
def action(full_name: str) -> Action:
    """The action ``service:Name`` (case-insensitive), or NotModelled when the reference does not list it."""
    service_name, _, name = full_name.partition(":")
    service = _services().get(service_name.lower())
    privilege = next((p for p in (service or {}).get("privileges", ()) if p["privilege"].lower() == name.lower()), None)
    if service is None or privilege is None or not name:
        raise NotModelled(f"{full_name}: not an action of the Service Authorization Reference (parliament's data)")
    types, request_keys = [], ()
    for row in privilege["resource_types"]:
        keys = tuple(k.lower() for k in row["condition_keys"])
        if row["resource_type"] == "":
            request_keys = keys
        else:
            kind = row["resource_type"]
            types.append(ResourceType(kind.rstrip("*"), kind.endswith("*"), keys))
    have = {t.name for t in types}
    types += [ResourceType(kind, False, keys) for kind, keys in
              ADDED_RESOURCE_TYPES.get(f"{service['prefix']}:{privilege['privilege']}".lower(), ()) if kind not in have]
    return Action(service["prefix"], privilege["privilege"], tuple(types), request_keys)


def _arn_regex(template: str) -> re.Pattern:
    """``arn:${Partition}:ec2:${Region}:${Account}:subnet/${SubnetId}`` -> a regex (each ${...} one field)."""
    parts = re.split(r"(\$\{[^}]+\})", template)
    return re.compile("".join("[^:]*" if p.startswith("${") and p in ("${Partition}", "${Region}", "${Account}")
                              else ".+" if p.startswith("${") else re.escape(p) for p in parts) + "$")


@lru_cache(maxsize=64)
def _resource_patterns(service: str) -> tuple[tuple[str, re.Pattern], ...]:
    # longest literal first, so "dashboard/${Name}" is not taken for a shorter, looser template
    rows = [(r["resource"], _arn_regex(r["arn"]), len(re.sub(r"\$\{[^}]+\}", "", r["arn"])))
            for r in _services()[service]["resources"]]
    return tuple((name, regex) for name, regex, _ in sorted(rows, key=lambda row: -row[2]))


def resource_type_of(service: str, arn: str) -> str:
    """The resource type an ARN names, by the service's ARN formats; NotModelled when none fits."""
    for name, regex in _resource_patterns(service):
        if regex.match(arn):
            return name
    raise NotModelled(f"{arn}: no resource type of service {service!r} has this ARN format")


def key_type(service: str, key: str) -> str:
    """A condition key's type (String, ArrayOfString, ARN, Bool, ...) from the reference or GLOBAL_KEYS."""
    key = key.lower()
    if key in GLOBAL_KEYS:
        return GLOBAL_KEYS[key]
    for prefix in {service, key.split(":", 1)[0]}:
        for row in _services().get(prefix, {}).get("conditions", ()):
            if template_matches(row["condition"].lower(), key):
                return row["type"]
    return "String"


def template_matches(template: str, key: str) -> bool:
    """``aws:requesttag/${tagkey}`` matches ``aws:requesttag/hanat:stack``; other templates match themselves."""
    if "${" not in template:
        return template == key
    head = template.split("${", 1)[0]
    return key.startswith(head) and len(key) > len(head)
