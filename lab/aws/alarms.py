"""What a CloudWatch metric alarm would say, from the metric points the lab kept (pure).

The lab has no CloudWatch, so it evaluates an alarm's condition itself, from the very ``PutMetricAlarm``
arguments ``hanat deploy`` sends (chalicelib/monitoring.py) and the points the controller put
(lab.metrics.Metrics), the way CloudWatch documents it (Amazon CloudWatch User Guide, "Alarm evaluation"):

- the points are aggregated into periods of ``Period`` seconds with ``Statistic``; periods are aligned
  to multiples of the period (a 60 s period is a clock minute);
- a standard-resolution alarm is evaluated once a period, over the ``EvaluationPeriods`` most recent
  complete periods; a period with no point is *missing*, and ``TreatMissingData`` says what it counts as
  (``breaching`` / ``notBreaching``; the lab refuses the other two, whose look-back CloudWatch does
  not pin down);
- the condition is true (the alarm goes to ALARM) when at least ``DatapointsToAlarm`` of those periods
  breach the ``Threshold`` by ``ComparisonOperator``.

``time_scale`` runs the alarm on lab time: with 12, a 60 s period is a 5 s "lab minute".
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from chalicelib.errors import InputError

COMPARISONS = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}
STATISTICS = {
    "Sum": sum,
    "Maximum": max,
    "Minimum": min,
    "Average": lambda values: sum(values) / len(values),
    "SampleCount": len,
}
MISSING_AS = {"breaching": True, "notBreaching": False}

Point = tuple[float, float]   # (epoch seconds, value)


@dataclass(frozen=True)
class AlarmRule:
    """The parts of a metric alarm that decide its state (periods in lab seconds)."""

    name: str
    metric: str
    period_s: float
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: str
    statistic: str
    treat_missing: str

    @classmethod
    def from_put_metric_alarm(cls, alarm: dict, *, time_scale: float = 1.0) -> AlarmRule:
        """From ``PutMetricAlarm`` arguments; InputError names every part the lab cannot evaluate."""
        problems = []
        if time_scale <= 0:
            problems.append(f"time_scale={time_scale!r} must be > 0")
        comparison, statistic = alarm.get("ComparisonOperator"), alarm.get("Statistic")
        missing = alarm.get("TreatMissingData", "missing")
        if comparison not in COMPARISONS:
            problems.append(f"ComparisonOperator={comparison!r} is not one of {', '.join(COMPARISONS)}")
        if statistic not in STATISTICS:
            problems.append(f"Statistic={statistic!r} is not one of {', '.join(STATISTICS)}")
        if missing not in MISSING_AS:
            problems.append(f"TreatMissingData={missing!r}: the lab evaluates {' and '.join(MISSING_AS)} only")
        periods = alarm.get("EvaluationPeriods", 0)
        datapoints = alarm.get("DatapointsToAlarm", periods)
        if not isinstance(periods, int) or periods < 1:
            problems.append(f"EvaluationPeriods={periods!r} must be an integer >= 1")
        elif not isinstance(datapoints, int) or not 1 <= datapoints <= periods:
            problems.append(f"DatapointsToAlarm={datapoints!r} must be 1..EvaluationPeriods ({periods})")
        if not alarm.get("Period", 0) > 0:
            problems.append(f"Period={alarm.get('Period')!r} must be > 0")
        if problems:
            raise InputError(problems, title=f"alarm {alarm.get('AlarmName', '?')} cannot be evaluated in the lab")
        return cls(name=alarm.get("AlarmName", ""), metric=alarm.get("MetricName", ""),
                   period_s=alarm["Period"] / time_scale, evaluation_periods=periods, datapoints_to_alarm=datapoints,
                   threshold=float(alarm["Threshold"]), comparison=comparison, statistic=statistic,
                   treat_missing=missing)

    def period_start(self, t: float) -> float:
        """Start of the (aligned) period holding ``t``."""
        return math.floor(t / self.period_s) * self.period_s


@dataclass(frozen=True)
class PeriodValue:
    start: float
    value: float | None     # the statistic of the period's points; None: missing
    breaching: bool

    def to_dict(self, origin: float = 0.0) -> dict:
        return {"start": round(self.start - origin, 3), "value": self.value, "breaching": self.breaching}


@dataclass(frozen=True)
class Evaluation:
    at: float                     # the end of the newest period evaluated (a period boundary)
    periods: tuple[PeriodValue, ...]
    alarm: bool                   # the condition holds: DatapointsToAlarm of EvaluationPeriods breach


def period_value(rule: AlarmRule, points: Sequence[Point], start: float) -> PeriodValue:
    values = [v for t, v in points if start <= t < start + rule.period_s]
    if not values:
        return PeriodValue(start, None, MISSING_AS[rule.treat_missing])
    value = float(STATISTICS[rule.statistic](values))
    return PeriodValue(start, value, COMPARISONS[rule.comparison](value, rule.threshold))


def evaluate(rule: AlarmRule, points: Sequence[Point], now: float) -> Evaluation:
    """The alarm's condition as CloudWatch would evaluate it at ``now``: over the EvaluationPeriods
    periods that completed last (the newest ends at the period boundary at or before ``now``)."""
    end = rule.period_start(now)
    starts = [end - (rule.evaluation_periods - i) * rule.period_s for i in range(rule.evaluation_periods)]
    periods = tuple(period_value(rule, points, s) for s in starts)
    return Evaluation(at=end, periods=periods, alarm=sum(p.breaching for p in periods) >= rule.datapoints_to_alarm)


def boundaries(rule: AlarmRule, start: float, end: float) -> list[float]:
    """The period boundaries in ``[start, end]``: the moments CloudWatch evaluates the alarm."""
    first = math.ceil(start / rule.period_s - 1e-9) * rule.period_s
    out, b = [], first
    while b <= end + 1e-9:
        out.append(b)
        b += rule.period_s
    return out


def first_alarm(rule: AlarmRule, points: Sequence[Point], start: float, end: float) -> Evaluation | None:
    """The first evaluation in ``[start, end]`` whose condition holds (None: it never does)."""
    for b in boundaries(rule, start, end):
        evaluation = evaluate(rule, points, b)
        if evaluation.alarm:
            return evaluation
    return None
