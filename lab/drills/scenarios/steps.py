"""What every drill script uses: the moments it notes (``Marks``), the drill options, and the waits."""
from __future__ import annotations

from dataclasses import dataclass

STEADY_TIMEOUT_S = 90.0
MIN_FLAKY_S = 60.0
LAMBDA_FAULTS_S = 30.0   # how long the lambda-errors drill's invoke faults last
BOOT_DELAY_S = 20.0      # a small instance's boot, launch to user data (nat-boot-offline)


@dataclass(frozen=True)
class DrillOptions:
    zone: str | None = None          # the affected zone (default: the first)
    flaky_s: float = MIN_FLAKY_S     # how long the flaky fault lasts
    outage_s: float | None = None    # how long targets-down / all-down last (default: from settings)
    lambda_faults_s: float = LAMBDA_FAULTS_S
    boot_delay_s: float = BOOT_DELAY_S
    fault_phase_s: float = 0.0       # wait this long after steady state before the scenario starts (a fault
                                     # at another moment of the sweep cycle; bench/failover.py --random-phase)
    imds_tag_delay_s: float = 0.0    # tag changes reach the NATs' metadata this late (netns only; issue 21)
    nat_reset: bool = True           # False: NATs drop unknown mid-stream TCP instead of resetting it (before issue 13)


@dataclass
class Marks:
    """The moments a scenario script noted (epoch seconds)."""

    start: float
    fault: float = 0.0
    recover: float = 0.0
    end: float = 0.0
    affected: tuple[str, ...] = ()
    extra: dict | None = None


def mark(session, marks: Marks, what: str, zone: str | None, **detail) -> float:
    t = session.clock.time()
    session.timeline.add(what, zone, at=t, **detail)
    setattr(marks, what, t)
    return t


def wait_served_elsewhere(session, zone: str, bound_s: float) -> None:
    session.wait_until(f"zone {zone} failed over", lambda: session.served_by()[zone] not in (zone, None), bound_s)


def wait_egress(session, zone: str, bound_s: float) -> None:
    def back() -> bool:
        recent = [s for s in session.samples(zone) if s.t >= session.clock.time() - 0.3]
        return bool(recent) and all(s.ok for s in recent)
    session.wait_until(f"zone {zone} reaching the internet again", back, bound_s)


def blackhole_rto_bound(p) -> float:
    """What a plain blackhole's RTO is held to: two probe rounds of a sweep, one second for the rest, and
    never under the 5 s of the acceptance criteria at the lab's settings."""
    return max(5.0, p.fail_after * (p.interval_s + p.timeout_s) + 1)


def detect_bound(p) -> float:
    return p.fail_after * (p.interval_s + p.timeout_s) + 10


def steady(session) -> None:
    session.wait_until("steady state (every zone on its own, proven NAT)", session.steady, STEADY_TIMEOUT_S)
