"""Name tags from templates (``[names]``; DupsWorks' ``*_name_template``): syntax, rendering, limits.

A template is text with placeholders in braces: ``{stack}`` (stack name), and for subnets and route
tables also ``{kind}`` (public, private, probe), ``{az}`` (availability zone) and ``{zone}`` (the
zone's number, 1 for the first ``[[zones]]`` table). ``{{``/``}}`` are literal braces. ``""`` means
hanat's own name (``hanat-<stack>-<role>[-<az>]``).
"""
from __future__ import annotations

import re
from string import Formatter

PLACEHOLDERS = {
    "vpc": ("stack",),
    "internet_gateway": ("stack",),
    "subnet": ("stack", "kind", "az", "zone"),
    "route_table": ("stack", "kind", "az", "zone"),
}
# AWS tags: a value is at most 256 Unicode characters, and the prefix "aws:" is reserved for AWS
# (docs.aws.amazon.com/AWSEC2/latest/UserGuide/Using_Tags.html, "Tag restrictions").
MAX_TAG_VALUE = 256
_DUPSWORKS_FIELD = re.compile(r"%\((\w+)\)s|%%|[{}]")
DUPSWORKS_FIELDS = {"layer": "{kind}", "group": "AZ{zone}"}


def render_name(template: str, *, stack: str, kind: str = "", az: str = "", zone: int = 0) -> str:
    """The Name tag ``template`` gives one resource (the template must have passed validation)."""
    return template.format(stack=stack, kind=kind, az=az, zone=zone)


def template_problem(template: str, placeholders: tuple[str, ...]) -> str | None:
    """What is wrong with ``template`` (unknown placeholder, stray brace), or None."""
    try:
        parsed = list(Formatter().parse(template))
    except ValueError as exc:
        return f"is not a valid template ({exc}; write {{{{ and }}}} for literal braces)"
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in placeholders or spec or conversion:
            allowed = ", ".join(f"{{{p}}}" for p in placeholders)
            return f"has an unknown placeholder {{{name}{'!' + conversion if conversion else ''}" \
                   f"{':' + spec if spec else ''}}} (allowed: {allowed})"
    return None


def name_problem(name: str) -> str | None:
    """A rendered Name tag value AWS would refuse, or None."""
    if len(name) > MAX_TAG_VALUE:
        return f"is {len(name)} characters long (an AWS tag value is at most {MAX_TAG_VALUE})"
    if name.lower().startswith("aws:"):
        return "starts with 'aws:' (a prefix AWS reserves for its own tags)"
    return None


def from_dupsworks(template: str, vpc_name: str, fields: tuple[str, ...] = tuple(DUPSWORKS_FIELDS)
                   ) -> tuple[str, list[str]]:
    """A DupsWorks ``%(vpc_name)s %(layer)s segment %(group)s`` template in hanat's syntax.

    ``%(vpc_name)s`` is rendered now; ``%(layer)s`` becomes ``{kind}``, ``%(group)s`` (AZ1, AZ2)
    becomes ``AZ{zone}``. Returns the template and the placeholders outside ``fields`` (and
    vpc_name) that it found: DupsWorks would have failed on them.
    """
    unknown: list[str] = []

    def convert(match: re.Match) -> str:
        text = match.group(0)
        if text in ("{", "}"):
            return text * 2
        if text == "%%":
            return "%"
        name = match.group(1)
        if name == "vpc_name":
            return vpc_name.replace("{", "{{").replace("}", "}}")
        if name in fields:
            return DUPSWORKS_FIELDS[name]
        unknown.append(text)
        return text

    return _DUPSWORKS_FIELD.sub(convert, template), unknown
