"""bootstrap/nat/setup-nat.sh on the lab's own NAT, shaped as AWS shapes it: ONE interface, on which client
packets arrive and leave (issue 18, fault 1 and "Idle connections").

On the lab's plane (lab.dataplane.netns): priv-0 -> VPC router -> nat-0 (``vpc0`` only, its private
address) -> VPC router -> igw (the Elastic IP's 1:1 translation) -> inet. A TCP connection idle past the
NAT's conntrack timeout must get a reset on its next packet (not hang until the client's own timeout),
and the NAT must send no ICMP redirect for what it forwards. Each test fails on the script as it was:
the reset rule keyed on the interface (``iifname != out_if`` / ``! -i out_if``, which never matches on one
interface) swapped back into a scratch copy, and ICMP redirects left on.

Why a NAT has one interface: "A NAT instance ... in a public subnet"; its Elastic IP is the internet
gateway's one-to-one translation of its private address (Amazon VPC User Guide, NAT instances,
https://docs.aws.amazon.com/vpc/latest/userguide/VPC_NAT_Instance.html, and Configuration for internet
access, https://docs.aws.amazon.com/vpc/latest/userguide/vpc-igw-internet-access.html). AWS's NAT AMI turns
redirects off on that interface (``net.ipv4.conf.eth0.send_redirects=0`` in its configure-pat.sh).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lab.dataplane.netns import fabric, layout
from lab.dataplane.netns.conns import PORT
from lab.dataplane.netns.namespaces import Namespaces
from lab.dataplane.netns.nats import LAB_SCRIPT_ENV, NAT_SCRIPT
from lab.dataplane.netns.shell import ip, python_argv, sysctl
from lab.dataplane.spec import DataPlaneSpec, NatPlane, ZonePlane
from tests.lab.test_setup_nat import fake_bin, path_env

pytestmark = pytest.mark.netns

AZ, EIP, NAT_IP = "az-a", "203.0.113.101", "10.30.0.20"
SERVER = "198.51.100.10"
IDLE_TIMEOUT_S = 2          # the NAT's nf_conntrack_tcp_timeout_established for this test (350 on AWS)
CLIENT = """
import json, socket, sys, time
idle_s, wait_s, server, port = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
sock = socket.create_connection((server, port), timeout=wait_s)
f = sock.makefile("rwb")
f.write(b"one\\n"); f.flush()
first = f.readline().decode().strip()
time.sleep(idle_s)                        # the NAT forgets the flow
f.write(b"two\\n"); f.flush()
try:
    second = f.readline().decode().strip() or "closed"
except ConnectionResetError:
    second = "reset"
except (socket.timeout, TimeoutError):
    second = "timeout"
print(json.dumps({"first": first, "second": second}))
"""
# The reset rule before issue 18, keyed on the interface: (shipped text, old text) per backend.
OLD_RULES = {
    "nft": ('ip saddr $vpc counter reject with tcp reset', 'iifname != "$out_if" counter reject with tcp reset'),
    "iptables": ('-s "$cidr" -p tcp --tcp-flags SYN,RST NONE', '! -i "$out_if" -p tcp --tcp-flags SYN,RST NONE'),
}
IPTABLES = pytest.mark.skipif(not Path("/usr/sbin/iptables").exists(), reason="iptables missing: apt-get install iptables")


def one_zone_spec() -> DataPlaneSpec:
    nat = NatPlane("i-nat0", "eni-0", NAT_IP, "10.30.0.0/24", "running", EIP)
    zone = ZonePlane(AZ, "10.30.0.0/24", "10.30.1.0/24", "10.30.2.0/28", nat)
    return DataPlaneSpec("10.30.0.0/16", (zone,), {"10.30.1.0/24": "eni-0", "10.30.2.0/28": "eni-0"})


@pytest.fixture
def plane():
    dp = Namespaces(one_zone_spec())
    try:
        dp.up()
        server = dp.popen("inet", python_argv("lab.dataplane.netns.conns", "serve", "--port", str(PORT)),
                          stdout=subprocess.PIPE, text=True)
        assert server.stdout.readline().strip() == "ready"
        yield dp
    finally:
        dp.down()


def scratch_script(tmp_path: Path, backend: str, old_rule: bool) -> Path:
    """setup-nat.sh as it ships, or a scratch copy with the reset rule as it was before issue 18."""
    if not old_rule:
        return NAT_SCRIPT
    shipped, old = OLD_RULES[backend]
    text = NAT_SCRIPT.read_text()
    assert text.count(shipped) == 1, f"the shipped reset rule changed: {shipped!r}"
    path = tmp_path / f"setup-nat-old-{backend}.sh"
    path.write_text(text.replace(shipped, old))
    return path


def script_env(backend: str, tmp_path: Path) -> dict[str, str]:
    """The lab's script settings; an image without nft (``iptables``) gets a PATH that hides it."""
    env = dict(LAB_SCRIPT_ENV)
    if backend == "iptables":
        env.update(path_env(fake_bin(tmp_path, offer=("iptables", "iptables-save")), tmp_path / "console"))
    return env


def run_setup(dp: Namespaces, script: Path, backend: str, env: dict[str, str]) -> None:
    """(Re)configure the lab's NAT with ``script`` and ``backend`` (for iptables, the nft table the lab
    loaded is removed first, so the script's iptables rules are the NAT's only firewall)."""
    nat = dp.nat_role(AZ)
    if backend == "iptables":
        dp.exec(nat, ["nft", "delete", "table", "inet", "hanat_nat"])
    setup = dp.exec(nat, ["bash", str(script), dp.spec.vpc_cidr], env=env, timeout=60)
    assert setup.returncode == 0 and f"with {backend}" in setup.stderr, setup.stderr
    sysctl(dp.ns(nat), "net.netfilter.nf_conntrack_tcp_timeout_established", IDLE_TIMEOUT_S)


def idle_then_send(dp: Namespaces, role: str) -> dict:
    run = dp.exec(role, [sys.executable, "-c", CLIENT, str(IDLE_TIMEOUT_S + 2), "4", SERVER, str(PORT)], timeout=30)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def icmp_out_redirects(dp: Namespaces, role: str) -> int:
    lines = [line.split() for line in dp.exec(role, ["cat", "/proc/net/snmp"]).stdout.splitlines()
             if line.startswith("Icmp:")]
    return int(lines[1][lines[0].index("OutRedirects")])


@pytest.mark.parametrize("backend", ["nft", pytest.param("iptables", marks=IPTABLES)])
def test_an_expired_flow_gets_a_reset_on_the_lab_nat_and_not_with_the_old_interface_rule(plane, backend, tmp_path):
    nat = plane.nat_role(AZ)
    assert ip(plane.ns(nat), "-o", "link", "show").stdout.count(f"{layout.HOST_UPLINK}@") == 1   # one interface
    results, env = {}, script_env(backend, tmp_path)
    for old_rule in (False, True):
        run_setup(plane, scratch_script(tmp_path, backend, old_rule), backend, env)
        results[old_rule] = idle_then_send(plane, plane.priv_role(AZ))
    assert results[False] == {"first": f"one {EIP}", "second": "reset"}   # the internet saw the EIP; reconnect at once
    assert results[True] == {"first": f"one {EIP}", "second": "timeout"}  # iifname != out_if: never on one interface


def test_no_icmp_redirect_leaves_the_lab_nat(plane, tmp_path):
    """A client on the NAT's own subnet (the case where Linux redirects) and the private host both go
    through it; with redirects back on (as before issue 18) the same traffic makes the NAT send them."""
    nat = plane.nat_role(AZ)
    public = plane.spec.zone(AZ).public_cidr
    fabric.build_host(plane, "pubhost-0", "pubhost0", layout.bridge_name("pub", 0), public)
    ip(plane.ns("pubhost-0"), "route", "replace", "default", "via", NAT_IP)
    for conf in ("all", layout.HOST_UPLINK):    # the client keeps its path through the NAT, redirected or not
        sysctl(plane.ns("pubhost-0"), f"net.ipv4.conf.{conf}.accept_redirects", 0)
    for conf in ("all", layout.HOST_UPLINK):
        assert plane.exec(nat, ["cat", f"/proc/sys/net/ipv4/conf/{conf}/send_redirects"]).stdout.strip() == "0"
    before = icmp_out_redirects(plane, nat)
    for role in ("pubhost-0", plane.priv_role(AZ)):
        assert plane.http_get(role).you == EIP, role
    assert icmp_out_redirects(plane, nat) == before, "the NAT sent ICMP redirects"
    for conf in ("all", layout.HOST_UPLINK):    # the kernel redirects if `all` OR the interface says so
        sysctl(plane.ns(nat), f"net.ipv4.conf.{conf}.send_redirects", 1)
    assert plane.http_get("pubhost-0").ok
    assert icmp_out_redirects(plane, nat) > before, "this traffic cannot show a redirect: the test proves nothing"
