"""Probe results: what one vantage point saw of each target, and the verdict on one NAT path.

Plain data (no boto3): the probe functions write it, the heartbeat, the engine, the CLI and the lab read it.

A result is *evidence* about the NAT path when the probe's own checks ran (passed or failed). When the
probe could not run at all — Lambda refused or failed the invoke, the function errored or timed out, no
answer came back — the result carries ``evidence=False`` (and ``passed=False``): it says nothing about
the NAT, so the engine treats it like "not probed" and the zone's counters do not move.
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
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ProbeResult:
        """A result as the probe function answered it; one that passed without evidence is refused."""
        if d.get("passed") and not d.get("evidence", True):
            raise ValueError("a probe without evidence cannot have passed")
        return cls(zone=d["zone"], passed=bool(d["passed"]), at=float(d.get("at", 0.0)),
                   error=d.get("error"), evidence=bool(d.get("evidence", True)), hedged=bool(d.get("hedged", False)),
                   results=tuple(TargetResult(**r) for r in d.get("results", ())),
                   confirmations=tuple(cls.from_dict({**c, "zone": d["zone"]}) for c in d.get("confirmations", ())))
