"""One lab session: a stack in the emulator, the controller running on the lab's clock, a data plane
following the emulator, egress clients in every zone, and everything captured for the drill.

The controller's probes go through Lambda's API as in AWS: ``Deps`` come from chalicelib.service.make_deps'
``deps_for_topology`` (the production ``LambdaProbeRunner`` and ``invoke_json``) with a boto3 Lambda
client made by ``make_invoke_client`` and pointed at the lab's Invoke endpoint (lab.aws.lambda_endpoint),
which runs each ``probe_<zone>`` handler in the zone's probe subnet within the function's timeout and can
fail like Lambda. The controller's AWS clients carry the controller's client configuration; the lab's
own look at the emulator (data plane sync, EventBridge emulation, the drills' checks) uses separate
clients marked ``OBSERVER_AGENT``, which the emulator's API faults leave alone (lab.aws.moto_server). The
emulator answers the others' EC2 reads stale for ``settings.stale_reads_s`` after a write (EC2's eventual
consistency, lab.aws.stale_reads).

The session runs on one clock (lab.clock), ``session.clock``: every lab actor and the controller's
``Deps.clock``/``Deps.sleep`` wait on it. With the computed data plane it is lab time (a VirtualClock:
time jumps while every actor waits, so a drill spanning minutes of lab time takes the wall time of its
work), with the netns data plane wall time. The thread that enters the session takes part in it.

``LabSession`` is a context manager; leaving it (normally, on error or on Ctrl-C) stops every thread,
every process and every namespace it made.

``adopt=True``: the session first builds a VPC the way a VPC module would (``lab.aws.foreignvpc``: no hanat
tags, a managed NAT gateway per zone), writes the config from it with ``hanat adopt``'s code and builds
the stack in it (``hanat up`` in adopt mode: NATs in the user's public subnets, no route moved). The data
plane carries the NAT gateways too. The controller starts only when the drill says so
(``start_heartbeat``), as after ``hanat deploy``: until then the private hosts go out by the gateways.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from threading import Lock
from typing import Self

from chalicelib.aws.clients import CLIENT_CONFIG, CONTROLLER_CLIENT_CONFIG, make_client
from chalicelib.aws.params import read_topology
from chalicelib.errors import RetryExhaustedError
from chalicelib.naming import topology_parameter
from chalicelib.service.deps import Clients, Deps
from chalicelib.service.make_deps import INVOKE_MARGIN_S, deps_for_topology
from lab import session_reset
from lab.aws.adapters import CachedLook, put_secure_parameter
from lab.aws.alerting import AlertRecorder
from lab.aws.capture import SlackCapture
from lab.aws.cgroups import CpuShares
from lab.aws.deployer import LAB_STAGE
from lab.aws.eventbridge import EventBridge
from lab.aws.heartbeat import Heartbeat
from lab.aws.lambda_endpoint import LabFunction, LambdaEndpoint
from lab.aws.lambda_functions import function_memory, lab_invoke_client, probe_functions
from lab.aws.moto_server import OBSERVER_AGENT
from lab.clock import LabClock
from lab.config import LabSettings
from lab.dataplane.egress import EgressSample
from lab.dataplane.kinds import clock_for, make_dataplane
from lab.metrics import Metrics
from lab.session_views import RouteViews
from lab.timeline import Timeline

SYNC_S = 0.2


class LabSession(RouteViews):
    """Build with settings, enter to start, exit to tear everything down."""

    def __init__(self, settings: LabSettings, *, dataplane: str, emulator, progress: Callable[[str], None],
                 deploy: bool = True, seed: int = 0, adopt: bool = False, clock: LabClock | None = None):
        self.clock = clock or clock_for(dataplane)
        self.settings = settings
        self.adopt = adopt
        self.foreign = None        # adopt: the lab.aws.foreignvpc.ForeignVpc the stack adopted
        self.kind = dataplane
        self.emulator = emulator
        self.progress = progress
        self.deploy = deploy
        self.seed = seed
        self.run_id = uuid.uuid4().hex[:6]
        self.timeline = Timeline(clock=self.clock.time)
        self.metrics = Metrics(clock=self.clock.time)
        self.deploy_s: float | None = None
        self._cleanup: list[Callable[[], None]] = []
        self._topology = None
        self._stop_sync = self.clock.event()
        self.sync_errors: list[str] = []
        self._probe_lock = Lock()
        self._probe_log: list[tuple[float, int]] = []
        # A drill's hook on the heartbeat's Deps (e.g. a run that will be killed); None: as built.
        self.heartbeat_deps_hook: Callable[[Deps], Deps] | None = None
        self.fresh: session_reset.FreshState | None = None   # what a reused session is reset to

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
        from chalicelib.service.heartbeat import run_sweep
        from chalicelib.service.maintenance import after_sweep

        taking_part = self.clock.participant("lab-drill")   # the drill's thread, until the session closes
        taking_part.__enter__()
        self._cleanup.append(lambda: taking_part.__exit__(None, None, None))
        self.emulator.reset()
        # EC2's eventual consistency for every caller but the lab's own look (lab.aws.moto_server)
        self.emulator.faults(stale_reads_s=self.settings.stale_reads_s)
        config = self.settings.config
        region = config.stack.region
        self.clients = Clients(**{name: make_client(service, region, config=CONTROLLER_CLIENT_CONFIG)
                                  for name, service in (("ec2", "ec2"), ("dynamodb", "dynamodb"), ("sns", "sns"),
                                                        ("ssm", "ssm"))})
        # botocore's Config, reached through the adapters' (only chalicelib.aws imports botocore)
        observer = CLIENT_CONFIG.merge(type(CLIENT_CONFIG)(user_agent_extra=OBSERVER_AGENT))
        self.lab_clients = Clients(**{name: make_client(name, region, config=observer)
                                      for name in ("ec2", "dynamodb", "ssm")})
        self.look = CachedLook(self.lab_clients.ec2, self.emulator.generation)   # its checks' EC2 reads
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

        self.slack = SlackCapture(clock=self.clock.time).start()
        self._cleanup.append(self.slack.stop)
        put_secure_parameter(self.clients.ssm, self._topology.slack_webhook_parameter, self.slack.url, self.stack)
        self.alerts = AlertRecorder(sns=self.clients.sns, ssm=self.clients.ssm, topology=self.topology,
                                    slack=self.slack, metric=self.metrics, timeline=self.timeline,
                                    clock=self.clock.time)

        from lab.dataplane.emulator_sync import spec_from_emulator
        self._spec_from_emulator = spec_from_emulator
        spec = spec_from_emulator(self.lab_clients.ec2, self._topology)
        self._open_cpu_shares()
        self.dataplane = make_dataplane(self.kind, spec, self.run_id, seed=self.seed, clock=self.clock,
                                        cpu_shares=self.cpu_shares)
        self._cleanup.append(self.dataplane.down)
        started = time.monotonic()
        self.dataplane.up()
        self.progress(f"{self.kind} data plane up in {time.monotonic() - started:.1f}s")
        self.dataplane.start_clients()

        self.functions = probe_functions(self._topology)
        self.lambda_endpoint = LambdaEndpoint(self.functions, self._run_function, region=region,
                                              clock=self.clock).start()
        self._cleanup.append(self.lambda_endpoint.stop)
        self.clients.lambda_ = lab_invoke_client(self.lambda_endpoint.url, region,
                                                 self._topology.probe.chain_s + INVOKE_MARGIN_S)

        sync = self.clock.thread(self._sync_loop, "lab-sync")
        sync.start()
        self._cleanup.append(lambda: (self._stop_sync.set(), sync.join(timeout=10)))

        self.eventbridge = EventBridge(ec2=self.lab_clients.ec2, stack=self.stack, region=region, topology=self.topology,
                               deliver=lambda event: self.run_function("on_instance_state", handle_instance_state,
                                                                       event),
                               timeline=self.timeline, clock=self.clock,
                               generation=self.emulator.generation).start()
        self._cleanup.append(self.eventbridge.stop)
        self.heartbeat = Heartbeat(make_deps=self._heartbeat_deps,
                                   sweep=lambda deps: run_sweep(deps, then=after_sweep),
                                   status=self._status, interval_s=config.probe.interval_s,
                                   timeline=self.timeline, clock=self.clock,
                                   invocation=lambda: self.invocation("heartbeat"))
        self._cleanup.append(self.heartbeat.stop)
        if not self.adopt:   # adopting: the drill starts the controller (start_heartbeat)
            self.fresh = session_reset.capture(self)
            self.heartbeat.start()

    def _open_cpu_shares(self) -> None:
        """Every function the lab runs gets the CPU share Lambda gives its memory (lab.aws.cgroups), said once."""
        self.function_memory = function_memory(self._topology, LAB_STAGE)
        self.cpu_shares = CpuShares.for_session(self.kind, self.run_id)
        self._cleanup.append(self.cpu_shares.close)   # after the data plane is down (cleanup runs newest first)
        self.progress(f"cpu_share: {self.cpu_shares.state}")

    def invocation(self, function: str) -> AbstractContextManager:
        """The calling thread runs as one invocation of ``function`` (app.py's name: heartbeat, operate,
        on_instance_state ...): with the CPU share of the memory ``hanat deploy`` gives it."""
        return self.cpu_shares.invocation(function, self.function_memory[function])

    def run_function(self, function: str, handler: Callable, *args):
        """``handler(deps, *args)`` as one invocation of ``function``: Deps built as it builds them, in its
        CPU share."""
        with self.invocation(function):
            return handler(self.deps(function, refresh=True), *args)

    def reset_for_drill(self, seed: int) -> bool:
        """Make this session, which ran a drill, what a fresh one is for the next drill (lab.session_reset);
        False, and nothing changed, when it cannot be (it adopted a VPC, or a NAT was replaced)."""
        if not session_reset.reusable(self, self.fresh):
            return False
        started = time.monotonic()
        moved = session_reset.reset(self, self.fresh, seed)
        self.seed = seed
        with self._probe_lock:
            self._probe_log.clear()
        self.sync_errors.clear()
        self.heartbeat.start()
        self.progress(f"session reused: reset in {time.monotonic() - started:.1f}s"
                      + (f", {len(moved)} route(s) pointed home" if moved else ""))
        return True

    def _foreign_vpc(self, config):
        """Adopt mode: the user's VPC (built like a VPC module would), and the config adopting it."""
        from lab.aws.foreignvpc import build_foreign_vpc
        from lab.config import adopting_config
        started = time.monotonic()
        self.foreign = build_foreign_vpc(self.lab_clients.ec2, config.azs, name=config.stack.name)
        adopting = adopting_config(config, self.lab_clients.ec2, self.foreign.vpc_id)
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
        from lab.aws.deployer import deploy_controller
        deployed = deploy_controller(self._topology, self.settings.config.stack.region)
        self.deploy_s = deployed["seconds"]
        self.deployed_functions = deployed["functions"]
        self.progress(f"controller deployed with chalice in {self.deploy_s:.1f}s "
                      f"({len(self.deployed_functions)} functions)")

    def _sync_loop(self) -> None:
        """Keep the data plane equal to the emulator's route tables and instance states (a plane that
        asks for it, ``sync_on_change``, only when the emulator moved or the topology changed)."""
        on_change, seen = getattr(self.dataplane, "sync_on_change", False), None
        while not self._stop_sync.wait(SYNC_S):
            try:
                now = (self.emulator.generation(), self.topology()) if on_change else None
                if now is not None and now == seen:
                    continue
                self.dataplane.sync(self._spec_from_emulator(self.lab_clients.ec2, self.topology()))
                seen = now
            except Exception as exc:  # noqa: BLE001 - recorded on the timeline; the next sync retries
                self.sync_errors.append(f"{type(exc).__name__}: {exc}")
                self.timeline.add("sync_error", error=f"{type(exc).__name__}: {exc}")

    # --- what the controller gets -----------------------------------------------------------
    def topology(self):
        return self._topology

    def deps(self, owner: str, *, refresh: bool = False) -> Deps:
        """Deps as a Lambda invocation builds them (chalicelib.service.make_deps.deps_for_topology: probes are
        invokes of the stage's probe functions through the lab's Lambda endpoint), with the lab's control
        probe (from the ``aws`` namespace), alert capture and metric counts."""
        if refresh:   # like every Lambda invocation: the topology parameter may have changed
            self._topology = read_topology(self.clients.ssm, topology_parameter(self.stack))
        topology = self._topology
        probe = topology.probe
        deps = deps_for_topology(topology, self.clients, owner=f"lab-{owner}:{uuid.uuid4().hex[:8]}",
                                 stage=LAB_STAGE, metric=self.metrics, clock=self.clock.time)
        runner, reader = deps.probe_runner, deps.handoff_reader

        def probe_runner(azs):
            with self.clock.lend(len(azs)):   # the invokes run (and wait) in the Lambda endpoint
                results = runner(azs)
            return self._noted(results)

        def handoff_reader(azs):   # a planned move asking the NATs (chalicelib/service/handoff_ack.py)
            with self.clock.lend(len(azs)):
                return reader(azs)
        return replace(deps, probe_runner=probe_runner, sleep=self.clock.sleep,
                       handoff_reader=handoff_reader if reader is not None else None,
                       control_probe=lambda: self.dataplane.control_probe(probe.targets, probe.timeout_s),
                       alert_sink=self.alerts)

    def _heartbeat_deps(self) -> Deps:
        deps = self.deps("heartbeat", refresh=True)
        hook = self.heartbeat_deps_hook
        return hook(deps) if hook is not None else deps

    def _status(self, deps: Deps) -> list[dict]:
        """The controller's own status rows (what `hanat status` shows), read with the lab's clients: the
        lab's bookkeeping must not add API calls (or throttling) to the controller's runs."""
        from chalicelib.service.status import collect_status
        return collect_status(replace(deps, clients=self.lab_clients))

    def _run_function(self, function: LabFunction, event, request_id: str):
        """What the Lambda endpoint runs: the probe function in its zone's probe subnet."""
        return self.dataplane.invoke_probe(function.zone, function, event, request_id)

    def _noted(self, results):
        """Note how many checks of a probe round needed a retry or failed (proof that a flaky fault really
        hit the probe paths); the results pass unchanged."""
        lossy = sum(1 for r in results.values() for sample in r.samples for t in sample.results
                    if not t.ok or t.attempts > 1)
        with self._probe_lock:
            self._probe_log.append((self.clock.time(), lossy))
        return results

    def probe_losses(self, start: float, end: float) -> int:
        with self._probe_lock:
            return sum(n for t, n in self._probe_log if start <= t <= end)

    # --- what drills use ------------------------------------------------------------------
    def dataplane_spec(self):
        """What the data plane follows now (lab.dataplane.spec.DataPlaneSpec, read from the emulator): e.g. the
        lab address of each zone's Elastic IP and of an adopted VPC's NAT gateways."""
        return self._spec_from_emulator(self.lab_clients.ec2, self.topology())

    def nat_of(self, az: str) -> str:
        return self.topology().zone(az).nat_instance_id

    def samples(self, az: str) -> list[EgressSample]:
        return self.dataplane.samples(az)

    def wait_until(self, what: str, check: Callable[[], bool], timeout_s: float, poll_s: float = 0.1) -> float:
        """Seconds it took for ``check`` to hold; RetryExhaustedError naming ``what`` after the bound."""
        started = self.clock.time()
        while True:
            if check():
                return self.clock.time() - started
            if self.clock.time() - started > timeout_s:
                raise RetryExhaustedError("lab.wait", "Timeout", f"{what} not reached within {timeout_s:.0f}s")
            self.clock.sleep(poll_s)
