"""The pure parts of the lab drills of issues 11 and 12 (no emulator, no root): the alarm evaluation the
``heartbeat-stopped`` drill uses, the NAT gateways of an adopted VPC in the data plane spec, the route
moves the watcher names ``cutover``/``release``, and the roll's "one zone at a time" count.

CloudWatch's alarm evaluation (periods aligned to the period, the EvaluationPeriods newest complete
periods, DatapointsToAlarm of them breaching, missing data per TreatMissingData): Amazon CloudWatch User
Guide, "Using Amazon CloudWatch alarms" / "Configuring how CloudWatch alarms treat missing data"
(docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html).
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from chalicelib.errors import InputError
from chalicelib.monitoring import heartbeat_alarm
from lab.aws import alarms
from lab.aws.eventbridge import classify
from lab.dataplane import addresses
from lab.dataplane.computed import ComputedDataPlane
from lab.dataplane.netns import layout, natgw
from lab.dataplane.spec import DataPlaneSpec, NatGatewayPlane, NatPlane, ZonePlane, validate_spec
from lab.drills.report import failed_between
from lab.drills.scenarios.adoption import zone_moves
from lab.drills.scenarios.day2 import most_zones_away
from lab.timeline import Event

# --- the heartbeat-missing alarm, evaluated as CloudWatch would --------------------------------------
HEARTBEAT = {"AlarmName": "hanat-x-heartbeat-missing", "MetricName": "SweepsCompleted", "Period": 60,
             "EvaluationPeriods": 3, "DatapointsToAlarm": 3, "Threshold": 1, "Statistic": "Sum",
             "ComparisonOperator": "LessThanThreshold", "TreatMissingData": "breaching"}
RULE = alarms.AlarmRule.from_put_metric_alarm(HEARTBEAT)


def sweeps(first: float, last: float, every: float = 10.0) -> list[tuple[float, float]]:
    out, t = [], first
    while t <= last:
        out.append((t, 1.0))
        t += every
    return out


EVALUATIONS = {
    # id: (points, now, alarm?)
    "sweeping": (sweeps(0, 600), 600, False),
    "one_empty_minute": (sweeps(0, 119) + sweeps(180, 600), 240, False),
    "two_empty_minutes": (sweeps(0, 119), 240, False),                   # [120,240) empty, [60,120) has sweeps
    "three_empty_minutes": (sweeps(0, 119), 300, True),
    "mid_period_is_not_an_evaluation": (sweeps(0, 119), 299.9, False),   # evaluated at the 240 boundary
    "never_swept": ([], 180, True),                                      # missing = breaching
    "one_sweep_in_the_window_clears": (sweeps(0, 119) + [(250.0, 1.0)], 300, False),
    "a_zero_point_breaches": ([(t, 0.0) for t, _ in sweeps(0, 300)], 300, True),
}


@pytest.mark.parametrize("case", EVALUATIONS, ids=list(EVALUATIONS))
def test_heartbeat_alarm_condition_as_cloudwatch_evaluates_it(case):
    points, now, alarm = EVALUATIONS[case]
    assert alarms.evaluate(RULE, points, now).alarm is alarm


def test_alarm_turns_true_three_periods_after_the_first_empty_one():
    points = sweeps(0, 125)                                  # last sweep at 120: the period [120, 180) has one
    went = alarms.first_alarm(RULE, points, 125, 1000)
    assert went is not None and went.at == 180 + 3 * 60      # [180, 360) = 3 empty minutes
    assert [p.value for p in went.periods] == [None, None, None] and all(p.breaching for p in went.periods)
    assert alarms.first_alarm(RULE, points, 125, 359) is None


def test_time_scale_makes_lab_minutes():
    rule = alarms.AlarmRule.from_put_metric_alarm(HEARTBEAT, time_scale=12)
    assert rule.period_s == 5
    assert alarms.first_alarm(rule, [(1.0, 1.0)], 1.0, 100).at == 20.0     # [5, 20) = 3 empty lab minutes


def test_the_deployed_heartbeat_alarm_is_what_the_lab_evaluates():
    """The drill reads chalicelib.monitoring.heartbeat_alarm itself: 60 s, 3 of 3, < 1, missing = breaching."""
    topology = SimpleNamespace(stack="x", topic_arn="arn:aws:sns:eu-west-1:123456789012:hanat-x-alerts")
    rule = alarms.AlarmRule.from_put_metric_alarm(heartbeat_alarm(topology))
    assert (rule.period_s, rule.evaluation_periods, rule.datapoints_to_alarm, rule.threshold, rule.comparison,
            rule.treat_missing, rule.metric) == (60, 3, 3, 1.0, "LessThanThreshold", "breaching", "SweepsCompleted")


BAD_ALARMS = {
    "treat_missing_ignore": ({"TreatMissingData": "ignore"}, "TreatMissingData"),
    "unknown_comparison": ({"ComparisonOperator": "LessThanLowerThreshold"}, "ComparisonOperator"),
    "unknown_statistic": ({"Statistic": "p99"}, "Statistic"),
    "datapoints_over_periods": ({"DatapointsToAlarm": 4}, "DatapointsToAlarm"),
    "zero_period": ({"Period": 0}, "Period"),
}


@pytest.mark.parametrize("case", BAD_ALARMS, ids=list(BAD_ALARMS))
def test_alarm_the_lab_cannot_evaluate_is_named(case):
    change, named = BAD_ALARMS[case]
    with pytest.raises(InputError, match=named):
        alarms.AlarmRule.from_put_metric_alarm({**HEARTBEAT, **change})


# --- an adopted VPC's NAT gateways in the data plane ---------------------------------------------------
GW_A = NatGatewayPlane("nat-0a", "10.0.0.254", "10.0.0.0/24", "203.0.113.51")
GW_B = NatGatewayPlane("nat-0b", "10.0.1.254", "10.0.1.0/24", "203.0.113.52", state="deleted")


def adopted_spec(route_a: str | None, gateways=(GW_A, GW_B)) -> DataPlaneSpec:
    nat_a = NatPlane("i-a", "eni-a", "10.0.0.5", "10.0.0.0/24", lab_address="203.0.113.101")
    nat_b = NatPlane("i-b", "eni-b", "10.0.1.5", "10.0.1.0/24", lab_address="203.0.113.102")
    zones = (ZonePlane("az-a", "10.0.0.0/24", "10.0.16.0/20", "10.0.8.0/28", nat_a),
             ZonePlane("az-b", "10.0.1.0/24", "10.0.32.0/20", "10.0.9.0/28", nat_b))
    routes = {"10.0.16.0/20": route_a, "10.0.8.0/28": "eni-a", "10.0.32.0/20": "nat-0b", "10.0.9.0/28": "eni-b"}
    return DataPlaneSpec("10.0.0.0/16", zones, routes, nat_gateways=tuple(gateways))


EGRESS = {
    "by_its_nat_gateway": ("nat-0a", "203.0.113.51"),
    "cut_over_to_the_nat": ("eni-a", "203.0.113.101"),
    "unknown_gateway": ("nat-0zz", None),
}


@pytest.mark.parametrize("case", EGRESS, ids=list(EGRESS))
def test_computed_egress_through_nat_gateways(case):
    route, expected = EGRESS[case]
    assert ComputedDataPlane(adopted_spec(route)).egress_of("10.0.16.0/20") == expected


def test_unavailable_nat_gateway_is_a_blackhole():
    plane = ComputedDataPlane(adopted_spec("nat-0a"))
    assert plane.egress_of("10.0.32.0/20") is None                           # nat-0b is deleted
    tables = {t.subnet_cidr: t for t in layout.router_tables(adopted_spec("nat-0a"))}
    assert tables["10.0.16.0/20"].via == "10.0.0.254" and tables["10.0.16.0/20"].nat_gateway_id == "nat-0a"
    assert tables["10.0.32.0/20"].via is None


def test_nat_gateway_spec_problems_are_named():
    bad = NatGatewayPlane("nat-0c", "10.0.5.9", "10.0.5.0/24", "203.0.113.53")
    clash = NatGatewayPlane("nat-0d", "10.0.0.5", "10.0.0.0/24", "203.0.113.54")   # NAT i-a's address
    validate_spec(adopted_spec("nat-0a"))
    with pytest.raises(InputError) as err:
        validate_spec(adopted_spec("nat-0a", gateways=(GW_A, GW_A, bad, clash)))
    text = str(err.value)
    assert "nat-0a appears twice" in text and "nat-0c" in text and "i-a" in text


def test_nat_gateway_addresses_and_private_ip():
    assert addresses.nat_gateway_lab_addresses(["nat-1", "nat-2", "nat-1"]) == {"nat-1": "203.0.113.51",
                                                                              "nat-2": "203.0.113.52"}
    assert addresses.nat_gateway_private_ip("10.0.0.77", "10.0.0.0/24") == "10.0.0.77"
    assert addresses.nat_gateway_private_ip("10.9.0.7", "10.0.0.0/24") == "10.0.0.254"   # moto's, outside: last usable
    assert addresses.nat_gateway_private_ip(None, "10.0.0.0/24") == "10.0.0.254"


def test_nat_gateway_ruleset_masquerades_the_vpc_only():
    rules = natgw.ruleset("10.0.0.0/16", "vpc0")   # its one interface: in and out on the same device
    assert 'oifname "vpc0" ip saddr 10.0.0.0/16 ip daddr != 10.0.0.0/16 masquerade' in rules
    assert rules.count("masquerade") == 1
    with pytest.raises(InputError, match="vpc_cidr"):
        natgw.ruleset("10.0.0.0/33", "vpc0")


# --- route moves seen by the watcher -------------------------------------------------------------------
MOVES = {
    # id: (before zone, after zone, original, target before, target after, kind)
    "cutover": (None, "a", "nat-0a", "nat-0a", "eni-a", "cutover"),
    "release_from_own_nat": ("a", None, "nat-0a", "eni-a", "nat-0a", "release"),
    "release_from_failed_over": ("b", None, "nat-0a", "eni-b", "nat-0a", "release"),
    "failover_in_adopted_vpc": ("a", "b", "nat-0a", "eni-a", "eni-b", "failover"),
    "revert_in_adopted_vpc": ("b", "a", "nat-0a", "eni-b", "eni-a", "revert"),
    "owned_failover": ("a", "b", "", "eni-a", "eni-b", "failover"),
}


@pytest.mark.parametrize("case", MOVES, ids=list(MOVES))
def test_route_moves_are_named(case):
    before, after, original, t_before, t_after, kind = MOVES[case]
    assert classify("a", before, after, original=original, target_before=t_before, target_after=t_after) == kind


def ev(t: float, event: str, zone: str) -> Event:
    return Event(t=t, event=event, zone=zone, detail={})


ROLLS = {
    "one_after_the_other": ([ev(1, "failover", "a"), ev(2, "revert", "a"), ev(3, "failover", "b"),
                             ev(4, "revert", "b")], 1),
    "two_at_once": ([ev(1, "failover", "a"), ev(2, "failover", "b"), ev(3, "revert", "a")], 2),
    "nothing_moved": ([], 0),
}


@pytest.mark.parametrize("case", ROLLS, ids=list(ROLLS))
def test_roll_counts_zones_away_at_once(case):
    events, most = ROLLS[case]
    assert most_zones_away(events, ["a", "b"]) == most


def test_failed_requests_are_counted_in_their_window():
    class S:
        def __init__(self, t, ok):
            self.t, self.ok = t, ok
    samples = [S(0.0, True), S(0.1, False), S(0.2, False), S(0.3, True), S(0.4, False)]
    assert failed_between(samples, 0.0, 0.4) == 2 and failed_between(samples, 0.0, 1.0) == 3


def test_the_cli_and_the_demo_offer_every_registered_drill():
    """`hanat lab drill --scenario` (its choices read from the registry) and `--scenario all`
    (what `make demo` runs) list every registered scenario, these three included."""
    from controller.cli import cli
    from lab.drills.runner import expand_scenarios
    from lab.drills.scenarios import names

    drill = cli.commands["lab"].commands["drill"]   # as `hanat lab drill --help` shows it
    scenario = next(p for p in drill.params if p.name == "scenario")
    assert tuple(scenario.type.choices) == (*names(), "all")
    assert {"cutover", "roll", "heartbeat-stopped"} <= set(expand_scenarios("all"))


def move(t: float, kind: str, zone: str, frm, to, tables) -> Event:
    return Event(t=t, event=kind, zone=zone, detail={"from": frm, "to": to, "route_tables": list(tables)})


ZONE_MOVES = {
    # seen in one poll, or a poll apart (an adopted zone's two tables, pointed one after the other): one move
    "one_poll": ([move(1.0, "revert", "a", "b", "a", ["rtb-1", "rtb-2"])], 1),
    "two_polls": ([move(1.0, "revert", "a", "b", "a", ["rtb-1"]), move(1.2, "revert", "a", "b", "a", ["rtb-2"])], 1),
    # the same table again, or seconds later, or another zone: separate moves
    "same_table_twice": ([move(1.0, "cutover", "a", None, "a", ["rtb-1"]),
                          move(1.2, "cutover", "a", None, "a", ["rtb-1"])], 2),
    "seconds_apart": ([move(1.0, "failover", "a", "a", "b", ["rtb-1"]),
                       move(5.0, "failover", "a", "a", "b", ["rtb-2"])], 2),
    "two_zones": ([move(1.0, "cutover", "a", None, "a", ["rtb-1"]), move(1.1, "cutover", "b", None, "b", ["rtb-3"])], 2),
    "other_kinds_ignored": ([move(1.0, "release", "a", "a", None, ["rtb-1"])], 0),
}


@pytest.mark.parametrize("case", ZONE_MOVES, ids=list(ZONE_MOVES))
def test_a_zone_move_seen_a_poll_apart_is_one_move(case):
    events, count = ZONE_MOVES[case]
    assert len(zone_moves(events, ("cutover", "failover", "revert"))) == count
