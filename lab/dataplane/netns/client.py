"""Egress client: a private host's view of the internet, sampled every 100 ms.

Run inside ``priv-<i>``: ``python -m lab.dataplane.netns.client --out FILE [--url U] [--interval 0.1]``. Each
request appends one JSON line ``{t, ok, you, latency_ms, error}`` (``you`` = the source address the
internet saw: the Elastic IP (its lab address) of the NAT it went through). ``--once`` prints one sample on stdout instead (used by
``Namespaces.http_get`` for probes). The lab reads the logs back with lab.dataplane.egress.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import time
import urllib.request
from pathlib import Path

from lab.dataplane.egress import EgressSample

DEFAULT_URL = "http://198.51.100.10/"
# No proxy, ever: the lab internet is reached only through the namespace's own routes.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(url: str, timeout_s: float) -> EgressSample:
    """One request; never raises for network trouble (that is what is being measured)."""
    started_wall, started = time.time(), time.monotonic()
    try:
        with _OPENER.open(url, timeout=timeout_s) as resp:
            body = json.loads(resp.read().decode())
        return EgressSample(started_wall, True, body.get("you"), round((time.monotonic() - started) * 1000, 2))
    except Exception as err:  # noqa: BLE001 - every failure becomes a failed sample
        return EgressSample(started_wall, False, None, None, f"{type(err).__name__}: {err}"[:200])


def run_loop(url: str, out: Path, interval_s: float, timeout_s: float,
             duration_s: float | None, count: int | None) -> int:
    """Sample until SIGTERM/SIGINT, ``duration_s`` or ``count``; each line is flushed at once."""
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    started, done = time.monotonic(), 0
    with (open(sys.stdout.fileno(), "w", buffering=1, closefd=False) if str(out) == "-"
          else out.open("a", buffering=1)) as fh:
        while not stopping:
            tick = time.monotonic()
            fh.write(fetch(url, timeout_s).to_json() + "\n")
            done += 1
            if (count is not None and done >= count) or (
                    duration_s is not None and time.monotonic() - started >= duration_s):
                break
            time.sleep(max(0.0, interval_s - (time.monotonic() - tick)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--out", type=Path, help="JSON-lines log to append to ('-': stdout)")
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between request starts")
    parser.add_argument("--timeout", type=float, default=0.5, help="per-request timeout in seconds")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument("--count", type=int, help="stop after this many requests")
    parser.add_argument("--once", action="store_true", help="one request, printed as JSON on stdout")
    args = parser.parse_args(argv)
    problems = [f"--{k}={getattr(args, k)} must be > 0" for k in ("interval", "timeout", "duration", "count")
                if getattr(args, k) is not None and getattr(args, k) <= 0]
    if not args.once and args.out is None:
        problems.append("--out is required unless --once is given")
    if problems:
        parser.error("; ".join(problems))
    if args.once:
        sample = fetch(args.url, args.timeout)
        print(sample.to_json(), flush=True)
        return 0 if sample.ok else 1
    return run_loop(args.url, args.out, args.interval, args.timeout, args.duration, args.count)


if __name__ == "__main__":
    sys.exit(main())
