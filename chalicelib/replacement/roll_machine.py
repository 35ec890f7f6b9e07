"""The rolling replacement: a pure decision (roll record + observed facts + now -> next action).

A roll replaces the NAT of each of its zones in turn, never two at once, and only while every other NAT
is UP and every zone is served by its own NAT. For one zone: a planned replacement (``machine``) fails
the zone over to a proven NAT, lets the old NAT drain, moves the Elastic IP to a new NAT launched from
the template's default version and proves it; then the zone is reverted (by the sweep, or by the roll
itself when ``failover.revert`` is not ``auto``), and only once the zone is home on a NAT that is UP does
the roll go on. It stops at the first zone that does not come back, with every zone still served, and
says where; a re-run of the same roll continues from there.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from ..engine.state import PAUSED, RUNNING, UP
from .machine import DONE, FAILED

# record.status
ROLLING = "rolling"
ROLL_DONE = "done"
STOPPED = "stopped"
FINAL_STATUSES = (ROLL_DONE, STOPPED)

# record.phase: where the current zone is
PHASE_REPLACING = "replacing"     # its planned replacement runs (launch, failover, drain, EIP, prove)
PHASE_RETURNING = "returning"     # replaced; waiting for the zone to be home on its new, UP NAT

# actions
IDLE = "idle"
WAIT = "wait"
START_ZONE = "start_zone"         # start the zone's planned replacement
RETURN_ZONE = "return_zone"       # the replacement is done but the zone is not home: revert it
ZONE_DONE = "zone_done"
CANCEL_AND_STOP = "cancel_and_stop"  # nothing moved yet: end the zone's replacement, stop the roll
STOP = "stop"                     # stop the roll; the zone's replacement (if any) carries on
FINISH = "finish"


@dataclass(frozen=True)
class RollPolicy:
    """Bounds of one zone's turn: its replacement must be done, and the zone home and UP, within this."""

    zone_timeout_s: float = 3600.0


@dataclass(frozen=True)
class RollRecord:
    """The stack's roll, as stored (pk="roll", sk="current") with a version for conditional writes."""

    roll_id: str
    status: str = ROLLING
    zones: tuple[str, ...] = ()            # in the order they are rolled
    done: tuple[str, ...] = ()             # zones rolled so far
    current: str = ""                      # the zone being rolled ("" between zones)
    phase: str = ""
    phase_since: float = 0.0
    zone_started_at: float = 0.0
    replacement_started_at: float = 0.0    # identifies the current zone's replacement record
    reason: str = ""
    requested_by: str = ""
    automatic: bool = False                # started by the controller inside maintenance.window
    started_at: float = 0.0
    finished_at: float = 0.0
    stopped_zone: str = ""
    stopped_because: str = ""
    results: tuple[dict, ...] = ()         # per rolled zone: az, old and new NAT, seconds
    version: int = 0
    history: tuple[str, ...] = field(default_factory=tuple)

    @property
    def active(self) -> bool:
        return self.status == ROLLING

    @property
    def remaining(self) -> tuple[str, ...]:
        return tuple(az for az in self.zones if az not in self.done)

    def moved(self, now: float, note: str, **changes) -> RollRecord:
        entry = f"{now:.0f} {note}"
        return replace(self, history=(self.history + (entry,))[-24:], **changes)

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for key in ("zones", "done", "results", "history"):
            d[key] = list(d[key])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> RollRecord:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for key in ("zones", "done", "results", "history"):
            known[key] = tuple(known.get(key, ()))
        return cls(**known)


@dataclass(frozen=True)
class ZoneFacts:
    """One zone as the roll sees it: its NAT's verdict and EC2 state, who serves it (its routes), mode."""

    az: str
    health: str
    instance_state: str | None
    served_by: str          # the zone whose NAT the routes point at ("mixed"/"unknown" possible)
    mode: str
    nat_instance_id: str = ""

    @property
    def home(self) -> bool:
        return self.served_by == self.az


@dataclass(frozen=True)
class ReplacementView:
    """The current zone's latest replacement record, as far as the roll needs it."""

    status: str             # replacing | done | failed
    step: str
    started_at: float
    failures: int = 0
    left_old: bool = False  # traffic already left the old NAT (drain started or EIP moved)
    old_instance_id: str = ""
    new_instance_id: str = ""
    last_error: str = ""
    roll_id: str = ""


@dataclass(frozen=True)
class RollFacts:
    zones: Mapping[str, ZoneFacts]          # every zone of the stack, ring order
    replacement: ReplacementView | None = None   # of ``record.current``


@dataclass(frozen=True)
class RollAction:
    action: str
    why: str = ""
    zone: str = ""


def blockers(zones: Mapping[str, ZoneFacts], rolling: Sequence[str]) -> list[str]:
    """Why the next zone of a roll of ``rolling`` may not start now (empty: it may), each naming the zone
    and NAT: a NAT that is not UP or not running, a zone not served by its own NAT (a roll never has two
    zones away at once), a paused zone among those rolled (the controller never moves a paused zone)."""
    problems = []
    for az, z in zones.items():
        nat = f"NAT {z.nat_instance_id} of {az}" if z.nat_instance_id else f"the NAT of {az}"
        if z.health != UP:
            problems.append(f"{nat} is {z.health}")
        elif z.instance_state not in (None, RUNNING):
            problems.append(f"{nat} is {z.instance_state}")
        if not z.home:
            problems.append(f"zone {az} is served by {z.served_by}, not by its own NAT")
        if z.mode == PAUSED and az in rolling:
            problems.append(f"zone {az} is paused (resume it first)")
    return problems


def decide_roll(rec: RollRecord | None, facts: RollFacts, now: float, policy: RollPolicy) -> RollAction:
    """The next thing to do for the roll (``wait``/``idle`` when there is nothing to do now)."""
    if rec is None or not rec.active:
        return RollAction(IDLE, "no roll in progress")
    if not rec.current:
        nxt = next(iter(rec.remaining), None)
        if nxt is None:
            return RollAction(FINISH, f"every zone rolled ({', '.join(rec.done)})")
        if nxt not in facts.zones:
            return RollAction(STOP, f"zone {nxt} is no longer in the stack", nxt)
        problems = blockers(facts.zones, rec.remaining)
        if problems:
            return RollAction(STOP, f"{nxt} not started: " + "; ".join(problems), nxt)
        return RollAction(START_ZONE, f"rolling {nxt} ({len(rec.done) + 1} of {len(rec.zones)})", nxt)
    az = rec.current
    zone = facts.zones.get(az)
    if zone is None:
        return RollAction(STOP, f"zone {az} is no longer in the stack", az)
    if rec.phase == PHASE_REPLACING:
        return _replacing(rec, zone, facts.replacement, now, policy)
    if zone.home and zone.health == UP:
        return RollAction(ZONE_DONE, f"{az} is back on its new NAT", az)
    if now - rec.phase_since > policy.zone_timeout_s:
        return RollAction(STOP, f"{az} did not come back on its new NAT within {policy.zone_timeout_s:.0f}s "
                                f"(served by {zone.served_by}, NAT {zone.health})", az)
    if zone.health == UP and not zone.home:
        return RollAction(RETURN_ZONE, f"{az}'s new NAT is UP: revert the zone", az)
    return RollAction(WAIT, f"{az}: waiting for its new NAT to be UP (now {zone.health})", az)


def _replacing(rec: RollRecord, zone: ZoneFacts, rep: ReplacementView | None, now: float,
               policy: RollPolicy) -> RollAction:
    az = zone.az
    if rep is None or rep.started_at != rec.replacement_started_at:
        return RollAction(STOP, f"{az}: the roll's replacement record is gone (replaced by another)", az)
    if rep.status == FAILED:
        return RollAction(STOP, f"{az}: its replacement failed: {rep.last_error or rep.step}", az)
    if rep.failures:
        if not rep.left_old:
            return RollAction(CANCEL_AND_STOP, f"{az}: {rep.last_error}; the zone stays on its old NAT", az)
        return RollAction(STOP, f"{az}: {rep.last_error}; the zone stays on the NAT of {zone.served_by} "
                                "while its replacement retries", az)
    if rep.status == DONE:
        if zone.home and zone.health == UP:
            return RollAction(ZONE_DONE, f"{az} is back on its new NAT {rep.new_instance_id}", az)
        return RollAction(RETURN_ZONE, f"{az}: replaced by {rep.new_instance_id}; revert the zone", az)
    if now - rec.phase_since > policy.zone_timeout_s:
        return RollAction(STOP, f"{az}: its replacement is still at {rep.step!r} after "
                                f"{policy.zone_timeout_s:.0f}s", az)
    return RollAction(WAIT, f"{az}: replacement {rep.step}", az)
