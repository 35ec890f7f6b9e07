"""bootstrap/nat/setup-nat.sh for real, inside a NAT namespace: private host -- nat -- internet.

The internet's server reports the caller's source address, so masquerading is seen, not assumed.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from lab.netns.dataplane import NAT_SCRIPT, new_run_id
from lab.netns.shell import (
    add_namespace,
    cleanup_leftovers,
    ip,
    ns_exec,
    ns_popen,
    python_argv,
    stop_process,
    sysctl,
)

pytestmark = pytest.mark.netns

VPC_CIDR = "10.20.0.0/16"
PRIV_IP, ROUTER_IP = "10.20.1.4", "10.20.1.1"
NAT_PUBLIC_IP, INET_GW = "203.0.113.50", "203.0.113.1"
TARGET = "198.51.100.10"
LAB_ENV = {"HANAT_NAT_PERSIST": "0", "HANAT_NAT_INSTALL": "0", "HANAT_NAT_WAIT_S": "2"}


class Lab:
    def __init__(self, run_id: str):
        self.prefix = f"hanat-{run_id}-"
        self.priv, self.nat, self.inet = (self.prefix + r for r in ("snat-priv", "snat-nat", "snat-inet"))

    def run_script(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return ns_exec(self.nat, ["bash", str(NAT_SCRIPT), *args], env={**LAB_ENV, **(env or {})}, timeout=60)

    def ruleset(self) -> str:
        return ns_exec(self.nat, ["nft", "list", "ruleset"]).stdout

    def read(self, ns: str, path: str) -> str:
        return ns_exec(ns, ["cat", path]).stdout.strip()

    def get(self) -> dict:
        proc = ns_exec(self.priv, python_argv("lab.netns.client", "--once", "--url", f"http://{TARGET}/",
                                              "--timeout", "1"), timeout=20)
        return json.loads(proc.stdout)


@pytest.fixture
def lab():
    """Three namespaces linked only to each other; the NAT starts unconfigured (ip_forward=0)."""
    lab = Lab(new_run_id())
    server = None
    try:
        for ns in (lab.priv, lab.nat, lab.inet):
            add_namespace(ns)
            sysctl(ns, "net.ipv4.ip_forward", 0)
        ip(lab.priv, "link", "add", "vpc0", "type", "veth", "peer", "name", "vpc0", "netns", lab.nat)
        ip(lab.nat, "link", "add", "pub0", "type", "veth", "peer", "name", "nat0", "netns", lab.inet)
        for ns, dev, addr in ((lab.priv, "vpc0", f"{PRIV_IP}/24"), (lab.nat, "vpc0", f"{ROUTER_IP}/24"),
                              (lab.nat, "pub0", f"{NAT_PUBLIC_IP}/24"), (lab.inet, "nat0", f"{INET_GW}/24")):
            ip(ns, "addr", "add", addr, "dev", dev)
            ip(ns, "link", "set", dev, "up")
        ip(lab.inet, "addr", "add", f"{TARGET}/32", "dev", "lo")
        ip(lab.priv, "route", "add", "default", "via", ROUTER_IP)
        ip(lab.nat, "route", "add", "default", "via", INET_GW)
        server = ns_popen(lab.inet, python_argv("lab.netns.httpserver", "--port", "80"),
                          stdout=subprocess.PIPE, text=True)
        assert server.stdout.readline().strip() == "ready"
        yield lab
    finally:
        if server is not None:
            stop_process(server)
        cleanup_leftovers(lab.prefix)


def test_without_the_script_the_private_host_has_no_egress(lab):
    assert lab.read(lab.nat, "/proc/sys/net/ipv4/ip_forward") == "0"
    sample = lab.get()
    assert not sample["ok"] and sample["error"]


def test_script_masquerades_private_traffic_behind_the_nat_address(lab):
    first = lab.run_script(VPC_CIDR)
    assert first.returncode == 0, first.stderr
    ruleset_once = lab.ruleset()
    second = lab.run_script(VPC_CIDR)
    assert second.returncode == 0, second.stderr
    assert lab.ruleset() == ruleset_once  # idempotent: same ruleset after a second run
    assert ruleset_once.count("table inet hanat_nat") == 1
    assert f'oifname "pub0" ip saddr {VPC_CIDR}' in ruleset_once and "masquerade" in ruleset_once
    assert lab.read(lab.nat, "/proc/sys/net/ipv4/ip_forward") == "1"
    for conf in ("all", "default", "vpc0", "pub0"):
        assert lab.read(lab.nat, f"/proc/sys/net/ipv4/conf/{conf}/rp_filter") == "0", conf

    sample = lab.get()
    assert sample["ok"], sample
    assert sample["you"] == NAT_PUBLIC_IP  # the internet sees the NAT, not 10.20.1.4


def test_vpc_cidr_from_the_environment_works_like_the_argument(lab):
    result = lab.run_script(env={"VPC_CIDR": VPC_CIDR})
    assert result.returncode == 0, result.stderr
    assert lab.get()["you"] == NAT_PUBLIC_IP


def test_bad_input_names_every_problem_and_changes_nothing(lab):
    result = lab.run_script(env={"HANAT_NAT_PERSIST": "maybe", "HANAT_NAT_WAIT_S": "soon"})
    assert result.returncode == 2
    for needle in ("VPC_CIDR='@@VPC_CIDR@@'", "HANAT_NAT_PERSIST='maybe'", "HANAT_NAT_WAIT_S='soon'"):
        assert needle in result.stderr
    bad_octet = lab.run_script("10.300.0.0/16")
    assert bad_octet.returncode == 2 and "10.300.0.0/16" in bad_octet.stderr
    assert "hanat_nat" not in lab.ruleset()
    assert lab.read(lab.nat, "/proc/sys/net/ipv4/ip_forward") == "0"


def test_no_default_route_is_a_clear_failure(lab):
    ip(lab.nat, "route", "del", "default")
    result = lab.run_script(VPC_CIDR, env={"HANAT_NAT_WAIT_S": "0"})
    assert result.returncode == 1 and "no default route" in result.stderr
    assert "hanat_nat" not in lab.ruleset()


def test_persist_writes_sysctl_boot_unit_and_a_baked_copy(lab, tmp_path: Path):
    result = lab.run_script(VPC_CIDR, env={"HANAT_NAT_PERSIST": "1", "HANAT_NAT_ROOT": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    sysctl_conf = (tmp_path / "etc/sysctl.d/90-hanat-nat.conf").read_text()
    assert "net.ipv4.ip_forward = 1" in sysctl_conf and "rp_filter = 0" in sysctl_conf
    unit = (tmp_path / "etc/systemd/system/hanat-nat.service").read_text()
    assert "ExecStart=/usr/local/sbin/hanat-setup-nat" in unit and "HANAT_NAT_PERSIST=0" in unit
    assert "WantedBy=multi-user.target" in unit
    copy = tmp_path / "usr/local/sbin/hanat-setup-nat"
    assert VPC_CIDR in copy.read_text() and copy.stat().st_mode & 0o111
    # On boot the unit runs the copy with no argument: it must rebuild the same ruleset.
    before = lab.ruleset()
    ns_exec(lab.nat, ["nft", "delete", "table", "inet", "hanat_nat"])
    reboot = ns_exec(lab.nat, ["bash", str(copy)], env=LAB_ENV, timeout=60)
    assert reboot.returncode == 0, reboot.stderr
    assert lab.ruleset() == before
