"""Plain data shared across the controller: probe results and alerts.

Kept free of boto3 so the decision engine, the Lambdas, the CLI and the lab can all use it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

ALERT_TYPES = ("failover", "revert", "replace", "flapping", "critical")


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


@dataclass(frozen=True)
class Alert:
    """Something people must hear about. Published to SNS (email) and relayed to Slack."""

    type: str            # one of ALERT_TYPES
    zone: str | None
    reason: str
    at: float            # epoch seconds
    from_nat: str | None = None       # instance id of the NAT the zone leaves (or the old NAT)
    to_nat: str | None = None         # instance id of the NAT the zone moves to (or the new NAT)
    to_zone: str | None = None        # az of the NAT the zone moves to
    route_tables: tuple[str, ...] = ()
    stack: str = ""
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["route_tables"] = list(self.route_tables)
        return d
