"""The NAT metric names, written once (chalicelib/nat_metrics.py)."""
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
    assert nm.DIMENSIONS == (STACK_DIMENSION, ZONE_DIMENSION)
