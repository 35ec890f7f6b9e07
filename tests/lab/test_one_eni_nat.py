"""bootstrap/nat/setup-nat.sh on a NAT shaped as AWS shapes it: ONE interface, on which client packets
arrive and leave (issue 18, fault 1 and "Idle connections").

client (10.30.1.10) --+
NAT eth0 (10.30.1.4) -+-- bridge -- "internet gateway" 10.30.1.1, server 198.51.100.10 behind it
The client's default route is the NAT; the NAT's is the gateway, through the same eth0. A TCP connection
idle past the NAT's conntrack timeout must get a reset on its next packet (not hang until the client's
own timeout), and the NAT must send no ICMP redirect for what it forwards. All traffic stays inside
these namespaces; every one is removed, also on failure.

Why a NAT has one interface: "A NAT instance ... in a public subnet"; its Elastic IP is the internet
gateway's one-to-one translation of its private address (Amazon VPC User Guide, NAT instances,
https://docs.aws.amazon.com/vpc/latest/userguide/VPC_NAT_Instance.html, and Internet gateways,
https://docs.aws.amazon.com/vpc/latest/userguide/VPC_Internet_Gateway.html).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lab.dataplane.netns.conns import PORT
from lab.dataplane.netns.namespaces import NAT_SCRIPT, new_run_id
from lab.dataplane.netns.shell import (
    add_namespace,
    cleanup_leftovers,
    ip,
    ns_exec,
    ns_popen,
    python_argv,
    sysctl,
)
from tests.lab.test_setup_nat import LAB_ENV, fake_bin, path_env

pytestmark = pytest.mark.netns

VPC_CIDR = "10.30.0.0/16"
CLIENT_IP, NAT_IP, GATEWAY_IP = "10.30.1.10", "10.30.1.4", "10.30.1.1"
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


def icmp_out_redirects(ns: str) -> int:
    lines = [line.split() for line in ns_exec(ns, ["cat", "/proc/net/snmp"]).stdout.splitlines()
             if line.startswith("Icmp:")]
    header, values = lines[0], lines[1]
    return int(values[header.index("OutRedirects")])


@pytest.fixture
def one_eni():
    prefix = f"hanat-{new_run_id()}-"
    client, nat, gateway = (prefix + role for role in ("1eni-client", "1eni-nat", "1eni-igw"))
    server = None
    try:
        for ns in (client, nat, gateway):
            add_namespace(ns)
        ip(gateway, "link", "add", "br0", "type", "bridge")
        for ns, port in ((client, "c0"), (nat, "n0")):
            ip(ns, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", gateway)
            ip(gateway, "link", "set", port, "master", "br0")
            ip(gateway, "link", "set", port, "up")
        for ns, dev, addr in ((client, "eth0", f"{CLIENT_IP}/24"), (nat, "eth0", f"{NAT_IP}/24"),
                              (gateway, "br0", f"{GATEWAY_IP}/24")):
            ip(ns, "addr", "add", addr, "dev", dev)
            ip(ns, "link", "set", dev, "up")
        ip(gateway, "addr", "add", f"{SERVER}/32", "dev", "lo")
        ip(gateway, "link", "set", "lo", "up")
        ip(client, "route", "add", "default", "via", NAT_IP)
        ip(nat, "route", "add", "default", "via", GATEWAY_IP)
        for conf in ("all", "eth0"):   # a host takes a redirect if `all` OR the interface says so
            sysctl(client, f"net.ipv4.conf.{conf}.accept_redirects", 0)   # the path stays through the NAT
        server = ns_popen(gateway, python_argv("lab.dataplane.netns.conns", "serve", "--port", str(PORT)),
                          stdout=subprocess.PIPE, text=True)
        assert server.stdout.readline().strip() == "ready"
        yield client, nat
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=5)
        cleanup_leftovers(prefix)


@pytest.mark.parametrize("backend", ["nft", pytest.param("iptables", marks=pytest.mark.skipif(
    not Path("/usr/sbin/iptables").exists(), reason="iptables missing: apt-get install iptables"))])
def test_an_expired_flow_gets_a_reset_and_no_icmp_redirect_leaves_the_nat(one_eni, backend, tmp_path):
    client, nat = one_eni
    env = dict(LAB_ENV)
    if backend == "iptables":     # an image without nft: the script's iptables rules (PATH hides nft)
        env.update(path_env(fake_bin(tmp_path, offer=("iptables", "iptables-save")), tmp_path / "console"))
    setup = ns_exec(nat, ["bash", str(NAT_SCRIPT), VPC_CIDR], env=env, timeout=60)
    assert setup.returncode == 0, setup.stderr
    assert (f"with {backend}" in setup.stderr), setup.stderr
    assert ip(nat, "-o", "link", "show").stdout.count("eth0") == 1     # one interface (and lo)
    sysctl(nat, "net.netfilter.nf_conntrack_tcp_timeout_established", IDLE_TIMEOUT_S)
    redirects_before = icmp_out_redirects(nat)

    run = ns_exec(client, [sys.executable, "-c", CLIENT, str(IDLE_TIMEOUT_S + 2), "4", SERVER, str(PORT)], timeout=30)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["first"] == f"one {NAT_IP}"          # masqueraded behind the NAT's one address
    assert result["second"] == "reset", result         # not "timeout": the client reconnects at once
    assert icmp_out_redirects(nat) == redirects_before, "the NAT sent ICMP redirects"
    for conf in ("all", "eth0"):
        assert ns_exec(nat, ["cat", f"/proc/sys/net/ipv4/conf/{conf}/send_redirects"]).stdout.strip() == "0"
