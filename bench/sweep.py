"""Sweep benchmark: what one heartbeat pass costs. Prints figures, asserts nothing.

    python bench/sweep.py [--runs 10] [--latency-ms 40] [--tables 50]

- one sweep with 1 zone vs 6 zones: probes run the real ``run_checks`` against HTTP/TCP servers on
  127.0.0.1 that answer after --latency-ms (an internet round trip), zones in parallel, so 6 zones
  should cost <= 1.5x one zone;
- a zone with --tables private route tables failing over (target <= 2 s for the route moves);
- the peak memory of a 6-zone sweep (tracemalloc peak, and the process's max RSS; target < 128 MB);
- the heartbeat as Lambda runs it (bench/heartbeat_lambda.py, a process of its own importing app.py's
  whole module set: Chalice, Powertools, boto3 clients, chalicelib) for --heartbeat-s, probing 6 zones
  through the lab's Invoke endpoint (lab.aws.lambda_endpoint) with the production LambdaProbeRunner: its peak
  RSS, the smallest Lambda memory with 30 % headroom over it, and a healthy probe's duration (the probe
  handler's own call, ``handle_probe``, timed per invoke against targets answering after --latency-ms).

Everything runs against a moto server on 127.0.0.1 (lab.aws.emulator); nothing leaves loopback.
us-east-1 is used because moto offers six AZs there.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # figures on stdout, not per-sweep log lines

from bootstrap.deploy.stage import environment as stage_environment
from bootstrap.deploy.stage import stage_settings
from chalicelib.aws.clients import make_client
from chalicelib.naming import probe_function_name, probe_handler_name
from chalicelib.probes import run_checks
from chalicelib.probes.handler import handle_probe
from chalicelib.service.deps import Clients, Deps
from chalicelib.service.heartbeat import run_sweep
from chalicelib.service.maintenance import after_sweep
from chalicelib.settings import ProbeSettings
from chalicelib.topology import Topology
from lab.aws.emulator import Emulator, pointed_at
from lab.aws.lambda_endpoint import LabFunction, LambdaEndpoint, Outcome, error_object
from tests.support.stack import build_stack

REGION = "us-east-1"
AZS = tuple(f"us-east-1{c}" for c in "abcdef")
STAGE = "bench"
HEADROOM = 0.30            # the heartbeat's memory keeps 30 % over its measured peak
LAMBDA_MIN_MB = 128        # Lambda's smallest memory size (128..10240 MB, 1 MB steps)
LAMBDA_MB_PER_VCPU = 1769  # Lambda: CPU in proportion to memory, one full vCPU at 1,769 MB (Lambda docs)
HEARTBEAT_CHILD = Path(__file__).resolve().parent / "heartbeat_lambda.py"


class SlowTarget:
    """An HTTP server on 127.0.0.1 answering after ``latency_s`` (plus one closed port, for failures)."""

    def __init__(self, latency_s: float):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                time.sleep(latency_s)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def closed_port_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"tcp://127.0.0.1:{port}"


class LocalProbeRunner:
    """ProbeRunner: real run_checks per zone, zones in parallel (as the Lambda runner invokes them)."""

    def __init__(self, targets: Sequence[str], timeout_s: float, dead_targets: Sequence[str]):
        self.targets, self.dead, self.timeout_s = list(targets), list(dead_targets), timeout_s
        self.failing: set[str] = set()
        self.last_s = 0.0

    def __call__(self, azs):
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=len(azs)) as pool:
            results = dict(zip(azs, pool.map(
                lambda az: run_checks(az, self.dead if az in self.failing else self.targets,
                                      self.timeout_s, time.time), azs), strict=True))
        self.last_s = time.perf_counter() - started
        return results


def build(stack: str, azs: Sequence[str], tables_per_zone: int, probe: ProbeSettings) -> Topology:
    """The tests' moto stack (tests/support/stack.py) in the emulator; ``tables_per_zone`` private
    tables in the first zone, one in each other zone."""
    return build_stack(stack, azs, tables_per_zone=[tables_per_zone] + [1] * (len(azs) - 1), probe=probe,
                       region=REGION)


def deps_for(topo: Topology, runner: LocalProbeRunner) -> Deps:
    clients = Clients(ec2=make_client("ec2", REGION), dynamodb=make_client("dynamodb", REGION))
    return Deps(topology=topo, clients=clients, probe_runner=runner, control_probe=None, owner="bench")


def timed_sweeps(deps: Deps, runs: int) -> tuple[list[float], list[float]]:
    """(whole sweep seconds, probe phase seconds) per run."""
    run_sweep(deps, then=after_sweep)  # warm-up: clients, connection pools, first state records
    sweeps, probes = [], []
    for _ in range(runs):
        started = time.perf_counter()
        report = run_sweep(deps, then=after_sweep)
        sweeps.append(time.perf_counter() - started)
        probes.append(deps.probe_runner.last_s)
        if report.error or report.skipped:
            raise SystemExit(f"sweep did not run cleanly: {report.error or report.skipped}")
    return sweeps, probes


def memory_with_headroom(peak_mb: float, headroom: float = HEADROOM) -> int:
    """The smallest Lambda memory size (whole MB, >= 128) that leaves ``headroom`` over ``peak_mb``."""
    return max(LAMBDA_MIN_MB, math.ceil(peak_mb * (1 + headroom)))


def heartbeat_in_lambda(topo: Topology, seconds: float, cpu=None) -> tuple[dict, list[float]]:
    """Run bench/heartbeat_lambda.py against ``topo`` (stored in the emulator) with the lab's Invoke
    endpoint running the probe handler: (its JSON line, the healthy probes' durations in seconds).
    ``cpu`` (lab.aws.cgroups.CpuShares, heartbeat memory MB): the heartbeat process and each probe run
    with the CPU share Lambda gives their memory (bench/heartbeat_cpu.py)."""
    durations: list[float] = []
    lock = threading.Lock()
    probe_stage = stage_settings(topo, "bench")["lambda_functions"][probe_handler_name(topo.azs[0])]
    probe_timeout, probe_memory = probe_stage["lambda_timeout"], probe_stage["lambda_memory_size"]

    def execute(function: LabFunction, event, request_id: str) -> Outcome:
        started = time.perf_counter()
        try:
            with cpu[0].invocation(function.handler, function.memory_mb) if cpu else contextlib.nullcontext():
                body = handle_probe(function.zone, event, topo.probe, time.time)   # what app.py's probe_<zone> calls
        except Exception as exc:  # noqa: BLE001 - answered as Lambda answers an unhandled error
            return Outcome("error", error_object(exc, request_id), time.perf_counter() - started)
        took = time.perf_counter() - started
        if body.get("passed"):
            with lock:
                durations.append(took)
        return Outcome("ok", body, took)

    functions = {probe_function_name(STAGE, az): LabFunction(name=probe_function_name(STAGE, az),
                                                             handler=probe_handler_name(az), zone=az,
                                                             timeout_s=probe_timeout, memory_mb=probe_memory)
                 for az in topo.azs}
    endpoint = LambdaEndpoint(functions, execute, region=REGION).start()
    try:
        env = {**os.environ, **stage_environment(topo, STAGE), "AWS_ENDPOINT_URL_LAMBDA": endpoint.url,
               "POWERTOOLS_LOG_LEVEL": "WARNING", "PYTHONPATH": str(HEARTBEAT_CHILD.parent.parent)}
        proc = subprocess.Popen([sys.executable, str(HEARTBEAT_CHILD), str(seconds)], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if cpu:   # before its imports: a cold start under the share too
            cpu[0].attach(f"heartbeat_{cpu[1]}", cpu[1], proc.pid)
        try:
            stdout, stderr = proc.communicate(timeout=seconds + 120)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
    finally:
        endpoint.stop()
    line = next((ln for ln in reversed(stdout.splitlines()) if ln.startswith('{"peak_rss_mb"')), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"the heartbeat process failed (exit {proc.returncode}): {stderr[-2000:]}")
    return json.loads(line), durations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--latency-ms", type=float, default=40.0)
    parser.add_argument("--tables", type=int, default=50)
    parser.add_argument("--heartbeat-s", type=float, default=15.0,
                        help="how long the Lambda-like heartbeat invocation runs (its remaining time)")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.tables < 1 or args.latency_ms < 0:
        parser.error("--runs and --tables must be >= 1, --latency-ms >= 0")
    targets = [SlowTarget(args.latency_ms / 1000) for _ in range(3)]
    probe = ProbeSettings(interval_s=1, timeout_s=1.0, fail_after=2, recover_after=1, min_hold_s=0,
                          targets=tuple(t.url for t in targets))
    dead = [closed_port_url()]
    try:
        with Emulator(region=REGION) as emu, pointed_at(emu):
            runner = LocalProbeRunner(probe.targets, probe.timeout_s, dead)
            (one, one_probe) = timed_sweeps(deps_for(build("one", AZS[:1], 1, probe), runner), args.runs)
            six_deps = deps_for(build("six", AZS, 1, probe), runner)
            (six, six_probe) = timed_sweeps(six_deps, args.runs)
            tracemalloc.start()
            run_sweep(six_deps, then=after_sweep)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            lambda_run, probe_durations = heartbeat_in_lambda(six_deps.topology, args.heartbeat_s)

            big = build("big", AZS[:2], args.tables, probe)
            big_runner = LocalProbeRunner(probe.targets, 0.3, dead)
            big_deps = deps_for(big, big_runner)
            for _ in range(2):
                run_sweep(big_deps, then=after_sweep)  # both NATs UP
            big_runner.failing.add(big.azs[0])
            failover = None
            for _ in range(probe.fail_after + 2):
                started = time.perf_counter()
                report = run_sweep(big_deps, then=after_sweep)
                elapsed = time.perf_counter() - started
                if len(report.changed_tables) >= args.tables:
                    failover = (elapsed, elapsed - big_runner.last_s, len(report.changed_tables))
                    break
    finally:
        for t in targets:
            t.close()

    med1, med6 = statistics.median(one), statistics.median(six)
    p1, p6 = statistics.median(one_probe), statistics.median(six_probe)
    print(f"sweep, 1 zone  : median {med1 * 1000:7.1f} ms (max {max(one) * 1000:.1f}); probe phase "
          f"{p1 * 1000:.1f} ms  [{args.runs} runs, targets answer after {args.latency_ms:.0f} ms]")
    print(f"sweep, 6 zones : median {med6 * 1000:7.1f} ms (max {max(six) * 1000:.1f}); probe phase "
          f"{p6 * 1000:.1f} ms")
    print(f"6 zones / 1 zone: whole sweep {med6 / med1:.2f}x, probe phase {p6 / p1:.2f}x  (target <= 1.5x)")
    if failover:
        total, moves, n = failover
        print(f"failover, {n} route tables: sweep {total:.2f} s, of which routes+state {moves:.2f} s "
              f"(the rest is the failing probe's {big_runner.timeout_s:.1f} s timeout; target <= 2 s)")
    else:
        print(f"failover, {args.tables} route tables: NOT OBSERVED within {probe.fail_after + 2} sweeps")
    print(f"peak memory, 6-zone sweep: tracemalloc {peak / 2**20:.1f} MB; process max RSS {rss_mb:.0f} MB "
          "(target < 128 MB)")
    peak = lambda_run["peak_rss_mb"]
    print(f"heartbeat as a Lambda (app.py imported, 6 zones, {lambda_run['sweeps']} sweeps in "
          f"{args.heartbeat_s:g} s{', errors: ' + '; '.join(lambda_run['errors']) if lambda_run['errors'] else ''}): "
          f"peak RSS {peak:.1f} MB (after imports {lambda_run['imported_rss_mb']:.1f} MB, bare interpreter "
          f"{lambda_run['interpreter_rss_mb']:.1f} MB) -> memory with {HEADROOM:.0%} headroom: "
          f"{memory_with_headroom(peak)} MB")
    sweeps = max(1, lambda_run["sweeps"])
    print(f"heartbeat CPU: imports {lambda_run['cpu_imports_s']:.2f} s, then {lambda_run['cpu_run_s'] / sweeps:.3f} s "
          f"per sweep here; Lambda gives {memory_with_headroom(peak)} MB about "
          f"{memory_with_headroom(peak) / LAMBDA_MB_PER_VCPU:.2f} vCPU")
    if probe_durations:
        ms = sorted(d * 1000 for d in probe_durations)
        print(f"healthy probe duration (handle_probe via the Invoke endpoint, targets after "
              f"{args.latency_ms:.0f} ms): median {statistics.median(ms):.1f} ms, p95 "
              f"{ms[min(len(ms) - 1, int(0.95 * len(ms)))]:.1f} ms, max {ms[-1]:.1f} ms over {len(ms)} invokes "
              f"(upper bound: the probe timeout {six_deps.topology.probe.timeout_s:g} s)")
    else:
        print("healthy probe duration: NO healthy probe answered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
