"""The computed data plane: reachability computed from the emulator's route tables and NAT states, for
machines without root.

A private (or probe) host of zone z reaches the internet iff its subnet's ``0.0.0.0/0`` route points
at the ENI of a NAT instance that is running and not blackholed (or at an available NAT gateway of an
adopted VPC), and the targets are up. The egress address is that NAT's (or gateway's) lab address
(standing for its Elastic IP). ``flaky`` loses each probe attempt
with p=0.2 from an RNG seeded per vantage point; a probe makes as many attempts per target as the real checks
(chalicelib.probes) do, and a failed probe costs its timeout, like the real one; a probe invoke chains
its samples as the probe function does (lab.dataplane.chain). Its time is the session's clock
(lab.clock): lab time in a session, so its probes, clients and boots cost no wall time.
"""
from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence

from chalicelib.errors import InputError
from chalicelib.naming import HANDOFF_TAG_PREFIX
from chalicelib.probes.checks import ATTEMPTS_PER_TIMEOUT, attempt_timeout
from chalicelib.probes.handler import validate_probe_event
from chalicelib.probes.results import ProbeResult, TargetResult
from chalicelib.settings import ProbeSettings
from lab.aws.lambda_endpoint import TIMEOUT, LabFunction, Outcome
from lab.clock import LabClock, RealClock

from .base import SAMPLE_INTERVAL_S
from .boot import BootGate
from .chain import chain
from .egress import EgressSample

FLAKY_LOSS = 0.2
CONTROL_ZONE = "control"


class ComputedDataPlane:
    """Computed data plane with the same interface as the netns one (lab.dataplane.LabDataPlane)."""

    kind = "computed"
    sync_on_change = True   # what it computes follows the spec alone: no sync needed while the emulator stands

    def __init__(self, spec, *, seed: int = 0, loss: float = FLAKY_LOSS,
                 wait: Callable[[float], object] | None = None, clock: LabClock | None = None):
        """``wait(seconds)`` spends the time the real probes would have taken (default: sleep on
        ``clock``, cut short by ``down()``); ``clock``: the session's (default: wall time)."""
        self._clock = clock or RealClock()
        self._spec = spec
        self._lock = threading.Lock()
        self._seed = seed
        self._rngs: dict[str, random.Random] = {}   # per vantage point: losses independent of thread order
        self._loss = loss
        self._blackholed: set[str] = set()   # instance ids
        self._flaky = False
        self._targets_down = False
        self._samples: dict[str, list[EgressSample]] = {z.az: [] for z in spec.zones}
        self._stop = self._clock.event()
        self._client = None
        self._wait = wait or self._stop.wait
        self._boot = BootGate()

    # --- lifecycle ------------------------------------------------------------------------
    def up(self) -> None:
        self._stop.clear()

    def down(self) -> None:
        self._stop.set()
        if self._client is not None:
            self._client.join(timeout=5)
            self._client = None

    def sync(self, spec) -> None:
        with self._lock:
            self._spec = spec
            now = self._clock.time()
            for nat in spec.nats:   # a booting NAT's clock starts when it is first seen running
                if nat.running:
                    self._boot.hold(nat.instance_id, now)
            for z in spec.zones:
                self._samples.setdefault(z.az, [])

    # --- faults ---------------------------------------------------------------------------
    def blackhole(self, az: str, on: bool = True) -> None:
        """The NAT now serving zone ``az`` silently drops what it should forward."""
        with self._lock:
            instance_id = self._spec.zone(az).nat.instance_id
            (self._blackholed.add if on else self._blackholed.discard)(instance_id)

    def flaky(self, on: bool = True) -> None:
        with self._lock:
            self._flaky = on

    def targets_down(self, on: bool = True) -> None:
        with self._lock:
            self._targets_down = on

    def boot_offline(self, delay_s: float) -> None:
        """A NAT launched from now on forwards only ``delay_s`` after it was first seen (its boot); the
        computed plane has no NAT script to run offline."""
        with self._lock:
            self._boot.arm(delay_s, {n.instance_id for n in self._spec.nats})

    def clear_faults(self, seed: int = 0) -> None:
        """Every fault lifted, the loss generator seeded afresh: as a new data plane (a reused session)."""
        with self._lock:
            self._blackholed.clear()
            self._flaky = False
            self._targets_down = False
            self._boot.disarm()
            self._seed, self._rngs = seed, {}

    def boots(self) -> dict[str, dict]:
        with self._lock:
            return {i: b.to_dict() for i, b in self._boot.boots.items()}

    # --- reachability ---------------------------------------------------------------------
    def egress_of(self, subnet_cidr: str) -> str | None:
        """The address the internet sees for a host in ``subnet_cidr``; None when it cannot get out."""
        with self._lock:
            spec = self._spec
            if self._targets_down:
                return None
            target = spec.routes.get(subnet_cidr)
            nat = spec.nat_by_eni(target)
            if nat is None:   # an adopted VPC's NAT gateway goes out by its own address
                gateway = spec.nat_gateway(target)
                return gateway.lab_address if gateway is not None and gateway.available else None
            if not nat.running or nat.instance_id in self._blackholed:
                return None
            if self._boot.hold(nat.instance_id, self._clock.time()):
                return None
            boot = self._boot.boots.get(nat.instance_id)
            if boot is not None and boot.created_at is None:
                boot.created_at = self._clock.time()
            return nat.lab_address

    def _attempts_lost(self, zone: str, attempts: int) -> int:
        """How many leading attempts the flaky path from ``zone`` loses (attempts if all are lost)."""
        with self._lock:
            if not self._flaky:
                return 0
            rng = self._rngs.get(zone)
            if rng is None:
                rng = self._rngs[zone] = random.Random(f"{self._seed}:{zone}")
            for i in range(attempts):
                if rng.random() >= self._loss:
                    return i
            return attempts

    def _probe_path(self, zone: str, reachable: bool, targets: Sequence[str],
                    timeout_s: float) -> tuple[ProbeResult, float]:
        """One vantage point's result and how long the real checks would have taken."""
        at = self._clock.time()
        per_attempt = attempt_timeout(timeout_s)
        results, cost = [], 0.0
        for target in targets:
            if not reachable:
                results.append(TargetResult(target=target, ok=False, error="timeout", attempts=ATTEMPTS_PER_TIMEOUT))
                cost = max(cost, timeout_s)
                continue
            lost = self._attempts_lost(zone, ATTEMPTS_PER_TIMEOUT)
            if lost == ATTEMPTS_PER_TIMEOUT:
                results.append(TargetResult(target=target, ok=False, error="timeout", attempts=lost))
                cost = max(cost, timeout_s)
            else:
                results.append(TargetResult(target=target, ok=True, latency_ms=1.0, attempts=lost + 1))
                cost = max(cost, lost * per_attempt)
        return ProbeResult(zone=zone, passed=any(r.ok for r in results), results=tuple(results), at=at), cost

    def probe(self, azs: Sequence[str], targets: Sequence[str], timeout_s: float) -> dict[str, ProbeResult]:
        """Every zone's probe, as if run in parallel from its probe subnet."""
        out, slowest = {}, 0.0
        for az in azs:
            with self._lock:
                probe_cidr = self._spec.zone(az).probe_cidr
            result, cost = self._probe_path(az, self.egress_of(probe_cidr) is not None, targets, timeout_s)
            out[az] = result
            slowest = max(slowest, cost)
        self._wait(slowest)
        return out

    def invoke_probe(self, az: str, function: LabFunction, event, request_id: str) -> Outcome:
        """Zone ``az``'s probe function: its event validated as the real handler does (bad input is
        answered, as app.py answers it), the probe computed, its time spent; past the function's
        timeout, it is a timeout."""
        started = self._clock.time()
        if isinstance(event, dict) and "handoffs" in event:
            return Outcome("ok", self._handoffs_read(az))
        try:
            targets, timeout_s, samples = validate_probe_event(event, ProbeSettings())
        except InputError as err:
            return Outcome("ok", {"ok": False, "error": err.title, "problems": err.problems})

        def sample() -> tuple[ProbeResult, float]:   # one computed round and what it costs
            with self._lock:
                probe_cidr = self._spec.zone(az).probe_cidr
            return self._probe_path(az, self.egress_of(probe_cidr) is not None, targets, timeout_s)

        result = chain(samples, timeout_s, sample, now=self._clock.time, sleep=self._wait)   # as the handler chains
        took = self._clock.time() - started
        if took >= function.timeout_s:
            return Outcome(TIMEOUT, None, took)
        return Outcome("ok", result.to_dict(), took)

    def _handoffs_read(self, az: str) -> dict:
        """A handoffs read (probes/handler.py): this plane's NATs apply their tags the moment they are
        written, so the zone's NAT (its probe subnet's route) reports its handoff tags as they are now."""
        with self._lock:
            spec = self._spec
            nat = spec.nat_by_eni(spec.routes.get(spec.zone(az).probe_cidr))
            if nat is None or not nat.running or nat.instance_id in self._blackholed:
                return {"handoffs": None, "error": f"handoffs unreadable: no NAT answers zone {az}'s probe subnet"}
            applied = {k: v for k, v in nat.tags if k.startswith(HANDOFF_TAG_PREFIX)}
        return {"handoffs": {"version": 1, "at": int(self._clock.time()), "applied": applied}, "error": None}

    def control_probe(self, targets: Sequence[str], timeout_s: float) -> ProbeResult:
        """The heartbeat's own check from AWS's network: fails only when the targets are down."""
        with self._lock:
            reachable = not self._targets_down
        result, cost = self._probe_path(CONTROL_ZONE, reachable, targets, timeout_s)
        self._wait(cost)
        return result

    # --- egress clients -------------------------------------------------------------------
    def start_clients(self) -> None:
        """One simulated client per zone's private host, requesting every 100 ms."""
        if self._client is None:
            self._client = self._clock.thread(self._run_clients, "computed-clients")
            self._client.start()

    def _run_clients(self) -> None:
        while not self._stop.is_set():
            now = self._clock.time()
            with self._lock:
                zones = [(z.az, z.private_cidr) for z in self._spec.zones]
            for az, cidr in zones:
                you = self.egress_of(cidr)
                sample = EgressSample(t=now, ok=you is not None, you=you, latency_ms=1.0 if you else None,
                                      error=None if you else "timeout")
                with self._lock:
                    self._samples[az].append(sample)
            self._stop.wait(SAMPLE_INTERVAL_S)

    def samples(self, az: str) -> list[EgressSample]:
        with self._lock:
            return list(self._samples.get(az, ()))
