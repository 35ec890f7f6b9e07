"""The NATs' namespaces: NAT instances (``nat-<n>``) and an adopted VPC's NAT gateways (``ngw-<n>``), shaped as AWS shapes them.

A NAT instance's namespace has ONE interface, ``vpc0``, on its zone's public subnet bridge, holding only its
private address (and its secondary ones when ``nat.addresses`` > 1: setup-nat.sh then SNATs across them); its default route is the VPC router (which sends it on to the internet gateway, where its
Elastic IP is translated 1:1: lab.dataplane.netns.igw). Client packets arrive and leave on that one
interface. It is configured by bootstrap/nat/setup-nat.sh as it ships and runs bootstrap/nat/hanat-nat-agent
(which sources its library hanat-nat-counters from beside it, as on the instance) against an IMDSv2
stand-in (lab.dataplane.netns.imds on 169.254.169.254) serving the spec's instance tags; its handoff
tunnels run over ``vpc0`` between private addresses. A NAT gateway's namespace has the same one interface
and masquerades the VPC's traffic to its private address (lab.dataplane.netns.natgw); the internet
gateway translates that to the gateway's Elastic IP, as AWS's does.

``NatFleet`` takes the plane (``lab.dataplane.netns.namespaces.Namespaces``) for names, namespaces and
processes; the plane's ``sync`` hands it the actions ``layout.plan_nat_actions`` planned.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from ..boot import BootGate
from ..spec import DataPlaneSpec, NatGatewayPlane, NatPlane
from . import fabric, imds, layout, natgw, offline
from .shell import REPO_ROOT, NetnsError, ip, nft, python_argv, sysctl

NAT_SCRIPT = REPO_ROOT / "bootstrap" / "nat" / "setup-nat.sh"
NAT_AGENT = REPO_ROOT / "bootstrap" / "nat" / "hanat-nat-agent"   # the agent that ships, run as is
NAT_COUNTERS = NAT_AGENT.parent / "hanat-nat-counters"            # its library: the agent sources it from there
ENA_STANDIN = Path(__file__).resolve().parent / "ena"               # its `ethtool` (lab/dataplane/netns/gray_faults.py)
LAB_SCRIPT_ENV = {"HANAT_NAT_PERSIST": "0", "HANAT_NAT_INSTALL": "0", "HANAT_NAT_WAIT_S": "5"}


class NatFleet:
    """The NAT instances and NAT gateways a plane has built, and how they are built and changed."""

    def __init__(self, plane, boot_gate: BootGate):
        self._plane = plane
        self.boot_gate = boot_gate
        self.runtimes: dict[str, layout.NatRuntime] = {}
        self._gateways: dict[str, int] = {}     # NAT gateway id -> n of its ngw-<n> namespace
        self._next_gateway = 0
        self._imds_dir: Path | None = None     # each NAT's IMDS state file and its agent's log
        self._imds_written: dict[str, tuple] = {}
        self._imds_notices: dict[str, dict] = {}   # instance id -> its spot notices (lab.aws.spot)
        self.tag_delay_s = 0.0                     # how late tag changes reach each NAT's metadata (imds)

    def start(self, run_id: str) -> None:
        self._imds_dir = Path(tempfile.mkdtemp(prefix=f"hanat-{run_id}-imds-"))

    def stop(self) -> None:
        """Forget everything (the plane has deleted the namespaces)."""
        self.runtimes.clear()
        self._gateways.clear()
        if self._imds_dir is not None:
            shutil.rmtree(self._imds_dir, ignore_errors=True)
        self._imds_dir, self._imds_written, self._imds_notices = None, {}, {}

    def role(self, instance_id: str) -> str | None:
        rt = self.runtimes.get(instance_id)
        return layout.host_role("nat", rt.index) if rt else None

    def gateway_role(self, gateway_id: str) -> str | None:
        n = self._gateways.get(gateway_id)
        return layout.host_role("ngw", n) if n is not None else None

    def agent_log(self, instance_id: str) -> str:
        path = self._imds_dir / f"{instance_id}.agent.log" if self._imds_dir else None
        return path.read_text() if path and path.exists() else ""

    def apply(self, action: layout.NatAction, nat: NatPlane | None) -> None:
        {"create": self._create, "delete": self._delete, "link_up": self._link_up,
         "link_down": self._link_down}[action.kind](action, nat)

    def write_imds(self, nat: NatPlane) -> Path:
        path = self._imds_dir / f"{nat.instance_id}.json"
        notices = self._imds_notices.get(nat.instance_id, {})
        written = (nat.private_ip, nat.tags, tuple(sorted(notices)), self.tag_delay_s)
        if self._imds_written.get(nat.instance_id) != written:
            imds.write_state(path, nat.instance_id, nat.private_ip, nat.tag_map, **notices,
                             tag_delay_s=self.tag_delay_s)
            self._imds_written[nat.instance_id] = written
        return path

    def delay_tags(self, delay_s: float, nats) -> None:
        """From now on tag changes reach the NATs' metadata ``delay_s`` late (``nats``: the running ones'
        ``NatPlane``s, their states rewritten with the delay)."""
        self.tag_delay_s = float(delay_s)
        for nat in nats:
            if self._imds_dir is not None and nat.instance_id in self.runtimes:
                self.write_imds(nat)

    def spot_notice(self, nat: NatPlane | None, spot_action: dict | None, rebalance: dict | None) -> None:
        """Show EC2's spot notices in the NAT's metadata (kept when its tags are written again)."""
        if nat is None:
            return
        notices = self._imds_notices.setdefault(nat.instance_id, {})
        notices.update({k: v for k, v in (("spot_action", spot_action), ("rebalance", rebalance)) if v})
        if self._imds_dir is not None and nat.instance_id in self.runtimes:
            self.write_imds(nat)

    # --- NAT instances (named after layout.NatAction.kind) ----------------------------------
    def _create(self, action: layout.NatAction, nat: NatPlane) -> None:
        plane = self._plane
        role = layout.host_role("nat", action.index)
        ns = plane.add_namespace(role)
        sysctl(ns, "net.ipv4.ip_forward", 0)
        bridge = layout.bridge_name("pub", fabric.public_zone_index(plane.spec, nat.public_cidr, f"NAT {nat.instance_id}"))
        fabric.veth(plane, role, layout.HOST_UPLINK, "vpc", layout.router_port("nat", action.index), bridge)
        for private, _ in nat.addresses:   # secondary ones (nat.addresses > 1) as amazon-ec2-net-utils adds them
            ip(ns, "addr", "add", f"{private}/{layout.prefixlen(nat.public_cidr)}", "dev", layout.HOST_UPLINK)
        self.runtimes[nat.instance_id] = layout.NatRuntime(nat.instance_id, action.index, nat.private_ip,
                                                           nat.public_cidr, links_up=False)
        boots_offline = self.boot_gate.applies_to(nat.instance_id)   # nothing outside (lab.dataplane.boot)
        if boots_offline:
            self.boot_gate.boots[nat.instance_id].created_at = time.time()
            nft(ns, offline.offline_ruleset(True, plane.spec.vpc_cidr))
        self._link_up(action, nat)
        started = time.monotonic()
        # the probe subnets may read the agent's counters, as the stack builder renders them (HANAT_PROBE_CIDRS)
        probe_cidrs = {"HANAT_PROBE_CIDRS": ",".join(z.probe_cidr for z in plane.spec.zones)}
        env = {**(offline.OFFLINE_SCRIPT_ENV if boots_offline else LAB_SCRIPT_ENV), **probe_cidrs,
               "HANAT_NAT_ADDRESSES": str(len(nat.addresses))}
        result = plane.exec(role, ["bash", str(NAT_SCRIPT), plane.spec.vpc_cidr], timeout=120, env=env)
        if boots_offline:
            self.boot_gate.boots[nat.instance_id].ran(result.returncode, result.stderr, time.monotonic() - started,
                                                      offline.sent_outside(ns))
            nft(ns, offline.offline_ruleset(False, plane.spec.vpc_cidr))
        if result.returncode != 0:
            raise NetnsError(f"setup-nat.sh failed in {role} (exit {result.returncode}): {result.stderr.strip()[-500:]}")
        self._start_agent(role, nat)
        if not nat.running:
            self._link_down(action, nat)

    def _start_agent(self, role: str, nat: NatPlane) -> None:
        """The instance's metadata service on 169.254.169.254, then the real agent reading it."""
        plane = self._plane
        ip(plane.ns(role), "addr", "add", f"{imds.IMDS_ADDRESS}/32", "dev", "lo")
        server = plane.popen(role, python_argv("lab.dataplane.netns.imds", "--state", str(self.write_imds(nat))),
                             stdout=subprocess.PIPE, text=True)
        if server.stdout.readline().strip() != "ready":
            raise NetnsError(f"the IMDS stand-in did not start in {role} (exit {server.poll()})")
        # each NAT's own counters directory: the namespaces share one filesystem (on EC2 it is /run/...)
        counters = {"HANAT_COUNTERS_DIR": str(self._imds_dir / f"{nat.instance_id}.counters"),
                    # the lab's ENA allowance counters (none on a veth; the bandwidth-cap drill's tbf: ena/ethtool)
                    "PATH": f"{ENA_STANDIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        with open(self._imds_dir / f"{nat.instance_id}.agent.log", "ab") as log:
            plane.popen(role, ["bash", str(NAT_AGENT)], stderr=log, env=counters)

    def _link_up(self, action: layout.NatAction, nat: NatPlane) -> None:
        rt = self.runtimes[nat.instance_id]
        ns = self._plane.ns(layout.host_role("nat", rt.index))
        ip(ns, "link", "set", layout.HOST_UPLINK, "up")
        # Routes through a link vanish when it goes down: put the default route back every time.
        ip(ns, "route", "replace", "default", "via", layout.gateway(rt.public_cidr), "dev", layout.HOST_UPLINK)
        self.runtimes[nat.instance_id] = replace(rt, links_up=True)

    def _link_down(self, action: layout.NatAction, nat: NatPlane) -> None:
        rt = self.runtimes[nat.instance_id]
        ip(self._plane.ns(layout.host_role("nat", rt.index)), "link", "set", layout.HOST_UPLINK, "down")
        self.runtimes[nat.instance_id] = replace(rt, links_up=False)

    def _delete(self, action: layout.NatAction, nat: NatPlane | None) -> None:
        rt = self.runtimes.pop(action.instance_id)
        self._plane.remove_namespace(layout.host_role("nat", rt.index))
        self._plane.forget_fault(f"blackhole:{action.instance_id}")  # the fault lived in that namespace
        self._imds_written.pop(action.instance_id, None)

    # --- NAT gateways (an adopted VPC's) ------------------------------------------------------
    def sync_gateways(self, spec: DataPlaneSpec) -> None:
        """A namespace per NAT gateway the spec lists (built once: a gateway never changes address);
        one the spec no longer lists loses it. An unavailable gateway keeps its namespace: the router
        blackholes the subnets that point at it (lab.dataplane.netns.layout.router_tables)."""
        wanted = {g.gateway_id: g for g in spec.nat_gateways}
        for gateway_id in [g for g in self._gateways if g not in wanted]:
            self._plane.remove_namespace(layout.host_role("ngw", self._gateways.pop(gateway_id)))
        for gateway_id, gateway in wanted.items():
            if gateway_id not in self._gateways:
                self._gateway_create(gateway, self._next_gateway)
                self._gateways[gateway_id] = self._next_gateway
                self._next_gateway += 1

    def _gateway_create(self, gateway: NatGatewayPlane, index: int) -> None:
        plane = self._plane
        role = layout.host_role("ngw", index)
        ns = plane.add_namespace(role)
        for key, value in natgw.SYSCTLS:   # before the link exists, so it takes the defaults
            sysctl(ns, key, value)
        bridge = layout.bridge_name("pub", fabric.public_zone_index(plane.spec, gateway.public_cidr,
                                                                    f"NAT gateway {gateway.gateway_id}"))
        fabric.veth(plane, role, layout.HOST_UPLINK, "vpc", layout.router_port("ngw", index), bridge)
        ip(ns, "addr", "add", f"{gateway.private_ip}/{layout.prefixlen(gateway.public_cidr)}", "dev", layout.HOST_UPLINK)
        ip(ns, "link", "set", layout.HOST_UPLINK, "up")
        ip(ns, "route", "replace", "default", "via", layout.gateway(gateway.public_cidr), "dev", layout.HOST_UPLINK)
        nft(ns, natgw.ruleset(plane.spec.vpc_cidr, layout.HOST_UPLINK))
