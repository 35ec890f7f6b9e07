"""Adopt mode in the configuration file (stack.vpc_id): every rule the file alone can check, by key."""
from __future__ import annotations

import pytest

from bootstrap.config.validate import build_config
from chalicelib.errors import ConfigError

from .test_config_validate import _MISSING, mutate

ADOPT = {
    "stack": {"name": "payments", "region": "eu-west-1", "vpc_id": "vpc-0123456789abcdef0"},
    "zones": [
        {"az": "eu-west-1a", "public_subnet_id": "subnet-0aaaaaaaaaaaaaaa1",
         "private_route_table_ids": ["rtb-0aaaaaaaaaaaaaaa1", "rtb-0aaaaaaaaaaaaaaa2"]},
        {"az": "eu-west-1b", "public_subnet_id": "subnet-0bbbbbbbbbbbbbbb1",
         "private_route_table_ids": ["rtb-0bbbbbbbbbbbbbbb1"], "probe_cidr": "10.42.250.0/28"},
    ],
}


def problems_of(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        build_config(raw, source="adopt.toml")
    assert info.value.exit_code == 2
    return info.value.problems


def test_adopt_config_is_frozen_with_ids_and_no_cidrs():
    config = build_config(ADOPT, source="adopt.toml")
    assert config.adopts_vpc and config.stack.vpc_id == "vpc-0123456789abcdef0" and config.stack.vpc_cidr == ""
    a, b = config.zones
    assert (a.public_subnet_id, a.private_route_table_ids) == (
        "subnet-0aaaaaaaaaaaaaaa1", ("rtb-0aaaaaaaaaaaaaaa1", "rtb-0aaaaaaaaaaaaaaa2"))
    assert (a.public_cidr, a.private_cidr, a.probe_cidr) == ("", "", "")   # probe: derived from the account
    assert b.probe_cidr == "10.42.250.0/28"


def test_owned_config_is_not_adopting():
    config = build_config({"stack": {"name": "d", "region": "eu-west-1", "vpc_cidr": "10.0.0.0/16"},
                           "zones": [{"az": "eu-west-1a"}, {"az": "eu-west-1b"}]}, source="t.toml")
    assert not config.adopts_vpc and config.stack.vpc_id == "" and config.zones[0].private_route_table_ids == ()


INVALID = [
    # (path, value (omitted = delete), the problem as reported)
    ("stack.vpc_cidr", "10.0.0.0/16",
     "stack.vpc_cidr and stack.vpc_id exclude each other: vpc_cidr builds a new VPC, vpc_id adopts an existing one"),
    ("stack.vpc_id", "vpc-123", "stack.vpc_id 'vpc-123' is not a vpc- id (e.g. vpc-0123456789abcdef0)"),
    ("stack.vpc_id", "subnet-0123456789abcdef0", "stack.vpc_id 'subnet-0123456789abcdef0' is not a vpc- id"),
    ("stack.vpc_id", 5, "stack.vpc_id must be a string, got 5"),
    ("zones[0].public_subnet_id", _MISSING, "zones[0].public_subnet_id is required"),
    ("zones[0].public_subnet_id", "rtb-0aaaaaaaaaaaaaaa1", "zones[0].public_subnet_id 'rtb-0aaaaaaaaaaaaaaa1' is not a subnet- id"),
    ("zones[1].public_subnet_id", "subnet-0aaaaaaaaaaaaaaa1",
     "zones[1].public_subnet_id subnet-0aaaaaaaaaaaaaaa1 repeats zones[0].public_subnet_id"),
    ("zones[0].private_route_table_ids", _MISSING,
     "zones[0].private_route_table_ids is required (the route tables whose default route hanat takes over)"),
    ("zones[0].private_route_table_ids", [], "zones[0].private_route_table_ids must list at least one route table id"),
    ("zones[0].private_route_table_ids", "rtb-0aaaaaaaaaaaaaaa1",
     "zones[0].private_route_table_ids must be a list of strings, got string 'rtb-0aaaaaaaaaaaaaaa1'"),
    ("zones[0].private_route_table_ids", ["rtb-0aaaaaaaaaaaaaaa1", "rtb-nope"],
     "zones[0].private_route_table_ids[1] 'rtb-nope' is not a rtb- id (e.g. rtb-0123456789abcdef0)"),
    ("zones[0].private_route_table_ids", ["rtb-0aaaaaaaaaaaaaaa1", "rtb-0aaaaaaaaaaaaaaa1"],
     "zones[0].private_route_table_ids[1] rtb-0aaaaaaaaaaaaaaa1 repeats zones[0].private_route_table_ids[0]"),
    ("zones[1].private_route_table_ids", ["rtb-0aaaaaaaaaaaaaaa2"],
     ("zones[1].private_route_table_ids[0] rtb-0aaaaaaaaaaaaaaa2 is listed for zones[0].private_route_table_ids[1] "
      "too: a route table belongs to one zone only")),
    ("zones[0].probe_cidr", "10.42.250.0/29", "zones[0].probe_cidr 10.42.250.0/29 must be a /16 to /28 subnet"),
    ("zones[0].probe_cidr", "10.42.250.1/28", "zones[0].probe_cidr '10.42.250.1/28' has host bits set"),
    ("zones[0].probe_cidr", "10.42.250.0/27",
     "zones[1].probe_cidr 10.42.250.0/28 overlaps zones[0].probe_cidr 10.42.250.0/27"),
    ("zones[0].public_cidr", "10.0.0.0/24",
     "zones[0].public_cidr does not apply when stack.vpc_id adopts a VPC (its subnets exist"),
    ("zones[1].private_cidr", "10.0.16.0/20", "zones[1].private_cidr does not apply when stack.vpc_id adopts a VPC"),
    ("zones", [{"az": "eu-west-1a", "public_subnet_id": "subnet-0aaaaaaaaaaaaaaa1",
                "private_route_table_ids": ["rtb-0aaaaaaaaaaaaaaa1"]}], "zones must list 2 to 6 zones, got 1"),
]


@pytest.mark.parametrize("path,value,expected", INVALID, ids=[f"{c[0]}={c[1]!r}"[:70] for c in INVALID])
def test_invalid_adopt_value_is_reported_by_key(path, value, expected):
    problems = problems_of(mutate(ADOPT, path, value))
    assert any(p.startswith(expected) for p in problems), problems


def test_neither_vpc_cidr_nor_vpc_id_names_both():
    problems = problems_of(mutate(ADOPT, "stack.vpc_id"))
    assert "stack.vpc_cidr is required (or stack.vpc_id to adopt an existing VPC)" in problems


@pytest.mark.parametrize("key,value", [("public_subnet_id", "subnet-0aaaaaaaaaaaaaaa1"),
                                       ("private_route_table_ids", ["rtb-0aaaaaaaaaaaaaaa1"])])
def test_adopt_keys_in_a_stack_that_builds_its_vpc_are_refused(key, value):
    raw = {"stack": {"name": "d", "region": "eu-west-1", "vpc_cidr": "10.0.0.0/16"},
           "zones": [{"az": "eu-west-1a", key: value}, {"az": "eu-west-1b"}]}
    assert f"zones[0].{key} only applies when stack.vpc_id adopts an existing VPC (this stack builds its VPC " \
           "from stack.vpc_cidr)" in problems_of(raw)


def test_every_adopt_problem_is_reported_at_once():
    raw = mutate(mutate(mutate(ADOPT, "stack.vpc_id", "vpc-x"), "zones[0].public_subnet_id"),
                 "zones[1].private_route_table_ids", ["rtb-0aaaaaaaaaaaaaaa1"])
    problems = problems_of(raw)
    assert any(p.startswith("stack.vpc_id 'vpc-x'") for p in problems)
    assert any(p.startswith("zones[0].public_subnet_id is required") for p in problems)
    assert any(p.startswith("zones[1].private_route_table_ids[0] rtb-0aaaaaaaaaaaaaaa1 is listed for") for p in problems)
