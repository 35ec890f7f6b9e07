"""setup-nat.sh with several private addresses (``nat.addresses``): new flows are source-NATed across
them, so flows to ONE destination leave from several Elastic IPs (NAT Gateway's answer to
``ErrorPortAllocation``: each address brings its own source ports per destination).

Same five namespaces as tests/lab/test_setup_nat.py; the NAT's one interface holds a second private
address (a secondary private IPv4 address, EC2 User Guide "Multiple IP addresses"), and the internet
gateway translates each Elastic IP 1:1 to its own private address, as AWS's does for an EIP associated
with a secondary address (AssociateAddress PrivateIpAddress).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from lab.dataplane.netns import igw
from lab.dataplane.netns.shell import ip, nft, ns_exec
from tests.lab.test_setup_nat import NAT_IP, NAT_PUBLIC_IP, VPC_CIDR, fake_bin, lab, path_env  # noqa: F401

pytestmark = pytest.mark.netns

NAT_IP2, NAT_PUBLIC_IP2 = "10.20.0.21", "203.0.113.51"   # the secondary address and its Elastic IP


def second_address(lab) -> None:  # noqa: F811
    ip(lab.nat, "addr", "add", f"{NAT_IP2}/24", "dev", "vpc0")
    ip(lab.igw, "addr", "add", f"{NAT_PUBLIC_IP2}/32", "dev", "inet0")
    nft(lab.igw, igw.ruleset({NAT_PUBLIC_IP: NAT_IP, NAT_PUBLIC_IP2: NAT_IP2}, "inet0", "vpc0"))


def sources(lab, n: int = 8) -> list[str]:  # noqa: F811
    out = []
    for _ in range(n):
        sample = lab.get()
        assert sample["ok"], sample
        out.append(sample["you"])
    return out


def test_two_addresses_spread_flows_to_one_destination_over_both_elastic_ips(lab):  # noqa: F811
    second_address(lab)
    result = lab.run_script(VPC_CIDR, env={"HANAT_NAT_ADDRESSES": "2"})
    assert result.returncode == 0, result.stderr
    rules = lab.ruleset()
    assert "numgen inc mod 2 map { 0 : 10.20.0.20, 1 : 10.20.0.21 }" in rules and "masquerade" not in rules
    seen = sources(lab)
    # round robin per new flow: every flow to the one destination alternates between the two EIPs
    assert set(seen) == {NAT_PUBLIC_IP, NAT_PUBLIC_IP2}
    assert seen.count(NAT_PUBLIC_IP) == seen.count(NAT_PUBLIC_IP2) == 4
    again = lab.run_script(VPC_CIDR, env={"HANAT_NAT_ADDRESSES": "2"})
    assert again.returncode == 0 and lab.ruleset() == rules          # idempotent


@pytest.mark.skipif(not Path("/usr/sbin/iptables").exists(), reason="iptables missing: apt-get install iptables")
def test_without_nft_iptables_spreads_flows_with_statistic_nth(lab, tmp_path: Path):  # noqa: F811
    second_address(lab)
    env = path_env(fake_bin(tmp_path, offer=("iptables", "iptables-save")), tmp_path / "console",
                   HANAT_NAT_ADDRESSES="2")
    result = lab.run_script(VPC_CIDR, env=env)
    assert result.returncode == 0, result.stderr
    rules = ns_exec(lab.nat, ["iptables-save"]).stdout
    assert "--mode nth --every 2 --packet 0 -j SNAT --to-source 10.20.0.20" in rules
    assert "-j SNAT --to-source 10.20.0.21" in rules and "MASQUERADE" not in rules
    assert set(sources(lab, 6)) == {NAT_PUBLIC_IP, NAT_PUBLIC_IP2}


def test_fewer_addresses_than_expected_warns_and_masquerades_over_the_one_there_is(lab):  # noqa: F811
    result = lab.run_script(VPC_CIDR, env={"HANAT_NAT_ADDRESSES": "2"})
    assert result.returncode == 0, result.stderr
    assert "holds 1 of the 2 private addresses expected (10.20.0.20)" in result.stderr
    assert "masquerade" in lab.ruleset()
    assert set(sources(lab, 3)) == {NAT_PUBLIC_IP}


def test_addresses_outside_1_to_8_are_bad_input(lab):  # noqa: F811
    result = lab.run_script(VPC_CIDR, env={"HANAT_NAT_ADDRESSES": "9"})
    assert result.returncode == 2 and "HANAT_NAT_ADDRESSES='9' must be 1 to 8" in result.stderr
    assert "hanat_nat" not in lab.ruleset()
