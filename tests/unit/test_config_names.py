"""Name tag templates: the placeholders, rendering, AWS's tag limits, DupsWorks' templates converted."""
from __future__ import annotations

import pytest

from bootstrap.config.names import PLACEHOLDERS, from_dupsworks, name_problem, render_name, template_problem

RENDER = {
    # id: (template, expected for stack "demo", kind "private", az "ap-northeast-1c", zone 2)
    "all-placeholders": ("{stack}-{kind}-{az}-{zone}", "demo-private-ap-northeast-1c-2"),
    "literal-braces": ("{{{stack}}}", "{demo}"),
    "no-placeholder": ("static", "static"),
    "dupsworks-style": ("MyVPC {kind} segment AZ{zone}", "MyVPC private segment AZ2"),
}


@pytest.mark.parametrize("case", RENDER)
def test_render_name(case):
    template, expected = RENDER[case]
    assert template_problem(template, PLACEHOLDERS["subnet"]) is None
    assert render_name(template, stack="demo", kind="private", az="ap-northeast-1c", zone=2) == expected


TEMPLATE_PROBLEMS = {
    # id: (field, template, expected problem (prefix))
    "unknown-placeholder": ("subnet", "{layer}", "has an unknown placeholder {layer} (allowed: {stack}, {kind}"),
    "kind-on-the-vpc": ("vpc", "{stack}-{kind}", "has an unknown placeholder {kind} (allowed: {stack})"),
    "positional": ("subnet", "{}", "has an unknown placeholder {}"),
    "format-spec": ("subnet", "{zone:03d}", "has an unknown placeholder {zone:03d}"),
    "conversion": ("subnet", "{az!r}", "has an unknown placeholder {az!r}"),
    "attribute": ("subnet", "{stack.upper}", "has an unknown placeholder {stack.upper}"),
    "unclosed": ("internet_gateway", "{stack", "is not a valid template"),
    "stray-closing": ("internet_gateway", "a}b", "is not a valid template"),
}


@pytest.mark.parametrize("case", TEMPLATE_PROBLEMS)
def test_template_problem(case):
    field, template, expected = TEMPLATE_PROBLEMS[case]
    problem = template_problem(template, PLACEHOLDERS[field])
    assert problem is not None and problem.startswith(expected), problem


NAME_PROBLEMS = {
    "fine": ("MyVPC public segment AZ1", None),
    "256-characters": ("x" * 256, None),
    "257-characters": ("x" * 257, "is 257 characters long (an AWS tag value is at most 256)"),
    "aws-prefix": ("aws:vpc", "starts with 'aws:'"),
    "AWS-prefix-any-case": ("AwS:vpc", "starts with 'aws:'"),
}


@pytest.mark.parametrize("case", NAME_PROBLEMS)
def test_name_problem(case):
    name, expected = NAME_PROBLEMS[case]
    problem = name_problem(name)
    assert problem == expected if expected is None else problem.startswith(expected)


DUPSWORKS = {
    # id: (DupsWorks template, vpc_name, fields DupsWorks filled, (hanat template, unknown placeholders))
    "subnet-template": ("%(vpc_name)s %(layer)s segment %(group)s", "MyVPC", ("layer", "group"),
                        ("MyVPC {kind} segment AZ{zone}", [])),
    "igw-template": ("%(vpc_name)s Internet Gateway", "MyVPC", (), ("MyVPC Internet Gateway", [])),
    "igw-has-no-layer": ("%(vpc_name)s %(layer)s", "MyVPC", (), ("MyVPC %(layer)s", ["%(layer)s"])),
    "unknown-field": ("%(region)s-%(layer)s", "v", ("layer", "group"), ("%(region)s-{kind}", ["%(region)s"])),
    "percent-and-braces": ("100%% {a} %(vpc_name)s", "x{y}", (), ("100% {{a}} x{{y}}", [])),
    "lone-percent": ("50% %(layer)s", "v", ("layer",), ("50% {kind}", [])),
}


@pytest.mark.parametrize("case", DUPSWORKS)
def test_from_dupsworks(case):
    template, vpc_name, fields, expected = DUPSWORKS[case]
    assert from_dupsworks(template, vpc_name, fields) == expected
