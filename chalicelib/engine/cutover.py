"""Zones of an adopted VPC in the decision engine (pure: plain data and ``now`` in, a Decision out).

An adopted zone's route tables are the user's. Until cutover its default routes stay where the user
had them (a NAT gateway, usually) and the zone is ``adopting``: the engine never moves them, but the
zone's NAT is probed like any other. Once that NAT is proven (UP with ``recover_after`` passes in a
row) the engine cuts the zone over, one zone per sweep; from then on (``cut-over``) the zone fails
over and reverts like one hanat built. ``release`` points the routes at their original targets again (``released``): the engine
never moves them again. An adopting or released zone's NAT serves other zones' failovers only while
proven. ``hanat cutover`` and ``hanat release`` are decided here too.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from ..alerts import Alert
from ..errors import InputError
from ..settings import ProbeSettings
from .decision import CUTOVER, RELEASE, Decision, RouteMove, ZoneInput
from .state import ADOPTING, CUT_OVER, NORMAL, PAUSED, RELEASED, RUNNING, UP, ZoneState


def with_adoption(state: ZoneState, adopted: bool) -> ZoneState:
    """The zone's state with its adoption filled in: a zone of adopted tables never cut over is
    ``adopting`` (its record may not exist yet)."""
    if adopted and not state.adoption:
        return state.evolve(adoption=ADOPTING)
    return state


def moves_routes(state: ZoneState) -> bool:
    """True when the engine may move the zone's routes (built by hanat, or cut over)."""
    return state.adoption not in (ADOPTING, RELEASED)


def proven(state: ZoneState, probe: ProbeSettings) -> bool:
    """The zone's NAT passed ``recover_after`` probes in a row and is UP."""
    return state.health == UP and state.passes >= probe.recover_after


def may_serve(state: ZoneState, probe: ProbeSettings) -> bool:
    """Whether the zone's NAT may take other zones' traffic: UP, and proven while its own zone is
    adopting or released (an unproven NAT must not carry anyone)."""
    return state.health == UP and (moves_routes(state) or proven(state, probe))


def next_cutover(states: Mapping[str, ZoneState], ring: Sequence[str], probe: ProbeSettings,
                 busy: set[str]) -> RouteMove | None:
    """The first adopting zone (ring order) whose NAT is proven: at most one per sweep."""
    for az in ring:
        s = states[az]
        if s.adoption == ADOPTING and s.mode != PAUSED and az not in busy and proven(s, probe):
            return RouteMove(az, "", az, CUTOVER, f"NAT {az} proven: {s.passes} passed probes")
    return None


def apply_adoption_move(s: ZoneState, move: RouteMove, now: float) -> ZoneState:
    """A zone's state after its cutover or release."""
    adoption = CUT_OVER if move.kind == CUTOVER else RELEASED
    mode = s.mode if move.kind == CUTOVER else NORMAL
    return s.evolve(adoption=adoption, served_by="", mode=mode, hold_until=0.0, last_change=now,
                    last_reason=move.reason)


def adoption_alert(move: RouteMove, z: ZoneInput, now: float, stack: str) -> Alert:
    """``cutover``: the zone now leaves by its own NAT; ``release``: by the targets it had before."""
    details = {"targets": dict(move.targets)} if move.targets else {}
    return Alert(type=move.kind, zone=move.zone, reason=move.reason, at=now, stack=stack,
                 to_nat=z.nat_instance_id or None if move.kind == CUTOVER else None,
                 to_zone=move.zone if move.kind == CUTOVER else None, route_tables=z.route_table_ids,
                 details=details)


def _pick(zones: Sequence[ZoneInput], azs: Sequence[str]) -> list[ZoneInput]:
    by_az = {z.az: z for z in zones}
    unknown = [az for az in azs if az not in by_az]
    if unknown:
        raise InputError([f"zone {az!r} is unknown (valid zones: {', '.join(by_az)})" for az in unknown])
    return [by_az[az] for az in azs]


def decide_cutover(zones: Sequence[ZoneInput], azs: Sequence[str], *, probe: ProbeSettings, now: float,
                   force: bool = False, reason: str = "", stack: str = "", defer_unproven: bool = False) -> Decision:
    """Point the adopted tables of ``azs`` at their own NATs. Each zone's NAT must be running and, unless
    ``force``, proven; a zone already cut over is left as it is. InputError names every refusal.
    ``defer_unproven``: a zone whose running NAT is not proven yet is left to the controller (which cuts it
    over once proven) and named in the decision's notes, instead of refused."""
    problems, moves, deferred = [], [], []
    states = {z.az: z.state for z in zones}
    for z in _pick(zones, azs):
        s = z.state
        if not s.adoption:
            problems.append(f"zone {z.az}: its route tables were built by hanat, there is nothing to cut over")
        elif s.adoption == CUT_OVER:
            continue
        elif z.instance_state != RUNNING:
            problems.append(f"zone {z.az}: its NAT {z.nat_instance_id} is {z.instance_state or 'in an unknown state'}"
                            ", not running")
        elif not force and not proven(s, probe) and defer_unproven:
            deferred.append(f"{z.az}: waiting for the controller to prove NAT {z.nat_instance_id} ({s.passes} of "
                            f"{probe.recover_after} passed probes)")
        elif not force and not proven(s, probe):
            problems.append(f"zone {z.az}: its NAT {z.nat_instance_id} is not proven yet ({s.health}, {s.passes} of "
                            f"{probe.recover_after} passed probes in a row): wait for the controller to cut it "
                            "over, or --force")
        else:
            why = reason or ("manual cutover (forced, NAT not proven)" if force and not proven(s, probe)
                             else "manual cutover")
            moves.append(RouteMove(z.az, "", z.az, CUTOVER, why))
    if problems:
        raise InputError(problems, title="cannot cut over")
    decision = _decided(zones, states, moves, now, stack, "cutover")
    return replace(decision, notes=decision.notes + tuple(deferred)) if deferred else decision


def decide_release(zones: Sequence[ZoneInput], targets: Mapping[str, Sequence[tuple[str, str]]], *, now: float,
                   reason: str = "", stack: str = "") -> Decision:
    """Give the adopted tables of every zone in ``targets`` (az -> (table, target) pairs) back; the
    engine never moves a released zone again. A zone released before is written again (a no-op when
    its routes are already back) without a second alert."""
    problems, moves = [], []
    states = {z.az: z.state for z in zones}
    for z in _pick(zones, list(targets)):
        if not z.state.adoption:
            problems.append(f"zone {z.az}: its route tables were built by hanat, there is nothing to release")
            continue
        moves.append(RouteMove(z.az, z.state.server, z.az, RELEASE, reason or "manual release",
                               targets=tuple(targets[z.az])))
    if problems:
        raise InputError(problems, title="cannot release")
    already = {z.az for z in zones if z.state.adoption == RELEASED}
    return _decided(zones, states, moves, now, stack, "release", quiet=already)


def _decided(zones: Sequence[ZoneInput], states: dict[str, ZoneState], moves: list[RouteMove], now: float,
             stack: str, outcome: str, quiet: set[str] = frozenset()) -> Decision:
    by_az = {z.az: z for z in zones}
    for move in moves:
        if move.zone not in quiet:
            states[move.zone] = apply_adoption_move(states[move.zone], move, now)
    alerts = tuple(adoption_alert(m, by_az[m.zone], now, stack) for m in moves if m.zone not in quiet)
    return Decision(states=states, moves=tuple(moves), alerts=alerts, outcomes=(outcome,) if moves else ("no_change",))
