"""The lab data plane: real Linux namespaces wired like the VPC, kept equal to a ``DataPlaneSpec``.

Namespaces (all ``hanat-<run_id>-<role>``, linked only to each other; built by lab.dataplane.netns.fabric):
  inet       the internet: bridge ``br-inet`` (203.0.113.1/24), targets on lo, the HTTP server
  aws        AWS's own network (the heartbeat's control probe): 203.0.113.2 on the inet bridge
  igw        the internet gateway: 203.0.113.3 and every Elastic IP (lab address) on br-inet, each
             translated 1:1 to the private address it is associated with (lab.dataplane.netns.igw)
  vpc        the VPC router: one bridge per subnet holding its .1, policy routing per private/probe
             subnet; the public subnets' default route is the internet gateway
  nat-<n>    one per NAT instance: ONE interface ``vpc0`` in its public subnet with its private IP only
             (lab.dataplane.netns.nats: setup-nat.sh, hanat-nat-agent, the IMDSv2 stand-in)
  ngw-<n>    one per managed NAT gateway of an adopted VPC: the same one interface; it masquerades the
             VPC's traffic (nftables), as AWS's NAT gateway does, and the igw gives it its Elastic IP
  priv-<i>   a host in zone i's private subnet; probe-<i> one in its probe subnet
"""
from __future__ import annotations

import atexit
import json
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Self

from chalicelib.errors import InputError

from ..boot import BootGate
from ..egress import EgressSample
from ..spec import DataPlaneSpec, validate_spec
from . import fabric, faults, layout
from .gray_faults import GrayFaults
from .nats import NatFleet
from .shell import (
    NetnsError,
    add_namespace,
    delete_namespace,
    ip,
    nft,
    ns_exec,
    ns_popen,
    python_argv,
    stop_process,
)


def new_run_id() -> str:
    return secrets.token_hex(3)


class Namespaces:
    """Build with ``up()``, follow the emulator with ``sync(spec)``, inject faults, ``down()``.

    ``exec``/``popen``/``http_get`` take a logical role (``inet``, ``aws``, ``igw``, ``vpc``, ``priv-0``,
    ``probe-1``, ``nat-2``); ``priv_role(az)``, ``probe_role(az)``, ``nat_role(az)`` map zones to them.
    """

    def __init__(self, spec: DataPlaneSpec, run_id: str | None = None):
        validate_spec(spec)
        self.spec = spec
        self.run_id = layout.check_run_id(run_id or new_run_id())
        self._roles: list[str] = []          # namespaces created, in creation order
        self._procs: list[subprocess.Popen] = []
        self._faults: set[str] = set()
        self._is_up = False
        self.boot_gate = BootGate()         # armed: NATs launched from then on boot late and offline
        self._fleet = NatFleet(self, self.boot_gate)
        self._eips_held: set[str] = set()   # the Elastic IPs (lab addresses) the internet gateway holds
        self.gray = GrayFaults(self)        # conntrack-full, port-exhaustion, bandwidth-cap (the gray drills)

    def boot_offline(self, delay_s: float) -> None:
        """From now on a newly launched NAT boots like a small instance with no way out (lab.dataplane.boot)."""
        self.boot_gate.arm(delay_s, set(self._fleet.runtimes) | {n.instance_id for n in self.spec.nats})

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
        role = self._fleet.role(instance_id)
        if role is None:
            raise InputError(f"NAT {instance_id} of zone {az} has no namespace (terminated?)")
        return role

    def gateway_role(self, gateway_id: str) -> str:
        """The namespace role of a NAT gateway (``ngw-<n>``)."""
        role = self._fleet.gateway_role(gateway_id)
        if role is None:
            raise InputError(f"NAT gateway {gateway_id} has no namespace in this data plane")
        return role

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
        self._fleet.start(self.run_id)
        try:
            fabric.build_internet(self)
            fabric.build_router(self, self.spec)
            fabric.build_gateway(self, self.spec.vpc_cidr)
            for i, z in enumerate(self.spec.zones):
                fabric.build_host(self, layout.host_role("priv", i), layout.router_port("priv", i),
                                  layout.bridge_name("prv", i), z.private_cidr)
                fabric.build_host(self, layout.host_role("probe", i), layout.router_port("probe", i),
                                  layout.bridge_name("prb", i), z.probe_cidr)
            self.sync(self.spec)
        except BaseException:
            self.down()
            raise
        return self

    def down(self) -> list[str]:
        """Stop every process and delete every namespace this plane made (idempotent)."""
        self.gray.lift_all()   # the bind mount and the temp file outlive nothing, but say so
        for proc in reversed(self._procs):  # clients before the server they talk to
            stop_process(proc)
        self._procs.clear()
        removed = [self.ns(r) for r in reversed(self._roles) if delete_namespace(self.ns(r))]
        self._roles.clear()
        self._fleet.stop()
        self._faults.clear()
        self._eips_held = set()
        self._is_up = False
        atexit.unregister(self.down)
        return removed

    def __enter__(self) -> Self:
        return self.up()

    def __exit__(self, *exc) -> None:
        self.down()

    # --- sync -----------------------------------------------------------------------------
    def sync(self, spec: DataPlaneSpec) -> list[layout.NatAction]:
        """Make the kernel follow ``spec``: NAT namespaces per instance state, router tables per route
        table, the internet gateway's translation per Elastic IP association. Returns the NAT actions
        taken (empty when nothing about NATs changed)."""
        if not self._is_up:
            raise NetnsError("sync() needs a data plane that is up; call up() first")
        validate_spec(spec)
        shape = [(z.az, z.public_cidr, z.private_cidr, z.probe_cidr) for z in spec.zones]
        if shape != [(z.az, z.public_cidr, z.private_cidr, z.probe_cidr) for z in self.spec.zones]:
            raise InputError("sync cannot change zones or subnets; build a new Namespaces instead")
        self.spec = spec
        actions = layout.plan_nat_actions(spec, self._fleet.runtimes)
        now = time.time()
        booting = {a.instance_id for a in actions if a.kind == "create" and self.boot_gate.hold(a.instance_id, now)}
        actions = [a for a in actions if a.instance_id not in booting]
        for action in actions:
            self._fleet.apply(action, spec.nat_by_id(action.instance_id))
        self._fleet.sync_gateways(spec)
        self._eips_held = fabric.load_translations(self, spec.eip_translations(), self._eips_held)
        for t in layout.router_tables(spec):
            if t.via:
                ip(self.ns("vpc"), "route", "replace", "default", "via", t.via, "table", str(t.table))
            else:
                ip(self.ns("vpc"), "route", "replace", "blackhole", "default", "table", str(t.table))
        for nat in spec.nats:
            if nat.instance_id in self._fleet.runtimes:
                self._fleet.write_imds(nat)
        return actions

    def kernel_routes(self) -> dict[str, str | None]:
        """Subnet CIDR -> next hop of its router table's default route as the kernel has it."""
        out: dict[str, str | None] = {}
        for t in layout.router_tables(self.spec):
            rows = json.loads(ip(self.ns("vpc"), "-j", "route", "show", "table", str(t.table)).stdout or "[]")
            out[t.subnet_cidr] = next((r.get("gateway") for r in rows if r.get("dst") == "default"), None)
        return out

    def gateway_translations(self) -> dict[str, str]:
        """Elastic IP -> private address as the internet gateway's kernel has it (its nftables map)."""
        listed = json.loads(ns_exec(self.ns(layout.IGW_ROLE), ["nft", "-j", "list", "map", "ip", "lab_igw",
                                                                "to_private"], timeout=10).stdout or "{}")
        for item in listed.get("nftables", []):
            if "map" in item:
                return {public: private for public, private in item["map"].get("elem", [])}
        return {}

    def nat_runtime(self, instance_id: str) -> layout.NatRuntime | None:
        return self._fleet.runtimes.get(instance_id)

    def spot_notice(self, instance_id: str, spot_action: dict | None = None, rebalance: dict | None = None) -> None:
        """EC2's spot notices in a NAT's metadata (lab.aws.spot)."""
        self._fleet.spot_notice(self.spec.nat_by_id(instance_id), spot_action, rebalance)

    @property
    def imds_tag_delay_s(self) -> float:
        return self._fleet.tag_delay_s

    def imds_tag_delay(self, delay_s: float) -> None:
        """From now on the NATs' metadata shows tag changes ``delay_s`` late (lab.dataplane.netns.imds)."""
        self._fleet.delay_tags(delay_s, self.spec.nats)

    def agent_log(self, instance_id: str) -> str:
        """What the NAT's hanat-nat-agent has logged so far."""
        return self._fleet.agent_log(instance_id)

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

    # --- namespaces (for lab.dataplane.netns.fabric and .nats) ----------------------------------
    def add_namespace(self, role: str) -> str:
        add_namespace(self.ns(role))
        self._roles.append(role)
        return self.ns(role)

    def remove_namespace(self, role: str) -> None:
        delete_namespace(self.ns(role))
        if role in self._roles:
            self._roles.remove(role)

    def forget_fault(self, name: str) -> None:
        self._faults.discard(name)


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
