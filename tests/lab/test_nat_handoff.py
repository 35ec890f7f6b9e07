"""Orphaned flows get a reset; planned moves hand open flows back (issue 13), on lab.dataplane.netns.Namespaces.

Each NAT namespace runs setup-nat.sh, the IMDSv2 stand-in serving the spec's tags, and the real
hanat-nat-agent. The internet server sits behind a stateful firewall (it drops packets of connections
it does not know, as real servers' firewalls do), so a flow the NAT cannot translate hangs unless the
NAT resets it.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time

import boto3
import pytest
from moto import mock_aws

from lab.dataplane.emulator_sync import spec_from_emulator
from lab.dataplane.netns.namespaces import Namespaces
from lab.dataplane.netns.shell import nft, ns_exec, python_argv, sysctl
from lab.dataplane.spec import DataPlaneSpec, NatPlane, ZonePlane

from .test_dataplane_emulator import REGION, build_stack

pytestmark = pytest.mark.netns  # real network namespaces: root, iproute2, nftables

A, B = "az-a", "az-b"
ADDR = {A: "203.0.113.101", B: "203.0.113.102"}
NAT_IP = {A: "10.0.0.20", B: "10.0.10.20"}
PRIVATE = {A: "10.0.1.0/24", B: "10.0.11.0/24"}
TARGET, PORT = "198.51.100.10", 9000
KEY = f"hanat:handoff:{A}"


def nat(i: int) -> NatPlane:
    return NatPlane(f"i-nat{i}", f"eni-{i}", f"10.0.{i * 10}.20", f"10.0.{i * 10}.0/24", "running",
                    f"203.0.113.{101 + i}")


def two_zone_spec() -> DataPlaneSpec:
    zones = tuple(ZonePlane(az, f"10.0.{i * 10}.0/24", f"10.0.{i * 10 + 1}.0/24", f"10.0.{i * 10 + 2}.0/28", nat(i))
                  for i, az in enumerate((A, B)))
    return DataPlaneSpec("10.0.0.0/16", zones, {c: z.nat.eni_id for z in zones for c in (z.private_cidr, z.probe_cidr)})


STATEFUL_SERVER = """table inet natlab_stateful
delete table inet natlab_stateful
table inet natlab_stateful {
    chain input {
        type filter hook input priority filter; policy accept;
        ct state invalid drop
    }
}
"""


@pytest.fixture
def dp():
    plane = Namespaces(two_zone_spec())
    try:
        plane.up()
        inet = plane.ns("inet")
        sysctl(inet, "net.netfilter.nf_conntrack_tcp_loose", 0)
        nft(inet, STATEFUL_SERVER)
        server = plane.popen("inet", python_argv("tests.lab.natflow", "server", "--port", str(PORT)),
                             stdout=subprocess.PIPE, text=True)
        assert server.stdout.readline().strip() == "ready"
        yield plane
    finally:
        plane.down()


class Flow:
    """One TCP connection held open by a private host; ``send()`` is one line there and back."""

    def __init__(self, dp: Namespaces, az: str, timeout_s: float = 3.0):
        self.proc = dp.popen(dp.priv_role(az), python_argv("tests.lab.natflow", "client", "--host", TARGET,
                                                           "--port", str(PORT), "--timeout", str(timeout_s)),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert json.loads(self.proc.stdout.readline()) == {"connected": True}

    def send(self) -> dict:
        self.proc.stdin.write("send\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())


def wait_for(predicate, timeout_s: float = 8.0, interval_s: float = 0.1):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval_s)


def move_zone_a_to_b(spec: DataPlaneSpec) -> DataPlaneSpec:
    return spec.with_route(PRIVATE[A], "eni-1")


def handoff(spec: DataPlaneSpec, until: int) -> DataPlaneSpec:
    """The controller's tags for moving zone A from X = NAT A to Y = NAT B (HANDOFF.md)."""
    return (spec.with_nat_tags("i-nat1", {KEY: f"to {NAT_IP[A]} {until} {PRIVATE[A]}", "Name": "nat-b"})
                .with_nat_tags("i-nat0", {KEY: f"from {NAT_IP[B]} {until} {PRIVATE[A]}", "Name": "nat-a"}))


def tunnel(ip: str) -> str:
    return "hvx" + "".join(f"{int(o):02x}" for o in ip.split("."))


def has_link(dp: Namespaces, role: str, name: str) -> bool:
    return dp.exec(role, ["ip", "link", "show", "dev", name]).returncode == 0


def handoff_applied(dp: Namespaces) -> bool:
    to_map = dp.exec("nat-1", ["nft", "list", "map", "inet", "hanat_nat", "handoff_to"]).stdout
    peers = dp.exec("nat-0", ["nft", "list", "set", "inet", "hanat_nat", "handoff_peers"]).stdout
    return (PRIVATE[A] in to_map and NAT_IP[B] in peers
            and has_link(dp, "nat-1", tunnel(NAT_IP[A])) and has_link(dp, "nat-0", tunnel(NAT_IP[B])))


def handoff_gone(dp: Namespaces) -> bool:
    to_map = dp.exec("nat-1", ["nft", "list", "map", "inet", "hanat_nat", "handoff_to"]).stdout
    return PRIVATE[A] not in to_map and not has_link(dp, "nat-1", tunnel(NAT_IP[A])) \
        and not has_link(dp, "nat-0", tunnel(NAT_IP[B]))


def counter(dp: Namespaces, role: str, chain: str, verdict: str) -> int:
    rules = json.loads(dp.exec(role, ["nft", "-j", "list", "chain", "inet", "hanat_nat", chain]).stdout)["nftables"]
    for item in rules:
        expr = item.get("rule", {}).get("expr", [])
        if any(verdict in e for e in expr):
            return next(e["counter"]["packets"] for e in expr if "counter" in e)
    raise AssertionError(f"no {verdict} rule with a counter in {chain}")


def test_orphaned_flow_gets_a_reset_within_a_round_trip(dp):
    flow = Flow(dp, A)
    assert flow.send()["you"] == ADDR[A]
    dp.sync(move_zone_a_to_b(dp.spec))          # NAT B never saw this connection
    answer = flow.send()
    assert answer["ok"] is False and answer["error"] == "ConnectionResetError", answer
    assert answer["ms"] < 1000, answer            # not a hang until TCP gives up
    assert counter(dp, "nat-1", "forward", "reject") >= 1
    assert dp.http_get(dp.priv_role(A)).you == ADDR[B]   # and the client reconnects through B


def test_handoff_keeps_old_flows_on_the_old_nat_and_new_ones_on_the_new(dp):
    flow = Flow(dp, A)
    assert flow.send()["you"] == ADDR[A]
    tagged = handoff(dp.spec, until=int(time.time()) + 120)
    dp.sync(tagged)
    assert wait_for(lambda: handoff_applied(dp)), dp.agent_log("i-nat0") + dp.agent_log("i-nat1")
    dp.sync(move_zone_a_to_b(tagged))
    for _ in range(3):   # the old connection lives on, still translated by NAT A
        answer = flow.send()
        assert answer["ok"] and answer["you"] == ADDR[A], answer
    assert dp.http_get(dp.priv_role(A)).you == ADDR[B]   # a new connection (SYN) goes through B
    assert counter(dp, "nat-1", "forward", "reject") == 0
    # The tags go (end of the drain): the agent removes the handoff, the old flow is reset.
    dp.sync(move_zone_a_to_b(dp.spec.with_nat_tags("i-nat0", {}).with_nat_tags("i-nat1", {})))
    assert wait_for(lambda: handoff_gone(dp)), dp.agent_log("i-nat1")
    answer = flow.send()
    assert answer["error"] == "ConnectionResetError" and answer["ms"] < 1000, answer


def test_handoff_expires_by_itself_when_until_passes(dp):
    flow = Flow(dp, A)
    assert flow.send()["you"] == ADDR[A]
    until = int(time.time()) + 4
    dp.sync(move_zone_a_to_b(handoff(dp.spec, until=until)))
    assert wait_for(lambda: handoff_applied(dp)), dp.agent_log("i-nat1")
    assert flow.send()["you"] == ADDR[A]
    assert wait_for(lambda: time.time() > until and handoff_gone(dp), timeout_s=12), dp.agent_log("i-nat1")
    answer = flow.send()
    assert answer["error"] == "ConnectionResetError", answer
    assert "handoffs now: none" in dp.agent_log("i-nat1")


def test_tunnel_packets_from_a_host_that_is_no_handoff_peer_are_dropped(dp):
    tagged = handoff(dp.spec, until=int(time.time()) + 120)
    dp.sync(tagged)
    assert wait_for(lambda: handoff_applied(dp))
    # A private host of zone B (10.0.11.4, not a NAT) forges NAT B's tunnel into NAT A: same VXLAN id,
    # NAT A's tunnel MAC, an inner ping to an internet target.
    attacker, x, y = "10.0.11.4", NAT_IP[A], NAT_IP[B]
    vni = (sum(int(o) << s for o, s in zip(x.split("."), (24, 16, 8, 0), strict=True))
           + sum(int(o) << s for o, s in zip(y.split("."), (24, 16, 8, 0), strict=True))) % 2**24
    role = dp.priv_role(B)
    for argv in (["ip", "link", "add", "vxa", "type", "vxlan", "id", str(vni), "remote", x, "local", attacker,
                  "dstport", "4789"],
                 ["ip", "link", "set", "vxa", "up"],
                 ["ip", "neigh", "add", "169.254.47.89", "lladdr", "02:68:0a:00:00:14", "dev", "vxa"],
                 ["ip", "route", "add", "203.0.113.10/32", "via", "169.254.47.89", "dev", "vxa", "onlink"]):
        assert dp.exec(role, argv).returncode == 0, argv
    dropped = counter(dp, "nat-0", "input", "drop")
    rx = int(dp.exec("nat-0", ["cat", f"/sys/class/net/{tunnel(y)}/statistics/rx_packets"]).stdout)
    dp.exec(role, ["ping", "-c", "3", "-i", "0.2", "-W", "1", "203.0.113.10"], timeout=15)
    assert counter(dp, "nat-0", "input", "drop") - dropped >= 3
    assert int(dp.exec("nat-0", ["cat", f"/sys/class/net/{tunnel(y)}/statistics/rx_packets"]).stdout) == rx


def test_agent_ignores_malformed_tags_and_says_so(dp):
    bad = {KEY: "towards 10.0.10.20 soon 10.0.1.0/24", f"{KEY}:2": f"to {NAT_IP[A]} 9999999999 10.0.1.7/24"}
    dp.sync(dp.spec.with_nat_tags("i-nat1", bad))
    assert wait_for(lambda: dp.agent_log("i-nat1").count("ignoring") >= 2), dp.agent_log("i-nat1")
    log = dp.agent_log("i-nat1")
    assert f"ignoring {KEY}='towards 10.0.10.20 soon 10.0.1.0/24'" in log
    assert "CIDR '10.0.1.7/24' is not an IPv4 network address/prefix" in log
    assert PRIVATE[A] not in dp.exec("nat-1", ["nft", "list", "map", "inet", "hanat_nat", "handoff_to"]).stdout


def test_tags_written_in_the_emulator_reach_the_agents():
    """Controller-style CreateTags in EC2 (moto) -> spec_from_emulator -> IMDS stand-in -> agents."""
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        topo = build_stack(ec2)
        x, y = topo.zones
        ips = {z.az: ec2.describe_instances(InstanceIds=[z.nat_instance_id])["Reservations"][0]["Instances"][0]
               ["PrivateIpAddress"] for z in topo.zones}
        with Namespaces(spec_from_emulator(ec2, topo)) as plane:
            until = int(time.time()) + 120
            private_x = plane.spec.zone(x.az).private_cidr
            key = f"hanat:handoff:{x.az}"
            ec2.create_tags(Resources=[y.nat_instance_id], Tags=[{"Key": key, "Value": f"to {ips[x.az]} {until} {private_x}"}])
            ec2.create_tags(Resources=[x.nat_instance_id], Tags=[{"Key": key, "Value": f"from {ips[y.az]} {until} {private_x}"}])
            spec = spec_from_emulator(ec2, topo)
            assert spec.zone(y.az).nat.tag_map[key].startswith("to ")
            plane.sync(spec)
            y_role, x_role = plane.nat_role(y.az), plane.nat_role(x.az)
            assert wait_for(lambda: private_x in plane.exec(y_role, ["nft", "list", "map", "inet", "hanat_nat",
                                                                      "handoff_to"]).stdout
                            and has_link(plane, x_role, tunnel(ips[y.az]))), plane.agent_log(y.nat_instance_id)
            ec2.delete_tags(Resources=[x.nat_instance_id, y.nat_instance_id], Tags=[{"Key": key}])
            plane.sync(spec_from_emulator(ec2, topo))
            assert wait_for(lambda: not has_link(plane, x_role, tunnel(ips[y.az]))), plane.agent_log(x.nat_instance_id)


READ_HANDOFFS = """import json
from chalicelib.probes.counters import fetch_handoffs
print(json.dumps(fetch_handoffs(1.0)))
"""


def handoffs_seen_by_probe(dp: Namespaces, az: str) -> dict:
    """What zone ``az``'s probe function reads (probes/counters.fetch_handoffs, 192.0.2.1:9107 over the
    probe subnet's pinned route): the agent's report, or {} when unreadable."""
    proc = ns_exec(dp.ns(dp.probe_role(az)), [sys.executable, "-c", READ_HANDOFFS], timeout=20)
    assert proc.returncode == 0, proc.stderr
    report, _error = json.loads(proc.stdout)
    return report or {}


def test_the_agent_reports_the_handoff_it_applied_to_its_zones_probe_after_the_metadata_shows_it(dp):
    """Issue 21: each NAT's agent lists the handoff tags its kernel matches (handoffs.json), read by its
    zone's probe over the pinned route; with the lab's IMDS 3 s late, written only once the tags reach it
    (its ``at``: the agent's clock when it wrote the report, whole seconds)."""
    delay_s = 3.0
    dp.imds_tag_delay(delay_s)
    until = int(time.time()) + 120
    tagged = handoff(dp.spec, until=until)
    written = time.time()
    dp.sync(tagged)
    want = {B: f"to {NAT_IP[A]} {until} {PRIVATE[A]}", A: f"from {NAT_IP[B]} {until} {PRIVATE[A]}"}
    reports = {}

    def acknowledged():
        reports.update({az: handoffs_seen_by_probe(dp, az) for az in want})
        return all(reports[az].get("applied", {}).get(KEY) == v for az, v in want.items())
    assert wait_for(acknowledged, timeout_s=15, interval_s=0.2), (reports, dp.agent_log("i-nat1"))
    assert all(r["at"] >= written + delay_s - 1 for r in reports.values()), (written, reports)
    assert handoff_applied(dp)                      # reported only once the kernel matches the tags
    assert set(reports[B]["applied"]) == {KEY}      # only hanat:handoff:* tags
    dp.imds_tag_delay(0.0)
    dp.sync(dp.spec.with_nat_tags("i-nat0", {}).with_nat_tags("i-nat1", {}))
    assert wait_for(lambda: handoffs_seen_by_probe(dp, B).get("applied") == {}, interval_s=0.2), \
        dp.agent_log("i-nat1")
