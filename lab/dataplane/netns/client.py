"""Egress client: a private host's view of the internet, sampled every 100 ms.

Run inside ``priv-<i>``: ``python -m lab.dataplane.netns.client --out FILE [--url U] [--interval 0.1]``. Each
request appends one JSON line ``{t, ok, you, latency_ms, error}`` (``you`` = the source address the
internet saw: the NAT's lab public address). ``--once`` prints one sample on stdout instead (used by
``Namespaces.http_get`` for probes). The lab reads the logs with ``read_egress_log`` to measure the
outage (RTO) and which addresses carried the traffic (``parse_egress_lines`` for a log read as it grows).
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_URL = "http://198.51.100.10/"
# No proxy, ever: the lab internet is reached only through the namespace's own routes.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class EgressSample:
    """One request of a zone's egress client: did it reach the internet, and as whom. Every lab data
    plane reports these (lab.dataplane.LabDataPlane.samples); this module writes and reads them."""

    t: float                  # epoch seconds when the request started
    ok: bool
    you: str | None = None    # the source address the server saw
    latency_ms: float | None = None
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


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


def parse_egress_lines(lines: Iterable[str]) -> list[EgressSample]:
    """Samples from a client's log lines, in the order given; a line that is not JSON (a torn last
    line, the client killed mid-write) is skipped."""
    samples = []
    for line in lines:
        try:
            d = json.loads(line)
        except json.JSONDecodeError:
            continue
        samples.append(EgressSample(float(d["t"]), bool(d["ok"]), d.get("you"), d.get("latency_ms"), d.get("error")))
    return samples


def read_egress_log(path: str | Path) -> list[EgressSample]:
    """Samples from a client's log, oldest first; a torn last line (client killed) is skipped."""
    return sorted(parse_egress_lines(Path(path).read_text().splitlines()), key=lambda s: s.t)


@dataclass(frozen=True)
class Outage:
    start: float              # first failed sample
    end: float | None         # first good sample after it (None: still failing at the end)

    @property
    def duration_s(self) -> float | None:
        return None if self.end is None else self.end - self.start


def outages(samples: Iterable[EgressSample]) -> list[Outage]:
    """Runs of failed samples, each from its first failure to the next success."""
    found, start = [], None
    for s in samples:
        if not s.ok and start is None:
            start = s.t
        elif s.ok and start is not None:
            found.append(Outage(start, s.t))
            start = None
    if start is not None:
        found.append(Outage(start, None))
    return found


def egress_addresses(samples: Iterable[EgressSample]) -> list[str]:
    """The distinct source addresses the internet saw, in order of first appearance."""
    seen: dict[str, None] = {}
    for s in samples:
        if s.ok and s.you:
            seen.setdefault(s.you, None)
    return list(seen)


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
