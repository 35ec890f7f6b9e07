"""The NAT's counters as metrics: which metrics each ``[metrics]`` level publishes, and their values
from two successive readings of a NAT's counters (pure: dicts in, (metric, value) pairs out).

The counters are what hanat-nat-agent reports (checked by ``probes.results.counters_problem``);
most are cumulative, so a Sum metric is the increase since the zone's previous reading (none on the
first reading, and none for a counter that went down: the NAT restarted or was replaced). Names are
``chalicelib.nat_metrics``' (NAT Gateway's where it has one). How each maps:

- ``ActiveConnectionCount``: the conntrack table's entries (TCP and the rest: a NAT instance tracks
  every flow; NAT Gateway counts TCP only).
- Bytes/packets: the forward chain's counters each way. What the NAT receives from the VPC is what it
  sends to the destination (``…InFromSource`` = ``…OutToDestination``) and the other way round, as
  counted before any drop; drops are ``PacketsDropCount``.
- ``ErrorPortAllocation``: conntrack's ``insert_failed`` (a new flow whose translated tuple clashed:
  source NAT found no free port toward that destination).
- ``PacketsDropCount``: conntrack's ``drop`` + ``early_drop`` + invalid packets dropped (every drop).
- ``ConntrackDropCount``: new flows dropped for a full table alone (``table_full_drops``): conntrack's
  ``drop`` + ``early_drop`` less ``insert_failed``, since a port clash counts a ``drop`` too.
- ``PortUseBusiestPercent``: ports toward the busiest destination over what the NAT's addresses offer
  (``SNAT_PORTS_PER_ADDRESS`` each: the kernel's source NAT picks from 1024-65535); not published when
  the NAT cannot read its conntrack entries (``busiest`` null).
- ENA allowance counters: published only when the NAT's driver has them (absent is not zero).
NAT Gateway's ConnectionAttemptCount, ConnectionEstablishedCount, IdleTimeoutCount and Peak* have no
counter on the NAT here and are not published; CPU credits are EC2's own ``CPUCreditBalance``.
"""
from __future__ import annotations

from . import nat_metrics as m
from .settings import METRICS_LEVELS

SNAT_PORTS_PER_ADDRESS = 65535 - 1024 + 1
ENA_METRICS = {"bw_in_allowance_exceeded": m.BW_IN_ALLOWANCE_EXCEEDED,
               "bw_out_allowance_exceeded": m.BW_OUT_ALLOWANCE_EXCEEDED,
               "pps_allowance_exceeded": m.PPS_ALLOWANCE_EXCEEDED,
               "conntrack_allowance_exceeded": m.CONNTRACK_ALLOWANCE_EXCEEDED}
# What each level publishes per zone (its custom metrics: what `hanat cost` counts).
ESSENTIAL = (m.ACTIVE_CONNECTION_COUNT, m.BYTES_OUT_TO_DESTINATION, m.BYTES_IN_FROM_DESTINATION,
             m.ERROR_PORT_ALLOCATION, m.PACKETS_DROP_COUNT, m.CONNTRACK_USE, m.PORT_USE_BUSIEST,
             *ENA_METRICS.values())
FULL = ESSENTIAL + (m.BYTES_IN_FROM_SOURCE, m.BYTES_OUT_TO_SOURCE, m.PACKETS_IN_FROM_SOURCE,
                    m.PACKETS_OUT_TO_DESTINATION, m.PACKETS_IN_FROM_DESTINATION, m.PACKETS_OUT_TO_SOURCE,
                    m.CONNTRACK_COUNT, m.CONNTRACK_LIMIT, m.CONNTRACK_DROPS, m.RESETS_SENT, m.INVALID_DROPS)
PUBLISHED = {"off": (), "essential": ESSENTIAL, "full": FULL}


def metrics_per_zone(level: str) -> int:
    """How many custom metrics ``level`` publishes for one zone."""
    return len(PUBLISHED[level])


def _get(counters: dict, *path: str):
    node = counters
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def total(counters: dict | None, paths: tuple[tuple[str, ...], ...]) -> int | None:
    """The sum of the counters at ``paths`` (None when any is unreadable)."""
    if counters is None:
        return None
    values = [_get(counters, *p) for p in paths]
    return None if any(v is None for v in values) else sum(values)


def increase(previous: dict | None, current: dict, *paths: tuple[str, ...]) -> int | None:
    """How much the counters at ``paths`` (summed) rose since ``previous`` (None: unreadable, or they went down)."""
    now, before = total(current, paths), total(previous, paths)
    if now is None or before is None or now < before:
        return None
    return now - before


def table_full_drops(previous: dict | None, current: dict) -> int | None:
    """New flows dropped for a full table: conntrack's ``drop`` + ``early_drop`` rise, less ``insert_failed``'s.
    A clash the kernel cannot resolve (source NAT out of ports) counts one ``insert_failed`` AND one ``drop``
    (net/netfilter/nf_conntrack_core.c, ``__nf_conntrack_confirm`` -> ``nf_ct_resolve_clash``; seen on
    Linux 6.18 by the port-exhaustion drill: 5 and 5), so ports running out is not a full table."""
    drops, clashes = (increase(previous, current, ("conntrack", "drop"), ("conntrack", "early_drop")),
                      increase(previous, current, ("conntrack", "insert_failed")))
    return None if drops is None else max(0, drops - (clashes or 0))


def readings(previous: dict | None, current: dict, level: str) -> list[tuple[m.NatMetric, float]]:
    """The (metric, value) pairs ``level`` publishes for one zone's ``current`` counters, ``previous``
    being the zone's reading before (None: the first; Sum metrics start with the next one)."""
    if level not in PUBLISHED:
        raise ValueError(f"metrics level {level!r} is not one of {', '.join(METRICS_LEVELS)}")
    src, dst = ("forwarded", "from_source"), ("forwarded", "from_destination")
    count, limit = _get(current, "conntrack", "count"), _get(current, "conntrack", "max")
    busiest, addresses = _get(current, "ports", "busiest"), _get(current, "ports", "addresses")
    values: dict[m.NatMetric, float | None] = {
        m.ACTIVE_CONNECTION_COUNT: count, m.CONNTRACK_COUNT: count, m.CONNTRACK_LIMIT: limit,
        m.CONNTRACK_USE: None if count is None or not limit else 100.0 * count / limit,
        m.PORT_USE_BUSIEST: None if not addresses or busiest is None else
        100.0 * max((b["used"] for b in busiest), default=0) / (addresses * SNAT_PORTS_PER_ADDRESS),
        m.BYTES_OUT_TO_DESTINATION: increase(previous, current, (*src, "bytes")),
        m.BYTES_IN_FROM_SOURCE: increase(previous, current, (*src, "bytes")),
        m.PACKETS_OUT_TO_DESTINATION: increase(previous, current, (*src, "packets")),
        m.PACKETS_IN_FROM_SOURCE: increase(previous, current, (*src, "packets")),
        m.BYTES_IN_FROM_DESTINATION: increase(previous, current, (*dst, "bytes")),
        m.BYTES_OUT_TO_SOURCE: increase(previous, current, (*dst, "bytes")),
        m.PACKETS_IN_FROM_DESTINATION: increase(previous, current, (*dst, "packets")),
        m.PACKETS_OUT_TO_SOURCE: increase(previous, current, (*dst, "packets")),
        m.ERROR_PORT_ALLOCATION: increase(previous, current, ("conntrack", "insert_failed")),
        m.PACKETS_DROP_COUNT: increase(previous, current, ("conntrack", "drop"), ("conntrack", "early_drop"),
                                        ("invalid_drops",)),
        m.CONNTRACK_DROPS: table_full_drops(previous, current),
        m.RESETS_SENT: increase(previous, current, ("resets",)),
        m.INVALID_DROPS: increase(previous, current, ("invalid_drops",)),
        **{metric: increase(previous, current, ("ena", key)) for key, metric in ENA_METRICS.items()},
    }
    return [(metric, float(value)) for metric in PUBLISHED[level]
            if (value := values[metric]) is not None]
