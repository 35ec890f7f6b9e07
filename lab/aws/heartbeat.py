"""The heartbeat on the lab's clock (lab.clock): what EventBridge's schedule and the Lambda loop do in AWS.

A thread calls the controller's ``run_sweep`` every ``interval_s`` with Deps built afresh each time
(as each Lambda invocation does: a replaced NAT shows up in the topology parameter), within
``invocation`` (the heartbeat function's CPU share, lab.aws.cgroups), then reads the
controller's own status so the drill's timeline has the moment a NAT was declared DOWN or UP.
"""
from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from chalicelib.errors import HanatError
from lab.clock import LabClock, RealClock
from lab.timeline import Timeline


class RunKilled(BaseException):
    """The lab stopped a controller run dead (a Lambda killed mid-run: timeout, crash, out of memory).
    A BaseException, so nothing of the run handles it and nothing after the kill point runs as a
    ``finally`` or ``except`` would in a live process (the lab's clients refuse every later call)."""


class Heartbeat:
    def __init__(self, *, make_deps: Callable[[], object], sweep: Callable, status: Callable,
                 interval_s: float, timeline: Timeline, clock: LabClock | None = None,
                 invocation: Callable[[], AbstractContextManager] = nullcontext):
        self._clock = clock or RealClock()
        self._invocation = invocation   # what one run runs in (lab.aws.cgroups: the function's CPU share)
        self._make_deps = make_deps
        self._sweep = sweep
        self._status = status
        self._interval_s = interval_s
        self._timeline = timeline
        self._health: dict[str, str] = {}
        self._stop = self._clock.event()
        self._thread = None
        self.sweeps = 0
        self.errors: list[str] = []
        self.last_status: list[dict] = []
        self._runs: deque[tuple[float, float]] = deque(maxlen=4096)   # (start, wall seconds) of each run
        self._lock = threading.Lock()

    def start(self) -> Heartbeat:
        """Start the schedule; after ``stop`` it starts again (a no-op while it runs)."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._thread = self._clock.thread(self._run, "lab-heartbeat")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def forget(self) -> None:
        """Stopped: forget every sweep, error and health seen (the next start counts as a first)."""
        self.stop()
        with self._lock:
            self.last_status = []
            self._runs.clear()
        self._health.clear()
        self.errors.clear()
        self.sweeps = 0

    def _run(self) -> None:
        next_at = self._clock.time()
        while not self._stop.is_set():
            self.tick()
            next_at += self._interval_s
            delay = next_at - self._clock.time()
            if delay < 0:           # a slow sweep (failing probes take their timeout): go on at once
                next_at = self._clock.time()
                delay = 0
            self._stop.wait(delay)

    def tick(self) -> None:
        """One heartbeat: sweep, then note health changes. Errors are recorded, never fatal (the
        next scheduled invocation tries again, as in AWS)."""
        deps = None
        started = self._clock.time()
        try:
            with self._invocation():   # the Lambda run; the lab's bookkeeping below runs outside it
                deps = self._make_deps()
                report = self._sweep(deps)
            self.sweeps += 1
            with self._lock:
                self._runs.append((started, self._clock.time() - started))
            for az, count in (getattr(report, "hedged", None) or {}).items():   # confirmations started early
                self._timeline.add("probe_hedged", az, count=count)
            status = self._status(deps)
        except RunKilled as killed:   # the next scheduled run goes on, as the next invocation would
            self._timeline.add("run_killed", owner=getattr(deps, "owner", None), where=str(killed))
            return
        except Exception as exc:  # noqa: BLE001 - recorded on the timeline; the next tick tries again
            text = str(exc) if isinstance(exc, HanatError) else f"{type(exc).__name__}: {exc}"
            self.errors.append(text)
            self._timeline.add("sweep_error", error=text)
            return
        with self._lock:
            self.last_status = status
        for zone in status:
            az, health = zone["az"], zone.get("nat_health")
            if self._health.get(az) != health:
                self._timeline.add("health", az, health=health, nat=zone.get("nat_instance_id"),
                                   served_by=zone.get("served_by"))
                self._health[az] = health

    def longest_run_s(self, since: float, until: float = float("inf")) -> float:
        """The longest wall time one completed run took among those started in [since, until] (0: none):
        what a sweep costs at the heartbeat's CPU share, the lag a drill allows after a step it waits on."""
        with self._lock:
            return max((took for at, took in self._runs if since <= at <= until), default=0.0)

    def status(self) -> list[dict]:
        with self._lock:
            return list(self.last_status)
