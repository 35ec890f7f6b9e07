"""Data-plane benchmark: one NAT as setup-nat.sh configures it, against bare nft masquerade and plain routing.

    python -m bench.dataplane [--runs 6] [--seconds 2] [--workers 4] [--json]      (root; make bench-dataplane)

Issue 19, item 8. Measured on one NAT namespace shaped as AWS shapes a NAT (one interface; see
bench/dataplane_lab.py), in three configurations within the same run, interleaved round by round so
that drift of the machine spreads over all three, and rotated so that each takes each slot of a round
equally often (setup-nat masquerade routing, masquerade routing setup-nat, routing setup-nat masquerade,
...; a multiple of 3 rounds balances them): a configuration measured right after another one, or right
after the script ran, must not carry what that leaves behind (sockets in TIME_WAIT, conntrack entries):
  - throughput of 1 and of 4 TCP streams (iperf3, client -> server through the NAT, what the server
    received), Gbit/s;
  - new TCP connections per second (bench/dataplane_cps.py: --workers client processes, each
    connection connect / send / answer / close), conn/s.
Each figure is the median and the worst (lowest) of --runs rounds; the ratios are setup-nat's median
over masquerade's and over routing's (and the same ratios round by round: median and worst).
Target: setup-nat >= 0.9 x masquerade on every figure. A miss is said, not an error: the exit code is 0
whenever the benchmark ran (1: it could not run; 130: Ctrl-C; 143: SIGTERM). --diagnose adds two
configurations that split setup-nat into its parts, to find which one costs what when it misses:
``no-filter`` (its table without the prerouting and forward chains: the per-packet rules) and
``masq+sysctls`` (bare masquerade after setup-nat's sysctls).

Counters: setup-nat.sh's nft counters are on as shipped: the rules that count resets, invalid drops and
stray VXLAN sit on the invalid-packet path, so valid traffic never updates them (``packets_counted``);
issue 19 item 1's per-direction counters (named counters ``from_source``/``from_destination``, two rules
of the forward chain) count every forwarded packet, and are measured here as shipped.

Every namespace is ``hanat-<run id>-dp-*`` and is deleted at the end, also on failure, Ctrl-C or SIGTERM.
The machine's other load lands in the figures: on a shared machine they are indicative only; rerun on
a quiet one for figures to quote.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # `python bench/dataplane.py` works too

from bench.dataplane_lab import CONFIGS, DIAGNOSTIC_CONFIGS, BenchError, OneEniNat
from lab.dataplane.netns.shell import NetnsError, list_namespaces

TARGET = 0.9
METRICS = {"tput_1": ("1 TCP stream", "Gbit/s"), "tput_4": ("4 TCP streams", "Gbit/s"),
           "cps": ("new connections", "conn/s")}
COUNTED = re.compile(r"\bcounter packets (\d+)")
COUNTER_NOTE = ("setup-nat.sh's nft counters as shipped: its rule counters (resets, invalid drops, stray VXLAN: the "
                "invalid path only) and its named per-direction counters (every forwarded packet, not in this count)")


# --- figures (pure) ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Figure:
    median: float
    worst: float
    values: tuple[float, ...]


def figure(values: list[float]) -> Figure:
    """Median and worst (lowest: every figure here is better higher) of the runs."""
    return Figure(statistics.median(values), min(values), tuple(values))


def summarize(samples: dict[str, dict[str, list[float]]]) -> dict:
    """samples[config][metric] = per-run values, run i of every configuration from the same round ->
    figures, the ratios of setup-nat's median to the others' (the target's verdict is on these), and the
    same ratios taken round by round (``paired``: their median and worst, less moved by drift)."""
    figures = {config: {metric: figure(values) for metric, values in per.items()} for config, per in samples.items()}

    def ratio(over: str) -> dict[str, float | None]:
        return {m: figures["setup-nat"][m].median / figures[over][m].median if figures[over][m].median else None
                for m in METRICS}

    def paired(over: str) -> dict[str, Figure]:
        return {m: figure([a / b if b else 0.0 for a, b in zip(samples["setup-nat"][m], samples[over][m])])
                for m in METRICS}

    overs = {f"setup-nat/{config}": config for config in samples if config != "setup-nat"}
    ratios = {name: ratio(over) for name, over in overs.items()}
    missed = [m for m, r in ratios["setup-nat/masquerade"].items() if r is None or r < TARGET]
    return {"figures": figures, "ratios": ratios, "paired": {name: paired(over) for name, over in overs.items()},
            "target": {"ratio": TARGET, "of": "setup-nat/masquerade", "met": not missed, "missed": missed}}


def round_order(configs: tuple[str, ...], round_no: int) -> tuple[str, ...]:
    """Round 1 measures ``configs`` in order; each later round starts one configuration further."""
    turn = (round_no - 1) % len(configs)
    return configs[turn:] + configs[:turn]


def verdict_line(target: dict) -> str:
    if target["met"]:
        return f"target met: setup-nat >= {TARGET} x bare masquerade on every figure"
    return (f"target MISSED: setup-nat < {TARGET} x bare masquerade on {', '.join(target['missed'])} "
            "(indicative on a loaded machine: rerun on a quiet one)")


# --- the run ----------------------------------------------------------------------------------
def why_not_runnable() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces): sudo make bench-dataplane"
    for tool in ("ip", "nft", "iperf3", "ss"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            return f"`{tool}` is missing: as root, `make system-tools` installs it"
    return None


def measure(lab: OneEniNat, config: str, seconds: int, workers: int) -> dict[str, float]:
    lab.apply(config)
    cps = lab.cps(workers, seconds)
    return {"tput_1": lab.throughput_gbps(1, seconds), "tput_4": lab.throughput_gbps(4, seconds),
            "cps": cps["per_s"], "cps_errors": cps["errors"]}


def run(runs: int, seconds: int, workers: int, progress, configs: tuple[str, ...] = CONFIGS) -> dict:
    samples = {config: {m: [] for m in METRICS} for config in configs}
    errors = {config: 0 for config in configs}
    counters = {"setup_nat_rules_with_counter": None, "packets_counted": 0, "note": COUNTER_NOTE}
    lab = OneEniNat()
    started = time.monotonic()
    load_before = os.getloadavg()
    try:
        lab.up()
        for round_no in range(1, runs + 1):
            for config in round_order(configs, round_no):
                got = measure(lab, config, seconds, workers)
                if config == "setup-nat":   # its table is made anew by each run of the script
                    ruleset = lab.ruleset()
                    counters["setup_nat_rules_with_counter"] = len(COUNTED.findall(ruleset))
                    counters["packets_counted"] += sum(int(n) for n in COUNTED.findall(ruleset))
                for m in METRICS:
                    samples[config][m].append(got[m])
                errors[config] += got["cps_errors"]
                progress(f"round {round_no}/{runs} {config}: " + "  ".join(
                    f"{m}={got[m]:.2f}" if m != "cps" else f"cps={got[m]:.0f}" for m in METRICS))
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)    # a second Ctrl-C must not stop the clean-up
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        lab.down()
        left = list_namespaces(lab.prefix)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _exit_on_term)
    summary = summarize(samples)
    return {"runs": runs, "seconds": seconds, "workers": workers, "order": list(configs),
            "figures": {c: {m: f.__dict__ | {"values": list(f.values)} for m, f in per.items()}
                        for c, per in summary["figures"].items()},
            "ratios": summary["ratios"], "target": summary["target"], "cps_errors": errors,
            "paired_ratios": {name: {m: {"median": f.median, "worst": f.worst} for m, f in per.items()}
                              for name, per in summary["paired"].items()},
            "counters": counters,
            "load_average": {"before": load_before, "after": os.getloadavg()},
            "iperf_retries": lab.iperf_retries, "elapsed_s": round(time.monotonic() - started, 1),
            "namespaces": lab.prefix + "*",
            "namespaces_left": left}


# --- output -----------------------------------------------------------------------------------
def print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"one NAT, median (worst) of {result['runs']} runs of {result['seconds']} s; "
                        f"{result['workers']} connection workers", caption="÷ X: setup-nat's median over X's")
    table.add_column("figure")
    for config in result["order"]:
        table.add_column(config, justify="right")
    for name in result["ratios"]:
        table.add_column("÷ " + name.split("/", 1)[1], justify="right")
    for m, (label, unit) in METRICS.items():
        fmt = "{:.0f}" if m == "cps" else "{:.2f}"
        cells = [f"{fmt.format(result['figures'][c][m]['median'])} ({fmt.format(result['figures'][c][m]['worst'])})"
                 for c in result["order"]]
        table.add_row(f"{label}, {unit}", *cells, *(_ratio_cell(per[m]) for per in result["ratios"].values()))
    console = Console(width=max(100 + 36 * (len(result["order"]) - 3), shutil.get_terminal_size().columns))
    console.print(table)
    for name, per in result["paired_ratios"].items():
        print(f"{name} round by round, median (worst): " + ", ".join(
            f"{m} {f['median']:.3f} ({f['worst']:.3f})" for m, f in per.items()))
    load = result["load_average"]
    counters = result["counters"]
    print(f"counters: {counters['setup_nat_rules_with_counter']} rules with a counter in setup-nat's ruleset, "
          f"{counters['packets_counted']} packets counted; {counters['note']}")
    print(f"connection errors: {result['cps_errors']}; iperf3 tests run again: {result['iperf_retries']}; "
          f"load average before/after: {load['before'][0]:.2f}/{load['after'][0]:.2f} on {os.cpu_count()} cores; "
          f"{result['elapsed_s']} s")
    print(verdict_line(result["target"]))


def _ratio_cell(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.3f}"


def _exit_on_term(*_) -> None:
    raise SystemExit(143)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=6,
                        help="rounds of the configurations, each round one slot later (default 6)")
    parser.add_argument("--seconds", type=int, default=2, help="seconds per measurement, >= 1 (default 2)")
    parser.add_argument("--workers", type=int, default=4, help="connection-rate client processes (default 4)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--diagnose", action="store_true",
                        help="also measure setup-nat without its filter chains and bare masquerade with "
                             "setup-nat's sysctls: which part costs what (about 4 minutes)")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.seconds < 1 or args.workers < 1:
        parser.error("--runs, --seconds and --workers must be >= 1")
    reason = why_not_runnable()
    if reason:
        print(f"bench/dataplane.py: {reason}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _exit_on_term)
    try:
        result = run(args.runs, args.seconds, args.workers, lambda line: print(line, file=sys.stderr, flush=True),
                     CONFIGS + DIAGNOSTIC_CONFIGS if args.diagnose else CONFIGS)
    except KeyboardInterrupt:
        print("interrupted: the benchmark's namespaces are removed", file=sys.stderr)
        return 130
    except (BenchError, NetnsError) as err:
        print(f"bench/dataplane.py: {err} (the benchmark's namespaces are removed)", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
