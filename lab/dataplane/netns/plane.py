"""The netns data plane behind the lab's interface (lab.dataplane.LabDataPlane), root only.

Wraps lab.dataplane.netns.Namespaces (the namespaces, NATs configured by the real setup-nat.sh, faults in nft)
and adds what the drills need: one long-lived probe agent per probe namespace (the execution environment
of the zone's probe function: the lab's Lambda endpoint runs app.py's real handler in it, within the
function's timeout; an agent that overran is replaced, as Lambda replaces a timed-out environment) and
one in ``aws`` (the heartbeat's control probe: the REAL chalicelib.probes code), and the egress clients'
logs read incrementally. Each probe environment runs in its function's CPU share (lab.aws.cgroups; the
control probe's agent does not). A lock serialises the sync thread and fault injection on the one Namespaces.
"""
from __future__ import annotations

import itertools
import json
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from chalicelib.probes.results import ProbeResult
from lab.aws.lambda_endpoint import TIMEOUT, LabFunction, Outcome

from ..egress import EgressSample, parse_egress_lines
from .probe_agent import parse_answer

CONNS_PER_ZONE = 4                     # long-lived connections per private host (issue 13)
AGENT_MARGIN_S = 5.0   # an agent answers within its timeout; give it this much more before failing
# Lambda's Init phase (a new environment's runtime start and static code) "is limited to 10 seconds. If all
# three tasks do not complete within 10 seconds, Lambda retries the Init phase at the time of the first
# function invocation with the configured function timeout" (Lambda Developer Guide, "Understanding the
# Lambda execution environment lifecycle"): a cold start's import is not part of the invoke's timeout.
INIT_LIMIT_S = 10.0


class ProbeAgent:
    """``python -m lab.dataplane.netns.probe_agent`` running in one namespace; one request at a time."""

    def __init__(self, popen, role: str, stderr=None):
        from lab.dataplane.netns.shell import python_argv
        self.role = role
        self.proc: subprocess.Popen = popen(role, python_argv("lab.dataplane.netns.probe_agent"), stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, text=True, bufsize=1,
                                            stderr=stderr if stderr is not None else subprocess.DEVNULL)
        self._answers: queue.Queue[str] = queue.Queue()
        self._lock = threading.Lock()
        self._busy = threading.Lock()   # held by the invoke this environment runs (claim / release)
        self._ids = itertools.count(1)
        self.cpu_attached = False       # in its function's CPU group (lab.aws.cgroups), once it ran one
        self.initialized = False        # its Init phase ran (app.py imported, or Init over and retried in the invoke)
        threading.Thread(target=self._read, name=f"agent-{role}", daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._answers.put(line)

    def _request(self, request: dict, wait_s: float) -> str | None:
        """Send one request, return its answer line (None: no answer within ``wait_s``); OSError when
        the agent is gone."""
        with self._lock:
            req_id = next(self._ids)
            self.proc.stdin.write(json.dumps({**request, "id": req_id}) + "\n")
            self.proc.stdin.flush()
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    line = self._answers.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    return None
                if json.loads(line).get("id") == req_id:   # skip a late answer to an earlier request
                    return line

    def ask(self, zone: str, targets: Sequence[str], timeout_s: float) -> ProbeResult:
        """Run the probe checks; a dead or silent agent is a failed ProbeResult with ``error`` set."""
        try:
            line = self._request({"zone": zone, "targets": list(targets), "timeout_s": timeout_s},
                                 timeout_s + AGENT_MARGIN_S)
        except (BrokenPipeError, ValueError, OSError) as exc:
            return ProbeResult(zone=zone, passed=False, at=time.time(), error=f"probe agent gone: {exc}")
        if line is None:
            return ProbeResult(zone=zone, passed=False, at=time.time(), error="probe agent timed out")
        return parse_answer(line, zone)

    def invoke(self, function: LabFunction, event, request_id: str) -> Outcome:
        """One invoke of ``function``'s handler in this environment, within its timeout; a new environment
        first runs Lambda's Init phase, bounded by INIT_LIMIT_S and not by the function's timeout (an Init
        that fails or overruns is retried by the invoke itself, as Lambda does: the import in it)."""
        if not self.initialized:
            try:
                self._request({"init": True, "env": dict(function.environment)}, INIT_LIMIT_S)
            except (BrokenPipeError, ValueError, OSError):
                pass   # the environment is gone: the invoke below reports it
            self.initialized = True
        started = time.monotonic()
        request = {"invoke": function.handler, "event": event, "env": dict(function.environment),
                   "request_id": request_id, "function_name": function.name, "timeout_s": function.timeout_s}
        try:
            line = self._request(request, function.timeout_s)
        except (BrokenPipeError, ValueError, OSError) as exc:
            return Outcome("error", {"errorMessage": f"the execution environment is gone: {exc}",
                                     "errorType": "Runtime.ExitError", "requestId": request_id},
                           time.monotonic() - started)
        if line is None:
            return Outcome(TIMEOUT, None, time.monotonic() - started)
        answer = json.loads(line)
        if "ok" in answer:
            return Outcome("ok", answer["ok"], time.monotonic() - started)
        return Outcome("error", answer.get("error"), time.monotonic() - started)

    def claim(self) -> bool:
        """Take this environment for one invoke; False while it runs another."""
        return self._busy.acquire(blocking=False)

    def release(self) -> None:
        self._busy.release()

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass


class _LogReader:
    """Reads an egress client's log as it grows (a torn last line waits for the next read); the lines
    are parsed by the client's own reader (lab.dataplane.netns.client)."""

    def __init__(self, path: Path):
        self.path = path
        self._offset = 0
        self._partial = ""
        self.samples: list[EgressSample] = []

    def new_lines(self) -> list[str]:
        """The complete lines written since the last call."""
        if not self.path.exists():
            return []
        with self.path.open() as fh:
            fh.seek(self._offset)
            chunk = fh.read()
            self._offset = fh.tell()
        lines = (self._partial + chunk).split("\n")
        self._partial = lines.pop()
        return lines

    def read(self) -> list[EgressSample]:
        self.samples.extend(parse_egress_lines(self.new_lines()))
        return self.samples


class NetnsDataPlane:
    kind = "netns"

    def __init__(self, spec, run_id: str, cpu_shares=None):
        from .namespaces import Namespaces
        self._cpu = cpu_shares   # lab.aws.cgroups.CpuShares: each probe environment gets its function's CPU share
        self._plane = Namespaces(spec, run_id)
        self._lock = threading.RLock()
        self._agents: dict[str, list[ProbeAgent]] = {}   # zone -> its probe function's execution environments
        self._control: ProbeAgent | None = None
        self._logs: dict[str, _LogReader] = {}
        self._conn_logs: dict[str, _ConnLogReader] = {}
        self._conns_started: dict[str, int] = {}   # zone -> long-lived connections its clients keep
        self._conn_clients: dict[str, subprocess.Popen] = {}   # zone -> its connection clients' process
        self._conn_args: tuple = ()                 # start_connections' (count, interval_s, rto_max_ms)
        self._conn_runs = 0                         # connection client generations (their log files)
        self._log_lock = threading.Lock()
        self._dir = Path(tempfile.mkdtemp(prefix="hanat-lab-"))
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="netns-probe")
        self.probe_cold_starts = 0   # probe environments an invoke had to start (all busy, or one timed out)
        self.probe_timeouts = 0      # probe invokes past their function's timeout (their environment dropped)

    @property
    def namespaces(self) -> list[str]:
        return self._plane.namespaces()

    def up(self) -> None:
        with self._lock:
            self._plane.up()
            for z in self._plane.spec.zones:
                self._agents[z.az] = [self._new_agent(z.az)]
            self._control = ProbeAgent(self._plane.popen, "aws")

    def _new_agent(self, az: str) -> ProbeAgent:
        """Zone ``az``'s probe environment; what its handler logs goes to a file (its CloudWatch Logs)."""
        with open(self._dir / f"probe-{az}.log", "ab") as log:
            return ProbeAgent(self._plane.popen, self._plane.probe_role(az), stderr=log)

    def invoke_probe(self, az: str, function: LabFunction, event, request_id: str) -> Outcome:
        """Run ``function`` (zone ``az``'s probe function) in the zone's probe namespace, in an idle
        execution environment; when all are busy Lambda starts another one (a cold start: a new agent),
        so two invokes at once run side by side (the endpoint enforces the reserved concurrency). An
        environment that overran its timeout is stopped and dropped (as Lambda does)."""
        agent = self._environment(az)
        if self._cpu is not None and not agent.cpu_attached:   # its function known now: its CPU share
            agent.cpu_attached = self._cpu.attach(f"{function.handler}-{agent.proc.pid}", function.memory_mb,
                                                  agent.proc.pid)
        try:
            outcome = agent.invoke(function, event, request_id)
        finally:
            agent.release()
        if outcome.kind == TIMEOUT:
            with self._lock:
                self.probe_timeouts += 1
                if agent in self._agents.get(az, []):
                    from lab.dataplane.netns.shell import stop_process
                    self._agents[az].remove(agent)
                    agent.close()
                    stop_process(agent.proc)
        return outcome

    def _environment(self, az: str) -> ProbeAgent:
        with self._lock:
            agents = self._agents.setdefault(az, [])
            for agent in agents:
                if agent.claim():
                    return agent
            agent = self._new_agent(az)
            agent.claim()
            agents.append(agent)
            self.probe_cold_starts += 1
            return agent

    def down(self) -> None:
        with self._lock:
            for agent in [*(a for agents in self._agents.values() for a in agents),
                          *([self._control] if self._control else [])]:
                agent.close()
            self._agents.clear()
            self._control = None
            self._plane.down()   # stops every process it started (agents, clients) and every namespace
        self._pool.shutdown(wait=False, cancel_futures=True)
        shutil.rmtree(self._dir, ignore_errors=True)

    def sync(self, spec) -> None:
        with self._lock:
            self._plane.sync(spec)

    def blackhole(self, az: str, on: bool = True) -> None:
        with self._lock:
            self._plane.blackhole(az, on)

    def flaky(self, on: bool = True) -> None:
        with self._lock:
            self._plane.flaky(on)

    def targets_down(self, on: bool = True) -> None:
        with self._lock:
            self._plane.targets_down(on)

    def boot_offline(self, delay_s: float) -> None:
        with self._lock:
            self._plane.boot_offline(delay_s)

    def gray_fault(self, kind: str, az: str, on: bool = True, *, load_az: str = "", **params) -> dict:
        """A gray fault on zone ``az``'s NAT, its load from ``load_az``'s private host (lab.dataplane.netns.
        gray_faults: what was injected, how it is emulated where the kernel cannot make it); ``on=False`` lifts it."""
        with self._lock:
            if not on:
                self._plane.gray.lift(kind)
                return {}
            return self._plane.gray.inject(kind, az, load_az or az, **params)

    @property
    def imds_tag_delay_s(self) -> float:
        """How late tag changes reach the NATs' metadata now (0: at once)."""
        return self._plane.imds_tag_delay_s

    def imds_tag_delay(self, delay_s: float) -> None:
        """Tag changes reach the NATs' metadata ``delay_s`` late from now on (a drill's --imds-tag-delay-s)."""
        with self._lock:
            self._plane.imds_tag_delay(delay_s)

    def spot_notice(self, instance_id: str, spot_action: dict | None = None, rebalance: dict | None = None) -> None:
        """EC2's spot notices in a NAT's metadata (lab.aws.spot marks them; the IMDS stand-in serves them)."""
        with self._lock:
            self._plane.spot_notice(instance_id, spot_action, rebalance)

    def boots(self) -> dict[str, dict]:
        with self._lock:
            return {i: b.to_dict() for i, b in self._plane.boot_gate.boots.items()}

    def probe(self, azs: Sequence[str], targets: Sequence[str], timeout_s: float) -> dict[str, ProbeResult]:
        """Every zone's probe from its probe namespace, all at once."""
        futures = {az: self._pool.submit(self._ask, az, targets, timeout_s) for az in azs}
        return {az: f.result() for az, f in futures.items()}

    def _ask(self, az: str, targets: Sequence[str], timeout_s: float) -> ProbeResult:
        agent = self._environment(az)
        try:
            return agent.ask(az, targets, timeout_s)
        finally:
            agent.release()

    def control_probe(self, targets: Sequence[str], timeout_s: float) -> ProbeResult:
        return self._control.ask("control", targets, timeout_s)

    def start_clients(self) -> None:
        with self._lock:
            for z in self._plane.spec.zones:
                path = self._dir / f"egress-{z.az}.jsonl"
                self._logs[z.az] = _LogReader(path)
                self._plane.start_egress_client(z.az, str(path))
        self.start_connections()

    def samples(self, az: str) -> list[EgressSample]:
        with self._log_lock:
            reader = self._logs.get(az)
            return list(reader.read()) if reader else []

    # --- long-lived connections (issue 13): lab.dataplane.netns.conns, measured by lab.drills.connections ---------
    def start_connections(self, count: int = CONNS_PER_ZONE, interval_s: float = 0.1,
                          rto_max_ms: int = 1000) -> None:
        """The connection server in ``inet``, then ``count`` connections from each private host."""
        from lab.dataplane.netns.conns import PORT
        from lab.dataplane.netns.shell import NetnsError, python_argv
        with self._lock:
            server = self._plane.popen("inet", python_argv("lab.dataplane.netns.conns", "serve", "--port", str(PORT)),
                                       stdout=subprocess.PIPE, text=True)
            if server.stdout.readline().strip() != "ready":
                raise NetnsError(f"the connection server did not start (exit {server.poll()})")
            self._conn_args = (count, interval_s, rto_max_ms)
            self._start_connection_clients()

    def _start_connection_clients(self) -> None:
        from lab.dataplane.netns.conns import PORT
        from lab.dataplane.netns.layout import TARGETS
        from lab.dataplane.netns.shell import python_argv
        count, interval_s, rto_max_ms = self._conn_args
        self._conn_runs += 1
        for z in self._plane.spec.zones:
            path = self._dir / f"conns-{z.az}-{self._conn_runs}.jsonl"
            with self._log_lock:
                self._conn_logs[z.az] = _ConnLogReader(path, z.az)
            self._conns_started[z.az] = count
            self._conn_clients[z.az] = self._plane.popen(self._plane.priv_role(z.az), python_argv(
                "lab.dataplane.netns.conns", "clients", "--server", f"{TARGETS[0]}:{PORT}", "--count", str(count),
                "--out", str(path), "--interval", str(interval_s), "--rto-max-ms", str(rto_max_ms)))

    def clear_faults(self, seed: int = 0) -> None:
        """Every fault lifted and the NATs' reset back on; the long-lived connections opened afresh (old
        ones may run through another zone's NAT since a move), so they are as in a new data plane
        (``seed``: the kernel's loss has none)."""
        from lab.dataplane.netns.shell import stop_process
        with self._lock:
            for z in self._plane.spec.zones:
                self._plane.blackhole(z.az, False)
            self._plane.flaky(False)
            self._plane.targets_down(False)
            self._plane.boot_gate.disarm()
            self._plane.imds_tag_delay(0.0)
            self._plane.gray.lift_all()
            self.nat_reset(True)
            if self._conn_args:
                for proc in self._conn_clients.values():
                    stop_process(proc)
                self._start_connection_clients()

    def connection_events(self, az: str) -> list[dict]:
        with self._log_lock:
            reader = self._conn_logs.get(az)
            return list(reader.read()) if reader else []

    def connections_missing(self) -> dict[str, int]:
        """Per zone whose long-lived connections were started: how many of them are not open now (not
        connected yet, or reset and not reconnected yet)."""
        from lab.dataplane.connlog import build
        with self._lock:
            started = dict(self._conns_started)
        out = {}
        for az, count in started.items():
            open_now = sum(1 for c in build(self.connection_events(az)) if c.ended is None)
            if open_now < count:
                out[az] = count - open_now
        return out

    def nat_reset(self, on: bool) -> None:
        """``on=False``: every NAT silently drops the mid-stream packets of flows it does not know instead
        of resetting them (NATs without hanat's reset: the "before" of issue 13); ``on=True`` undoes it.
        Applies to the NATs that exist now."""
        from lab.dataplane.netns.shell import nft

        from . import layout
        from .faults import no_reset_ruleset
        ruleset = no_reset_ruleset(on)
        with self._lock:
            for nat in self._plane.spec.nats:
                rt = self._plane.nat_runtime(nat.instance_id)
                if rt is not None:
                    nft(self._plane.ns(layout.host_role("nat", rt.index)), ruleset)



class _ConnLogReader(_LogReader):
    """A connection clients' log, read as it grows (lab.drills.connections parses the lines)."""

    def __init__(self, path: Path, zone: str):
        super().__init__(path)
        self.zone = zone
        self.events: list[dict] = []

    def read(self) -> list[dict]:
        from lab.dataplane.connlog import parse_lines
        self.events.extend(parse_lines(self.new_lines(), self.zone))
        return self.events
