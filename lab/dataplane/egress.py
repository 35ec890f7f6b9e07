"""Egress samples: what a private host's requests to the lab internet saw, one sample a request (pure).

Both data planes report them (lab.dataplane.base.LabDataPlane.samples): the namespaces plane's clients
(lab.dataplane.netns.client) write them as JSON lines, ``parse_egress_lines``/``read_egress_log`` read
them back; the computed plane makes them itself. ``outages`` and ``egress_addresses`` summarise them.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path


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
