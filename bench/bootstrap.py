"""Benchmark `hanat up`: wall time and AWS API calls for 2, 3 and 6 zones, a no-op re-run, and down.

Runs against its own moto server on 127.0.0.1 (lab.aws.emulator.Emulator); nothing leaves the machine.
    .venv/bin/python -m bench.bootstrap [--json]
Figures are moto's, so they measure hanat's own work and call count, not AWS latency.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

# `python bench/bootstrap.py` puts bench/ first on sys.path, where this very file would shadow the
# `bootstrap` package: put the repo root there instead.
_BENCH_DIR = Path(__file__).resolve().parent
sys.path[:] = [str(_BENCH_DIR.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _BENCH_DIR]

from bootstrap.config import load_config
from bootstrap.stack import StackClients, build_stack, destroy_stack
from chalicelib.aws.clients import make_client, make_session
from lab.aws.emulator import Emulator, pointed_at

SCENARIOS = (("ap-northeast-1", 2), ("ap-northeast-1", 3), ("us-east-1", 6))


def config_text(stack: str, region: str, azs: list[str]) -> str:
    zones = "".join(f'\n[[zones]]\naz = "{az}"\n' for az in azs)
    return (f'[stack]\nname = "{stack}"\nregion = "{region}"\nvpc_cidr = "10.0.0.0/16"\n{zones}\n'
            '[probe]\ntargets = ["tcp://203.0.113.10:443"]\n'  # the lab's documentation address
            '[alerts]\nemails = ["ops@example.com"]\n')


def counted_clients(region: str) -> tuple[StackClients, Counter]:
    """Clients whose every API call is counted (botocore before-call hook), by service.operation."""
    session = make_session(region)
    calls: Counter = Counter()

    def before_call(model, **_kwargs):
        calls[f"{model.service_model.service_name}.{model.name}"] += 1

    session.events.register("before-call", before_call)
    return StackClients.from_session(session, region), calls


def timed(fn, *args) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - started, result


def run_scenario(region: str, zones: int, workdir: Path) -> dict:
    azs = [z["ZoneName"] for z in make_client("ec2", region).describe_availability_zones()["AvailabilityZones"]]
    if len(azs) < zones:
        raise SystemExit(f"{region} has only {len(azs)} zones in the emulator, {zones} needed")
    path = workdir / f"bench-{zones}.toml"
    path.write_text(config_text(f"bench{zones}", region, azs[:zones]))
    config = load_config(str(path))
    row: dict = {"zones": zones, "region": region}
    for phase, action in (("up", lambda c: build_stack(config, c)), ("rerun", lambda c: build_stack(config, c)),
                          ("down", lambda c: destroy_stack(config, c))):
        clients, calls = counted_clients(region)
        seconds, result = timed(action, clients)
        row[f"{phase}_s"] = round(seconds, 2)
        row[f"{phase}_calls"] = sum(calls.values())
        if phase != "down":
            row[f"{phase}_changes"] = result.changes
        else:
            row["down_deleted"] = len(result.deleted)
        row[f"{phase}_writes"] = sum(n for op, n in calls.items()
                                     if not op.split(".", 1)[1].startswith(("Describe", "Get", "List")))
    return row


def print_table(rows: list[dict]) -> None:
    header = ("zones", "region", "up s", "up calls", "changes", "re-run s", "re-run calls", "re-run writes",
              "down s", "down calls", "deleted")
    keys = ("zones", "region", "up_s", "up_calls", "up_changes", "rerun_s", "rerun_calls", "rerun_writes",
            "down_s", "down_calls", "down_deleted")
    widths = [max(len(h), *(len(str(r[k])) for r in rows)) for h, k in zip(header, keys, strict=True)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(str(r[k]).rjust(w) for k, w in zip(keys, widths, strict=True)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the rows as one JSON object")
    args = parser.parse_args(argv)
    rows = []
    with Emulator() as emulator, pointed_at(emulator), tempfile.TemporaryDirectory() as tmp:
        for region, zones in SCENARIOS:
            print(f"benchmarking {zones} zones in {region} ...", file=sys.stderr)
            rows.append(run_scenario(region, zones, Path(tmp)))
    if args.json:
        print(json.dumps({"emulator": "moto server on 127.0.0.1", "rows": rows}, indent=2))
    else:
        print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
