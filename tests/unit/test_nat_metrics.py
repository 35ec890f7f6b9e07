"""The NAT metric names, written once (chalicelib/nat_metrics.py)."""
import json

from chalicelib import nat_metrics as nm
from chalicelib.observability import STACK_DIMENSION, ZONE_DIMENSION


def test_all_fourteen_plus_two_nat_gateway_names_are_kept_as_aws_spells_them():
    # VPC User Guide, "NAT gateway metrics and dimensions": the names a team moving off NAT Gateway
    # has in its dashboards and alarms.
    assert {m.name for m in nm.NAT_GATEWAY_METRICS} == {
        "ActiveConnectionCount", "BytesInFromDestination", "BytesInFromSource", "BytesOutToDestination",
        "BytesOutToSource", "ConnectionAttemptCount", "ConnectionEstablishedCount", "ErrorPortAllocation",
        "IdleTimeoutCount", "PacketsDropCount", "PacketsInFromDestination", "PacketsInFromSource",
        "PacketsOutToDestination", "PacketsOutToSource", "PeakBytesPerSecond", "PeakPacketsPerSecond"}
    assert all(m.nat_gateway for m in nm.NAT_GATEWAY_METRICS)
    assert not any(m.nat_gateway for m in nm.HANAT_METRICS)


def test_names_are_unique_and_units_are_cloudwatch_units():
    assert len(nm.BY_NAME) == len(nm.ALL)
    units = {"Count", "Bytes", "Percent", "Bytes/Second", "Count/Second"}
    assert {m.unit for m in nm.ALL} <= units
    assert {m.statistic for m in nm.ALL} <= {"Sum", "Maximum", "Minimum", "Average"}


def test_dimensions_survive_a_replacement_no_instance_id():
    assert nm.DIMENSIONS == ("service", STACK_DIMENSION, ZONE_DIMENSION)
    assert [d["Name"] for d in nm.dimensions("s", "az1")] == list(nm.DIMENSIONS)


def test_metric_sink_gives_a_zone_metric_exactly_the_dimensions_alarms_name(capsys):
    # what the heartbeat's metric_sink writes (EMF) is what the alarms and widgets select
    from chalicelib import observability
    observability.set_stack("dims")
    observability.metric_sink(nm.ERROR_PORT_ALLOCATION.name, 2, nm.ERROR_PORT_ALLOCATION.unit,
                              {ZONE_DIMENSION: "az9"})
    observability.flush_metrics()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    [emf] = [line for line in lines if nm.ERROR_PORT_ALLOCATION.name in line]
    assert {d["Name"]: d["Value"] for d in nm.dimensions("dims", "az9")} == {k: emf[k] for k in nm.DIMENSIONS}
    assert set(emf["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]) == set(nm.DIMENSIONS)
