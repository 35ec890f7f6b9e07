"""bootstrap/nat/setup-nat.sh for real, inside a NAT namespace shaped as AWS shapes a NAT instance.

private host -- VPC router -- NAT (ONE interface, its private address only) -- VPC router -- internet
gateway (the NAT's Elastic IP translated 1:1 to its private address, lab.dataplane.netns.igw) -- internet.
The internet's server reports the caller's source address, so masquerading (and the gateway's
translation) is seen, not assumed. Tools are hidden by running the script with a PATH of our own
(``/usr/bin`` plus a directory of chosen links): Debian keeps nft, iptables and useradd in ``/usr/sbin``,
so they are absent unless offered, as on a minimal AL2023 image that ships no ``nft``.
"""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from lab.dataplane.netns import igw
from lab.dataplane.netns.namespaces import new_run_id
from lab.dataplane.netns.nats import NAT_SCRIPT
from lab.dataplane.netns.shell import (
    add_namespace,
    cleanup_leftovers,
    ip,
    nft,
    ns_exec,
    ns_popen,
    python_argv,
    stop_process,
    sysctl,
)

pytestmark = pytest.mark.netns

VPC_CIDR = "10.20.0.0/16"
PRIV_IP, ROUTER_IP = "10.20.1.4", "10.20.1.1"      # the private subnet's host and its router address
NAT_IP, PUBLIC_ROUTER_IP = "10.20.0.20", "10.20.0.1"  # the NAT in the public subnet, and that subnet's router
NAT_PUBLIC_IP, INET_GW = "203.0.113.50", "203.0.113.1"   # the NAT's Elastic IP (a lab address), the internet
IGW_IP, IGW_LINK = "203.0.113.3", ("169.254.255.1", "169.254.255.2")
TARGET = "198.51.100.10"
LAB_ENV = {"HANAT_NAT_PERSIST": "0", "HANAT_NAT_INSTALL": "0", "HANAT_NAT_WAIT_S": "2"}


class Lab:
    def __init__(self, run_id: str):
        self.prefix = f"hanat-{run_id}-"
        self.priv, self.vpc, self.nat, self.igw, self.inet = (
            self.prefix + r for r in ("snat-priv", "snat-vpc", "snat-nat", "snat-igw", "snat-inet"))

    def run_script(self, *args: str, env: dict | None = None, script: Path = NAT_SCRIPT) -> subprocess.CompletedProcess:
        return ns_exec(self.nat, ["bash", str(script), *args], env={**LAB_ENV, **(env or {})}, timeout=60)

    def ruleset(self) -> str:
        return ns_exec(self.nat, ["nft", "list", "ruleset"]).stdout

    def read(self, ns: str, path: str) -> str:
        return ns_exec(ns, ["cat", path]).stdout.strip()

    def get(self) -> dict:
        proc = ns_exec(self.priv, python_argv("lab.dataplane.netns.client", "--once", "--url", f"http://{TARGET}/",
                                              "--timeout", "1"), timeout=20)
        return json.loads(proc.stdout)


def link(a: str, a_dev: str, a_addr: str, b: str, b_dev: str, b_addr: str) -> None:
    ip(a, "link", "add", a_dev, "type", "veth", "peer", "name", b_dev, "netns", b)
    for ns, dev, addr in ((a, a_dev, a_addr), (b, b_dev, b_addr)):
        ip(ns, "addr", "add", addr, "dev", dev)
        ip(ns, "link", "set", dev, "up")


@pytest.fixture
def lab():
    """Five namespaces linked only to each other; the NAT starts unconfigured (ip_forward=0). The VPC
    router sends the private subnet to the NAT (a policy table, as its route table does) and the public
    subnet to the internet gateway."""
    lab = Lab(new_run_id())
    server = None
    try:
        for ns in (lab.priv, lab.vpc, lab.nat, lab.igw, lab.inet):
            add_namespace(ns)
            sysctl(ns, "net.ipv4.ip_forward", 0)
        for key, value in (("net.ipv4.ip_forward", 1), ("net.ipv4.conf.all.rp_filter", 0)):
            sysctl(lab.vpc, key, value)
        for key, value in igw.SYSCTLS:
            sysctl(lab.igw, key, value)
        link(lab.priv, "vpc0", f"{PRIV_IP}/24", lab.vpc, "prv0", f"{ROUTER_IP}/24")
        link(lab.nat, "vpc0", f"{NAT_IP}/24", lab.vpc, "pub0", f"{PUBLIC_ROUTER_IP}/24")
        link(lab.igw, "vpc0", f"{IGW_LINK[1]}/30", lab.vpc, "igw0", f"{IGW_LINK[0]}/30")
        link(lab.igw, "inet0", f"{IGW_IP}/24", lab.inet, "igw0", f"{INET_GW}/24")
        ip(lab.igw, "addr", "add", f"{NAT_PUBLIC_IP}/32", "dev", "inet0")
        ip(lab.inet, "addr", "add", f"{TARGET}/32", "dev", "lo")
        ip(lab.priv, "route", "add", "default", "via", ROUTER_IP)
        ip(lab.vpc, "rule", "add", "to", VPC_CIDR, "lookup", "main", "priority", "900")
        ip(lab.vpc, "rule", "add", "from", "10.20.1.0/24", "lookup", "100", "priority", "1000")
        ip(lab.vpc, "route", "add", "default", "via", NAT_IP, "table", "100")
        ip(lab.vpc, "route", "add", "default", "via", IGW_LINK[1])
        ip(lab.nat, "route", "add", "default", "via", PUBLIC_ROUTER_IP)
        ip(lab.igw, "route", "add", "default", "via", INET_GW)
        ip(lab.igw, "route", "add", VPC_CIDR, "via", IGW_LINK[0])
        nft(lab.igw, igw.ruleset({NAT_PUBLIC_IP: NAT_IP}, "inet0", "vpc0"))
        server = ns_popen(lab.inet, python_argv("lab.dataplane.netns.httpserver", "--port", "80"),
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
    assert f'oifname "vpc0" ip saddr {VPC_CIDR}' in ruleset_once and "masquerade" in ruleset_once  # its one interface
    assert lab.read(lab.nat, "/proc/sys/net/ipv4/ip_forward") == "1"
    for conf in ("all", "default", "vpc0"):
        assert lab.read(lab.nat, f"/proc/sys/net/ipv4/conf/{conf}/rp_filter") == "0", conf

    sample = lab.get()
    assert sample["ok"], sample
    assert sample["you"] == NAT_PUBLIC_IP  # the internet sees the NAT's Elastic IP, not 10.20.1.4 or 10.20.0.20


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


# --- configuring without the internet (issue: a NAT must configure itself with no internet) ---------
CONNTRACK = "/proc/sys/net/netfilter/nf_conntrack_"


def fake_bin(tmp_path: Path, offer: tuple[str, ...] = (), scripts: dict[str, str] | None = None) -> Path:
    """A directory of links to the chosen /usr/sbin tools plus small fake commands (dnf ...)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in offer:
        (bin_dir / tool).symlink_to(f"/usr/sbin/{tool}")
    for name, body in (scripts or {}).items():
        (bin_dir / name).write_text("#!/bin/bash\n" + body)
        (bin_dir / name).chmod(0o755)
    return bin_dir


def path_env(bin_dir: Path, console: Path, **extra: str) -> dict:
    console.touch()
    return {"PATH": f"{bin_dir}:/usr/bin", "HANAT_NAT_CONSOLE": str(console), **extra}


def wait_for(predicate, timeout_s: float, interval_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval_s)


def test_conntrack_values_applied_and_what_the_namespace_refuses_is_only_a_warning(lab):
    result = lab.run_script(VPC_CIDR)
    assert result.returncode == 0, result.stderr
    expected = {"tcp_loose": "0", "tcp_be_liberal": "1", "tcp_timeout_established": "350",
                "udp_timeout": "30", "udp_timeout_stream": "180"}
    assert {k: lab.read(lab.nat, CONNTRACK + k) for k in expected} == expected
    # nf_conntrack_max is the initial namespace's alone: read-only here, warned about, not fatal.
    kib = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:")))
    sized = min(max(kib // 8, 65536), 2097152)
    assert f"cannot set net.netfilter.nf_conntrack_max={sized} (read-only here" in result.stderr
    assert "FAILED" not in result.stderr


@pytest.mark.skipif(not Path("/usr/sbin/iptables").exists(), reason="iptables missing: apt-get install iptables")
def test_without_nft_iptables_masquerades_and_resets(lab, tmp_path: Path):
    env = path_env(fake_bin(tmp_path, offer=("iptables", "iptables-save")), tmp_path / "console")
    first = lab.run_script(VPC_CIDR, env=env)
    assert first.returncode == 0, first.stderr
    assert "masquerading with iptables" in first.stderr
    rules = ns_exec(lab.nat, ["iptables-save"]).stdout
    second = lab.run_script(VPC_CIDR, env=env)
    assert second.returncode == 0, second.stderr
    assert ns_exec(lab.nat, ["iptables-save"]).stdout.count("-j HANAT") == rules.count("-j HANAT") == 2
    assert "MASQUERADE" in rules and "--reject-with tcp-reset" in rules
    assert "hanat_nat" not in lab.ruleset()
    assert lab.get()["you"] == NAT_PUBLIC_IP


def test_no_firewall_tool_fails_loudly_after_the_sysctls(lab, tmp_path: Path):
    console = tmp_path / "console"
    result = lab.run_script(VPC_CIDR, env=path_env(fake_bin(tmp_path), console))
    assert result.returncode == 1
    failed = "hanat-setup-nat: FAILED neither nft nor iptables is installed: cannot masquerade"
    assert failed in result.stderr and failed in console.read_text()
    assert lab.read(lab.nat, "/proc/sys/net/ipv4/ip_forward") == "1"   # sysctls came first
    assert lab.read(lab.nat, CONNTRACK + "tcp_loose") == "0"


@pytest.mark.skipif(not Path("/usr/sbin/iptables").exists(), reason="iptables missing: apt-get install iptables")
def test_a_package_install_with_no_network_does_not_block_masquerade(lab, tmp_path: Path):
    started = tmp_path / "dnf-started"
    hanging_dnf = f"touch {started}\nexec sleep 600\n"   # no route to any repository: it hangs
    env = path_env(fake_bin(tmp_path, offer=("iptables", "iptables-save"), scripts={"dnf": hanging_dnf}),
                   tmp_path / "console", HANAT_NAT_INSTALL="1")
    t0 = time.monotonic()
    result = lab.run_script(VPC_CIDR, env=env)
    elapsed = time.monotonic() - t0
    assert result.returncode == 0, result.stderr
    assert elapsed < 10, elapsed
    assert "installing nftables in the background" in result.stderr
    assert lab.get()["you"] == NAT_PUBLIC_IP          # forwarding while the install hangs
    assert wait_for(started.exists, 10)                # and the install is being tried


def test_background_install_retries_then_the_nat_forwards_with_nft(lab, tmp_path: Path):
    bin_dir = tmp_path / "bin"
    tries = tmp_path / "tries"
    # First attempt: no network. Second: "installs" nftables (nft appears on the PATH).
    dnf = (f"echo x >> {tries}\n"
           f"[ $(wc -l < {tries}) -ge 2 ] || {{ echo 'Cannot download repomd.xml' >&2; exit 1; }}\n"
           f"ln -sf /usr/sbin/nft {bin_dir}/nft\n")
    console = tmp_path / "console"
    env = path_env(fake_bin(tmp_path, scripts={"dnf": dnf}), console, HANAT_NAT_INSTALL="1",
                   HANAT_NAT_INSTALL_PAUSE_S="1")
    result = lab.run_script(VPC_CIDR, env=env)
    assert result.returncode == 1
    assert "FAILED neither nft nor iptables" in result.stderr and "installing nftables in the background" in result.stderr
    assert wait_for(lambda: "hanat_nat" in lab.ruleset(), 20), console.read_text()
    assert lab.get()["you"] == NAT_PUBLIC_IP
    assert tries.read_text().count("x") == 2
    assert "nftables installed (attempt 2)" in console.read_text()


# --- persist: units, agent, the unprivileged login user ---------------------------------------------
AGENT = NAT_SCRIPT.parent / "hanat-nat-agent"
COUNTERS_LIB = NAT_SCRIPT.parent / "hanat-nat-counters"   # the agent's library, sourced from beside it
LOGIN_USER = "hanat-user"


def seed_root(root: Path) -> Path:
    """A minimal /etc under ``root`` so useradd --prefix can work there (never on this machine's /etc)."""
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "home").mkdir(exist_ok=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "etc/group").write_text("root:x:0:\nwheel:x:10:\nsudo:x:27:\n")
    (root / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    (root / "etc/gshadow").write_text("root:*::\nwheel:*::\nsudo:*::\n")
    for name in ("shadow", "gshadow"):
        (root / "etc" / name).chmod(0o600)
    return root


def test_persist_installs_agent_units_and_an_unprivileged_user_idempotently(lab, tmp_path: Path):
    root = seed_root(tmp_path / "root")
    host_passwd = Path("/etc/passwd").read_text()
    env = {"HANAT_NAT_PERSIST": "1", "HANAT_NAT_ROOT": str(root)}
    for _ in range(2):
        result = lab.run_script(VPC_CIDR, env=env)
        assert result.returncode == 0, result.stderr
    assert (root / "usr/local/sbin/hanat-nat-agent").read_bytes() == AGENT.read_bytes()
    assert (root / "usr/local/sbin/hanat-nat-agent").stat().st_mode & 0o111
    # the library lies beside the agent (it sources it from there), as shipped, a library: not a command
    assert (root / "usr/local/sbin/hanat-nat-counters").read_bytes() == COUNTERS_LIB.read_bytes()
    assert (root / "usr/local/sbin/hanat-nat-counters").stat().st_mode & 0o777 == 0o644
    agent_unit = (root / "etc/systemd/system/hanat-nat-agent.service").read_text()
    assert "ExecStart=/usr/local/sbin/hanat-nat-agent" in agent_unit and "Restart=always" in agent_unit
    # The user exists once, with a shell and a home, in no privileged group; the host is untouched.
    users = [line for line in (root / "etc/passwd").read_text().splitlines() if line.startswith(f"{LOGIN_USER}:")]
    assert len(users) == 1 and users[0].endswith(":/bin/bash")
    assert (root / "home" / LOGIN_USER).is_dir()
    assert LOGIN_USER not in (root / "etc/group").read_text()
    assert "user hanat-user exists" in result.stderr
    assert Path("/etc/passwd").read_text() == host_passwd


def test_the_boot_unit_fails_when_the_setup_fails(lab, tmp_path: Path):
    root = seed_root(tmp_path / "root")
    result = lab.run_script(VPC_CIDR, env={"HANAT_NAT_PERSIST": "1", "HANAT_NAT_ROOT": str(root)})
    assert result.returncode == 0, result.stderr
    unit = (root / "etc/systemd/system/hanat-nat.service").read_text()
    # Type=oneshot and a plain ExecStart (no "-" prefix): a non-zero exit of the script fails the unit.
    assert "Type=oneshot" in unit and "\nExecStart=/usr/local/sbin/hanat-setup-nat\n" in unit
    ip(lab.nat, "route", "del", "default")
    boot = ns_exec(lab.nat, ["bash", str(root / "usr/local/sbin/hanat-setup-nat")],
                   env={**LAB_ENV, "HANAT_NAT_WAIT_S": "0", "HANAT_NAT_CONSOLE": str(tmp_path / "none")})
    assert boot.returncode == 1
    assert "hanat-setup-nat: FAILED no default route after 0s" in boot.stderr


def test_admin_setup_creates_the_same_user_idempotently(tmp_path: Path):
    root = seed_root(tmp_path / "root")
    script = NAT_SCRIPT.parent / "admin-setup.sh"
    for expected in ("created user hanat-user", "user hanat-user exists"):
        result = subprocess.run(["bash", str(script)], env={"PATH": "/usr/sbin:/usr/bin", "HANAT_NAT_ROOT": str(root)},
                                capture_output=True, text=True, timeout=30, check=False)
        assert result.returncode == 0 and expected in result.stderr, result.stderr
    assert (root / "etc/passwd").read_text().count(f"\n{LOGIN_USER}:") == 1
