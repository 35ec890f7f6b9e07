"""What a drill measured: the figures computed from its timeline and its egress samples (pure).

Everything here is plain data in, numbers out, so the figures a drill reports are tested on their own
(tests/lab/test_lab_computed.py drives them end to end, the unit-style cases pin the edges).
"""
from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from lab.dataplane.egress import EgressSample, egress_addresses
from lab.timeline import Event

# Route changes of a zone, as seen by the lab's EventBridge emulation: the zone's private routes left its own NAT
# (failover), came back to its own NAT (revert), or went from one backup to another (move).
ROUTE_EVENTS = ("failover", "revert", "move")
IAM_CHECK = "iam_allows_every_call"   # a drill's check when its AWS calls are decided under IAM (lab/iam)


# --- figures (pure) ---------------------------------------------------------------------------
def rto(samples: Sequence[EgressSample], fault_at: float) -> float | None:
    """Fault -> first success after the fault's first failure. 0.0 when no request after the fault
    failed (an outage shorter than the clients' 100 ms sampling); None when egress never came back."""
    after = [s for s in samples if s.t >= fault_at]
    first_fail = next((i for i, s in enumerate(after) if not s.ok), None)
    if first_fail is None:
        return 0.0 if after else None
    back = next((s for s in after[first_fail:] if s.ok), None)
    return None if back is None else round(back.t - fault_at, 3)


def outage_unrecovered(samples: Sequence[EgressSample], fault_at: float) -> bool:
    """True when a request failed after the fault and none succeeded since."""
    after = [s for s in samples if s.t >= fault_at]
    first_fail = next((i for i, s in enumerate(after) if not s.ok), None)
    return first_fail is not None and not any(s.ok for s in after[first_fail:])


def last_egress(samples: Sequence[EgressSample], before: float, count: int = 5) -> str | None:
    """The address most of the last ``count`` successful requests before ``before`` went out as
    (robust to a client that was briefly starved of CPU, unlike a fixed time window)."""
    recent = [s.you for s in samples if s.t < before and s.ok and s.you][-count:]
    return Counter(recent).most_common(1)[0][0] if recent else None


def egress_addresses_between(samples: Sequence[EgressSample], start: float, end: float) -> list[str]:
    """The distinct egress addresses of the samples in [start, end), sorted."""
    return sorted(egress_addresses(s for s in samples if start <= s.t < end))


def failed_between(samples: Sequence[EgressSample], start: float, end: float) -> int:
    """How many requests started in [start, end) failed (each is one 100 ms client request)."""
    return sum(1 for s in samples if start <= s.t < end and not s.ok)


def detection(events: Sequence[Event], zones: Iterable[str], fault_at: float) -> float | None:
    """Fault -> the controller declared an affected NAT DOWN or moved a route, whichever came first."""
    wanted = set(zones)
    for e in events:
        if e.t < fault_at or e.zone not in wanted:
            continue
        if e.event in ("failover", "move") or (e.event == "health" and e.detail.get("health") == "DOWN"):
            return round(e.t - fault_at, 3)
    return None


def route_events(events: Sequence[Event], zone: str | None = None, kinds: Iterable[str] = ROUTE_EVENTS) -> list[Event]:
    wanted = set(kinds)
    return [e for e in events if e.event in wanted and (zone is None or e.zone == zone)]


def ping_pong(events: Sequence[Event], zone: str) -> bool:
    """A zone's routes went somewhere and came straight back to where they were (A -> B -> A) during
    one fault: the thing the controller must never do while every NAT is down."""
    moves = route_events(events, zone)
    for first, second in itertools.pairwise(moves):
        if first.detail.get("from") == second.detail.get("to") and first.detail.get("to") == second.detail.get("from"):
            return True
    return False


@dataclass
class DrillReport:
    """One drill's outcome; ``to_dict`` is what `hanat lab drill --json` prints."""

    scenario: str
    dataplane: str
    zone: str
    passed: bool = False
    checks: dict[str, bool] = field(default_factory=dict)   # criterion -> met
    detection_s: float | None = None
    rto_s: float | None = None
    failovers: int = 0
    reverts: int = 0
    false_failovers: int = 0
    alerts: list[str] = field(default_factory=list)
    egress_ip_before: str | None = None
    egress_ip_after: str | None = None
    egress_ips_during: list[str] = field(default_factory=list)
    routes_ok: bool = False
    duration_s: float = 0.0
    fault_at: float = 0.0
    timeline: list[dict] = field(default_factory=list)
    samples: dict[str, list[dict]] = field(default_factory=dict)  # for the plot; not in to_dict
    error: str | None = None
    errors: list[str] = field(default_factory=list)   # controller/eventbridge/sync errors seen (recorded, not fatal)
    figures: dict[str, object] = field(default_factory=dict)   # a scenario's own measurements (named)
    # long-lived connections (lab.drills.connections; None on a data plane without them)
    connections_open: int | None = None
    connections_broken: int | None = None
    reset_after_s: list[float] | None = None
    max_stall_s: float | None = None
    connections: dict = field(default_factory=dict)    # broken_by_move, nat_reset, ...
    iam_findings: list[str] = field(default_factory=list)   # calls IAM would deny or lab/iam does not model
    cpu_share: str | None = None   # the functions' CPU: "on (...)" or "off (<reason>)" (lab.aws.cgroups)

    def judge(self, checks: dict[str, bool]) -> None:
        """Set ``passed`` from the scenario's criteria (every one must hold)."""
        self.checks = dict(checks)
        self.passed = bool(checks) and all(checks.values()) and self.error is None

    def add_iam_findings(self, findings) -> None:
        """The calls IAM would deny or lab/iam does not model (None: no IAM check in this run): each one named,
        and the check ``iam_allows_every_call`` fails the drill while there is one."""
        if findings is None:
            return
        self.iam_findings += [str(f) for f in findings]
        self.judge({**self.checks, IAM_CHECK: not self.iam_findings})

    def to_dict(self) -> dict:
        return {
            "scenario": self.scenario, "dataplane": self.dataplane, "zone": self.zone,
            "passed": self.passed, "checks": self.checks,
            "detection_s": self.detection_s, "rto_s": self.rto_s,
            "failovers": self.failovers, "reverts": self.reverts, "false_failovers": self.false_failovers,
            "alerts": self.alerts, "egress_ip_before": self.egress_ip_before,
            "egress_ip_after": self.egress_ip_after, "egress_ips_during": self.egress_ips_during,
            "routes_ok": self.routes_ok, "duration_s": self.duration_s, "error": self.error,
            "errors": self.errors, "figures": self.figures,
            "connections_open": self.connections_open, "connections_broken": self.connections_broken,
            "reset_after_s": self.reset_after_s, "max_stall_s": self.max_stall_s,
            "connections": self.connections, "iam_findings": self.iam_findings, "cpu_share": self.cpu_share,
            "timeline": self.timeline,
        }
