"""Zones of an adopted VPC in the decision engine (pure: plain data and ``now`` in, a Decision out).

An adopted zone's route tables are the user's. Until cutover its default routes stay where the user
had them (a NAT gateway, usually) and the zone is ``adopting``: the engine never moves them, but the
zone's NAT is probed like any other. Once that NAT is proven (UP with ``recover_after`` passes in a
row) the engine cuts the zone over, one zone per sweep; from then on (``cut-over``) the zone fails
over and reverts like one hanat built. ``release`` points the routes at their original targets again (``released``): the engine
never moves them again. An adopting or released zone's NAT serves other zones' failovers only while
proven. Those rules of the sweep's round live beside it in ``engine/decide.py`` (``moves_routes``,
``may_serve``, ``next_cutover``); ``hanat cutover`` and ``hanat release`` are decided here. A zone whose
tables were adopted and never cut over is ``adopting`` even before its first record
(``service/reconcile.py`` reads the records so).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from ..errors import InputError
from ..settings import ProbeSettings
from .adoption import adoption_alert, apply_adoption_move
from .decide import proven
from .model import (
    CUT_OVER,
    CUTOVER,
    RELEASE,
    RELEASED,
    RUNNING,
    Decision,
    RouteMove,
    ZoneInput,
    ZoneState,
)


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
