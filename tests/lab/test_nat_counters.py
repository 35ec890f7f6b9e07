"""The NAT's counters (issue 19 item 1) for real: setup-nat.sh and hanat-nat-agent in a NAT namespace,
read by the probe's own code (chalicelib.probes.counters) from a probe subnet, over its pinned route.

The namespaces of tests/lab/test_setup_nat.py plus a probe subnet (10.20.2.0/28) whose default route
the VPC router sends to the NAT, as the probe route table pins it on AWS. The lab's NAT has a veth, not
an ENA interface: ``ethtool -S`` shows no allowance counters, so ``ena`` is null (absent, not zero).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from chalicelib.probes.results import counters_problem
from lab.dataplane.netns.nats import NAT_AGENT
from lab.dataplane.netns.shell import add_namespace, ip, ns_exec, ns_popen, stop_process
from tests.lab.test_setup_nat import NAT_IP, VPC_CIDR, lab, link  # noqa: F401

pytestmark = pytest.mark.netns

PROBE_CIDR, PROBE_IP, PROBE_ROUTER_IP = "10.20.2.0/28", "10.20.2.4", "10.20.2.1"
READ = """import json, sys
from chalicelib.probes.counters import fetch_counters, COUNTERS_URL
url = sys.argv[1] if len(sys.argv) > 1 else COUNTERS_URL
print(json.dumps(fetch_counters(1.0, url=url)))
"""


def read_counters(ns: str, url: str | None = None) -> tuple[dict | None, str | None]:
    proc = ns_exec(ns, [sys.executable, "-c", READ, *([url] if url else [])], timeout=20)
    assert proc.returncode == 0, proc.stderr
    return tuple(json.loads(proc.stdout))


@pytest.fixture
def probed(lab, tmp_path: Path):  # noqa: F811
    """The lab with a probe subnet, setup-nat.sh run for it, and the real agent running (no IMDS: the
    handoff part only logs that; the counters do not need it)."""
    probe = lab.prefix + "snat-prb"
    add_namespace(probe)
    link(probe, "vpc0", f"{PROBE_IP}/28", lab.vpc, "prb0", f"{PROBE_ROUTER_IP}/28")
    ip(probe, "route", "add", "default", "via", PROBE_ROUTER_IP)
    ip(lab.vpc, "rule", "add", "from", PROBE_CIDR, "lookup", "100", "priority", "1001")   # pinned to the NAT
    result = lab.run_script(VPC_CIDR, env={"HANAT_PROBE_CIDRS": PROBE_CIDR})
    assert result.returncode == 0, result.stderr
    log = tmp_path / "agent.log"
    with open(log, "wb") as err:
        agent = ns_popen(lab.nat, ["bash", str(NAT_AGENT)], stderr=err,
                         env={"HANAT_COUNTERS_DIR": str(tmp_path / "counters"), "HANAT_COUNTERS_EVERY_S": "1",
                              "HANAT_AGENT_INTERVAL_S": "0.2", "HANAT_IMDS_URL": "http://127.0.0.1:9"})
    lab.probe, lab.agent_log = probe, log
    try:
        yield lab
    finally:
        stop_process(agent)
        assert agent.poll() is not None


def wait_for_counters(lab, predicate, timeout_s: float = 10.0) -> dict:  # noqa: F811
    deadline, last = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        counters, error = read_counters(lab.probe)
        last = counters or error
        if counters is not None and predicate(counters):
            return counters
        time.sleep(0.3)
    raise AssertionError(f"counters never matched: {last}; agent log: {lab.agent_log.read_text()}")


def test_the_probe_reads_the_nats_real_counters_over_its_pinned_route(probed):
    lab = probed  # noqa: F811
    for _ in range(3):
        assert lab.get()["ok"]        # traffic through the NAT: http to the lab's internet server
    counters = wait_for_counters(lab, lambda c: (c["forwarded"]["from_source"]["packets"] or 0) >= 3)
    assert counters_problem(counters) is None                  # what the heartbeat accepts when parsing
    conntrack = counters["conntrack"]
    assert conntrack["count"] >= 1 and conntrack["max"] > conntrack["count"]
    assert conntrack["drop"] == 0 and conntrack["early_drop"] == 0
    forwarded = counters["forwarded"]
    assert forwarded["from_source"]["bytes"] > 0 and forwarded["from_destination"]["packets"] >= 3
    assert counters["resets"] == 0 and counters["invalid_drops"] == 0
    assert counters["ena"] is None                              # veth: no ENA allowance counters, absent not zero
    assert counters["cpu_credits"] is None                      # CloudWatch's CPUCreditBalance, not on the NAT
    assert counters["ports"]["addresses"] == 1
    busiest = counters["ports"]["busiest"]
    # the three source-NATed HTTP flows (their conntrack entries outlive the connections)
    assert busiest and busiest[0]["destination"] == "198.51.100.10" and busiest[0]["port"] == 80
    assert busiest[0]["proto"] == "tcp" and busiest[0]["used"] >= 1
    assert len(json.dumps(counters)) < 2048


def test_no_host_outside_the_probe_subnet_reaches_the_listener(probed):
    lab = probed  # noqa: F811
    wait_for_counters(lab, lambda c: True)                      # the listener is up
    # a private host: 192.0.2.1 is not redirected for it (forwarded to the internet, where it is no host),
    # and the NAT's own address on the listener's port is dropped
    for url in (None, f"http://{NAT_IP}:9107/counters.json"):
        counters, error = read_counters(lab.priv, url)
        assert counters is None and error, url
    # the probe subnet itself only through the redirect, not the NAT's address directly
    counters, error = read_counters(lab.probe, f"http://{NAT_IP}:9107/counters.json")
    assert counters is None and error
    assert "counter packets" in ns_exec(lab.nat, ["nft", "list", "chain", "inet", "hanat_nat", "input"]).stdout


def test_without_probe_subnets_nobody_reads_the_counters(lab, tmp_path: Path):  # noqa: F811
    result = lab.run_script(VPC_CIDR)          # HANAT_PROBE_CIDRS unset and unrendered: no reader
    assert result.returncode == 0, result.stderr
    assert "elements" not in ns_exec(lab.nat, ["nft", "list", "set", "inet", "hanat_nat", "probe_subnets"]).stdout
    bad = lab.run_script(VPC_CIDR, env={"HANAT_PROBE_CIDRS": "10.20.2.0/28,nope"})
    assert bad.returncode == 2 and "HANAT_PROBE_CIDRS: 'nope' is not an IPv4 network" in bad.stderr
