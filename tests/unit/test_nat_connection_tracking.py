"""Issue 18 fault 9: EC2's own connection tracking on the NAT, as its security group makes it.

EC2 tracks a flow unless a rule allows its TCP or UDP traffic from all addresses (0.0.0.0/0) and a rule
in the other direction allows all responses to 0.0.0.0/0 on all ports; ICMP is always tracked
("Security group connection tracking", EC2 User Guide: Untracked connections, Automatically tracked
connections). Tracked flows count against a per-instance allowance a small NAT can exhaust before
nf_conntrack_max (fck-nat issue #39). hanat keeps the NAT group closed to the internet (setup-nat.sh's
input chain accepts, so an open group would expose the NAT), documents that every forwarded flow is
tracked, and names the ENA counters to watch (runbook section 12)."""
from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap.stack.model import ALL_IPV4
from bootstrap.stack.network.security_groups import Rule, nat_ingress_rules

ROOT = Path(__file__).resolve().parents[2]
VPC = "10.0.0.0/16"
NAT_EGRESS = frozenset({Rule("-1", -1, -1, cidr=ALL_IPV4)})   # egress_steps: the NAT group lets everything out


def ec2_tracks(protocol: str, ingress: frozenset[Rule], egress: frozenset[Rule]) -> bool:
    """EC2's rule for one protocol of a flow that comes in from the VPC and goes on to the internet."""
    if protocol == "icmp":
        return True

    def all_from_anywhere(rules: frozenset[Rule]) -> bool:
        return any(r.cidr == ALL_IPV4 and (r.protocol == "-1" or (r.protocol == protocol
                   and (r.from_port, r.to_port) == (0, 65535))) for r in rules)
    return not (all_from_anywhere(ingress) and all_from_anywhere(egress))


@pytest.mark.parametrize("protocol", ["tcp", "udp", "icmp"])
def test_every_flow_the_nat_forwards_is_tracked_by_ec2(protocol):
    assert ec2_tracks(protocol, nat_ingress_rules(VPC, "sg-nat"), NAT_EGRESS)


def test_the_nat_group_admits_nothing_from_the_internet():
    """What untracked forwarding would take (0.0.0.0/0 in): the NAT's input chain accepts, so it stays closed."""
    assert all(rule.cidr != ALL_IPV4 for rule in nat_ingress_rules(VPC, "sg-nat"))
    assert not ec2_tracks("tcp", frozenset({Rule("tcp", 0, 65535, cidr=ALL_IPV4)}), NAT_EGRESS)  # the model
    assert "policy accept" in (ROOT / "bootstrap" / "nat" / "setup-nat.sh").read_text()


def test_the_runbook_names_the_allowance_counters_and_the_remedy():
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    section = runbook[runbook.index("## 12. EC2's connection-tracking allowance"):]
    for needle in ("conntrack_allowance_exceeded", "conntrack_allowance_available", "ethtool -S",
                   "nat.instance_type", "hanat roll", "Every forwarded flow is"):
        assert needle in section, needle
    assert "runbook.md#12-ec2s-connection-tracking-allowance" in (ROOT / "README.md").read_text()
