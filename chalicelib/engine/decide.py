"""The decision engine: one round of observations in, a Decision out; then what follows from any decision
(``review``: route repairs, which moves hand flows off). Pure: no AWS, no clock reads.

Placement (which healthy NAT takes a zone) is deterministic and spreads load across the ring. The rules
the round applies to adopted zones (``moves_routes``, ``may_serve``, ``next_cutover``; the operator's
cutover and release are ``engine/cutover.py``) and the rule for planned moves (``hands_off``; their tags
are ``engine/handoff.py``) live here beside it: the round reads plain fields, never calling out per zone."""
from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace

from ..alerts import Alert
from ..probes.results import ProbeResult
from ..settings import FailoverSettings, ProbeSettings
from .adoption import adoption_alert, apply_adoption_move
from .model import (
    ADOPTING,
    BLIND_AFTER_SWEEPS,
    CUTOVER,
    DOWN,
    FAILOVER,
    FLAP_THRESHOLD,
    FLAP_WINDOW_S,
    MANUAL_FAILOVER,
    NORMAL,
    PAUSED,
    RELEASE,
    RELEASED,
    REPAIR,
    REVERT,
    RUNNING,
    UNKNOWN,
    UP,
    Decision,
    Review,
    RouteMove,
    ZoneInput,
    ZoneState,
)
from .window import Window

HANDOFF_KINDS = (FAILOVER, REVERT)   # the moves that may hand flows off (engine/handoff.py)


def _server(s: ZoneState) -> str:
    """The az whose NAT serves the zone (``ZoneState.server``, read as plain fields)."""
    return s.served_by or s.az


def samples(z: ZoneInput) -> tuple[ProbeResult, ...]:
    """This round's probe results of the zone that are evidence about its NAT path, in the order taken."""
    taken = (z.probe, *z.confirmations) if z.probe is not None else z.confirmations
    return tuple(p for p in taken if p.evidence)


def no_evidence(z: ZoneInput) -> bool:
    """Probed this round, but nothing came back that says anything about the NAT."""
    return (z.probe is not None or bool(z.confirmations)) and not samples(z)


# --- adopted zones (chalicelib/engine/cutover.py) ------------------------------------------------
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


# --- placement ------------------------------------------------------------------------------
def choose_target(zone: str, ring: Sequence[str], loads: Mapping[str, int],
                  usable: Callable[[str], bool]) -> str | None:
    """The usable az (not ``zone``) serving the fewest zones; ties go to the first one after
    ``zone`` in ring order. None when no NAT is usable (then nothing should move)."""
    n = len(ring)
    start = ring.index(zone) if zone in ring else -1
    candidates = [az for az in ring if az != zone and usable(az)]
    if not candidates:
        return None
    return min(candidates, key=lambda az: (loads.get(az, 0), (ring.index(az) - start) % n))


def place(zone: str, ring: Sequence[str], loads: Mapping[str, int], usable: Callable[[str], bool],
          by_az: Mapping[str, ZoneInput], headroom_percent: float) -> tuple[str | None, str]:
    """``choose_target`` among the usable NATs with headroom (not DEGRADED, use under ``headroom_percent``
    or never read), else those not DEGRADED, else a DEGRADED one (a degraded NAT beats none); and what the
    move's reason adds when its target has no headroom."""
    tiers = (lambda z: not z.degraded and (z.use_percent is None or z.use_percent < headroom_percent),
             lambda z: not z.degraded, lambda z: True)
    for tier, fits in enumerate(tiers):
        target = choose_target(zone, ring, loads, lambda az, fits=fits: usable(az) and fits(by_az[az]))
        if target is not None:
            z = by_az[target]
            return target, ("", f"; no NAT has headroom: NAT {target} at {z.use_percent or 0:.0f} % use",
                            f"; no healthy NAT with headroom: NAT {target} although DEGRADED ({z.degraded})")[tier]
    return None, ""


def serving_loads(servers: Mapping[str, str], exclude: Sequence[str] = ()) -> dict[str, int]:
    """How many zones each az's NAT serves, from a zone -> serving az map."""
    loads: dict[str, int] = {}
    for zone, server in servers.items():
        if zone not in exclude:
            loads[server] = loads.get(server, 0) + 1
    return loads


# --- one round ------------------------------------------------------------------------------
def judge_health(z: ZoneInput, probe: ProbeSettings, now: float, *, count_probe: bool = True) -> ZoneState:
    """Apply this round's instance state and probe verdicts to the zone's health (hysteresis).

    Every sample with evidence counts, in order: the probe, then its confirmations (re-probes made at
    once after a failure), so ``fail_after`` failed probes in one sweep make the zone DOWN. A result
    without evidence (Lambda could not run the probe) counts for nothing."""
    s = z.state
    if z.instance_state is not None and z.instance_state != RUNNING:
        if s.health != DOWN:
            return replace(s, health=DOWN, since=now, health_reason=f"instance {z.instance_state}", passes=0)
        return replace(s, passes=0)
    if not count_probe:
        return s
    for sample in samples(z):
        s = _count_sample(s, sample.passed, probe, now)
    return s


def _count_sample(s: ZoneState, passed: bool, probe: ProbeSettings, now: float) -> ZoneState:
    if passed:
        passes = s.passes + 1
        s = replace(s, passes=passes, fails=0)
        if s.health == UNKNOWN:
            return replace(s, health=UP, since=now, health_reason="probe passed")
        if s.health == DOWN and passes >= probe.recover_after and now - s.since >= probe.min_hold_s:
            return replace(s, health=UP, since=now, health_reason=f"{passes} passed probes")
        return s
    fails = s.fails + 1
    s = replace(s, fails=fails, passes=0)
    if s.health != DOWN and fails >= probe.fail_after:
        return replace(s, health=DOWN, since=now, health_reason=f"{fails} failed probes")
    return s


def track_evidence(z: ZoneInput, s: ZoneState) -> tuple[ZoneState, bool]:
    """Count sweeps without evidence; (new state, True when this round makes the zone newly blind:
    ``BLIND_AFTER_SWEEPS`` in a row and not alerted yet). Evidence coming back clears both."""
    if no_evidence(z):
        s = replace(s, blind=s.blind + 1)
        if s.blind >= BLIND_AFTER_SWEEPS and not s.blind_alerted:
            return replace(s, blind_alerted=True), True
        return s, False
    if samples(z) and (s.blind or s.blind_alerted):
        return replace(s, blind=0, blind_alerted=False), False
    return s, False


def targets_down(zones: Sequence[ZoneInput], control: ProbeResult | None) -> bool:
    """Every NAT path probed with evidence failed this round (zones whose probe could not run say
    nothing) and so did the controller's own check: blame the targets."""
    if control is None or control.passed or not zones or any(z.probe is None for z in zones):
        return False
    probes = [z.probe for z in zones if z.probe is not None and z.probe.evidence]
    return bool(probes) and all(not p.passed for p in probes)


def revert_allowed(failover: FailoverSettings, window: Window | None, now: float) -> bool:
    """May a healthy zone be reverted automatically now? ``auto``: yes; ``window``: only inside the
    maintenance window; ``manual``: never (the operator reverts)."""
    if failover.revert == "auto":
        return True
    if failover.revert == "window":
        return window is not None and window.contains(now)
    return False


def revert_hold_s(min_hold_s: float, failovers_in_window: int) -> float:
    """Flap damping: from the 3rd failover in the window, each one doubles the hold."""
    if failovers_in_window < FLAP_THRESHOLD:
        return min_hold_s
    return min_hold_s * 2 ** (failovers_in_window - 2)


def decide(zones: Sequence[ZoneInput], probe: ProbeSettings, failover: FailoverSettings, *, now: float,
           control: ProbeResult | None = None, critical_active: bool = False, stack: str = "",
           window: Window | None = None) -> Decision:
    """Decide one round. ``zones`` is in ring order; ``critical_active`` remembers an open
    targets-down alert so it is raised once per incident, not once per sweep. ``window`` is the parsed
    ``maintenance.window``: with ``failover.revert = "window"`` a zone is reverted only inside it
    (None = never open)."""
    by_az = {z.az: z for z in zones}
    ring = [z.az for z in zones]
    alerts: list[Alert] = []
    outcomes: list[str] = []

    blame_targets = targets_down(zones, control)
    if blame_targets:
        outcomes.append("targets_down")
        if not critical_active:
            alerts.append(Alert(type="critical", zone=None, at=now, stack=stack,
                                reason="every NAT path and the control probe failed: the probe targets "
                                       "are down, not the NATs; no route moved"))
        critical_active = True
    elif any(p.passed for z in zones for p in samples(z)) or (control is not None and control.passed):
        critical_active = False

    states = {z.az: _prune_flaps(judge_health(z, probe, now, count_probe=not blame_targets), now)
              for z in zones}
    newly_blind = []
    for z in zones:
        states[z.az], alert_now = track_evidence(z, states[z.az])
        if alert_now:
            newly_blind.append(z)

    def usable(az: str) -> bool:
        return az in states and may_serve(states[az], probe)

    # an adopting or released zone's routes are not hanat's to move (chalicelib/engine/cutover.py)
    servers = {az: _server(states[az]) for az in ring if moves_routes(states[az])}
    moves: list[RouteMove] = []
    movers: list[tuple[str, str]] = []  # (zone, reason) needing a new healthy NAT
    for az, server in servers.items():
        s = states[az]
        if s.mode == PAUSED:
            if s.health == DOWN or not usable(server):
                outcomes.append("paused")
            continue
        if s.health == DOWN:
            if server != az and usable(server):
                continue
            movers.append((az, s.health_reason if server == az else f"serving NAT {server} down"))
            continue
        if server == az:
            continue
        if not usable(server):
            if s.health == UP:
                moves.append(RouteMove(az, server, az, REVERT, f"serving NAT {server} down; own NAT up"))
                servers[az] = az
            else:
                movers.append((az, f"serving NAT {server} down"))
            continue
        if s.mode == MANUAL_FAILOVER or failover.revert == "manual":
            outcomes.append("manual_hold")
        elif not revert_allowed(failover, window, now):
            outcomes.append("window_hold")
        elif s.health == UP and now >= s.hold_until:
            moves.append(RouteMove(az, server, az, REVERT, f"NAT {az} up: {s.health_reason}"))
            servers[az] = az
        else:
            outcomes.append("hold")

    loads = serving_loads(servers, exclude=[az for az, _ in movers])
    for az, reason in movers:
        target, why = place(az, ring, loads, usable, by_az, failover.headroom_percent)
        if target is None:
            outcomes.append("no_target")
            continue
        if why:
            outcomes.append("degraded_target" if by_az[target].degraded else "no_headroom")
        moves.append(RouteMove(az, servers[az], target, FAILOVER, reason + why))
        servers[az] = target
        loads[target] = loads.get(target, 0) + 1
    cutover = None if blame_targets else next_cutover(states, ring, probe, {m.zone for m in moves})
    if cutover is not None:
        moves.append(cutover)

    for move in moves:
        if move.kind == CUTOVER:
            states[move.zone] = apply_adoption_move(states[move.zone], move, now)
            outcomes.append(move.kind)
            alerts.append(adoption_alert(move, by_az[move.zone], now, stack))
            continue
        states[move.zone] = _apply_move(states[move.zone], move, probe, now)
        outcomes.append(move.kind)
        alerts.append(move_alert(move, by_az, now, stack))
        flap = _flap_alert(states[move.zone], by_az[move.zone], now, stack)
        if flap is not None:
            alerts.append(flap)
            states[move.zone] = replace(states[move.zone], flap_alerted=True)
            outcomes.append("flapping")
    if newly_blind:
        alerts.append(blind_alert(newly_blind, now, stack))
        outcomes.append("blind")
    if not outcomes:
        outcomes.append("no_change")
    order = {az: i for i, az in enumerate(ring)}
    moves.sort(key=lambda m: order[m.zone])
    return Decision(states=states, moves=tuple(moves), alerts=tuple(alerts), outcomes=tuple(outcomes),
                critical_active=critical_active)


def _prune_flaps(s: ZoneState, now: float) -> ZoneState:
    recent = tuple(t for t in s.failovers if now - t < FLAP_WINDOW_S)
    if recent == s.failovers:
        return s
    return replace(s, failovers=recent, flap_alerted=s.flap_alerted and len(recent) >= FLAP_THRESHOLD)


def _apply_move(s: ZoneState, move: RouteMove, probe: ProbeSettings, now: float) -> ZoneState:
    s = replace(s, served_by="" if move.to_az == s.az else move.to_az, last_change=now,
                 last_reason=move.reason, mode=NORMAL)
    if move.kind == FAILOVER and move.from_az == s.az:  # a flap is leaving home, not a second hop
        failovers = s.failovers + (now,)
        s = replace(s, failovers=failovers, hold_until=now + revert_hold_s(probe.min_hold_s, len(failovers)))
    return s


def _flap_alert(s: ZoneState, z: ZoneInput, now: float, stack: str) -> Alert | None:
    if len(s.failovers) < FLAP_THRESHOLD or s.flap_alerted:
        return None
    return Alert(type="flapping", zone=s.az, at=now, stack=stack, from_nat=z.nat_instance_id or None,
                 reason=f"{len(s.failovers)} failovers in {FLAP_WINDOW_S // 60} min; "
                        f"automatic revert held until {s.hold_until:.0f}",
                 details={"failovers": len(s.failovers), "hold_until": s.hold_until})


def blind_alert(zones: Sequence[ZoneInput], now: float, stack: str) -> Alert:
    """One alert for every zone that has just gone ``BLIND_AFTER_SWEEPS`` sweeps without evidence."""
    names = [z.az for z in zones]
    last = {z.az: (z.probe.error if z.probe is not None else None) or "no answer" for z in zones}
    which = f"zone {names[0]}" if len(names) == 1 else f"zones {', '.join(names)}"
    return Alert(type="blind", zone=names[0] if len(names) == 1 else None, at=now, stack=stack,
                 from_nat=(zones[0].nat_instance_id or None) if len(zones) == 1 else None,
                 reason=f"no evidence from the probe of {which} for {BLIND_AFTER_SWEEPS} sweeps "
                        f"({last[names[0]]}): Lambda could not run it, so these NATs are not judged "
                        "on probes and their routes are not moved by probes until it can",
                 details={"zones": names, "sweeps": BLIND_AFTER_SWEEPS, "last_error": last})


def move_alert(move: RouteMove, by_az: dict[str, ZoneInput], now: float, stack: str) -> Alert:
    """The alert people get for one route move."""
    z = by_az[move.zone]
    src, dst = by_az.get(move.from_az), by_az.get(move.to_az)
    return Alert(type=move.kind if move.kind in (FAILOVER, REVERT, CUTOVER, RELEASE) else FAILOVER, zone=move.zone,
                 reason=move.reason, at=now, stack=stack,
                 from_nat=src.nat_instance_id if src else None, to_nat=dst.nat_instance_id if dst else None,
                 to_zone=move.to_az, route_tables=z.route_table_ids)


# --- after a decision (any decider's) ------------------------------------------------------------------
def hands_off(move: RouteMove, states: Mapping[str, ZoneState], instance_states: Mapping[str, str | None],
              nat_of: Mapping[str, str], vouched: Collection[str] = ()) -> bool:
    """Does ``move`` hand the zone's open flows back to the NAT it leaves (engine/handoff.py)? Only a
    failover or revert between two NATs, away from a NAT whose instance is ``running`` and which the
    controller holds UP (or the caller vouches for: a planned replacement marks its healthy old NAT DOWN
    to move the zone away from it). ``states``: the zone states as decided; ``nat_of``: az -> its NAT."""
    if move.kind not in HANDOFF_KINDS or move.from_az == move.to_az or not move.from_az:
        return False
    nat = nat_of.get(move.from_az, "")
    if not nat or not nat_of.get(move.to_az) or instance_states.get(nat) != RUNNING:
        return False
    source = states.get(move.from_az)
    return move.from_az in vouched or (source is not None and source.health == UP)


def review(decision: Decision, zones: Sequence[ZoneInput], *, vouched: Collection[str] = ()) -> Review:
    """What follows from ``decision`` (the engine's, or an operator's), once: the route repairs of the
    zones it does not move whose writable tables point elsewhere than their recorded NAT (route drift:
    a crashed run, a hand edit; not a zone another run has claimed, nor one whose routes are the
    user's), the moves that hand open flows back (``hands_off``), and the moving zones whose earlier
    handoff the move ends; a moving zone forgets its earlier handoff in ``states``."""
    moved = {m.zone for m in decision.moves}
    eni_of = {z.az: z.nat_eni_id for z in zones}
    repairs = []
    for z in zones:
        s = decision.states[z.az]
        if z.az in moved or z.claimed or not moves_routes(s):
            continue
        server = _server(s)
        wrong = [table for table, eni in z.tables if eni != eni_of.get(server)]
        if wrong:
            repairs.append(RouteMove(z.az, server, server, REPAIR, f"route drift: {', '.join(wrong)} not at NAT {server}"))
    moves = (*decision.moves, *repairs)
    moving = [m for m in moves if m.kind != REPAIR]
    states = dict(decision.states)
    for m in moving:
        states[m.zone] = replace(states[m.zone], handoff_from="", handoff_to="", handoff_until=0.0)
    nat_of = {z.az: z.nat_instance_id for z in zones}
    running = {z.nat_instance_id: z.instance_state for z in zones if z.nat_instance_id}
    before = {z.az: z.state for z in zones}
    return Review(moves=moves, states=states,
                  handoffs=tuple(m.zone for m in moving if hands_off(m, decision.states, running, nat_of, vouched)),
                  ended=tuple(m.zone for m in moving if m.zone in before and before[m.zone].handoff_until))
