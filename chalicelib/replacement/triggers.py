"""When a zone's NAT should be replaced without anyone asking (pure: zone states + facts + now).

A NAT that has been DOWN for longer than ``replace_after_s`` (stopped, or running but failing its
probes) is replaced. When every zone is DOWN while their instances run, the targets are the likelier
culprit (the engine's "targets down" case): replacing every NAT would not help, so nothing starts.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..engine.model import DOWN, PAUSED, RUNNING, ZoneState
from .machine import FAILED, Record


@dataclass(frozen=True)
class Trigger:
    az: str
    reason: str


def zones_to_replace(states: Mapping[str, ZoneState], records: Mapping[str, Record],
                     instance_states: Mapping[str, str | None], now: float,
                     replace_after_s: float) -> list[Trigger]:
    """The zones whose replacement should start now, in zone order, each with a reason.

    ``instance_states`` maps az -> the EC2 state of its NAT (None: unknown, treated as running).
    """
    down = [az for az, s in states.items() if s.health == DOWN]
    all_down = bool(states) and len(down) == len(states)
    out: list[Trigger] = []
    for az, state in states.items():
        rec = records.get(az)
        if rec is not None and rec.active:
            continue
        if rec is not None and rec.status == FAILED and now < rec.next_attempt_at:
            continue
        if state.mode == PAUSED or state.health != DOWN:
            continue
        down_for = now - state.since
        if down_for < replace_after_s:
            continue
        instance_state = instance_states.get(az) or RUNNING
        if instance_state != RUNNING:
            out.append(Trigger(az, f"NAT instance {instance_state} for {down_for:.0f}s "
                                   f"(replace_after {replace_after_s:.0f}s)"))
        elif not all_down:
            out.append(Trigger(az, f"NAT DOWN by probes for {down_for:.0f}s while running "
                                   f"(replace_after {replace_after_s:.0f}s)"))
    return out
