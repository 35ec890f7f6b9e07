"""Inputs and output of the decision engine: what was seen this round (``ZoneInput``), and the
``Decision`` (new zone states, route moves, alerts, outcomes)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..alerts import Alert
from ..probes.results import ProbeResult
from .state import ZoneState

FAILOVER, REVERT, REPAIR = "failover", "revert", "repair"
# An adopted zone's routes: to its own NAT (cutover) and back to where they pointed before (release).
CUTOVER, RELEASE = "cutover", "release"


@dataclass(frozen=True)
class ZoneInput:
    """One zone as seen this round. The order of zones given to the engine is the ring order."""

    az: str
    state: ZoneState
    nat_instance_id: str = ""
    route_table_ids: tuple[str, ...] = ()
    probe: ProbeResult | None = None      # None: not probed this round
    # re-probes made at once after ``probe`` failed, in order (each an independent sample)
    confirmations: tuple[ProbeResult, ...] = ()
    instance_state: str | None = None     # None: unknown (do not judge on it)

    @property
    def samples(self) -> tuple[ProbeResult, ...]:
        """This round's probe results that are evidence about the NAT path, in the order taken."""
        taken = (self.probe, *self.confirmations) if self.probe is not None else self.confirmations
        return tuple(p for p in taken if p.evidence)

    @property
    def no_evidence(self) -> bool:
        """Probed this round, but nothing came back that says anything about the NAT."""
        return (self.probe is not None or bool(self.confirmations)) and not self.samples


@dataclass(frozen=True)
class RouteMove:
    """Point every private route table of ``zone`` at the NAT of ``to_az`` (a release instead points
    each table at its own target: ``targets``, route table id -> ``nat-...``/``eni-...``/``i-...``/"")."""

    zone: str
    from_az: str
    to_az: str
    kind: str        # failover | revert | repair | cutover | release
    reason: str
    targets: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict:
        d = {"zone": self.zone, "from_az": self.from_az, "to_az": self.to_az, "kind": self.kind,
             "reason": self.reason}
        if self.targets:
            d["targets"] = dict(self.targets)
        return d


@dataclass(frozen=True)
class Decision:
    """The engine's decision: the new state of every zone, the route moves, alerts, outcomes."""

    states: dict[str, ZoneState]
    moves: tuple[RouteMove, ...] = ()
    alerts: tuple[Alert, ...] = ()
    outcomes: tuple[str, ...] = ()
    critical_active: bool = False
    notes: tuple[str, ...] = field(default=())

    def changed_zones(self, before: dict[str, ZoneState]) -> list[str]:
        """Zones whose record differs from ``before`` (ignoring the version counter)."""
        out = []
        for az, new in self.states.items():
            old = before.get(az)
            if old is None or replace(new, version=old.version) != old:
                out.append(az)
        return out

    def to_dict(self) -> dict:
        return {
            "moves": [m.to_dict() for m in self.moves],
            "alerts": [a.to_dict() for a in self.alerts],
            "outcomes": list(self.outcomes),
            "critical_active": self.critical_active,
            "states": {az: s.to_dict() for az, s in self.states.items()},
        }
