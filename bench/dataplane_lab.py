"""The namespaces of bench/dataplane.py: one NAT shaped as AWS shapes it, switched between three configurations.

    client 10.40.2.10 --+                                  (private subnet; default route: the NAT)
    NAT eth0 10.40.1.4 -+-- bridge (the VPC) -- gateway 10.40.1.1, servers on 198.51.100.10 behind it

ONE NAT interface: client packets arrive and leave on it, the NAT's default route is the gateway
through the same eth0 (as tests/lab/test_one_eni_nat.py; Amazon VPC User Guide, NAT instances,
https://docs.aws.amazon.com/vpc/latest/userguide/VPC_NAT_Instance.html: one in a public subnet). The
client sits in another subnet than the NAT and the gateway, so that in plain routing the gateway's
answer to the client's own address goes back through the NAT (route 10.40.2.0/24 via the NAT) and not
straight across the bridge: every configuration forwards both directions. The servers (iperf3, the
connection-rate server) listen on the gateway's 198.51.100.10 (a documentation range); no link
reaches the host's network.

Configurations of the same NAT namespace, each applied from the namespace's starting state (nft
ruleset flushed, the sysctls setup-nat.sh writes put back as they were):
  setup-nat    bootstrap/nat/setup-nat.sh as the lab runs it (runtime only, no install, no agent: the
               agent only fills the handoff map from instance tags, empty here as on a NAT with no
               handoff under way)
  masquerade   ip_forward=1 and one table: `oifname "eth0" masquerade` in a postrouting nat chain at
               priority 100 (srcnat), the distributions' recipe: Red Hat Enterprise Linux 8,
               "Configuring NAT using nftables", docs.redhat.com/.../configuring-nat-using-nftables_
               getting-started-with-nftables
  routing      ip_forward=1, no ruleset (no conntrack in the namespace); the gateway routes the
               client's subnet back via the NAT
and, to split setup-nat into its parts (``--diagnose``):
  no-filter    setup-nat.sh, then its prerouting and forward chains deleted (the rules every
               forwarded packet meets; its masquerade stays)
  masq+sysctls setup-nat.sh, then its ruleset replaced by the bare masquerade table
"""
from __future__ import annotations

import json
import subprocess
import sys
import time

from lab.dataplane.netns.namespaces import new_run_id
from lab.dataplane.netns.nats import LAB_SCRIPT_ENV, NAT_SCRIPT
from lab.dataplane.netns.shell import (
    NetnsError,
    add_namespace,
    cleanup_leftovers,
    ip,
    nft,
    ns_exec,
    ns_popen,
    stop_process,
    sysctl,
)

VPC_CIDR = "10.40.0.0/16"
CLIENT_SUBNET = "10.40.2.0/24"
CLIENT_IP, NAT_IP, GATEWAY_IP = "10.40.2.10", "10.40.1.4", "10.40.1.1"
SERVER = "198.51.100.10"
IPERF_PORT, CPS_PORT = 5201, 7100
BUSY_WAIT_S = 10.0          # how long the iperf3 server may refuse a test while it closes the last one
CONFIGS = ("setup-nat", "masquerade", "routing")
DIAGNOSTIC_CONFIGS = ("no-filter", "masq+sysctls")   # setup-nat in parts (--diagnose)
MASQUERADE = """table ip bench_nat {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "eth0" masquerade
    }
}
"""
# What setup-nat.sh writes besides its table (the conntrack keys a namespace may not be allowed to set
# are simply not restored), read before the first configuration and written back before each one.
SNAPSHOT = ("/proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/conf/*/rp_filter "
            "/proc/sys/net/ipv4/conf/*/send_redirects /proc/sys/net/netfilter/nf_conntrack_tcp_loose "
            "/proc/sys/net/netfilter/nf_conntrack_tcp_be_liberal "
            "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established "
            "/proc/sys/net/netfilter/nf_conntrack_udp_timeout /proc/sys/net/netfilter/nf_conntrack_udp_timeout_stream")


class BenchError(NetnsError):
    """The benchmark's lab could not be built or a configuration is not in effect."""


class OneEniNat:
    """``up()``, then ``apply(config)`` and the measurements as often as wanted, ``down()`` (always)."""

    def __init__(self, run_id: str | None = None):
        self.prefix = f"hanat-{run_id or new_run_id()}-"
        self.client, self.nat, self.gateway = (self.prefix + role for role in ("dp-client", "dp-nat", "dp-igw"))
        self._servers: list[subprocess.Popen] = []
        self._sysctls: dict[str, str] = {}
        self.config: str | None = None
        self.iperf_retries = 0      # iperf3 tests run again because the server was not ready

    # --- the lab -------------------------------------------------------------------------------
    def up(self) -> None:
        for ns in (self.client, self.nat, self.gateway):
            add_namespace(ns)
        gw = self.gateway
        ip(gw, "link", "add", "br0", "type", "bridge")
        for ns, port in ((self.client, "c0"), (self.nat, "n0")):
            ip(ns, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", gw)
            ip(gw, "link", "set", port, "master", "br0")
            ip(gw, "link", "set", port, "up")
        for ns, dev, addr in ((self.client, "eth0", f"{CLIENT_IP}/24"), (self.nat, "eth0", f"{NAT_IP}/24"),
                              (gw, "br0", f"{GATEWAY_IP}/24"), (gw, "lo", f"{SERVER}/32")):
            ip(ns, "addr", "add", addr, "dev", dev)
            ip(ns, "link", "set", dev, "up")
        ip(self.client, "route", "add", NAT_IP, "dev", "eth0", "scope", "link")
        ip(self.client, "route", "add", "default", "via", NAT_IP)
        ip(self.nat, "route", "add", CLIENT_SUBNET, "dev", "eth0", "scope", "link")
        ip(self.nat, "route", "add", "default", "via", GATEWAY_IP)
        for ns in (self.client, gw):   # the path stays through the NAT whatever it redirects
            for conf in ("all", "eth0" if ns == self.client else "br0"):
                sysctl(ns, f"net.ipv4.conf.{conf}.accept_redirects", 0)
        self._servers.append(ns_popen(gw, ["iperf3", "-s", "-B", SERVER, "-p", str(IPERF_PORT)]))
        cps = ns_popen(gw, [sys.executable, "-m", "bench.dataplane_cps", "serve", "--port", str(CPS_PORT)],
                       stdout=subprocess.PIPE, text=True)
        self._servers.append(cps)
        if cps.stdout.readline().strip() != "ready":
            raise BenchError("the connection-rate server did not start")
        self._wait_listening(IPERF_PORT)
        nft(self.nat, MASQUERADE)   # loads conntrack, so its sysctls exist before they are read
        self._nft("flush", "ruleset")
        self._sysctls = self._read_sysctls()

    def down(self) -> list[str]:
        """Stop the servers and delete every namespace of this run (idempotent)."""
        for proc in self._servers:
            stop_process(proc)
        self._servers.clear()
        return cleanup_leftovers(self.prefix)

    def _wait_listening(self, port: int, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not ns_exec(self.gateway, ["ss", "-Hltn", f"sport = :{port}"]).stdout.strip():
            if time.monotonic() > deadline:
                raise BenchError(f"nothing listens on {SERVER}:{port} after {timeout_s:.0f}s")
            time.sleep(0.05)

    def _read_sysctls(self) -> dict[str, str]:
        out = ns_exec(self.nat, ["sh", "-c", f"for f in {SNAPSHOT}; do [ -w $f ] && echo $f $(cat $f); done; true"])
        return dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)

    # --- configurations ------------------------------------------------------------------------
    def apply(self, config: str) -> None:
        """Put the NAT namespace back to its start, then configure it as ``config``; prove it is in effect."""
        if config not in CONFIGS + DIAGNOSTIC_CONFIGS:
            raise BenchError(f"unknown configuration {config!r}: one of {', '.join(CONFIGS + DIAGNOSTIC_CONFIGS)}")
        self._nft("flush", "ruleset")
        restore = "set -e\n" + "".join(f"echo {value} > {path}\n" for path, value in self._sysctls.items())
        if (done := ns_exec(self.nat, ["sh", "-c", restore])).returncode != 0:
            raise BenchError(f"cannot put the NAT's sysctls back: {done.stderr.strip()}")
        ip(self.gateway, "route", "del", CLIENT_SUBNET, check=False)
        if config in ("setup-nat", "no-filter", "masq+sysctls"):
            done = ns_exec(self.nat, ["bash", str(NAT_SCRIPT), VPC_CIDR], env=LAB_SCRIPT_ENV, timeout=60)
            if done.returncode != 0 or "with nft" not in done.stderr:
                raise BenchError(f"setup-nat.sh failed (exit {done.returncode}): {done.stderr.strip()}")
        else:
            sysctl(self.nat, "net.ipv4.ip_forward", 1)
        if config == "no-filter":   # its masquerade, input chain and sets stay
            for chain in ("prerouting", "forward"):
                self._nft("delete", "chain", "inet", "hanat_nat", chain)
        if config == "masq+sysctls":
            self._nft("flush", "ruleset")
        if config in ("masquerade", "masq+sysctls"):
            nft(self.nat, MASQUERADE)
        if config == "routing":
            ip(self.gateway, "route", "add", CLIENT_SUBNET, "via", NAT_IP)
        seen = self.cps_once()
        expected = CLIENT_IP if config == "routing" else NAT_IP
        if seen != [expected]:
            raise BenchError(f"{config}: the server saw {seen}, expected [{expected!r}]")
        self.config = config

    def _nft(self, *args: str) -> None:
        done = ns_exec(self.nat, ["nft", *args])
        if done.returncode != 0:
            raise BenchError(f"nft {' '.join(args)}: {done.stderr.strip()}")

    def ruleset(self) -> str:
        return ns_exec(self.nat, ["nft", "list", "ruleset"]).stdout

    # --- measurements --------------------------------------------------------------------------
    def throughput_gbps(self, streams: int, seconds: int) -> float:
        """iperf3 client -> server through the NAT: what the server received, in Gbit/s."""
        argv = ["iperf3", "-c", SERVER, "-p", str(IPERF_PORT), "-P", str(streams), "-t", str(seconds), "-J"]
        deadline = time.monotonic() + BUSY_WAIT_S
        while True:
            done = ns_exec(self.client, argv, timeout=seconds + 30)
            try:
                report = json.loads(done.stdout)
            except ValueError:
                report = {}
            # The server runs one test at a time and, still closing the last one, may answer "the server
            # is busy" or reset the new control connection ("unable to receive control message"): a
            # test that did not run gives no figure, so it is run again, within BUSY_WAIT_S.
            if "error" not in report or time.monotonic() > deadline:
                break
            self.iperf_retries += 1
            time.sleep(0.3)
        try:
            return report["end"]["sum_received"]["bits_per_second"] / 1e9
        except KeyError as err:
            raise BenchError(f"iperf3 -P {streams} ({self.config}): exit {done.returncode}: "
                             f"{(done.stdout or done.stderr).strip()[-300:]}") from err

    def cps(self, workers: int, seconds: float) -> dict:
        """New connections per second from ``workers`` client processes for ``seconds``."""
        argv = [sys.executable, "-m", "bench.dataplane_cps", "run", "--server", SERVER, "--port", str(CPS_PORT),
                "--workers", str(workers), "--seconds", str(seconds)]
        return self._cps_json(argv, timeout=seconds + 30)

    def cps_once(self) -> list[str]:
        argv = [sys.executable, "-m", "bench.dataplane_cps", "run", "--server", SERVER, "--port", str(CPS_PORT),
                "--once"]
        return self._cps_json(argv, timeout=30)["seen"]

    def _cps_json(self, argv: list[str], timeout: float) -> dict:
        done = ns_exec(self.client, argv, timeout=timeout)
        try:
            return json.loads(done.stdout)
        except ValueError as err:
            raise BenchError(f"connection-rate client ({self.config}): exit {done.returncode}: "
                             f"{done.stderr.strip()[-300:]}") from err
