"""Probe results: what one vantage point saw of each target, and the verdict on one NAT path.

Plain data (no boto3): the probe functions write it, the heartbeat, the engine, the CLI and the lab read it.

A result is *evidence* about the NAT path when the probe's own checks ran (passed or failed). When the
probe could not run at all — Lambda refused or failed the invoke, the function errored or timed out, no
answer came back — the result carries ``evidence=False`` (and ``passed=False``): it says nothing about
the NAT, so the engine treats it like "not probed" and the zone's counters do not move.

A result may carry the NAT's own ``counters`` (what its agent reports, probes/counters.py): optional,
bounded, and checked once here where results are parsed (``counters_problem``); counters that fail the
check are dropped with the reason in ``counters_error`` and never affect the verdict.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

MAX_COUNTERS_BYTES = 4096      # the agent's snapshot is under 2 KB
MAX_BUSIEST = 8                # destinations listed by source-port use (the agent sends 5)
_COUNT_GROUPS = {"conntrack": ("count", "max", "drop", "early_drop", "insert_failed"),
                 "from_source": ("packets", "bytes"), "from_destination": ("packets", "bytes")}


def _count(value) -> bool:
    """A counter's value: a whole number >= 0, or None (the NAT cannot read it: absent, not zero)."""
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)


def counters_problem(counters) -> str | None:
    """What is wrong with a NAT's counters as its agent reports them (hanat-nat-agent), or None."""
    if not isinstance(counters, dict):
        return "counters must be a JSON object"
    if len(json.dumps(counters)) > MAX_COUNTERS_BYTES:
        return f"counters larger than {MAX_COUNTERS_BYTES} bytes"
    if counters.get("version") != 1:
        return f"counters version {counters.get('version')!r} is not 1"
    forwarded = counters.get("forwarded")
    groups = {"conntrack": counters.get("conntrack"),
              **(forwarded if isinstance(forwarded, dict) else {"forwarded": forwarded})}
    for name, keys in _COUNT_GROUPS.items():
        group = groups.get(name)
        if not isinstance(group, dict) or not all(_count(group.get(k)) for k in keys):
            return f"counters {name} must hold {', '.join(keys)} as whole numbers >= 0 or null"
    if not all(_count(counters.get(k)) for k in ("resets", "invalid_drops")):
        return "counters resets and invalid_drops must be whole numbers >= 0 or null"
    ena = counters.get("ena")
    if ena is not None and not (isinstance(ena, dict) and all(isinstance(k, str) and _count(v) for k, v in ena.items())):
        return "counters ena must be null or an object of whole numbers >= 0"
    ports = counters.get("ports")
    busiest = ports.get("busiest", []) if isinstance(ports, dict) else 0
    busiest = [] if busiest is None else busiest     # null: the NAT cannot read its conntrack entries
    if not isinstance(busiest, list) or len(busiest) > MAX_BUSIEST or not _count(ports.get("addresses")) \
            or not all(isinstance(b, dict) and _count(b.get("used")) and _count(b.get("port"))
                       and isinstance(b.get("destination"), str) and isinstance(b.get("proto"), str) for b in busiest):
        return f"counters ports must hold addresses and busiest (up to {MAX_BUSIEST} of proto, destination, port, used)"
    return None


@dataclass(frozen=True)
class TargetResult:
    """One target checked from one vantage point (a zone's probe subnet, or the control probe)."""

    target: str          # tcp://host:port | http(s)://host[:port]/path
    ok: bool
    latency_ms: float | None = None
    error: str | None = None
    attempts: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ProbeResult:
    """The verdict for one NAT path: passed when any target answered.

    ``evidence`` is False when the probe itself could not run (then ``passed`` is False and ``error``
    says why): no evidence about the NAT either way.
    """

    zone: str            # az, or "control" for the heartbeat's own check
    passed: bool
    results: tuple[TargetResult, ...] = ()
    at: float = 0.0      # epoch seconds
    error: str | None = None  # the probe itself could not run (invoke failed, timeout)
    evidence: bool = True
    hedged: bool = False      # a confirmation started while the sample before it still waited
    # the same path probed again in the same invoke (probes/samples.py), in the order started
    confirmations: tuple[ProbeResult, ...] = ()
    counters: dict | None = None          # the NAT's counters (checked: counters_problem), if read
    counters_error: str | None = None     # why there are none although they were asked for

    @property
    def failed(self) -> bool:
        """The probe ran and no target answered: evidence that the path is broken."""
        return self.evidence and not self.passed

    @classmethod
    def no_evidence(cls, zone: str, at: float, error: str) -> ProbeResult:
        """The probe could not run: nothing is known about the NAT path."""
        return cls(zone=zone, passed=False, at=at, error=error, evidence=False)

    @property
    def samples(self) -> tuple[ProbeResult, ...]:
        """This result and its confirmations, in the order they started."""
        return (self, *self.confirmations)

    def to_dict(self) -> dict:
        d = {"zone": self.zone, "passed": self.passed, "at": self.at, "error": self.error,
             "evidence": self.evidence, "results": [r.to_dict() for r in self.results]}
        if self.hedged:
            d["hedged"] = True
        if self.confirmations:
            d["confirmations"] = [c.to_dict() for c in self.confirmations]
        if self.counters is not None:
            d["counters"] = self.counters
        if self.counters_error:
            d["counters_error"] = self.counters_error
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ProbeResult:
        """A result as the probe function answered it; one that passed without evidence is refused."""
        if d.get("passed") and not d.get("evidence", True):
            raise ValueError("a probe without evidence cannot have passed")
        counters, counters_error = d.get("counters"), d.get("counters_error")
        if counters is not None and (problem := counters_problem(counters)):
            counters, counters_error = None, problem
        return cls(counters=counters, counters_error=None if counters_error is None else str(counters_error)[:500],
                   zone=d["zone"], passed=bool(d["passed"]), at=float(d.get("at", 0.0)),
                   error=d.get("error"), evidence=bool(d.get("evidence", True)), hedged=bool(d.get("hedged", False)),
                   results=tuple(TargetResult(**r) for r in d.get("results", ())),
                   confirmations=tuple(cls.from_dict({**c, "zone": d["zone"]}) for c in d.get("confirmations", ())))
