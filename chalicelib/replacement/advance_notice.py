"""Acting on AWS's advance notice that a NAT will go (pure: facts + now in, decision out).

- the market a launch asks for, in order (``nat.market``, ``nat.spot_fallback``);
- a spot interruption warning or a rebalance recommendation for a NAT: the zones that must leave it
  (every zone it serves, its own first) before it goes;
- a scheduled event (instance-retirement, system-reboot, system-maintenance, instance-stop,
  instance-reboot: DescribeInstanceStatus ``Events``): when to roll the NAT so it is replaced before
  the event's ``NotBefore`` -- at the maintenance window's opening when one opens early enough, else at once;
- the bounded look-up of scheduled events: one look per ``LOOK_EVERY_S`` period, not one per sweep.

Nothing here talks to AWS or reads the clock.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..engine.model import ZoneState
from ..engine.window import Window
from ..settings import ON_DEMAND, SPOT, MarketSettings

# EventBridge detail-types EC2 sends (EC2 User Guide, "Spot Instance interruption notices": two minutes
# before a spot instance is interrupted, detail instance-id + instance-action terminate|stop|hibernate;
# "EC2 instance rebalance recommendations": a spot instance at elevated risk, detail instance-id, often
# earlier than the interruption warning, sometimes with it).
INTERRUPTION_WARNING = "EC2 Spot Instance Interruption Warning"
REBALANCE_RECOMMENDATION = "EC2 Instance Rebalance Recommendation"
WARNING_TYPES = (INTERRUPTION_WARNING, REBALANCE_RECOMMENDATION)
SPOT_NOTICE_S = 120.0           # the interruption warning comes two minutes before the interruption

# InstanceStatusEvent Code values (EC2 API Reference, InstanceStatusEvent).
SCHEDULED_CODES = ("instance-reboot", "system-reboot", "system-maintenance", "instance-retirement", "instance-stop")
LOOK_EVERY_S = 900.0            # scheduled events are announced days ahead: a look per 15 minutes is plenty
ROLL_LEAD_S = 2 * 3600.0        # a roll starts at least this long before NotBefore (launch, prove, drain)


def launch_markets(settings: MarketSettings) -> tuple[str, ...]:
    """The markets a NAT launch asks for, in order: spot then on-demand (spot refused, fallback on),
    spot alone (fallback off), or on-demand."""
    if settings.market == SPOT:
        return (SPOT, ON_DEMAND) if settings.spot_fallback else (SPOT,)
    return (ON_DEMAND,)


def zones_leaving(states: Mapping[str, ZoneState], nat_az: str) -> tuple[str, ...]:
    """The zones whose traffic ``nat_az``'s NAT carries (its own zone first, then the ones it serves
    for others, by name): all of them must move before the NAT goes."""
    served = sorted(az for az, state in states.items() if state.server == nat_az and az != nat_az)
    own = (nat_az,) if nat_az in states and states[nat_az].server == nat_az else ()
    return own + tuple(served)


@dataclass(frozen=True)
class ScheduledEvent:
    """One scheduled event of a NAT instance (epoch seconds)."""

    instance_id: str
    code: str
    not_before: float
    not_after: float = 0.0
    event_id: str = ""
    description: str = ""

    @property
    def key(self) -> str:
        """Names this event (for remembering that it was announced): its id, else code and time."""
        return self.event_id or f"{self.instance_id}-{self.code}-{int(self.not_before)}"


@dataclass(frozen=True)
class RollPlan:
    """When to roll a NAT ahead of a scheduled event: ``at`` (epoch s) and why then."""

    at: float
    in_window: bool
    why: str

    def due(self, now: float) -> bool:
        return now >= self.at


def roll_plan(event: ScheduledEvent, window: Window, now: float, lead_s: float = ROLL_LEAD_S) -> RollPlan:
    """Roll before ``event.not_before`` with ``lead_s`` to spare: inside the maintenance window when it is
    open now or opens in time, else at once (no window, or none opening early enough)."""
    latest = event.not_before - lead_s
    if now >= latest:
        return RollPlan(now, window.contains(now), f"{event.code} is due in less than {lead_s / 3600:g} h: "
                                                   "rolling at once")
    if window.contains(now):
        return RollPlan(now, True, f"the maintenance window {window.text!r} is open")
    opening = window.next_start(now)
    if opening is not None and opening <= latest:
        return RollPlan(opening, True, f"at the maintenance window's next opening ({window.text!r})")
    why = "no maintenance window" if window.never else f"the maintenance window {window.text!r} opens too late"
    return RollPlan(now, False, f"{why} before {event.code}: rolling at once")


def first_event(events: list[ScheduledEvent]) -> ScheduledEvent | None:
    """The event that comes first (the one the roll must beat)."""
    return min(events, key=lambda e: e.not_before) if events else None


def look_period(now: float, every_s: float = LOOK_EVERY_S) -> int:
    """The look-up period ``now`` falls in: scheduled events are read once per period."""
    return int(now // every_s)
