"""The pure parts of the stack reconciler: desired state and the plan's order (no AWS at all)."""
from __future__ import annotations

import pytest

from bootstrap.config.schema import AlertsConfig, HanatConfig, NatConfig, StackConfig, ZoneConfig
from bootstrap.nat import render
from bootstrap.stack.desired import architecture, desired_state, user_name_of
from bootstrap.stack.model import Observed
from bootstrap.stack.planner import plan_changes
from tests.support.stack import LAB_PROBE


@pytest.mark.parametrize("instance_type, arch", [
    ("t4g.nano", "arm64"), ("c7g.large", "arm64"), ("m7gd.xlarge", "arm64"), ("r8g.medium", "arm64"),
    ("t3.micro", "x86_64"), ("c5n.large", "x86_64"), ("m7i.large", "x86_64"), ("t3a.nano", "x86_64"),
    ("a1.medium", "arm64"), ("a1.metal", "arm64"),  # "A1 instances are powered by AWS Graviton processors"
])
def test_architecture_follows_the_instance_family(instance_type, arch):
    assert architecture(instance_type) == arch


@pytest.mark.parametrize("arn, name", [
    ("arn:aws:iam::123456789012:user/alice", "alice"),
    ("arn:aws:iam::123456789012:user/team/net/bob", "bob"),
])
def test_user_name_of_drops_the_path(arn, name):
    assert user_name_of(arn) == name


def test_user_data_is_the_rendered_nat_script_and_the_admin_script():
    desired = desired_state(config(2))
    probe_cidrs = tuple(s.cidr for s in desired.subnets if s.role == "probe")
    assert len(probe_cidrs) == 2      # the probe subnets, and only they, may read the agent's counters
    assert desired.user_data_b64 == render.nat_user_data_b64("10.0.0.0/16", probe_cidrs=probe_cidrs)
    assert desired.admin_user_data == render.admin_user_data()


def config(zones: int) -> HanatConfig:
    azs = ["ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d"][:zones]
    return HanatConfig(
        stack=StackConfig("p", "ap-northeast-1", "10.0.0.0/16"),
        zones=tuple(ZoneConfig(az, f"10.0.{i}.0/24", f"10.0.{16 * (i + 1)}.0/20", f"10.0.{8 + i}.0/28")
                    for i, az in enumerate(azs)),
        nat=NatConfig(ami="ami-0123456789abcdef0"), probe=LAB_PROBE, alerts=AlertsConfig(emails=("a@example.com",)))


@pytest.mark.parametrize("zones, expected", [(2, 48), (3, 62)])
def test_plan_from_nothing_is_complete_and_ordered(zones, expected):
    cfg = config(zones)
    observed = Observed(nat_ami=cfg.nat.ami)
    steps = plan_changes(cfg, desired_state(cfg), observed)
    # per zone: 3 subnets, public association, NAT + s/d check + EIP + association,
    # private and probe tables with association and route: 3 + 1 + 4 + 6 = 14;
    # shared: vpc + 2 dns + igw + attach + public table + route + 2 SGs + ingress + role + policy
    # + profile + profile-role + template + table + table TTL + topic + 1 subscription + parameter = 20
    assert len(steps) == expected == 20 + 14 * zones
    order = [s.kind for s in steps]
    assert order[0] == "vpc" and order[-1] == "topology-parameter"
    assert order.index("launch-template") < order.index("nat-instance")
    assert order.index("instance-profile-role") < order.index("launch-template")
    assert order.index("table") + 1 == order.index("table-ttl")
    last_nat = max(i for i, s in enumerate(steps) if s.kind == "nat-instance")
    first_nat_route = min(i for i, s in enumerate(steps) if s.kind == "default-route" and s.name != "public")
    assert last_nat < first_nat_route
    assert observed == Observed(nat_ami=cfg.nat.ami), "planning must not change its inputs"
