"""Rolling replacement of the stack's NATs (use-cases): ``hanat roll`` / operate ``roll`` start one, the
heartbeat's replacement pass carries it on, one zone at a time; inside ``maintenance.window`` the
controller rolls an outdated NAT by itself (one zone per window opening).

- ``start_roll``: refuse (HanatError, exit 1, nothing changed) while any NAT is not UP, any zone is not
  on its own NAT, a rolled zone is paused or a replacement runs; else record the roll (or continue a
  stopped roll of the same zones) and advance it;
- ``advance_roll``: ask the pure ``chalicelib.replacement.roll_machine`` machine, act, record; repeat until wait;
- ``roll_pass``: the heartbeat's part (after the replacement pass): advance, or start a window roll;
- ``roll_summary``: what ``hanat status`` and ``hanat roll --wait`` show.

Each zone's NAT is replaced by a *planned* replacement (``replacement_steps``): launched first, the zone
failed over, the old NAT drained, the Elastic IP moved, the new NAT proven, the zone reverted.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace

from ..alerts import Alert
from ..aws import roll_records
from ..engine import decide_revert
from ..engine.window import parse_window
from ..errors import ConflictError, HanatError, InputError
from ..observability import logger
from ..replacement import machine as m
from ..replacement import roll_machine as r
from ..replacement.outdated import first_outdated
from . import history, outdated, reconcile, replacement_steps, replacement_store
from .deps import Deps
from .publish import publish

MAX_STEPS_PER_RUN = 12
WINDOW_CHECK_EVERY_S = 300.0   # inside the window, look for outdated NATs at most this often


@dataclass
class RollOutcome:
    """What one run did: the roll record after it, the actions, why it stopped, and the replacement
    outcomes it produced (their topology carries a newly published NAT)."""

    record: r.RollRecord | None
    actions: list[str] = field(default_factory=list)
    waiting_for: str = ""
    replacements: list[replacement_steps.Outcome] = field(default_factory=list)
    started: bool = False

    def to_dict(self) -> dict:
        return {"started": self.started, "actions": list(self.actions), "waiting_for": self.waiting_for,
                "roll": roll_summary(self.record) if self.record else None}


class RollRefused(HanatError):
    """A roll cannot start now (exit 1): nothing was changed. ``problems`` names each reason."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("cannot start the roll now: " + "; ".join(problems))


def policy_for(deps: Deps) -> r.RollPolicy:
    proving = replacement_steps.policy_for(deps.topology).proving_timeout_s
    return r.RollPolicy(zone_timeout_s=float(deps.topology.maintenance.drain_s) + 3 * proving)


# --- records --------------------------------------------------------------------------------
def load_roll(deps: Deps) -> r.RollRecord | None:
    raw = roll_records.load_roll(deps.clients.dynamodb, deps.topology.table_name)
    return r.RollRecord.from_dict(raw) if raw else None


def _save(deps: Deps, rec: r.RollRecord, *, starting: bool = False) -> r.RollRecord:
    version = roll_records.put_roll(deps.clients.dynamodb, deps.topology.table_name, rec.to_dict(),
                             expected_version=None if starting else rec.version, final_statuses=r.FINAL_STATUSES)
    return replace(rec, version=version)


def roll_summary(rec: r.RollRecord) -> dict:
    return {"roll_id": rec.roll_id, "status": rec.status, "zones": list(rec.zones), "done": list(rec.done),
            "current": rec.current or None, "phase": rec.phase or None, "reason": rec.reason,
            "requested_by": rec.requested_by, "automatic": rec.automatic, "started_at": rec.started_at,
            "finished_at": rec.finished_at or None, "stopped_zone": rec.stopped_zone or None,
            "stopped_because": rec.stopped_because or None, "results": list(rec.results),
            "history": list(rec.history)}


def _alert(deps: Deps, rec: r.RollRecord, phase: str, reason: str, now: float, zone: str | None = None) -> None:
    alert = Alert(type="roll", zone=zone, reason=reason, at=now, stack=deps.topology.stack,
                  details={"phase": phase, "roll_id": rec.roll_id, "zones": list(rec.zones), "done": list(rec.done)})
    history.record_alert(deps, alert)
    try:
        deps.alert_sink(alert)
    except HanatError as err:
        logger.error("alert not delivered", extra={"type": "roll", "error": str(err)})


# --- facts ----------------------------------------------------------------------------------
def zone_facts(deps: Deps, now: float) -> dict[str, r.ZoneFacts]:
    """Every zone: its NAT's verdict and EC2 state, and who really serves it (read from its routes)."""
    topo = deps.topology
    seen = reconcile.observe_zones(deps, now)
    az_of_eni = {z.nat_eni_id: z.az for z in topo.zones}
    out = {}
    for zone, zin in zip(topo.zones, seen.inputs, strict=True):
        servers = {az_of_eni.get(seen.tables[t].default_eni if t in seen.tables else None, "unknown")
                   for t in zone.private_route_table_ids}
        served_by = servers.pop() if len(servers) == 1 else ("mixed" if servers else "unknown")
        out[zone.az] = r.ZoneFacts(az=zone.az, health=zin.state.health, instance_state=zin.instance_state,
                                   served_by=served_by, mode=zin.state.mode, nat_instance_id=zone.nat_instance_id)
    return out


def _replacement_view(deps: Deps, az: str) -> r.ReplacementView | None:
    rec = replacement_store.load(deps, az)
    if rec is None:
        return None
    return r.ReplacementView(status=rec.status, step=rec.step, started_at=rec.started_at, failures=rec.failures,
                             left_old=rec.left_old, old_instance_id=rec.old_instance_id,
                             new_instance_id=rec.new_instance_id, last_error=rec.last_error, roll_id=rec.roll_id)


def _facts(deps: Deps, rec: r.RollRecord, now: float) -> r.RollFacts:
    return r.RollFacts(zones=zone_facts(deps, now),
                       replacement=_replacement_view(deps, rec.current) if rec.current else None)


# --- starting -------------------------------------------------------------------------------
def start_roll(deps: Deps, zones: list[str] | None, reason: str, *, automatic: bool = False,
               now: float | None = None) -> RollOutcome:
    """Start a roll of ``zones`` (None: every zone, in the stack's order) and advance it.

    A roll in progress is advanced instead (same zones) or named in a refusal (other zones). A stopped
    roll of the same zones continues where it stopped. RollRefused (exit 1, nothing changed) while a
    NAT is not UP, a zone is not on its own NAT, a rolled zone is paused or a replacement is running.
    """
    topo = deps.topology
    now = deps.clock() if now is None else now
    wanted = tuple(az for az in topo.azs if zones is None or az in zones)
    unknown = [az for az in zones or () if az not in topo.azs]
    if unknown:
        raise InputError([f"zone {az!r} is not in stack {topo.stack!r} (valid zones: {', '.join(topo.azs)})"
                          for az in unknown], title="invalid roll")
    previous = load_roll(deps)
    if previous is not None and previous.active:
        if zones is None or previous.zones == wanted:
            return advance_roll(deps, now, rec=previous)
        raise RollRefused([(f"roll {previous.roll_id} of {', '.join(previous.zones)} is in progress "
                           f"(at {previous.current or 'the next zone'}); wait for it to end")])
    resumed = previous if previous is not None and previous.status == r.STOPPED and previous.zones == wanted else None
    rec = _resume(deps, resumed, now) if resumed else r.RollRecord(
        roll_id=uuid.uuid4().hex[:8], zones=wanted, reason=reason, requested_by=deps.owner, automatic=automatic,
        started_at=now, version=previous.version if previous else 0)
    problems = r.blockers(zone_facts(deps, now), rec.remaining)
    running = [rep for rep in replacement_store.load_all(deps).values() if rep.active]
    problems += [f"zone {rep.az}: a replacement of its NAT is in progress (step {rep.step})" for rep in running]
    if problems:
        raise RollRefused(problems)
    rec = rec.moved(now, "resumed" if resumed else f"started: {', '.join(wanted)}", status=r.ROLLING,
                    stopped_zone="", stopped_because="", finished_at=0.0, current="", phase="")
    try:
        rec = _save(deps, rec, starting=resumed is None)
    except ConflictError as err:
        raise RollRefused(["another roll was started at the same moment; run `hanat status`"]) from err
    logger.info("roll started", extra={"roll": rec.roll_id, "zones": list(rec.remaining), "reason": reason})
    _alert(deps, rec, "resumed" if resumed else "started",
           f"{'continuing' if resumed else 'rolling'} the NATs of {', '.join(rec.remaining)}, one zone at a time"
           + (f": {reason}" if reason else ""), now)
    outcome = advance_roll(deps, now, rec=rec)
    outcome.started = True
    return outcome


def _resume(deps: Deps, rec: r.RollRecord, now: float) -> r.RollRecord:
    """A stopped roll continues: a zone whose replacement (of this roll) has finished since counts as
    rolled; one whose replacement still runs must finish first."""
    az = rec.stopped_zone
    rep = replacement_store.load(deps, az) if az else None
    if rep is not None and rep.roll_id == rec.roll_id and az not in rec.done:
        if rep.active:
            raise RollRefused([(f"zone {az}: the replacement this roll started is still running (step {rep.step}); "
                               "run `hanat roll` again once it is done (`hanat status` shows it)")])
        if rep.status == m.DONE:
            rec = _zone_done(rec, az, rep.old_instance_id, rep.new_instance_id, rep.started_at, now)
    return rec


def _zone_done(rec: r.RollRecord, az: str, old: str, new: str, since: float, now: float) -> r.RollRecord:
    result = {"az": az, "old_instance_id": old, "new_instance_id": new, "seconds": round(now - since, 1)}
    return rec.moved(now, f"{az}: done, NAT {old} -> {new}", done=rec.done + (az,), current="", phase="",
                     results=rec.results + (result,))


# --- advancing ------------------------------------------------------------------------------
def advance_roll(deps: Deps, now: float, rec: r.RollRecord | None = None) -> RollOutcome:
    """Carry the roll as far as it goes right now (each step recorded with a version check)."""
    rec = rec if rec is not None else load_roll(deps)
    outcome = RollOutcome(rec)
    policy = policy_for(deps)
    returned = False
    for step_no in range(MAX_STEPS_PER_RUN):
        if rec is None or not rec.active:
            outcome.waiting_for = "no roll in progress"
            break
        if step_no:   # a step (or a run racing this one) may have published a new NAT
            deps = reconcile.with_live_topology(deps)
        step = r.decide_roll(rec, _facts(deps, rec, now), now, policy)
        if step.action in (r.WAIT, r.IDLE) or (step.action == r.RETURN_ZONE and returned):
            outcome.waiting_for = step.why
            break
        outcome.actions.append(step.action)
        logger.info("roll step", extra={"roll": rec.roll_id, "zone": step.zone, "action": step.action,
                                        "why": step.why})
        try:
            rec, returned = _act(deps, rec, step, now, outcome, returned)
        except ConflictError:
            rec = load_roll(deps)
            outcome.waiting_for = "another run advanced the roll"
            break
        outcome.record = rec
    else:
        outcome.waiting_for = "step budget of this run used up"
    outcome.record = rec
    return outcome


def _act(deps: Deps, rec: r.RollRecord, step: r.RollAction, now: float, outcome: RollOutcome,
         returned: bool) -> tuple[r.RollRecord, bool]:
    az = step.zone
    if step.action == r.START_ZONE:
        # claim the zone in the roll record first: a replacement is only ever started for a recorded turn
        rec = _save(deps, rec.moved(now, f"{az}: replacing its NAT", current=az, phase=r.PHASE_REPLACING, phase_since=now,
                                    zone_started_at=now, replacement_started_at=now))
        started = replacement_steps.start(deps, az, f"roll {rec.roll_id}", now, planned=True, roll_id=rec.roll_id)
        if started is not None:
            outcome.replacements.append(replacement_steps.advance(deps, az, now, rec=started))
        return rec, returned
    if step.action == r.RETURN_ZONE:
        _revert(deps, rec, az, now)
        if rec.phase != r.PHASE_RETURNING:
            rec = _save(deps, rec.moved(now, f"{az}: reverted to its new NAT", phase=r.PHASE_RETURNING,
                                        phase_since=now))
        return rec, True
    if step.action == r.ZONE_DONE:
        rep = replacement_store.load(deps, az)
        rec = _save(deps, _zone_done(rec, az, rep.old_instance_id if rep else "", rep.new_instance_id if rep else "",
                                     rec.zone_started_at, now))
        history.record(deps, "roll", at=now, zone=az, text=f"ROLL {az}: NAT replaced, zone back on it",
                       roll_id=rec.roll_id, result=rec.results[-1])
        return rec, False
    if step.action == r.CANCEL_AND_STOP:
        replacement_steps.cancel(deps, az, f"roll {rec.roll_id} stopped: {step.why}", now)
        return _stop(deps, rec, az, step.why, now), returned
    if step.action == r.STOP:
        return _stop(deps, rec, az, step.why, now), returned
    if step.action == r.FINISH:
        done = _save(deps, rec.moved(now, "done", status=r.ROLL_DONE, finished_at=now, current="", phase=""))
        took = now - rec.started_at
        _alert(deps, done, "done", f"rolled {len(done.done)} NAT(s) ({', '.join(done.done)}) in {took:.0f}s", now)
        deps.metric("RollSeconds", took, "Seconds")
        return done, returned
    raise HanatError(f"roll machine returned an unknown action {step.action!r}")


def _revert(deps: Deps, rec: r.RollRecord, az: str, now: float) -> None:
    """Point the zone home again (its NAT is new and UP): the operator's revert, for the roll."""
    why = f"roll {rec.roll_id}: {az} back on its new NAT"

    def decider(snapshot, inputs, at):
        return decide_revert(inputs, az, now=at, reason=why, stack=deps.topology.stack)

    applied = reconcile.decide_and_apply(deps, decider)
    publish(deps, applied, [])


def _stop(deps: Deps, rec: r.RollRecord, az: str, why: str, now: float) -> r.RollRecord:
    stopped = _save(deps, rec.moved(now, f"stopped at {az}: {why}", status=r.STOPPED, finished_at=now,
                                    stopped_zone=az, stopped_because=why))
    logger.warning("roll stopped", extra={"roll": rec.roll_id, "zone": az, "why": why})
    _alert(deps, stopped, "stopped", f"roll stopped at {az}: {why}; every zone is served; `hanat roll` "
                                     "continues from there", now, zone=az)
    return stopped


# --- the heartbeat's roll pass --------------------------------------------------------------
def roll_pass(deps: Deps, now: float) -> RollOutcome:
    """Advance the roll in progress; with none, inside ``maintenance.window``, start rolling the first
    outdated NAT (one zone per window opening, only when nothing blocks it)."""
    rec = load_roll(deps)
    if rec is not None and rec.active:
        return advance_roll(deps, now, rec=rec)
    return _window_roll(deps, now)


def _window_roll(deps: Deps, now: float) -> RollOutcome:
    topo = deps.topology
    opened = parse_window(topo.maintenance.window).opened_at(now)
    if opened is None:
        return RollOutcome(None, waiting_for="outside the maintenance window")
    ddb, table = deps.clients.dynamodb, topo.table_name
    memo = roll_records.load_roll_window(ddb, table)
    if memo.get("opened_at") == opened and (memo.get("rolled") or now - memo.get("checked_at", 0) < WINDOW_CHECK_EVERY_S):
        return RollOutcome(None, waiting_for=f"window opened at {opened:.0f}: "
                                             + (f"already rolled {memo['rolled']}" if memo.get("rolled")
                                                else "checked recently"))
    reasons = {az: d.outdated for az, d in outdated.check_nat_builds(deps.clients.ec2, deps.clients.ssm, topo, now).items()}
    az = first_outdated(topo.azs, reasons)
    memo = {"opened_at": opened, "checked_at": now, "rolled": ""}
    if az is None:
        roll_records.put_roll_window(ddb, table, memo)
        return RollOutcome(None, waiting_for="no outdated NAT")
    try:
        outcome = start_roll(deps, [az], f"outdated NAT: {'; '.join(reasons[az])}", automatic=True, now=now)
    except RollRefused as err:
        roll_records.put_roll_window(ddb, table, memo)
        logger.info("outdated NAT not rolled now", extra={"zone": az, "why": str(err)})
        return RollOutcome(None, waiting_for=str(err))
    roll_records.put_roll_window(ddb, table, {**memo, "rolled": az})
    return outcome
