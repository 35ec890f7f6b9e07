"""The NAT's counters -> metrics per [metrics] level (chalicelib/nat_readings.py), table-driven."""
from __future__ import annotations

import copy

import pytest

from chalicelib import nat_metrics as m
from chalicelib.nat_readings import ESSENTIAL, FULL, SNAT_PORTS_PER_ADDRESS, metrics_per_zone, readings
from tests.unit.test_probe_counters import SAMPLE

LATER = copy.deepcopy(SAMPLE)
LATER["conntrack"].update(count=131072, drop=5, early_drop=2, insert_failed=3)
LATER["forwarded"] = {"from_source": {"packets": 110, "bytes": 10840}, "from_destination": {"packets": 59, "bytes": 59000}}
LATER["resets"], LATER["invalid_drops"] = 4, 12
LATER["ena"] = {"bw_in_allowance_exceeded": 7, "pps_allowance_exceeded": 3, "conntrack_allowance_available": 10}
LATER["ports"] = {"addresses": 2, "busiest": [{"proto": "tcp", "destination": "198.51.100.10", "port": 443,
                                               "used": 6451}]}


def named(pairs) -> dict[str, float]:
    return {metric.name: value for metric, value in pairs}


# (metric, its value from SAMPLE then LATER): what a NAT's two readings are published as
EXPECTED = [
    (m.ACTIVE_CONNECTION_COUNT, 131072.0),                 # conntrack entries now
    (m.CONNTRACK_USE, 50.0),                                # 131072 of 262144
    (m.PORT_USE_BUSIEST, 100.0 * 6451 / (2 * SNAT_PORTS_PER_ADDRESS)),   # two addresses, two port ranges
    (m.BYTES_OUT_TO_DESTINATION, 10000.0), (m.BYTES_IN_FROM_SOURCE, 10000.0),
    (m.PACKETS_OUT_TO_DESTINATION, 100.0), (m.PACKETS_IN_FROM_SOURCE, 100.0),
    (m.BYTES_IN_FROM_DESTINATION, 50000.0), (m.BYTES_OUT_TO_SOURCE, 50000.0),
    (m.PACKETS_IN_FROM_DESTINATION, 50.0), (m.PACKETS_OUT_TO_SOURCE, 50.0),
    (m.ERROR_PORT_ALLOCATION, 3.0),                         # insert_failed 0 -> 3
    (m.PACKETS_DROP_COUNT, 17.0),                           # drop 5 + early_drop 2 + invalid 10
    (m.CONNTRACK_DROPS, 4.0),                               # drop 5 + early_drop 2, less the 3 clashes' drops
    (m.RESETS_SENT, 4.0), (m.INVALID_DROPS, 10.0),
    (m.CONNTRACK_COUNT, 131072.0), (m.CONNTRACK_LIMIT, 262144.0),
    (m.BW_IN_ALLOWANCE_EXCEEDED, 7.0),                      # the driver has it in both readings
    (m.PPS_ALLOWANCE_EXCEEDED, 0.0),
]


@pytest.mark.parametrize("metric, value", EXPECTED, ids=lambda x: getattr(x, "name", ""))
@pytest.mark.parametrize("level", ["essential", "full"])
def test_each_metric_from_two_readings_per_level(level, metric, value):
    published = named(readings(SAMPLE, LATER, level))
    in_level = metric in (ESSENTIAL if level == "essential" else FULL)
    assert (metric.name in published) is in_level
    if in_level:
        assert published[metric.name] == pytest.approx(value)


@pytest.mark.parametrize("level, count", [("off", 0), ("essential", 11), ("full", 22)])
def test_off_publishes_nothing_and_each_level_its_fixed_set(level, count):
    assert metrics_per_zone(level) == count
    assert set(named(readings(SAMPLE, LATER, level))) <= {x.name for x in (ESSENTIAL if level != "full" else FULL)}
    if level == "off":
        assert readings(SAMPLE, LATER, level) == []


def test_metrics_keep_nat_gateways_names_where_it_has_them():
    ours = {x.name for x in FULL if not x.nat_gateway}
    assert {x.name for x in FULL if x.nat_gateway} <= {x.name for x in m.NAT_GATEWAY_METRICS}
    assert ours == {"ConntrackUsePercent", "PortUseBusiestPercent", "BwInAllowanceExceeded", "BwOutAllowanceExceeded",
                    "PpsAllowanceExceeded", "ConntrackAllowanceExceeded", "ConntrackCount", "ConntrackLimit",
                    "ConntrackDropCount", "ResetsSentCount", "InvalidDropCount"}


@pytest.mark.parametrize("case, previous, current, absent", [
    # the first reading after a cold start: gauges only, the sums start at the next one
    ("first reading", None, LATER, {"BytesOutToDestination", "ErrorPortAllocation", "PacketsDropCount"}),
    # a counter that went down: the NAT restarted or was replaced, no negative (or whole-life) sum
    ("counter reset", LATER, SAMPLE, {"BytesOutToDestination", "ErrorPortAllocation", "PacketsDropCount"}),
    # the lab's veth: no ENA allowance counters, so none published (absent, not zero)
    ("no ENA", SAMPLE | {"ena": None}, LATER | {"ena": None}, {"BwInAllowanceExceeded", "PpsAllowanceExceeded"}),
    # a counter the NAT cannot read (null) is not published as zero
    ("unreadable drops", SAMPLE, copy.deepcopy(LATER) | {"invalid_drops": None}, {"PacketsDropCount"}),
    ("unreadable conntrack", SAMPLE, copy.deepcopy(LATER) | {"conntrack": dict(LATER["conntrack"], count=None)},
     {"ActiveConnectionCount", "ConntrackUsePercent"}),
])
def test_what_cannot_be_known_is_not_published(case, previous, current, absent):
    published = named(readings(previous, current, "essential"))
    assert not absent & set(published), case
    assert "PortUseBusiestPercent" in published


def test_port_use_is_not_published_as_zero_when_the_nat_cannot_read_its_conntrack_entries():
    unknown = copy.deepcopy(LATER) | {"ports": {"addresses": 1, "busiest": None}}
    assert "PortUseBusiestPercent" not in named(readings(SAMPLE, unknown, "essential"))
    idle = copy.deepcopy(LATER) | {"ports": {"addresses": 1, "busiest": []}}
    assert named(readings(SAMPLE, idle, "essential"))["PortUseBusiestPercent"] == 0.0    # read: no flows


# (case, conntrack's rise: drop, early_drop, insert_failed) -> ConntrackDropCount, ErrorPortAllocation,
# PacketsDropCount. A clash source NAT cannot resolve counts insert_failed AND drop (nf_conntrack_core.c,
# __nf_conntrack_confirm -> nf_ct_resolve_clash; the port-exhaustion drill saw 5 and 5 on Linux 6.18):
# ConntrackDropCount is the table-full drops alone, PacketsDropCount every drop.
TABLE_DROPS = [
    ("table full: new flows dropped", (3, 0, 0), 3.0, 0.0, 3.0),
    ("table full: early drops", (0, 2, 0), 2.0, 0.0, 2.0),
    ("ports out: each clash is an insert_failed and a drop", (5, 0, 5), 0.0, 5.0, 5.0),
    ("both at once", (7, 1, 5), 3.0, 5.0, 8.0),
    ("a clash without its drop never makes a negative count", (0, 0, 2), 0.0, 2.0, 0.0),
]


@pytest.mark.parametrize("case, rise, table_full, port_errors, all_drops", TABLE_DROPS, ids=[t[0] for t in TABLE_DROPS])
def test_conntrack_drop_count_is_the_full_tables_drops_not_port_clashes(case, rise, table_full, port_errors, all_drops):
    later = copy.deepcopy(SAMPLE)
    later["conntrack"].update(drop=rise[0], early_drop=rise[1], insert_failed=rise[2])
    published = named(readings(SAMPLE, later, "full"))
    assert (published["ConntrackDropCount"], published["ErrorPortAllocation"], published["PacketsDropCount"]) == \
        (table_full, port_errors, all_drops)


def test_the_same_snapshot_read_twice_adds_nothing():
    published = named(readings(LATER, LATER, "full"))
    assert published["BytesOutToDestination"] == 0.0 and published["ErrorPortAllocation"] == 0.0
    assert published["ActiveConnectionCount"] == 131072.0


def test_an_unknown_level_is_refused():
    with pytest.raises(ValueError, match="'most'"):
        readings(None, SAMPLE, "most")
