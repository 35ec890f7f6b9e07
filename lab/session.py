"""One lab session: a stack in the emulator, the controller running on the lab's clock, a data plane
following the emulator, egress clients in every zone, and everything captured for the drill.

``LabSession`` is a context manager; leaving it (normally, on error or on Ctrl-C) stops every thread,
every process and every namespace it made.

``adopt=True``: the session first builds a VPC the way a VPC module would (``lab.foreignvpc``: no hanat
tags, a managed NAT gateway per zone), writes the config from it with ``hanat adopt``'s code and builds
the stack in it (``hanat up`` in adopt mode: NATs in the user's public subnets, no route moved). The data
plane carries the NAT gateways too. The controller starts only when the drill says so
(``start_heartbeat``), as after ``hanat deploy``: until then the private hosts go out by the gateways.
"""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self

from chalicelib.aws.clients import make_client
from chalicelib.aws.params import read_topology
from chalicelib.errors import RetryExhaustedError
from chalicelib.naming import topology_parameter
from chalicelib.service.deps import Clients, Deps

from .adapters import (
    default_route_targets,
    describe_nats,
    nat_gateway_states,
    put_secure_parameter,
    route_views,
)
from .alerting import AlertRecorder
from .capture import SlackCapture
from .dataplane import EgressSample, make_dataplane
from .heartbeat import Heartbeat
from .labconfig import LabSettings
from .report import Timeline
from .watch import Watcher

SYNC_S = 0.2


@dataclass(frozen=True)
class MetricPoint:
    """One value the controller put, when (what CloudWatch would store as a datapoint)."""

    t: float
    name: str
    value: float
    unit: str


@dataclass
class Metrics:
    """The controller's metrics, counted and kept with their time (the lab has no CloudWatch: the alarms'
    conditions are evaluated from these points, lab.alarms)."""

    counts: dict[str, float] = field(default_factory=dict)
    points: list[MetricPoint] = field(default_factory=list)
    clock: Callable[[], float] = time.time
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, name: str, value: float, unit: str, dimensions=None) -> None:   # by name, all zones
        with self._lock:
            self.counts[name] = self.counts.get(name, 0) + value
            self.points.append(MetricPoint(self.clock(), name, value, unit))

    def series(self, name: str) -> list[tuple[float, float]]:
        """(time, value) of every point of ``name``, oldest first."""
        with self._lock:
            return [(p.t, p.value) for p in self.points if p.name == name]


class LabSession:
    """Build with settings, enter to start, exit to tear everything down."""

    def __init__(self, settings: LabSettings, *, dataplane: str, emulator, progress: Callable[[str], None],
                 deploy: bool = True, seed: int = 0, adopt: bool = False):
        self.settings = settings
        self.adopt = adopt
        self.foreign = None        # adopt: the lab.foreignvpc.ForeignVpc the stack adopted
        self.kind = dataplane
        self.emulator = emulator
        self.progress = progress
        self.deploy = deploy
        self.seed = seed
        self.run_id = uuid.uuid4().hex[:6]
        self.timeline = Timeline()
        self.metrics = Metrics()
        self.deploy_s: float | None = None
        self._cleanup: list[Callable[[], None]] = []
        self._topology = None
        self._stop_sync = threading.Event()
        self.sync_errors: list[str] = []
        self._probe_lock = threading.Lock()
        self._probe_log: list[tuple[float, int]] = []

    # --- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> Self:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Undo everything started, newest first; every step runs even if an earlier one fails."""
        while self._cleanup:
            step = self._cleanup.pop()
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - keep cleaning; report at the end
                self.progress(f"cleanup step failed: {exc}")

    def _start(self) -> None:
        from bootstrap.stack import build_stack
        from chalicelib.service.events import handle_instance_state
        from chalicelib.service.replacement import after_sweep
        from chalicelib.service.status import collect_status
        from chalicelib.service.sweep import run_sweep

        self.emulator.reset()
        config = self.settings.config
        region = config.stack.region
        self.clients = Clients(ec2=make_client("ec2", region), dynamodb=make_client("dynamodb", region),
                               sns=make_client("sns", region), ssm=make_client("ssm", region))
        if self.adopt:
            config = self._foreign_vpc(config)
        started = time.monotonic()
        build_stack(config, None, progress=lambda msg: None, wait_interval_s=0.2)
        self.progress(f"stack {config.stack.name} built in {time.monotonic() - started:.1f}s "
                      f"({len(config.zones)} zones{', adopting ' + config.stack.vpc_id if self.adopt else ''})")
        self.stack = config.stack.name
        self._topology = read_topology(self.clients.ssm, topology_parameter(self.stack))
        if self.deploy:
            self._deploy_controller()

        self.slack = SlackCapture().start()
        self._cleanup.append(self.slack.stop)
        put_secure_parameter(self.clients.ssm, self._topology.slack_webhook_parameter, self.slack.url, self.stack)
        self.alerts = AlertRecorder(sns=self.clients.sns, ssm=self.clients.ssm, topology=self.topology,
                                    slack=self.slack, metric=self.metrics, timeline=self.timeline)

        from lab.netns import spec_from_emulator
        self._spec_from_emulator = spec_from_emulator
        spec = spec_from_emulator(self.clients.ec2, self._topology)
        self.dataplane = make_dataplane(self.kind, spec, self.run_id, seed=self.seed)
        self._cleanup.append(self.dataplane.down)
        started = time.monotonic()
        self.dataplane.up()
        self.progress(f"{self.kind} data plane up in {time.monotonic() - started:.1f}s")
        self.dataplane.start_clients()

        sync = threading.Thread(target=self._sync_loop, name="lab-sync", daemon=True)
        sync.start()
        self._cleanup.append(lambda: (self._stop_sync.set(), sync.join(timeout=10)))

        self.watcher = Watcher(ec2=self.clients.ec2, stack=self.stack, region=region, topology=self.topology,
                               deliver=lambda event: handle_instance_state(
                                   self.deps("on_instance_state", refresh=True), event),
                               timeline=self.timeline).start()
        self._cleanup.append(self.watcher.stop)
        self.heartbeat = Heartbeat(make_deps=lambda: self.deps("heartbeat", refresh=True),
                                   sweep=lambda deps: run_sweep(deps, then=after_sweep),
                                   status=collect_status, interval_s=config.probe.interval_s,
                                   timeline=self.timeline)
        self._cleanup.append(self.heartbeat.stop)
        if not self.adopt:   # adopting: the drill starts the controller (start_heartbeat)
            self.heartbeat.start()

    def _foreign_vpc(self, config):
        """Adopt mode: the user's VPC (built like a VPC module would), and the config adopting it."""
        from .foreignvpc import build_foreign_vpc
        from .labconfig import adopting_config
        started = time.monotonic()
        self.foreign = build_foreign_vpc(self.clients.ec2, config.azs, name=config.stack.name)
        adopting = adopting_config(config, self.clients.ec2, self.foreign.vpc_id)
        self.progress(f"foreign VPC {self.foreign.vpc_id} built in {time.monotonic() - started:.1f}s "
                      f"(a NAT gateway per zone: {', '.join(z.nat_gateway_id for z in self.foreign.zones)})")
        return adopting

    def start_heartbeat(self) -> None:
        """Start (or start again) the controller's heartbeat on the lab's clock."""
        self.heartbeat.start()

    def stop_heartbeat(self) -> None:
        """Stop the heartbeat (as if its schedule were disabled): no sweep runs until ``start_heartbeat``."""
        self.heartbeat.stop()

    def _deploy_controller(self) -> None:
        """``chalice deploy`` of the controller against the emulator, through ``hanat deploy``'s code."""
        from .deployer import deploy_controller
        deployed = deploy_controller(self._topology, self.settings.config.stack.region)
        self.deploy_s = deployed["seconds"]
        self.deployed_functions = deployed["functions"]
        self.progress(f"controller deployed with chalice in {self.deploy_s:.1f}s "
                      f"({len(self.deployed_functions)} functions)")

    def _sync_loop(self) -> None:
        """Keep the data plane equal to the emulator's route tables and instance states."""
        while not self._stop_sync.wait(SYNC_S):
            try:
                self.dataplane.sync(self._spec_from_emulator(self.clients.ec2, self.topology()))
            except Exception as exc:  # noqa: BLE001 - recorded on the timeline; the next sync retries
                self.sync_errors.append(f"{type(exc).__name__}: {exc}")
                self.timeline.add("sync_error", error=f"{type(exc).__name__}: {exc}")

    # --- what the controller gets -----------------------------------------------------------
    def topology(self):
        return self._topology

    def deps(self, owner: str, *, refresh: bool = False) -> Deps:
        """Deps as a Lambda invocation would build them, with the lab's probes and alert capture."""
        if refresh:   # like every Lambda invocation: the topology parameter may have changed
            self._topology = read_topology(self.clients.ssm, topology_parameter(self.stack))
        topology = self._topology
        probe = topology.probe
        return Deps(topology=topology, clients=self.clients,
                    probe_runner=lambda azs: self._probe(list(azs), probe.targets, probe.timeout_s),
                    control_probe=lambda: self.dataplane.control_probe(probe.targets, probe.timeout_s),
                    alert_sink=self.alerts, metric=self.metrics, clock=time.time,
                    owner=f"lab-{owner}:{uuid.uuid4().hex[:8]}")

    def _probe(self, azs, targets, timeout_s):
        """The zones' probes through the data plane, noting how many checks needed a retry or failed
        (proof that a flaky fault really hit the probe paths)."""
        results = self.dataplane.probe(azs, targets, timeout_s)
        lossy = sum(1 for r in results.values() for t in r.results if not t.ok or t.attempts > 1)
        with self._probe_lock:
            self._probe_log.append((time.time(), lossy))
        return results

    def probe_losses(self, start: float, end: float) -> int:
        with self._probe_lock:
            return sum(n for t, n in self._probe_log if start <= t <= end)

    # --- what drills use ------------------------------------------------------------------
    def dataplane_spec(self):
        """What the data plane follows now (lab.netns.spec.DataPlaneSpec, read from the emulator): e.g. the
        lab address of each zone's Elastic IP and of an adopted VPC's NAT gateways."""
        return self._spec_from_emulator(self.clients.ec2, self.topology())

    def nat_of(self, az: str) -> str:
        return self.topology().zone(az).nat_instance_id

    def samples(self, az: str) -> list[EgressSample]:
        return self.dataplane.samples(az)

    def served_by(self) -> dict[str, str | None]:
        """Each zone -> the zone whose NAT serves its (first) private route table, from the emulator."""
        topology = self.topology()
        nats = describe_nats(self.clients.ec2, self.stack)
        tables = [z.private_route_table_ids[0] for z in topology.zones]
        targets = default_route_targets(self.clients.ec2, tables)
        out = {}
        for z in topology.zones:
            eni = targets.get(z.private_route_table_ids[0])
            out[z.az] = next((n.az for n in nats if eni in n.eni_ids), None)
        return out

    def routes_ok(self) -> bool:
        """Every private route table points at a running NAT the controller holds UP (proven); in an
        adopted VPC a table may also point at its original target, an available NAT gateway (its zone
        not cut over yet, or released)."""
        topology = self.topology()
        nats = {n.instance_id: n for n in describe_nats(self.clients.ec2, self.stack)}
        health = {s["az"]: s for s in self.heartbeat.status()}
        tables = [rtb for z in topology.zones for rtb in z.private_route_table_ids]
        if topology.adopts_vpc:
            return self._adopted_routes_ok(topology, nats, health)
        for eni in default_route_targets(self.clients.ec2, tables).values():
            nat = next((n for n in nats.values() if eni in n.eni_ids), None)
            if nat is None or nat.state != "running":
                return False
            zone_status = health.get(nat.az, {})
            if zone_status.get("nat_health") != "UP" or zone_status.get("nat_instance_id") != nat.instance_id:
                return False
        return True

    def _adopted_routes_ok(self, topology, nats, health) -> bool:
        views = route_views(self.clients.ec2, [t for z in topology.zones for t in z.private_route_table_ids])
        originals = {t.route_table_id: t.original_target for z in topology.zones for t in z.adopted}
        gateways = nat_gateway_states(self.clients.ec2, [g for g in originals.values() if g.startswith("nat-")])
        for table, view in views.items():
            target = view.default_target
            if target and target == originals.get(table):
                if target.startswith("nat-") and gateways.get(target) != "available":
                    return False
                continue
            nat = next((n for n in nats.values() if target in n.eni_ids), None)
            if nat is None or nat.state != "running":
                return False
            zone_status = health.get(nat.az, {})
            if zone_status.get("nat_health") != "UP" or zone_status.get("nat_instance_id") != nat.instance_id:
                return False
        return True

    def on_original_targets(self, az: str) -> bool:
        """Adopted VPC: every route table of zone ``az`` points at its original target again (released)."""
        zone = self.topology().zone(az)
        views = route_views(self.clients.ec2, list(zone.private_route_table_ids))
        return all(views[t.route_table_id].default_target == t.original_target for t in zone.adopted)

    def wait_until(self, what: str, check: Callable[[], bool], timeout_s: float, poll_s: float = 0.1) -> float:
        """Seconds it took for ``check`` to hold; RetryExhaustedError naming ``what`` after the bound."""
        started = time.monotonic()
        while True:
            if check():
                return time.monotonic() - started
            if time.monotonic() - started > timeout_s:
                raise RetryExhaustedError("lab.wait", "Timeout", f"{what} not reached within {timeout_s:.0f}s")
            time.sleep(poll_s)

    def steady(self) -> bool:
        """Every zone served by its own NAT, every NAT UP, every private host reaching the internet (in an
        adopted VPC, a zone on its original NAT gateways is steady too: not cut over yet, or released)."""
        if self.topology().adopts_vpc:
            return self._adopted_steady()
        status = self.heartbeat.status()
        if len(status) != len(self.topology().zones) or any(s.get("nat_health") != "UP" for s in status):
            return False
        if any(zone != own for own, zone in self.served_by().items()):
            return False
        now = time.time()
        for z in self.topology().zones:
            recent = [s for s in self.samples(z.az) if s.t >= now - 0.5]
            if not recent or not all(s.ok for s in recent):
                return False
        return True

    def _adopted_steady(self) -> bool:
        topology = self.topology()
        health = {s["az"]: s for s in self.heartbeat.status()}
        views = route_views(self.clients.ec2, [t for z in topology.zones for t in z.private_route_table_ids])
        for z in topology.zones:
            for table in z.private_route_table_ids:
                target = views[table].default_target
                if target and target == z.original_target(table):
                    continue
                zone_status = health.get(z.az, {})
                if (target != z.nat_eni_id or zone_status.get("nat_health") != "UP"
                        or zone_status.get("nat_instance_id") != z.nat_instance_id):
                    return False
        return self._egress_ok()

    def _egress_ok(self) -> bool:
        now = time.time()
        for z in self.topology().zones:
            recent = [s for s in self.samples(z.az) if s.t >= now - 0.5]
            if not recent or not all(s.ok for s in recent):
                return False
        return True
