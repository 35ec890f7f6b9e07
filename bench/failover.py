"""Failover benchmark: each drill N times (default 5), median and worst detection_s and rto_s.

    python bench/failover.py [--runs 5] [--dataplane netns|computed] [--scenario NAME ...] [--flaky-s 60]
                             [--config F] [--random-phase] [--seed 0] [--per-run]

Runs are independent: each starts on a fresh lab session (emulator reset, stack, data plane) or, after a
run that replaced no NAT, on that session reset to what a fresh one holds (lab.session_reset). A drill
injects its fault as soon as steady state is seen, which is right after a sweep: the longest wait for the
next sweep. ``--random-phase`` waits a random share of the probe interval first (seeded), as a real fault
falls anywhere in the cycle. ``--config`` takes any hanat config, e.g. bench/production-defaults.toml.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.config import load_lab_settings
from lab.dataplane.kinds import DATAPLANE_KINDS
from lab.drills.runner import SCENARIOS, DrillOptions, run_scenarios


def summarise(values: list[float | None]) -> tuple[str, str]:
    measured = [v for v in values if v is not None]
    if not measured:
        return "-", "-"
    return f"{statistics.median(measured):.2f}", f"{max(measured):.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dataplane", choices=DATAPLANE_KINDS, default=None)
    parser.add_argument("--scenario", action="append", choices=SCENARIOS, help="repeatable; default: all")
    parser.add_argument("--flaky-s", type=float, default=60.0)
    parser.add_argument("--config", default=None)
    parser.add_argument("--deploy", action="store_true", help="also run chalice deploy in every session")
    parser.add_argument("--random-phase", action="store_true",
                        help="inject each fault at a random moment of the probe interval (seeded)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--imds-tag-delay-s", type=float, default=0.0,
                        help="tag changes reach the NATs' instance metadata this late (netns; AWS documents no latency)")
    parser.add_argument("--per-run", action="store_true",
                        help="also print each run's detection_s, rto_s and the drill's own figures (e.g. api-throttle's "
                             "baseline_rto_s and rto_vs_baseline)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs must be >= 1, got {args.runs}")
    scenarios = args.scenario or list(SCENARIOS)
    settings = load_lab_settings(args.config)
    rows, notes, kind = [], [], "?"
    started = time.monotonic()
    for scenario in scenarios:
        if args.random_phase:
            rng = random.Random(args.seed)
            phases = [round(rng.uniform(0, settings.config.probe.interval_s), 2) for _ in range(args.runs)]
            reports = [r for phase in phases for r in run_scenarios(
                [scenario], settings, dataplane=args.dataplane, deploy=args.deploy,
                options=DrillOptions(flaky_s=args.flaky_s, fault_phase_s=phase,
                                     imds_tag_delay_s=args.imds_tag_delay_s),
                progress=lambda m, p=phase: print(f"{m} (fault {p:g}s after a sweep)", file=sys.stderr))]
            notes.append(f"{scenario}: faults {', '.join(f'{p:g}' for p in phases)} s after steady state")
        else:
            reports = run_scenarios([scenario] * args.runs, settings, dataplane=args.dataplane,
                                    options=DrillOptions(flaky_s=args.flaky_s, imds_tag_delay_s=args.imds_tag_delay_s),
                                    deploy=args.deploy,
                                    progress=lambda m: print(m, file=sys.stderr))
        kind = reports[0].dataplane
        det = summarise([r.detection_s for r in reports])
        rto = summarise([r.rto_s for r in reports])
        rows.append((scenario, f"{sum(r.passed for r in reports)}/{len(reports)}", *det, *rto))
        for i, r in enumerate(reports, start=1):
            if args.per_run:
                figures = ", ".join(f"{k}={v}" for k, v in sorted(r.figures.items()) if not isinstance(v, (dict, list)))
                notes.append(f"{scenario} run {i}: passed={r.passed} detection_s={r.detection_s} rto_s={r.rto_s} "
                             f"connections_open={r.connections_open} connections_broken={r.connections_broken}"
                             + (f" {figures}" if figures else ""))
            if not r.passed:
                failed = [k for k, ok in r.checks.items() if not ok]
                notes.append(f"{scenario}: failed {', '.join(failed) or '-'}"
                             + (f" ({r.error})" if r.error else ""))
    p = settings.config.probe
    print(f"failover benchmark: {args.runs} run(s) per drill, {kind} data plane, config {settings.source} "
          f"(probe interval {p.interval_s:g} s, timeout {p.timeout_s:g} s, fail_after {p.fail_after}), "
          f"{'random' if args.random_phase else 'right after a sweep'} fault phase, "
          + (f"instance metadata tags {args.imds_tag_delay_s:g} s late, " if args.imds_tag_delay_s else "")
          + f"{time.monotonic() - started:.0f}s in all")
    header = ("scenario", "passed", "detect med", "detect worst", "rto med", "rto worst")
    print("  ".join(f"{h:>12}" for h in header))
    for row in rows:
        print("  ".join(f"{c:>12}" for c in row))
    for note in notes:
        print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
