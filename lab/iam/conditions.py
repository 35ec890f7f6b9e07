"""IAM condition operators: one Condition block against a request context.

Rules (IAM User Guide): https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
and https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html
- operators in a block, and keys under one operator, are ANDed; the values of one key are ORed;
- a key absent from the request: false, except for a negated operator (StringNotEquals, ...: true),
  ``...IfExists`` (true) and ``Null`` (which tests exactly that);
- ``ForAllValues:`` is true when every value of the request's key matches (so also for none);
  ``ForAnyValue:`` when at least one does (so never for none)
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html);
- ``ArnEquals`` and ``ArnLike`` both match each of the six ARN fields with ``*``/``?`` wildcards.
Any other operator, a policy variable (``${...}``) or a single-valued operator on a multivalued key
raises NotModelled.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache

from .errors import NotModelled

Value = str | Sequence[str] | None      # None: the key is absent from the request context
Lookup = Callable[[str], Value]
SET_PREFIXES = ("ForAllValues:", "ForAnyValue:")
IF_EXISTS = "IfExists"


@lru_cache(maxsize=4096)
def _wildcard_regex(pattern: str, ignore_case: bool) -> re.Pattern:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def wildcard(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """``*`` any run of characters, ``?`` one character; everything else literal."""
    return _wildcard_regex(pattern, ignore_case).fullmatch(value) is not None


def arn_like(pattern: str, arn: str) -> bool:
    """Each of the six colon-separated ARN fields matched on its own (the last one keeps its colons)."""
    if pattern == "*":
        return True
    want, have = pattern.split(":", 5), arn.split(":", 5)
    return len(want) == len(have) == 6 and all(wildcard(w, h) for w, h in zip(want, have, strict=True))


MATCHERS: Mapping[str, tuple[Callable[[str, str], bool], bool]] = {   # base operator -> (match, negated)
    "StringEquals": (lambda v, p: v == p, False),
    "StringNotEquals": (lambda v, p: v == p, True),
    "StringEqualsIgnoreCase": (lambda v, p: v.lower() == p.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda v, p: v.lower() == p.lower(), True),
    "StringLike": (lambda v, p: wildcard(p, v), False),
    "StringNotLike": (lambda v, p: wildcard(p, v), True),
    "ArnEquals": (lambda v, p: arn_like(p, v), False),
    "ArnLike": (lambda v, p: arn_like(p, v), False),
    "ArnNotEquals": (lambda v, p: arn_like(p, v), True),
    "ArnNotLike": (lambda v, p: arn_like(p, v), True),
    "Bool": (lambda v, p: v.lower() == p.lower(), False),
}


def _policy_values(raw) -> list[str]:
    values = raw if isinstance(raw, list) else [raw]
    out = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
    if any("${" in v for v in out):
        raise NotModelled(f"policy variable in condition values {out}: not modelled")
    return out


def condition_holds(operator: str, key: str, raw_values, lookup: Lookup) -> bool:
    """One operator/key pair of a Condition block."""
    values = _policy_values(raw_values)
    base, set_op = operator, ""
    for prefix in SET_PREFIXES:
        if base.startswith(prefix):
            set_op, base = prefix[:-1], base[len(prefix):]
    if_exists = base.endswith(IF_EXISTS) and base != "Null"
    if if_exists:
        base = base[:-len(IF_EXISTS)]
    present = lookup(key)
    if base == "Null":
        if set_op:
            raise NotModelled(f"{operator}: a set operator on Null is not modelled")
        absent = present is None or (not isinstance(present, str) and len(present) == 0)
        return any(absent == (v.lower() == "true") for v in values)
    if base not in MATCHERS:
        raise NotModelled(f"condition operator {operator!r} (on {key}) is not modelled")
    match, negated = MATCHERS[base]

    def one(value: str) -> bool:
        hit = any(match(value, p) for p in values)
        return not hit if negated else hit

    if set_op:
        if present is None and if_exists:
            return True
        items = [] if present is None else [present] if isinstance(present, str) else list(present)
        return all(one(v) for v in items) if set_op == "ForAllValues" else any(one(v) for v in items)
    if present is None:
        return if_exists or negated
    if not isinstance(present, str):
        raise NotModelled(f"{operator} on {key}, a multivalued key: use ForAllValues:/ForAnyValue: (not modelled)")
    return one(present)


def block_holds(condition: Mapping[str, Mapping], lookup: Lookup) -> bool:
    """A whole Condition element: every operator, every key under it."""
    results = [condition_holds(operator, key, values, lookup)   # every pair, so nothing unmodelled hides
               for operator, keys in condition.items() for key, values in keys.items()]
    return all(results)
