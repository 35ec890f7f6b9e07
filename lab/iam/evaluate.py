"""Decide one AWS call under a set of identity policies, as IAM does, and say why.

IAM's order (IAM User Guide, Policy evaluation logic:
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html): an explicit
Deny in any policy wins; otherwise an Allow whose Action/NotAction, Resource/NotResource and Condition
all match allows; otherwise the call is implicitly denied. A call that authorizes several resources
(RunInstances: image, subnet, security group, network interface, instance, volume, ...) is allowed
only when every one of them is: each is evaluated with the condition keys the Service Authorization
Reference lists for its resource type and for the whole request; a key a type does not carry is
absent for it (``aws:RequestTag`` on the subnet of a RunInstances, ``aws:ResourceTag`` on the instance
it creates). Tags give ``aws:ResourceTag/…``/``ec2:ResourceTag/…`` (existing tags) and
``aws:RequestTag/…``/``aws:TagKeys`` (the tags the request puts on that resource).

What it does not model raises ``NotModelled`` instead of guessing: an action or ARN format the
reference does not know, a resource type the action does not authorize, a required resource type
missing from the request, a condition key the action does not have, a key the policy tests that the
request does not state (give ``None`` when AWS would send none), an operator outside ``conditions``,
a policy variable, a ``Principal`` (identity policies only).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from . import reference
from .conditions import Value, arn_like, block_holds, wildcard
from .errors import NotModelled

TAG_KEYS = "aws:tagkeys"
RESOURCE_TAG_PREFIXES = ("aws:resourcetag/", "ec2:resourcetag/")
REQUEST_TAG_PREFIX = "aws:requesttag/"
ALLOW, EXPLICIT_DENY, IMPLICIT_DENY = "allow", "explicit deny", "implicit deny"


@dataclass(frozen=True)
class Resource:
    """One resource a call authorizes: its ARN, the tags it has, the tags the request puts on it
    (None: the request tags nothing), and any other key of its type (``ec2:Vpc``, ``ec2:Subnet``...)."""

    arn: str
    tags: Mapping[str, str] = field(default_factory=dict)
    request_tags: Mapping[str, str] | None = None
    keys: Mapping[str, Value] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    """``action`` ("ec2:RunInstances"), the resources it authorizes (none for an action whose only
    resource is "*") and the request-wide keys (``aws:RequestedRegion``, ``ec2:CreateAction``, ...)."""

    action: str
    resources: Sequence[Resource] = ()
    context: Mapping[str, Value] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    resource: str          # the ARN ("*" for an action without resource types)
    resource_type: str
    effect: str            # ALLOW, EXPLICIT_DENY or IMPLICIT_DENY
    statement: str         # "policy/Sid" that decided ("" for an implicit deny)


@dataclass(frozen=True)
class Decision:
    action: str
    outcomes: tuple[Outcome, ...]
    context: Mapping[str, Value]

    @property
    def allowed(self) -> bool:
        return all(o.effect == ALLOW for o in self.outcomes)

    @property
    def reason(self) -> str:
        lines = [f"{self.action} {o.resource} ({o.resource_type or '*'}): {o.effect}"
                 + (f" by {o.statement}" if o.statement else " (no Allow statement matches)") for o in self.outcomes]
        if self.context:
            lines.append(f"request context: {dict(self.context)}")
        return "; ".join(lines)


def evaluate(policies: Mapping[str, Mapping] | Sequence[Mapping], request: Request) -> Decision:
    """The decision for ``request`` under ``policies`` (name -> document, or a list of documents)."""
    named = dict(policies) if isinstance(policies, Mapping) else {f"policy{i}": p for i, p in enumerate(policies)}
    statements = [(f"{name}/{s.get('Sid') or i}", s) for name, doc in named.items()
                  for i, s in enumerate(_statements(doc))]
    action = reference.action(request.action)
    outcomes = []
    for resource, kind in _resources(action, request.resources):
        lookup = _lookup(action, kind, resource, request.context)
        outcomes.append(_decide(action, resource.arn, kind.name if kind else "", statements, lookup))
    return Decision(action.full_name, tuple(outcomes), dict(request.context))


def _statements(document: Mapping) -> list[Mapping]:
    raw = document.get("Statement", [])
    out = [raw] if isinstance(raw, Mapping) else list(raw)
    for s in out:
        if "Principal" in s or "NotPrincipal" in s:
            raise NotModelled(f"statement {s.get('Sid', '?')}: Principal is for resource policies (not modelled)")
    return out


def _resources(action: reference.Action, resources: Sequence[Resource]):
    """(resource, its type) for each resource; (Resource("*"), None) for an action without types."""
    if not action.resource_types:
        if resources:
            raise NotModelled(f"{action.full_name} authorizes no resource type (only \"*\"); got "
                              f"{[r.arn for r in resources]}")
        return [(Resource("*"), None)]
    typed = []
    for resource in resources:
        name = reference.resource_type_of(action.service, resource.arn)
        kind = action.resource_type(name)
        if kind is None:
            raise NotModelled(f"{action.full_name} does not authorize resource type {name!r} ({resource.arn}); it "
                              f"authorizes {[t.name for t in action.resource_types]}")
        typed.append((resource, kind))
    missing = [t.name for t in action.resource_types if t.required and t.name not in {k.name for _, k in typed}]
    if missing:
        raise NotModelled(f"{action.full_name} always authorizes {missing}: the request names none of them")
    return typed


def _lookup(action: reference.Action, kind: reference.ResourceType | None, resource: Resource,
            context: Mapping[str, Value]):
    applicable = (*action.request_keys, *(kind.keys if kind else ()), *reference.GLOBAL_KEYS)
    given = {k.lower(): v for k, v in {**context, **resource.keys}.items()}

    def lookup(key: str) -> Value:
        key = key.lower()
        if key.startswith(REQUEST_TAG_PREFIX) and not any(reference.template_matches(t, key)
                                                          for t in action.modelled_keys()):
            # a global key "included in the request context when tags are passed in the request" (IAM User
            # Guide, aws:RequestTag): an action that takes no tags (UntagUser, DeleteTags...) never has it
            return None
        if not any(reference.template_matches(t, key) for t in action.modelled_keys()):
            raise NotModelled(f"condition key {key} is not one {action.full_name} has (Service Authorization "
                              "Reference) nor a global key the evaluator models")
        if not any(reference.template_matches(t, key) for t in applicable):
            return None      # the key exists for the action, not for this resource type: absent
        if key in given:
            return given[key]
        if key.startswith(RESOURCE_TAG_PREFIXES):
            tag = key.split("/", 1)[1]
            return next((v for k, v in resource.tags.items() if k.lower() == tag), None)
        if key.startswith(REQUEST_TAG_PREFIX):
            tag = key.split("/", 1)[1]
            return next((v for k, v in (resource.request_tags or {}).items() if k.lower() == tag), None)
        if key == TAG_KEYS:
            return None if resource.request_tags is None else list(resource.request_tags)
        raise NotModelled(f"{action.full_name} on {resource.arn}: a policy tests {key}, which the request context "
                          "does not state (give None if AWS sends none)")
    return lookup


def _decide(action: reference.Action, arn: str, kind: str, statements, lookup) -> Outcome:
    matched = {"Allow": [], "Deny": []}
    for name, statement in statements:
        if _applies(statement, action.full_name, arn, lookup):
            effect = statement.get("Effect")
            if effect not in matched:
                raise NotModelled(f"{name}: Effect {effect!r}")
            matched[effect].append(name)
    if matched["Deny"]:
        return Outcome(arn, kind, EXPLICIT_DENY, matched["Deny"][0])
    if matched["Allow"]:
        return Outcome(arn, kind, ALLOW, matched["Allow"][0])
    return Outcome(arn, kind, IMPLICIT_DENY, "")


def _listed(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _applies(statement: Mapping, action: str, arn: str, lookup) -> bool:
    if "Action" in statement:
        action_hit = any(wildcard(p, action, ignore_case=True) for p in _listed(statement["Action"]))
    else:
        action_hit = not any(wildcard(p, action, ignore_case=True) for p in _listed(statement["NotAction"]))
    patterns = _listed(statement.get("Resource", statement.get("NotResource", [])))
    if any("${" in p for p in patterns):
        raise NotModelled(f"policy variable in Resource {patterns}: not modelled")
    hit = any(p == "*" or arn_like(p, arn) for p in patterns)
    resource_hit = hit if "Resource" in statement else not hit
    # a statement for this action and resource: every key its condition tests must be modelled and stated
    return action_hit and resource_hit and block_holds(statement.get("Condition", {}), lookup)
