"""setup-nat.sh masquerades every CIDR block of a VPC (an adopted VPC may have secondary blocks, and the
probe subnet hanat adds can land in one): given as a comma-separated VPC_CIDR, for real in a NAT
namespace, with nft and with the iptables fallback. The private host (10.20.1.4) is in the second block."""
from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap.nat import render
from chalicelib.errors import InputError
from lab.dataplane.netns.shell import ns_exec

from .test_setup_nat import NAT_PUBLIC_IP, fake_bin, lab, path_env  # noqa: F401  (fixture)

pytestmark = pytest.mark.netns

BLOCKS = "10.99.0.0/16,10.20.0.0/16"


def test_every_block_is_masqueraded_with_nft(lab):  # noqa: F811  (the fixture)
    result = lab.run_script(BLOCKS)
    assert result.returncode == 0, result.stderr
    postrouting = next(line for line in lab.ruleset().splitlines() if "masquerade" in line)
    assert "10.99.0.0/16" in postrouting and "10.20.0.0/16" in postrouting, postrouting
    assert lab.get()["you"] == NAT_PUBLIC_IP


def test_a_block_left_out_is_not_masqueraded(lab):  # noqa: F811  (the fixture)
    result = lab.run_script("10.99.0.0/16")
    assert result.returncode == 0, result.stderr
    assert not lab.get()["ok"]          # 10.20.1.4 leaves un-NATed: the internet cannot answer it


@pytest.mark.skipif(not Path("/usr/sbin/iptables").exists(), reason="iptables missing: apt-get install iptables")
def test_every_block_is_masqueraded_with_iptables(lab, tmp_path: Path):  # noqa: F811  (the fixture)
    env = path_env(fake_bin(tmp_path, offer=("iptables", "iptables-save")), tmp_path / "console")
    for _ in range(2):                  # idempotent: the chain is flushed and refilled
        result = lab.run_script(BLOCKS, env=env)
        assert result.returncode == 0, result.stderr
    rules = ns_exec(lab.nat, ["iptables-save", "-t", "nat"]).stdout
    assert rules.count("-j RETURN") == 2 and rules.count("-j MASQUERADE") == 2, rules
    assert lab.get()["you"] == NAT_PUBLIC_IP


@pytest.mark.parametrize("value,problem", [
    ("10.20.0.0/16,banana", "VPC_CIDR='10.20.0.0/16,banana': 'banana' is not an IPv4 CIDR"),
    ("10.20.0.0/16,", "VPC_CIDR='10.20.0.0/16,' has an empty item"),
    ("10.20.0.0/16,10.300.0.0/16", "VPC_CIDR='10.20.0.0/16,10.300.0.0/16': '10.300.0.0/16' has an octet > 255"),
])
def test_a_bad_block_is_named_and_nothing_changes(lab, value, problem):  # noqa: F811  (the fixture)
    result = lab.run_script(value)
    assert result.returncode == 2 and problem in result.stderr, result.stderr
    assert lab.read(lab.nat, "/proc/sys/net/ipv4/ip_forward") == "0"


def test_the_user_data_takes_several_blocks():
    text = render.nat_script(BLOCKS)
    assert f'VPC_CIDR="${{1:-${{VPC_CIDR:-{BLOCKS}}}}}"' in text
    with pytest.raises(InputError, match="vpc_cidr='10.0.0.0/16,nope'"):
        render.nat_script("10.0.0.0/16,nope")
