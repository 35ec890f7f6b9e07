"""The names of the metrics hanat publishes about what each NAT sees (issue 19), written once.

The heartbeat publishes them (in the stack's namespace, ``chalicelib.observability.NAMESPACE``) per zone,
through ``observability.metric_sink(name, value, unit, {ZONE_DIMENSION: az})``, which gives them the
dimensions ``DIMENSIONS`` (Powertools' service, the stack and the zone; never an instance id, so a graph
and an alarm survive a replacement); ``chalicelib.monitoring`` builds the dashboard panels and the alarms from the same specs.

Where NAT Gateway has a metric for the same thing it keeps NAT Gateway's name, unit and most useful
statistic (Amazon VPC User Guide, "Monitor NAT gateways with Amazon CloudWatch" / "NAT gateway metrics
and dimensions", docs.aws.amazon.com/vpc/latest/userguide/metrics-dimensions-nat-gateway.html), so a team
moving off NAT Gateway keeps its dashboards' and alarms' metric names; hanat's own metrics
(``nat_gateway=False``) cover what a NAT *instance* has and a NAT gateway does not show (conntrack table,
ENA allowances, CPU credits). Units are CloudWatch's ``StandardUnit`` names.
"""
from __future__ import annotations

from dataclasses import dataclass

from .observability import SERVICE, STACK_DIMENSION, ZONE_DIMENSION

DIMENSIONS = ("service", STACK_DIMENSION, ZONE_DIMENSION)


def dimensions(stack: str, az: str) -> list[dict]:
    """The CloudWatch dimensions of zone ``az``'s NAT metrics (what alarms and widgets name)."""
    return [{"Name": "service", "Value": SERVICE}, {"Name": STACK_DIMENSION, "Value": stack},
            {"Name": ZONE_DIMENSION, "Value": az}]


@dataclass(frozen=True)
class NatMetric:
    name: str
    unit: str            # CloudWatch StandardUnit
    statistic: str       # the most useful statistic (NAT Gateway's where it has the metric)
    nat_gateway: bool    # True: NAT Gateway publishes a metric of this name (AWS/NATGateway)
    description: str


# NAT Gateway's names (all 14 it publishes; the page above gives unit and statistic).
ACTIVE_CONNECTION_COUNT = NatMetric("ActiveConnectionCount", "Count", "Maximum", True,
                                    "concurrent active TCP connections through the NAT")
BYTES_IN_FROM_DESTINATION = NatMetric("BytesInFromDestination", "Bytes", "Sum", True,
                                      "bytes received by the NAT from the destination")
BYTES_IN_FROM_SOURCE = NatMetric("BytesInFromSource", "Bytes", "Sum", True,
                                 "bytes received by the NAT from clients in the VPC")
BYTES_OUT_TO_DESTINATION = NatMetric("BytesOutToDestination", "Bytes", "Sum", True,
                                     "bytes sent by the NAT to the destination")
BYTES_OUT_TO_SOURCE = NatMetric("BytesOutToSource", "Bytes", "Sum", True,
                                "bytes sent by the NAT to clients in the VPC")
CONNECTION_ATTEMPT_COUNT = NatMetric("ConnectionAttemptCount", "Count", "Sum", True,
                                     "connection attempts (SYN from clients)")
CONNECTION_ESTABLISHED_COUNT = NatMetric("ConnectionEstablishedCount", "Count", "Sum", True,
                                         "connections established")
ERROR_PORT_ALLOCATION = NatMetric("ErrorPortAllocation", "Count", "Sum", True,
                                  "times the NAT could not allocate a source port")
IDLE_TIMEOUT_COUNT = NatMetric("IdleTimeoutCount", "Count", "Sum", True,
                               "connections that went from active to idle and timed out")
PACKETS_DROP_COUNT = NatMetric("PacketsDropCount", "Count", "Sum", True,
                               "packets dropped by the NAT")
PACKETS_IN_FROM_DESTINATION = NatMetric("PacketsInFromDestination", "Count", "Sum", True,
                                        "packets received by the NAT from the destination")
PACKETS_IN_FROM_SOURCE = NatMetric("PacketsInFromSource", "Count", "Sum", True,
                                   "packets received by the NAT from clients in the VPC")
PACKETS_OUT_TO_DESTINATION = NatMetric("PacketsOutToDestination", "Count", "Sum", True,
                                       "packets sent by the NAT to the destination")
PACKETS_OUT_TO_SOURCE = NatMetric("PacketsOutToSource", "Count", "Sum", True,
                                  "packets sent by the NAT to clients in the VPC")
PEAK_BYTES_PER_SECOND = NatMetric("PeakBytesPerSecond", "Bytes/Second", "Maximum", True,
                                  "the highest bytes per second in the period")
PEAK_PACKETS_PER_SECOND = NatMetric("PeakPacketsPerSecond", "Count/Second", "Maximum", True,
                                    "the highest packets per second in the period")

# hanat's own: what a NAT instance has that a NAT gateway does not show.
CONNTRACK_COUNT = NatMetric("ConntrackCount", "Count", "Maximum", False,
                            "entries in the NAT's conntrack table (nf_conntrack_count)")
CONNTRACK_LIMIT = NatMetric("ConntrackLimit", "Count", "Maximum", False,
                            "size of the NAT's conntrack table (nf_conntrack_max)")
CONNTRACK_USE = NatMetric("ConntrackUsePercent", "Percent", "Maximum", False,
                          "conntrack entries as a share of the table's size")
CONNTRACK_DROPS = NatMetric("ConntrackDropCount", "Count", "Sum", False,
                            "new flows dropped because the conntrack table was full (conntrack -S drop + early_drop "
                            "less insert_failed: a port clash is ErrorPortAllocation)")
PORT_USE_BUSIEST = NatMetric("PortUseBusiestPercent", "Percent", "Maximum", False,
                             "source ports in use toward the busiest destination, as a share of those the NAT's "
                             "addresses offer")
RESETS_SENT = NatMetric("ResetsSentCount", "Count", "Sum", False,
                        "TCP resets the NAT sent for mid-stream packets it does not know")
INVALID_DROPS = NatMetric("InvalidDropCount", "Count", "Sum", False,
                          "packets dropped as conntrack state INVALID")
BW_IN_ALLOWANCE_EXCEEDED = NatMetric("BwInAllowanceExceeded", "Count", "Sum", False,
                                     "packets queued or dropped: inbound bandwidth over the instance's allowance "
                                     "(ENA bw_in_allowance_exceeded)")
BW_OUT_ALLOWANCE_EXCEEDED = NatMetric("BwOutAllowanceExceeded", "Count", "Sum", False,
                                      "packets queued or dropped: outbound bandwidth over the instance's allowance "
                                      "(ENA bw_out_allowance_exceeded)")
PPS_ALLOWANCE_EXCEEDED = NatMetric("PpsAllowanceExceeded", "Count", "Sum", False,
                                   "packets queued or dropped: packets per second over the allowance "
                                   "(ENA pps_allowance_exceeded)")
CONNTRACK_ALLOWANCE_EXCEEDED = NatMetric("ConntrackAllowanceExceeded", "Count", "Sum", False,
                                         "packets dropped: tracked connections over the instance's allowance "
                                         "(ENA conntrack_allowance_exceeded)")
CPU_CREDIT_BALANCE = NatMetric("CpuCreditBalance", "Count", "Minimum", False,
                               "CPU credits left on a burstable NAT")

NAT_GATEWAY_METRICS = (ACTIVE_CONNECTION_COUNT, BYTES_IN_FROM_DESTINATION, BYTES_IN_FROM_SOURCE,
                       BYTES_OUT_TO_DESTINATION, BYTES_OUT_TO_SOURCE, CONNECTION_ATTEMPT_COUNT,
                       CONNECTION_ESTABLISHED_COUNT, ERROR_PORT_ALLOCATION, IDLE_TIMEOUT_COUNT, PACKETS_DROP_COUNT,
                       PACKETS_IN_FROM_DESTINATION, PACKETS_IN_FROM_SOURCE, PACKETS_OUT_TO_DESTINATION,
                       PACKETS_OUT_TO_SOURCE, PEAK_BYTES_PER_SECOND, PEAK_PACKETS_PER_SECOND)
ALLOWANCE_METRICS = (BW_IN_ALLOWANCE_EXCEEDED, BW_OUT_ALLOWANCE_EXCEEDED, PPS_ALLOWANCE_EXCEEDED,
                     CONNTRACK_ALLOWANCE_EXCEEDED)
HANAT_METRICS = (CONNTRACK_COUNT, CONNTRACK_LIMIT, CONNTRACK_USE, CONNTRACK_DROPS, PORT_USE_BUSIEST, RESETS_SENT,
                 INVALID_DROPS, *ALLOWANCE_METRICS, CPU_CREDIT_BALANCE)
ALL = NAT_GATEWAY_METRICS + HANAT_METRICS
BY_NAME = {metric.name: metric for metric in ALL}

# What the alarms watch (chalicelib.monitoring): a port allocation error at all, drops rising,
# the conntrack table 90 % full, any allowance exceeded.
CONNTRACK_USE_ALARM_PERCENT = 90.0
