"""Probe results: what one vantage point saw of each target, and the verdict on one NAT path.

Plain data (no boto3): the probe functions write it, the heartbeat, the engine, the CLI and the lab read it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


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
    """The verdict for one NAT path: passed when any target answered."""

    zone: str            # az, or "control" for the heartbeat's own check
    passed: bool
    results: tuple[TargetResult, ...] = ()
    at: float = 0.0      # epoch seconds
    error: str | None = None  # the probe itself could not run (invoke failed, timeout)

    def to_dict(self) -> dict:
        return {"zone": self.zone, "passed": self.passed, "at": self.at, "error": self.error,
                "results": [r.to_dict() for r in self.results]}

    @classmethod
    def from_dict(cls, d: dict) -> ProbeResult:
        return cls(zone=d["zone"], passed=bool(d["passed"]), at=float(d.get("at", 0.0)),
                   error=d.get("error"),
                   results=tuple(TargetResult(**r) for r in d.get("results", ())))
