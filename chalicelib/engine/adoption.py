"""An adopted zone's cutover or release once decided (by the round, ``engine/decide.py``, or by the operator,
``engine/cutover.py``): the zone's state after it and the alert that says it. Pure."""
from __future__ import annotations

from dataclasses import replace

from ..alerts import Alert
from .model import CUT_OVER, CUTOVER, NORMAL, RELEASED, RouteMove, ZoneInput, ZoneState


def apply_adoption_move(s: ZoneState, move: RouteMove, now: float) -> ZoneState:
    """A zone's state after its cutover or release."""
    adoption = CUT_OVER if move.kind == CUTOVER else RELEASED
    mode = s.mode if move.kind == CUTOVER else NORMAL
    return replace(s, adoption=adoption, served_by="", mode=mode, hold_until=0.0, last_change=now,
                   last_reason=move.reason)


def adoption_alert(move: RouteMove, z: ZoneInput, now: float, stack: str) -> Alert:
    """``cutover``: the zone now leaves by its own NAT; ``release``: by the targets it had before."""
    details = {"targets": dict(move.targets)} if move.targets else {}
    return Alert(type=move.kind, zone=move.zone, reason=move.reason, at=now, stack=stack,
                 to_nat=z.nat_instance_id or None if move.kind == CUTOVER else None,
                 to_zone=move.zone if move.kind == CUTOVER else None, route_tables=z.route_table_ids,
                 details=details)
