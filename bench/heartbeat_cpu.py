"""Heartbeat memory benchmark: a sweep's wall time under the CPU share Lambda gives each memory, and its price.

    sudo python bench/heartbeat_cpu.py [--memory-mb 128,148,256,512,1024,1769] [--runs 10]
                                       [--latency-ms 40] [--config examples/hanat.toml]

Lambda gives a function of m MB m / 1769 vCPU (lab.aws.cpu_share); the sweep runs here in a cgroup with
that quota (lab.aws.cgroups: root, cgroup v1 cpu), each zone's probe in its own group at the probes'
deployed memory, 6 zones as in bench/sweep.py (probes run the real ``run_checks`` against HTTP servers on
127.0.0.1 answering after --latency-ms; the EC2/DynamoDB emulator runs in its own process, unthrottled, as
AWS's side is). For each memory: the healthy sweep's median and worst wall time, the sweep that finds a
dead NAT (its probe's timeout, the confirmation, the route move), and what ``hanat cost --config``
prices the controller at with that heartbeat memory. Prints figures, asserts nothing; nothing leaves
loopback. The machine's other load slows every row alike: say it with the figures.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

from bench.sweep import (
    AZS,
    REGION,
    LocalProbeRunner,
    SlowTarget,
    build,
    closed_port_url,
    deps_for,
    heartbeat_in_lambda,
)
from bootstrap.config import load_config
from bootstrap.deploy.stage import PROBE_MEMORY_MB
from chalicelib.probes import run_checks
from chalicelib.service.heartbeat import run_sweep
from chalicelib.service.maintenance import after_sweep
from chalicelib.settings import ProbeSettings
from controller.cost import estimate_for_config, load_prices
from lab.aws.cgroups import CpuShares
from lab.aws.cpu_share import vcpus_for
from lab.aws.emulator import Emulator, pointed_at

CONTROLLER_ITEMS = ("Lambda", "DynamoDB", "SNS", "CloudWatch")   # the controller's lines of `hanat cost`


class SharedProbeRunner(LocalProbeRunner):
    """Each zone's probe in its own CPU group at the probes' memory (its own function on Lambda)."""

    def __init__(self, shares: CpuShares, *args):
        super().__init__(*args)
        self.shares = shares

    def __call__(self, azs):
        started = time.perf_counter()

        def probe(az):
            with self.shares.invocation(f"probe_{az}", PROBE_MEMORY_MB):
                return run_checks(az, self.dead if az in self.failing else self.targets, self.timeout_s, time.time)

        with ThreadPoolExecutor(max_workers=len(azs)) as pool:
            results = dict(zip(azs, pool.map(probe, azs), strict=True))
        self.last_s = time.perf_counter() - started
        return results


def sweeps_at(shares: CpuShares, memory_mb: int, probe: ProbeSettings, dead, runs: int) -> dict:
    """The heartbeat at ``memory_mb``: healthy sweeps' wall times, then the sweep that fails a zone over."""
    runner = SharedProbeRunner(shares, probe.targets, probe.timeout_s, dead)
    deps = deps_for(build(f"m{memory_mb}", AZS, 1, probe), runner)
    healthy, found = [], None
    with shares.invocation(f"heartbeat_{memory_mb}", memory_mb):
        run_sweep(deps, then=after_sweep)   # warm: clients, pools, first records (a warm Lambda's state)
        for _ in range(runs):
            started = time.perf_counter()
            run_sweep(deps, then=after_sweep)
            healthy.append(time.perf_counter() - started)
        runner.failing.add(AZS[0])
        for _ in range(probe.fail_after + 2):
            started = time.perf_counter()
            report = run_sweep(deps, then=after_sweep)
            if report.changed_tables:
                found = time.perf_counter() - started
                break
    return {"healthy": healthy, "failover": found}


def app_heartbeat_at(shares: CpuShares, memory_mb: int, probe: ProbeSettings, seconds: float) -> dict:
    """app.py's heartbeat handler in a process of its own at ``memory_mb``'s share (cold start included),
    on a stack of its own (no other run holds its lease), probing through the Invoke endpoint, each probe
    in its own share: its JSON line."""
    line, _ = heartbeat_in_lambda(build(f"a{memory_mb}", AZS, 1, probe), seconds, cpu=(shares, memory_mb))
    return line


def controller_usd(config, memory_mb: int) -> tuple[float, float]:
    """(the controller's monthly USD, of which the heartbeat's compute) with the heartbeat at ``memory_mb``."""
    est = estimate_for_config(config, load_prices(None), gb_per_month=0, heartbeat_memory_mb=memory_mb)
    lines = est.hanat.lines
    total = sum(line.monthly_usd for line in lines if line.item.startswith(CONTROLLER_ITEMS))
    heartbeat = next(line.monthly_usd for line in lines if line.item == "Lambda heartbeat compute")
    return total, heartbeat


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--memory-mb", default="128,148,256,512,1024,1769")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--latency-ms", type=float, default=40.0)
    parser.add_argument("--config", default="examples/hanat.toml")
    parser.add_argument("--heartbeat-s", type=float, default=20.0,
                        help="how long app.py's heartbeat runs per memory (its sweeps' wall times)")
    args = parser.parse_args(argv)
    memories = [int(m) for m in args.memory_mb.split(",")]
    for m in memories:
        vcpus_for(m)   # Lambda's range, else InputError
    config = load_config(args.config)
    shares = CpuShares.open(f"bench{os.getpid()}")
    if not shares.on:
        print(f"cpu_share: {shares.state}: nothing to measure")
        return 1
    targets = [SlowTarget(args.latency_ms / 1000) for _ in range(3)]
    probe = ProbeSettings(interval_s=config.probe.interval_s, timeout_s=config.probe.timeout_s, fail_after=2,
                          recover_after=1, min_hold_s=0, targets=tuple(t.url for t in targets))
    rows = []
    try:
        with Emulator(region=REGION) as emu, pointed_at(emu):
            for m in memories:
                row = sweeps_at(shares, m, probe, [closed_port_url()], args.runs)
                row["app"] = app_heartbeat_at(shares, m, probe, args.heartbeat_s)
                rows.append((m, row))
    finally:
        shares.close()
        for t in targets:
            t.close()
    print(f"cpu_share: {shares.state}; probes at {PROBE_MEMORY_MB} MB each; {len(AZS)} zones; "
          f"{args.runs} healthy sweeps per memory; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print("run_sweep: healthy sweep median/worst, the sweep that fails a zone over; app.py: the deployed "
          "heartbeat's sweeps (median/worst) and its cold start (imports)")
    print(f"{'memory':>7} {'vCPU':>6} {'run_sweep':>15} {'failover':>9} {'app.py sweep':>14} {'cold start':>11} "
          f"{'controller $/mo':>16} {'(heartbeat)':>12}")
    for m, r in rows:
        total, heartbeat = controller_usd(config, m)
        failover = f"{r['failover']:.2f} s" if r["failover"] is not None else "not seen"
        app = r["app"]
        app_sweeps = [s for s in app.get("sweep_s", []) if s > 0] or [float("nan")]
        print(f"{m:>4} MB {vcpus_for(m):>6.3f} {statistics.median(r['healthy']):>6.2f}/{max(r['healthy']):.2f} s "
              f"{failover:>9} {statistics.median(app_sweeps):>6.2f}/{max(app_sweeps):.2f} s "
              f"{app['wall_imports_s']:>9.1f} s {total:>16.2f} {heartbeat:>12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
