"""The lab data plane: real Linux namespaces wired like the VPC, kept equal to a ``DataPlaneSpec``.

Namespaces (all ``hanat-<run_id>-<role>``, linked only to each other):
  inet       the internet: bridge ``br-inet`` (203.0.113.1/24), targets on lo, the HTTP server
  aws        AWS's own network (the heartbeat's control probe): 203.0.113.2 on the inet bridge
  vpc        the VPC router: one bridge per subnet holding its .1, policy routing per subnet
  nat-<n>    one per NAT instance: ``vpc0`` (private IP) and ``pub0`` (lab address on br-inet),
             configured by bootstrap/nat/setup-nat.sh, running bootstrap/nat/hanat-nat-agent against
             an IMDSv2 stand-in (lab.dataplane.netns.imds on 169.254.169.254) that serves the spec's instance tags
  ngw-<n>    one per managed NAT gateway of an adopted VPC: ``vpc0`` in its public subnet, ``pub0`` with
             its own lab address; it masquerades the VPC's traffic (nftables), as AWS's NAT gateway does
  priv-<i>   a host in zone i's private subnet; probe-<i> one in its probe subnet
"""
from __future__ import annotations

import atexit
import json
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Self

from chalicelib.errors import InputError

from ..boot import BootGate
from ..egress import EgressSample
from ..spec import DataPlaneSpec, NatGatewayPlane, NatPlane, validate_spec
from . import faults, imds, layout, natgw, offline
from .shell import (
    REPO_ROOT,
    NetnsError,
    add_namespace,
    delete_namespace,
    ip,
    nft,
    ns_exec,
    ns_popen,
    python_argv,
    stop_process,
    sysctl,
)

NAT_SCRIPT = REPO_ROOT / "bootstrap" / "nat" / "setup-nat.sh"
NAT_AGENT = REPO_ROOT / "bootstrap" / "nat" / "hanat-nat-agent"   # the agent that ships, run as is
LAB_SCRIPT_ENV = {"HANAT_NAT_PERSIST": "0", "HANAT_NAT_INSTALL": "0", "HANAT_NAT_WAIT_S": "5"}
HTTP_PORT = 80


def new_run_id() -> str:
    return secrets.token_hex(3)


class Namespaces:
    """Build with ``up()``, follow the emulator with ``sync(spec)``, inject faults, ``down()``.

    ``exec``/``popen``/``http_get`` take a logical role (``inet``, ``aws``, ``vpc``, ``priv-0``,
    ``probe-1``, ``nat-2``); ``priv_role(az)``, ``probe_role(az)``, ``nat_role(az)`` map zones to them.
    """

    def __init__(self, spec: DataPlaneSpec, run_id: str | None = None):
        validate_spec(spec)
        self.spec = spec
        self.run_id = layout.check_run_id(run_id or new_run_id())
        self._nats: dict[str, layout.NatRuntime] = {}
        self._roles: list[str] = []          # namespaces created, in creation order
        self._procs: list[subprocess.Popen] = []
        self._faults: set[str] = set()
        self._is_up = False
        self._imds_dir: Path | None = None     # each NAT's IMDS state file and its agent's log
        self._imds_written: dict[str, tuple] = {}
        self._imds_notices: dict[str, dict] = {}   # instance id -> its spot notices (lab.aws.spot)
        self.boot_gate = BootGate()         # armed: NATs launched from then on boot late and offline
        self._gateways: dict[str, int] = {}     # NAT gateway id -> n of its ngw-<n> namespace
        self._next_gateway = 0

    def boot_offline(self, delay_s: float) -> None:
        """From now on a newly launched NAT boots like a small instance with no way out (lab.dataplane.boot)."""
        self.boot_gate.arm(delay_s, set(self._nats) | {n.instance_id for n in self.spec.nats})

    # --- names --------------------------------------------------------------------------
    def ns(self, role: str) -> str:
        return layout.netns_name(self.run_id, role)

    def priv_role(self, az: str) -> str:
        return layout.host_role("priv", self.spec.zone_index(az))

    def probe_role(self, az: str) -> str:
        return layout.host_role("probe", self.spec.zone_index(az))

    def nat_role(self, az: str) -> str:
        """The namespace of the NAT currently owning zone ``az``."""
        instance_id = self.spec.zone(az).nat.instance_id
        rt = self._nats.get(instance_id)
        if rt is None:
            raise InputError(f"NAT {instance_id} of zone {az} has no namespace (terminated?)")
        return layout.host_role("nat", rt.index)

    def namespaces(self) -> list[str]:
        return [self.ns(r) for r in self._roles]

    @property
    def active_faults(self) -> frozenset[str]:
        """``flaky``, ``targets_down``, ``blackhole:<nat instance id>`` for each fault in place."""
        return frozenset(self._faults)

    # --- life cycle -----------------------------------------------------------------------
    def up(self) -> Namespaces:
        """Build every namespace and link, start the internet's server, configure the NATs.
        On any failure everything built so far is removed before the error propagates."""
        if self._is_up:
            return self
        self._is_up = True
        atexit.register(self.down)
        self._imds_dir = Path(tempfile.mkdtemp(prefix=f"hanat-{self.run_id}-imds-"))
        try:
            self._build_internet()
            self._build_router()
            for i, z in enumerate(self.spec.zones):
                self._build_host(layout.host_role("priv", i), layout.router_port("priv", i),
                                 layout.bridge_name("prv", i), z.private_cidr)
                self._build_host(layout.host_role("probe", i), layout.router_port("probe", i),
                                 layout.bridge_name("prb", i), z.probe_cidr)
            self.sync(self.spec)
        except BaseException:
            self.down()
            raise
        return self

    def down(self) -> list[str]:
        """Stop every process and delete every namespace this plane made (idempotent)."""
        for proc in reversed(self._procs):  # clients before the server they talk to
            stop_process(proc)
        self._procs.clear()
        removed = [self.ns(r) for r in reversed(self._roles) if delete_namespace(self.ns(r))]
        self._roles.clear()
        self._nats.clear()
        self._gateways.clear()
        self._faults.clear()
        if self._imds_dir is not None:
            shutil.rmtree(self._imds_dir, ignore_errors=True)
        self._imds_dir, self._imds_written = None, {}
        self._is_up = False
        atexit.unregister(self.down)
        return removed

    def __enter__(self) -> Self:
        return self.up()

    def __exit__(self, *exc) -> None:
        self.down()

    # --- sync -----------------------------------------------------------------------------
    def sync(self, spec: DataPlaneSpec) -> list[layout.NatAction]:
        """Make the kernel follow ``spec``: NAT namespaces per instance state, router tables per
        route table. Returns the NAT actions taken (empty when nothing about NATs changed)."""
        if not self._is_up:
            raise NetnsError("sync() needs a data plane that is up; call up() first")
        validate_spec(spec)
        shape = [(z.az, z.public_cidr, z.private_cidr, z.probe_cidr) for z in spec.zones]
        if shape != [(z.az, z.public_cidr, z.private_cidr, z.probe_cidr) for z in self.spec.zones]:
            raise InputError("sync cannot change zones or subnets; build a new Namespaces instead")
        self.spec = spec
        actions = layout.plan_nat_actions(spec, self._nats)
        now = time.time()
        booting = {a.instance_id for a in actions if a.kind == "create" and self.boot_gate.hold(a.instance_id, now)}
        actions = [a for a in actions if a.instance_id not in booting]
        for action in actions:
            nat = spec.nat_by_id(action.instance_id)
            getattr(self, f"_nat_{action.kind}")(action, nat)
        self._sync_gateways(spec)
        for t in layout.router_tables(spec):
            if t.via:
                ip(self.ns("vpc"), "route", "replace", "default", "via", t.via, "table", str(t.table))
            else:
                ip(self.ns("vpc"), "route", "replace", "blackhole", "default", "table", str(t.table))
        for nat in spec.nats:
            if nat.instance_id in self._nats:
                self._write_imds(nat)
        return actions

    def kernel_routes(self) -> dict[str, str | None]:
        """Subnet CIDR -> next hop of its router table's default route as the kernel has it."""
        out: dict[str, str | None] = {}
        for t in layout.router_tables(self.spec):
            rows = json.loads(ip(self.ns("vpc"), "-j", "route", "show", "table", str(t.table)).stdout or "[]")
            out[t.subnet_cidr] = next((r.get("gateway") for r in rows if r.get("dst") == "default"), None)
        return out

    def nat_runtime(self, instance_id: str) -> layout.NatRuntime | None:
        return self._nats.get(instance_id)

    def agent_log(self, instance_id: str) -> str:
        """What the NAT's hanat-nat-agent has logged so far."""
        path = self._imds_dir / f"{instance_id}.agent.log" if self._imds_dir else None
        return path.read_text() if path and path.exists() else ""

    # --- running things -------------------------------------------------------------------
    def exec(self, role: str, argv: Sequence[str], timeout: float = 30.0,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run ``argv`` in a namespace and wait (the exit code is the caller's to judge)."""
        return ns_exec(self.ns(role), argv, timeout=timeout, env=env)

    def popen(self, role: str, argv: Sequence[str], **kwargs) -> subprocess.Popen:
        """Start ``argv`` in a namespace; ``down()`` stops it if the caller has not."""
        proc = ns_popen(self.ns(role), argv, **kwargs)
        self._procs.append(proc)
        return proc

    def http_get(self, role: str, url: str = layout.EGRESS_URL, timeout: float = 1.0) -> EgressSample:
        """One HTTP request from a namespace, as the egress client would make it."""
        proc = self.exec(role, python_argv("lab.dataplane.netns.client", "--once", "--url", url, "--timeout", str(timeout)),
                         timeout=timeout + 15)
        try:
            return EgressSample(**json.loads(proc.stdout.strip().splitlines()[-1]))
        except (IndexError, ValueError, TypeError) as err:
            raise NetnsError(f"client in {role} printed no sample: {proc.stderr.strip()[-300:]}") from err

    def start_egress_client(self, az: str, out_path: str, url: str = layout.EGRESS_URL,
                            interval_s: float = 0.1, timeout_s: float = 0.5) -> subprocess.Popen:
        """Start the egress client in zone ``az``'s private host, logging to ``out_path``."""
        return self.popen(self.priv_role(az), python_argv(
            "lab.dataplane.netns.client", "--out", str(out_path), "--url", url,
            "--interval", str(interval_s), "--timeout", str(timeout_s)))

    # --- faults ---------------------------------------------------------------------------
    def blackhole(self, az: str, on: bool = True) -> None:
        """Zone ``az``'s NAT silently drops every packet it would forward."""
        nft(self.ns(self.nat_role(az)), faults.blackhole_ruleset(on))
        self._toggle(f"blackhole:{self.spec.zone(az).nat.instance_id}", on)

    def flaky(self, on: bool = True, loss: float = 0.2) -> None:
        """Random loss on every probe path (both directions, at the VPC router)."""
        nft(self.ns("vpc"), faults.flaky_ruleset(on, [z.probe_cidr for z in self.spec.zones], loss))
        self._toggle("flaky", on)

    def targets_down(self, on: bool = True) -> None:
        """The internet targets stop answering everyone, the aws namespace included."""
        nft(self.ns("inet"), faults.targets_down_ruleset(on, layout.TARGETS))
        self._toggle("targets_down", on)

    def _toggle(self, name: str, on: bool) -> None:
        (self._faults.add if on else self._faults.discard)(name)

    # --- building blocks ------------------------------------------------------------------
    def _add_ns(self, role: str) -> str:
        add_namespace(self.ns(role))
        self._roles.append(role)
        return self.ns(role)

    def _add_bridge(self, role: str, name: str, mac: str) -> None:
        """A bridge with a MAC of its own, so ports coming and going never change it (see layout)."""
        ip(self.ns(role), "link", "add", name, "address", mac, "type", "bridge")

    def _veth(self, role: str, inner: str, peer_role: str, peer: str, master: str | None) -> None:
        """A veth from ``role`` (named ``inner``) to ``peer_role`` (named ``peer``, on ``master``)."""
        ip(self.ns(role), "link", "add", inner, "type", "veth", "peer", "name", peer, "netns", self.ns(peer_role))
        if master:
            ip(self.ns(peer_role), "link", "set", peer, "master", master)
        ip(self.ns(peer_role), "link", "set", peer, "up")

    def _build_internet(self) -> None:
        inet = self._add_ns("inet")
        sysctl(inet, "net.ipv4.ip_forward", 0)
        self._add_bridge("inet", layout.INET_BRIDGE, layout.INET_BRIDGE_MAC)
        ip(inet, "addr", "add", f"{layout.INTERNET_GATEWAY}/24", "dev", layout.INET_BRIDGE)
        ip(inet, "link", "set", layout.INET_BRIDGE, "up")
        for target in layout.TARGETS:
            ip(inet, "addr", "add", f"{target}/32", "dev", "lo")
        server = self.popen("inet", python_argv("lab.dataplane.netns.httpserver", "--port", str(HTTP_PORT)),
                            stdout=subprocess.PIPE, text=True)
        if server.stdout.readline().strip() != "ready":
            raise NetnsError(f"the internet's HTTP server did not start (exit {server.poll()})")
        aws = self._add_ns("aws")
        self._veth("aws", layout.AWS_UPLINK, "inet", layout.AWS_PORT, layout.INET_BRIDGE)
        ip(aws, "addr", "add", f"{layout.AWS_NS_ADDRESS}/24", "dev", layout.AWS_UPLINK)
        ip(aws, "link", "set", layout.AWS_UPLINK, "up")
        ip(aws, "route", "add", "default", "via", layout.INTERNET_GATEWAY)

    def _build_router(self) -> None:
        vpc = self._add_ns("vpc")
        sysctl(vpc, "net.ipv4.ip_forward", 1)
        for key in ("all", "default"):
            sysctl(vpc, f"net.ipv4.conf.{key}.rp_filter", 0)
        ip(vpc, "rule", "add", "to", self.spec.vpc_cidr, "lookup", "main",
           "priority", str(layout.RULE_PRIORITY_VPC_LOCAL))
        for i, z in enumerate(self.spec.zones):
            for kind, cidr in (("pub", z.public_cidr), ("prv", z.private_cidr), ("prb", z.probe_cidr)):
                br = layout.bridge_name(kind, i)
                self._add_bridge("vpc", br, layout.bridge_mac(kind, i))
                ip(vpc, "addr", "add", f"{layout.gateway(cidr)}/{layout.prefixlen(cidr)}", "dev", br)
                ip(vpc, "link", "set", br, "up")
                if kind != "pub":
                    table = str(layout.table_id(i, kind))
                    ip(vpc, "rule", "add", "from", cidr, "lookup", table,
                       "priority", str(layout.RULE_PRIORITY_BASE + int(table)))
                    ip(vpc, "route", "replace", "blackhole", "default", "table", table)

    def _build_host(self, role: str, port: str, bridge: str, cidr: str) -> None:
        ns = self._add_ns(role)
        sysctl(ns, "net.ipv4.ip_forward", 0)
        self._veth(role, layout.HOST_UPLINK, "vpc", port, bridge)
        ip(ns, "addr", "add", f"{layout.host_address(cidr)}/{layout.prefixlen(cidr)}", "dev", layout.HOST_UPLINK)
        ip(ns, "link", "set", layout.HOST_UPLINK, "up")
        ip(ns, "route", "add", "default", "via", layout.gateway(cidr))

    # --- NAT actions (named after layout.NatAction.kind) ---------------------------------------
    def _public_zone_index(self, nat: NatPlane) -> int:
        for i, z in enumerate(self.spec.zones):
            if z.public_cidr == nat.public_cidr:
                return i
        raise InputError(f"NAT {nat.instance_id}: public_cidr={nat.public_cidr} is no zone's public subnet")

    def _nat_create(self, action: layout.NatAction, nat: NatPlane) -> None:
        role = layout.host_role("nat", action.index)
        ns = self._add_ns(role)
        sysctl(ns, "net.ipv4.ip_forward", 0)
        port = layout.router_port("nat", action.index)
        self._veth(role, layout.HOST_UPLINK, "vpc", port, layout.bridge_name("pub", self._public_zone_index(nat)))
        self._veth(role, layout.NAT_PUBLIC, "inet", port, layout.INET_BRIDGE)
        ip(ns, "addr", "add", f"{nat.private_ip}/{layout.prefixlen(nat.public_cidr)}", "dev", layout.HOST_UPLINK)
        self._nats[nat.instance_id] = layout.NatRuntime(nat.instance_id, action.index, nat.private_ip,
                                                      nat.public_cidr, None, links_up=False)
        boots_offline = self.boot_gate.applies_to(nat.instance_id)   # no address yet, nothing outside (lab.dataplane.boot)
        if boots_offline:
            self.boot_gate.boots[nat.instance_id].created_at = time.time()
            nft(ns, offline.offline_ruleset(True, self.spec.vpc_cidr))
        else:   # offline, the Elastic IP's address comes with the next sync
            self._nat_readdress(action, nat)
        self._nat_link_up(action, nat)
        started = time.monotonic()
        result = self.exec(role, ["bash", str(NAT_SCRIPT), self.spec.vpc_cidr], timeout=120,
                           env=offline.OFFLINE_SCRIPT_ENV if boots_offline else LAB_SCRIPT_ENV)
        if boots_offline:
            self.boot_gate.boots[nat.instance_id].ran(result.returncode, result.stderr, time.monotonic() - started,
                                                      offline.sent_outside(ns))
            nft(ns, offline.offline_ruleset(False, self.spec.vpc_cidr))
        if result.returncode != 0:
            raise NetnsError(f"setup-nat.sh failed in {role} (exit {result.returncode}): {result.stderr.strip()[-500:]}")
        self._start_nat_agent(role, nat)
        if not nat.running:
            self._nat_link_down(action, nat)

    def _write_imds(self, nat: NatPlane) -> Path:
        path = self._imds_dir / f"{nat.instance_id}.json"
        notices = self._imds_notices.get(nat.instance_id, {})
        written = (nat.private_ip, nat.tags, tuple(sorted(notices)))
        if self._imds_written.get(nat.instance_id) != written:
            imds.write_state(path, nat.instance_id, nat.private_ip, nat.tag_map, **notices)
            self._imds_written[nat.instance_id] = written
        return path

    def spot_notice(self, instance_id: str, spot_action: dict | None = None, rebalance: dict | None = None) -> None:
        """Show EC2's spot notices in the NAT's metadata (kept when its tags are written again)."""
        notices = self._imds_notices.setdefault(instance_id, {})
        notices.update({k: v for k, v in (("spot_action", spot_action), ("rebalance", rebalance)) if v})
        nat = self.spec.nat_by_id(instance_id) if self._imds_dir is not None else None
        if nat is not None and instance_id in self._nats:
            self._write_imds(nat)

    def _start_nat_agent(self, role: str, nat: NatPlane) -> None:
        """The instance's metadata service on 169.254.169.254, then the real agent reading it."""
        ip(self.ns(role), "addr", "add", f"{imds.IMDS_ADDRESS}/32", "dev", "lo")
        server = self.popen(role, python_argv("lab.dataplane.netns.imds", "--state", str(self._write_imds(nat))),
                            stdout=subprocess.PIPE, text=True)
        if server.stdout.readline().strip() != "ready":
            raise NetnsError(f"the IMDS stand-in did not start in {role} (exit {server.poll()})")
        with open(self._imds_dir / f"{nat.instance_id}.agent.log", "ab") as log:
            self.popen(role, ["bash", str(NAT_AGENT)], stderr=log)

    def _nat_link_up(self, action: layout.NatAction, nat: NatPlane) -> None:
        rt = self._nats[nat.instance_id]
        ns = self.ns(layout.host_role("nat", rt.index))
        for dev in (layout.HOST_UPLINK, layout.NAT_PUBLIC):
            ip(ns, "link", "set", dev, "up")
        # Routes through a link vanish when it goes down: put them back every time.
        ip(ns, "route", "replace", "default", "via", layout.INTERNET_GATEWAY, "dev", layout.NAT_PUBLIC, "onlink")
        ip(ns, "route", "replace", self.spec.vpc_cidr, "via", layout.gateway(nat.public_cidr), "dev", layout.HOST_UPLINK)
        self._nats[nat.instance_id] = replace(rt, links_up=True)

    def _nat_link_down(self, action: layout.NatAction, nat: NatPlane) -> None:
        rt = self._nats[nat.instance_id]
        ns = self.ns(layout.host_role("nat", rt.index))
        for dev in (layout.HOST_UPLINK, layout.NAT_PUBLIC):
            ip(ns, "link", "set", dev, "down")
        self._nats[nat.instance_id] = replace(rt, links_up=False)

    def _nat_readdress(self, action: layout.NatAction, nat: NatPlane) -> None:
        """Give the NAT the lab address of the EIP it now holds (or none)."""
        rt = self._nats[nat.instance_id]
        ns = self.ns(layout.host_role("nat", rt.index))
        ip(ns, "addr", "flush", "dev", layout.NAT_PUBLIC)
        for address in {rt.lab_address, nat.lab_address} - {None}:
            ip(self.ns("inet"), "neigh", "flush", "to", address, check=False)  # forget the old owner's MAC
        if nat.lab_address:
            ip(ns, "addr", "add", f"{nat.lab_address}/24", "dev", layout.NAT_PUBLIC)
        self._nats[nat.instance_id] = replace(rt, lab_address=nat.lab_address)
        if rt.links_up:  # the flush dropped the routes that used the address
            self._nat_link_up(action, nat)

    # --- NAT gateways (an adopted VPC's) ------------------------------------------------------
    def _sync_gateways(self, spec: DataPlaneSpec) -> None:
        """A namespace per NAT gateway the spec lists (built once: a gateway never changes address);
        one the spec no longer lists loses it. An unavailable gateway keeps its namespace: the router
        blackholes the subnets that point at it (lab.dataplane.netns.layout.router_tables)."""
        wanted = {g.gateway_id: g for g in spec.nat_gateways}
        for gateway_id in [g for g in self._gateways if g not in wanted]:
            role = layout.host_role("ngw", self._gateways.pop(gateway_id))
            delete_namespace(self.ns(role))
            if role in self._roles:
                self._roles.remove(role)
        for gateway_id, gateway in wanted.items():
            if gateway_id not in self._gateways:
                self._gateway_create(gateway, self._next_gateway)
                self._gateways[gateway_id] = self._next_gateway
                self._next_gateway += 1

    def _gateway_create(self, gateway: NatGatewayPlane, index: int) -> None:
        role = layout.host_role("ngw", index)
        ns = self._add_ns(role)
        for key, value in natgw.SYSCTLS:   # before the links exist, so they take the defaults
            sysctl(ns, key, value)
        port = layout.router_port("ngw", index)
        self._veth(role, layout.HOST_UPLINK, "vpc", port,
                   layout.bridge_name("pub", self._public_zone_index_of(gateway.public_cidr, gateway.gateway_id)))
        self._veth(role, layout.NAT_PUBLIC, "inet", port, layout.INET_BRIDGE)
        ip(ns, "addr", "add", f"{gateway.private_ip}/{layout.prefixlen(gateway.public_cidr)}", "dev", layout.HOST_UPLINK)
        ip(ns, "addr", "add", f"{gateway.lab_address}/24", "dev", layout.NAT_PUBLIC)
        for dev in (layout.HOST_UPLINK, layout.NAT_PUBLIC):
            ip(ns, "link", "set", dev, "up")
        ip(ns, "route", "replace", "default", "via", layout.INTERNET_GATEWAY, "dev", layout.NAT_PUBLIC, "onlink")
        ip(ns, "route", "replace", self.spec.vpc_cidr, "via", layout.gateway(gateway.public_cidr),
           "dev", layout.HOST_UPLINK)
        nft(ns, natgw.ruleset(self.spec.vpc_cidr, layout.NAT_PUBLIC))

    def _public_zone_index_of(self, public_cidr: str, what: str) -> int:
        for i, z in enumerate(self.spec.zones):
            if z.public_cidr == public_cidr:
                return i
        raise InputError(f"{what}: public_cidr={public_cidr} is no zone's public subnet")

    def gateway_role(self, gateway_id: str) -> str:
        """The namespace role of a NAT gateway (``ngw-<n>``)."""
        if gateway_id not in self._gateways:
            raise InputError(f"NAT gateway {gateway_id} has no namespace in this data plane")
        return layout.host_role("ngw", self._gateways[gateway_id])

    def _nat_delete(self, action: layout.NatAction, nat: NatPlane | None) -> None:
        rt = self._nats.pop(action.instance_id)
        role = layout.host_role("nat", rt.index)
        delete_namespace(self.ns(role))
        if role in self._roles:
            self._roles.remove(role)
        if rt.lab_address:
            ip(self.ns("inet"), "neigh", "flush", "to", rt.lab_address, check=False)
        self._faults.discard(f"blackhole:{action.instance_id}")  # the fault lived in that namespace
        self._imds_written.pop(action.instance_id, None)


def cleanup_on_signals(*planes: Namespaces) -> None:
    """Install SIGINT/SIGTERM handlers that take ``planes`` down before the process ends."""
    def handler(signum, _frame):
        for p in planes:
            p.down()
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        sys.exit(128 + signum)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
