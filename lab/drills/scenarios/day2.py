"""Day 2 (issue 12): ``roll`` every NAT without an outage, and ``heartbeat-stopped`` (watch the watcher).

``roll``: ``start_roll`` (what ``hanat roll`` runs) on a steady stack; the session's heartbeat carries the
roll on (its replacement pass), one zone at a time: launch a NAT from the launch template, fail the zone
over, drain (``maintenance.drain_s``), move the Elastic IP, prove the new NAT, give the zone back. The
data plane follows the new NATs and the Elastic IPs. Judged per zone: replaced, same egress address
before and after, at most 2 failed 100 ms requests per move of the zone (at most 4 for the whole roll),
never two zones away from their own NAT at once.

``heartbeat-stopped``: the lab keeps the time of every ``SweepsCompleted`` point and evaluates the
heartbeat-missing alarm exactly as ``hanat deploy`` creates it (chalicelib/monitoring.py ``heartbeat_alarm``)
with lab.aws.alarms, on lab time: ``TIME_SCALE`` = 12, so its 60 s period is a 5 s lab minute (the lab sweeps
every second, 5 sweeps a lab minute; AWS's heartbeat at the 5 s default sweeps 12 a minute: the alarm needs
only one). The evaluation moments are CloudWatch's: each period boundary, over the 3 newest complete
periods (lab.aws.alarms). While the heartbeat sweeps the condition stays false; once it stops (its schedule disabled) the condition must be
true once 3 lab minutes have passed without a sweep; when it runs again the condition clears.

The roll's connection checks (issue 13) are lab.drills.scenarios.connections's, as for every drill.
"""
from __future__ import annotations

from chalicelib.errors import HanatError
from chalicelib.monitoring import PERIOD_S, heartbeat_alarm
from chalicelib.replacement import roll_machine
from chalicelib.service import roll
from lab.aws import alarms

from .. import report as rp
from . import Scenario, register
from .steps import mark, steady

MAX_FAILED_PER_MOVE = 2            # failed 100 ms requests per zone move (issue 12)
MOVES_PER_ZONE = 2                 # away from the old NAT, back to the new one
ROLL_MARGIN_S = 60.0
TIME_SCALE = 12.0                  # lab time runs 12x: a 60 s CloudWatch period is a 5 s lab minute
LAB_MINUTE_S = PERIOD_S / TIME_SCALE
ALARM_WITHIN_LAB_MINUTES = 3       # "no sweep for 3 (lab-)minutes -> the alarm's condition is true"
WARM_EVALUATIONS = 1               # evaluations with the heartbeat running before the stop (each must say OK)
POLL_S = 0.1


# --- roll -------------------------------------------------------------------------------------

def _roll_record(session):
    return roll.load_roll(session.deps("lab-roll-watch"))


def run_roll(session, zone, opts, marks) -> None:
    topology = session.topology()
    azs = topology.azs
    marks.affected = tuple(azs)
    old = {az: session.nat_of(az) for az in azs}
    mark(session, marks, "fault", None, kind="roll")
    outcome = session.run_function("operate", roll.start_roll, None, "lab drill: roll every NAT")
    roll_id = outcome.record.roll_id if outcome.record else ""
    policy = roll.policy_for(session.deps("lab-roll-watch"))
    bound = len(azs) * (policy.zone_timeout_s + ROLL_MARGIN_S)

    def finished() -> bool:
        rec = _roll_record(session)
        return rec is not None and rec.roll_id == roll_id and not rec.active
    session.wait_until(f"roll {roll_id} of {', '.join(azs)} finished", finished, bound, poll_s=0.5)
    rec = _roll_record(session)
    marks.extra = {"old": old, "roll": roll.roll_summary(rec)}
    if rec.status != roll_machine.ROLL_DONE:
        raise HanatError(f"roll {roll_id} {rec.status} at {rec.stopped_zone}: {rec.stopped_because}")
    # the last revert is written in the sweep that ends the roll: let the watcher (one poll behind) see it,
    # so the zone's moves are counted up to "recover" (on lab time the drill's poll and the sweep coincide)
    own = {rtb: z.az for z in topology.zones for rtb in z.private_route_table_ids}
    session.wait_until("the watcher seeing every zone on its own NAT",
                       lambda: all(session.eventbridge.served().get(rtb) == az for rtb, az in own.items()), 10)
    mark(session, marks, "recover", None, kind="roll done", roll_id=roll_id)
    steady(session)
    marks.extra["new"] = {az: session.nat_of(az) for az in azs}


def most_zones_away(events, azs) -> int:
    """The most zones away from their own NAT at one moment, from the route moves in order."""
    away: set[str] = set()
    most = 0
    for e in events:
        if e.event == "revert":
            away.discard(e.zone)
        elif e.event in ("failover", "move"):
            away.add(e.zone)
        most = max(most, len(away & set(azs)))
    return most


def judge_roll(session, rep, marks, events) -> dict[str, bool]:
    extra = marks.extra or {}
    summary = extra.get("roll") or {}
    azs = session.topology().azs
    old, new = extra.get("old", {}), extra.get("new", {})
    start, done = marks.fault, marks.recover or marks.end
    moves = [e for e in rp.route_events(events) if start <= e.t <= done]
    launched = [e for e in events if e.event == "new_nat" and e.t >= start]
    seconds = {r["az"]: r.get("seconds") for r in summary.get("results", [])}
    zones = {}
    for az in azs:
        samples = session.samples(az)
        own_moves = [e for e in moves if e.zone == az]
        zones[az] = {
            "old_nat": old.get(az), "new_nat": new.get(az), "zone_s": seconds.get(az),
            "egress_ip_before": rp.last_egress(samples, start),
            "egress_ip_after": rp.last_egress(samples, marks.end + 0.01),
            "moves": len(own_moves),
            "failed_requests": rp.failed_between(samples, start, done),
            "failed_per_move": [rp.failed_between(samples, e.t - 1.0, e.t + 1.0) for e in own_moves],
            "launched": sum(1 for e in launched if e.zone == az),
        }
    finished_at, started_at = summary.get("finished_at") or 0.0, summary.get("started_at") or 0.0
    rep.figures = {"zones": zones, "roll_id": summary.get("roll_id"), "status": summary.get("status"),
                   "roll_s": round(finished_at - started_at, 2) if finished_at else None,
                   "order": list(summary.get("done", []))}
    checks = {
        "roll_done_in_zone_order": summary.get("status") == roll_machine.ROLL_DONE
                                   and summary.get("done") == list(azs),
        "every_nat_replaced_once": all(z["new_nat"] and z["new_nat"] != z["old_nat"] and z["launched"] == 1
                                       for z in zones.values()),
        "egress_ip_same_before_and_after": all(z["egress_ip_before"] and z["egress_ip_before"] == z["egress_ip_after"]
                                               for z in zones.values()),
        f"failed_requests<={MAX_FAILED_PER_MOVE}_per_zone_move": all(
            z["moves"] <= MOVES_PER_ZONE and z["failed_requests"] <= MAX_FAILED_PER_MOVE * MOVES_PER_ZONE
            for z in zones.values()),
        "one_zone_at_a_time": most_zones_away(moves, azs) <= 1,
    }
    return checks


# --- heartbeat-stopped -------------------------------------------------------------------------
def _rule(session) -> alarms.AlarmRule:
    return alarms.AlarmRule.from_put_metric_alarm(heartbeat_alarm(session.topology()), time_scale=TIME_SCALE)


def _wait_for(session, what: str, rule, want: bool, bound_s: float) -> float:
    """The first moment the alarm's condition is ``want``, polling as lab time passes."""
    def holds() -> bool:
        return alarms.evaluate(rule, session.metrics.series(rule.metric), session.clock.time()).alarm is want
    session.wait_until(what, holds, bound_s, poll_s=POLL_S)
    return session.clock.time()


def run_heartbeat_stopped(session, zone, opts, marks) -> None:
    rule = _rule(session)
    marks.affected = ()
    session.wait_until("a first sweep", lambda: bool(session.metrics.series(rule.metric)), 30)
    first = session.metrics.series(rule.metric)[0][0]
    # run long enough that WARM_EVALUATIONS evaluations cover only periods with the heartbeat running
    warm_until = rule.period_start(first) + (rule.evaluation_periods + WARM_EVALUATIONS) * rule.period_s
    session.clock.sleep(max(0.0, warm_until - session.clock.time()) + POLL_S)
    mark(session, marks, "fault", None, kind="heartbeat stopped")
    session.stop_heartbeat()
    stopped = session.clock.time()            # stop() returns once a sweep in progress has finished
    bound = (ALARM_WITHIN_LAB_MINUTES + 2) * LAB_MINUTE_S
    alarm_at = _wait_for(session, f"the {rule.name} condition", rule, True, bound)
    session.timeline.add("alarm", None, alarm=rule.name, state="ALARM")
    mark(session, marks, "recover", None, kind="heartbeat started")
    session.start_heartbeat()
    ok_at = _wait_for(session, f"the {rule.name} condition clearing", rule, False, 3 * LAB_MINUTE_S + 10)
    session.timeline.add("alarm", None, alarm=rule.name, state="OK")
    marks.extra = {"first_sweep": first, "stopped": stopped, "alarm_at": alarm_at, "ok_at": ok_at}
    steady(session)


def judge_heartbeat_stopped(session, rep, marks, events) -> dict[str, bool]:
    extra = marks.extra or {}
    if "ok_at" not in extra:
        return {"completed": False}
    rule = _rule(session)
    points = session.metrics.series(rule.metric)
    first, stopped, alarm_at = extra["first_sweep"], extra["stopped"], extra["alarm_at"]
    last_before = max(t for t, _ in points if t <= stopped)
    empty_from = rule.period_start(last_before) + rule.period_s     # the first period with no sweep
    warm = alarms.boundaries(rule, rule.period_start(first) + rule.evaluation_periods * rule.period_s, stopped)
    false_alarms = [b for b in warm if alarms.evaluate(rule, points, b).alarm]
    # the evaluation (a period boundary) at which CloudWatch would have gone to ALARM; the drill saw it at
    # ``alarm_at``, a poll later
    went = alarms.first_alarm(rule, points, stopped, alarm_at)
    at_alarm = went or alarms.evaluate(rule, points, alarm_at)
    alarm_t = went.at if went else alarm_at
    within = ALARM_WITHIN_LAB_MINUTES * LAB_MINUTE_S
    rep.detection_s = round(alarm_t - stopped, 3)
    rep.figures = {
        "alarm": rule.name, "metric": rule.metric, "time_scale": TIME_SCALE, "lab_minute_s": LAB_MINUTE_S,
        "rule": {"period_s": rule.period_s, "evaluation_periods": rule.evaluation_periods,
                 "datapoints_to_alarm": rule.datapoints_to_alarm, "threshold": rule.threshold,
                 "comparison": rule.comparison, "statistic": rule.statistic, "treat_missing": rule.treat_missing},
        "sweeps_before_stop": sum(1 for t, _ in points if t <= stopped),
        "evaluations_while_sweeping": len(warm), "false_alarms": len(false_alarms),
        "last_sweep_before_stop_s": round(last_before - marks.fault, 3),
        "alarm_after_stop_s": round(alarm_t - stopped, 3),
        "alarm_after_stop_lab_minutes": round((alarm_t - stopped) / LAB_MINUTE_S, 2),
        "alarm_after_last_sweep_lab_minutes": round((alarm_t - last_before) / LAB_MINUTE_S, 2),
        "alarm_after_first_empty_period_lab_minutes": round((alarm_t - empty_from) / LAB_MINUTE_S, 2),
        "alarm_seen_by_the_drill_after_s": round(alarm_at - alarm_t, 3),
        "periods_at_alarm": [p.to_dict(marks.fault) for p in at_alarm.periods],
        "ok_again_after_restart_s": round(extra["ok_at"] - marks.recover, 3),
    }
    return {
        "no_alarm_while_sweeping": len(warm) >= WARM_EVALUATIONS and not false_alarms,
        "no_sweep_while_stopped": not [t for t, _ in points if stopped < t < marks.recover],
        # "no sweep for 3 lab-minutes -> the condition is true": at the first evaluation whose 3 periods all
        # lack a sweep, i.e. 3 lab minutes after the first empty period began (3 to 4 after the stop)
        f"alarm_within_{ALARM_WITHIN_LAB_MINUTES}_lab_minutes_without_a_sweep": (
            went is not None and went.alarm and alarm_t - empty_from <= within + 1e-6),
        "ok_again_after_restart": extra["ok_at"] > marks.recover,
    }

def summary_roll(rep) -> str:
    f = rep.figures or {}
    zones = "; ".join(f"{az}: failed {z['failed_requests']}, egress {z['egress_ip_before']} -> {z['egress_ip_after']}"
                      for az, z in f.get("zones", {}).items())
    return f"roll {f.get('roll_s')} s; {zones}" if f else ""


def summary_heartbeat_stopped(rep) -> str:
    f = rep.figures or {}
    if "alarm_after_first_empty_period_lab_minutes" not in f:
        return ""
    return (f"{f['alarm']} true {f['alarm_after_first_empty_period_lab_minutes']} lab-min after the first period "
            f"without a sweep ({f['alarm_after_stop_s']} s after the stop; lab minute {f['lab_minute_s']} s)")


for _scenario in (
    Scenario("roll", run_roll, judge_roll, summary=summary_roll, replaces_nat=True),
    Scenario("heartbeat-stopped", run_heartbeat_stopped, judge_heartbeat_stopped, summary=summary_heartbeat_stopped),
):
    register(_scenario)
