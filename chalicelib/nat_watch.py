"""What the stack's alarms and dashboard watch on each NAT's own metrics (``chalicelib.nat_metrics``): the
rules and panels as data, per zone; ``chalicelib.monitoring`` turns them into PutMetricAlarm arguments
and dashboard widgets. Every one is keyed by the dimensions stack and zone, never by an instance, so it
needs no re-pointing when a NAT is replaced.

The alarms follow what AWS recommends for a NAT gateway ("Recommended alarms", CloudWatch User Guide:
``ErrorPortAllocation`` > 0, ``PacketsDropCount`` rising) and add what a NAT instance has on top: its
conntrack table near full, and the ENA allowances exceeded (EC2 User Guide, "Monitor network performance
for ENA settings on your EC2 instance": ``bw_in/bw_out/pps/conntrack_allowance_exceeded`` count packets
queued or dropped because the instance went past its allowance).
"""
from __future__ import annotations

from dataclasses import dataclass

from . import nat_metrics as nm
from .nat_metrics import NatMetric


@dataclass(frozen=True)
class NatAlarmRule:
    what: str                         # the alarm is named hanat-<stack>-nat-<az>-<what>
    metrics: tuple[NatMetric, ...]    # more than one: their sum (metric math, a missing one counts 0)
    comparison: str                   # CloudWatch ComparisonOperator
    threshold: float
    datapoints: int                   # breaching minutes needed, out of ``datapoints`` (all consecutive)
    meaning: str                      # what it means and the remedy (docs/runbook.md, 'Alarms')


RULES = (
    NatAlarmRule("port-allocation", (nm.ERROR_PORT_ALLOCATION,), "GreaterThanThreshold", 0.0, 1,
                 "could not allocate a source port toward a destination (new flows to it fail): add Elastic IPs "
                 "(nat.addresses, then `hanat up` and `hanat roll`) or spread the destination's traffic"),
    NatAlarmRule("drops", (nm.PACKETS_DROP_COUNT,), "GreaterThanThreshold", 0.0, 3,
                 "dropped packets in each of 3 consecutive minutes"),
    NatAlarmRule("conntrack", (nm.CONNTRACK_USE,), "GreaterThanOrEqualToThreshold",
                 nm.CONNTRACK_USE_ALARM_PERCENT, 3,
                 f"conntrack table at least {nm.CONNTRACK_USE_ALARM_PERCENT:g} % full for 3 minutes (when full, "
                 "new flows are dropped): roll to a larger type (`hanat roll`)"),
    NatAlarmRule("allowance-exceeded", nm.ALLOWANCE_METRICS, "GreaterThanThreshold", 0.0, 3,
                 "went past its instance type's network allowances (bandwidth, packets per second or tracked "
                 "connections) in each of 3 consecutive minutes: roll to a larger type (`hanat roll`)"),
)

# Dashboard panels per zone: (title, metrics, statistic).
PANELS = (
    ("connections", (nm.ACTIVE_CONNECTION_COUNT, nm.CONNECTION_ATTEMPT_COUNT, nm.CONNECTION_ESTABLISHED_COUNT),
     "Maximum"),
    ("conntrack and ports (%)", (nm.CONNTRACK_USE, nm.PORT_USE_BUSIEST), "Maximum"),
    ("bytes", (nm.BYTES_OUT_TO_DESTINATION, nm.BYTES_IN_FROM_DESTINATION, nm.BYTES_IN_FROM_SOURCE,
               nm.BYTES_OUT_TO_SOURCE), "Sum"),
    ("errors and drops", (nm.ERROR_PORT_ALLOCATION, nm.PACKETS_DROP_COUNT, nm.CONNTRACK_DROPS,
                          *nm.ALLOWANCE_METRICS), "Sum"),
)


def alarm_what(az: str, rule: NatAlarmRule) -> str:
    return f"nat-{az}-{rule.what}"
