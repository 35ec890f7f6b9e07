"""The cost arithmetic on small hand-worked cases, and the checks on its inputs (no AWS)."""
from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest

from bootstrap.config.schema import AdminConfig, AlertsConfig, HanatConfig, NatConfig, StackConfig, ZoneConfig
from chalicelib.errors import ConfigError, InputError
from controller.cost import estimate, estimate_for_config, load_prices
from controller.cost.model import Usage
from controller.cost.prices import RegionPrices, parse_prices

# Round prices so every figure below can be worked out by hand.
TOY = RegionPrices(
    region="toy-1",
    instance_hourly=MappingProxyType({"t.small": 0.01, "c.big": 0.10}),
    nat_gateway_hourly=0.05,
    nat_gateway_per_gb=0.05,
    public_ipv4_hourly=0.005,
    data_transfer_out_per_gb=0.10,
    ebs_gp3_gb_month=0.10,
    lambda_gb_second=0.00001,
    lambda_per_million_requests=0.20,
    dynamodb_per_million_rru=0.25,
    dynamodb_per_million_wru=1.25,
    sns_per_million_publishes=0.50,
    sns_email_per_100k=2.00,
    logs_ingest_per_gb=0.50,
    cloudwatch_metric_month=0.30,
)

BASE = Usage(zones=2, nat_instance_type="t.small", gb_per_month=1000, probe_interval_s=5, probe_timeout_s=2,
             alert_emails=2, log_gb_per_month=1, alerts_per_month=10, heartbeat_memory_mb=128)


def lines(option) -> dict[str, float]:
    return {line.item: line.monthly_usd for line in option.lines}


def test_hand_worked_two_zones_1000_gb():
    est = estimate(BASE, TOY, hours_per_month=730, as_of="2000-01-01")
    h = lines(est.hanat)
    # NAT instances     2 x 0.01 $/h x 730 h                               = 14.60
    # root volumes      2 x 8 GB x 0.10 $/GB-month                         =  1.60
    # public IPv4       2 x 0.005 $/h x 730 h                              =  7.30
    # data out          1000 GB x 0.10                                     = 100.00
    # heartbeat         730 h x 60 = 43,800 runs x 55 s x 0.125 GB = 301,125 GB-s x 0.00001 = 3.01125
    # probes            ceil(55/5) = 11 sweeps/min -> 481,800 sweeps; x 2 zones = 963,600 runs
    #                   x 2 s x 0.125 GB = 240,900 GB-s x 0.00001          =  2.409
    # requests          43,800 + 963,600 = 1,007,400 -> 1.0074 M x 0.20   =  0.20148
    # DynamoDB reads    481,800 x 1 RRU = 0.4818 M x 0.25                  =  0.12045
    # DynamoDB writes   481,800 x 2 WRU = 0.9636 M x 1.25                  =  1.2045
    # SNS               10 publishes x 0.5/1e6 + 10 x 2 = 20 emails x 2/1e5 = 0.000005 + 0.0004 = 0.000405
    # logs              1 GB x 0.50                                        =  0.50
    # total = 14.60 + 1.60 + 7.30 + 100 + 3.01125 + 2.409 + 0.20148 + 0.12045 + 1.2045 + 0.000405 + 0.50
    #       = 130.947085
    expected_hanat = {
        "NAT instances": 14.60,
        "NAT root volumes (EBS gp3)": 1.60,
        "Public IPv4 (NAT Elastic IPs)": 7.30,
        "Data transfer out to the internet (same in both options)": 100.00,
        "Lambda heartbeat compute": 3.01125,
        "Lambda probe compute": 2.409,
        "Lambda requests": 0.20148,
        "DynamoDB reads (on-demand)": 0.12045,
        "DynamoDB writes (on-demand)": 1.2045,
        "SNS alerts": 0.000405,
        "CloudWatch Logs ingestion": 0.50,
    }
    assert h == pytest.approx(expected_hanat)
    assert est.hanat.total == pytest.approx(130.947085)
    # NAT Gateways: 2 x 0.05 x 730 = 73.00; processing 1000 x 0.05 = 50.00; IPv4 7.30; data out 100.00
    # total = 230.30
    assert lines(est.nat_gateway) == pytest.approx({
        "NAT Gateways": 73.00,
        "NAT Gateway data processing": 50.00,
        "Public IPv4 (NAT Gateway Elastic IPs)": 7.30,
        "Data transfer out to the internet (same in both options)": 100.00,
    })
    assert est.nat_gateway.total == pytest.approx(230.30)
    # savings = 230.30 - 130.947085 = 99.352915
    assert est.savings == pytest.approx(99.352915)
    # fixed parts: hanat 130.947085 - 100 = 30.947085 < NAT GW 230.30 - 150 = 80.30 -> cheaper at 0 GB
    assert est.break_even_gb_per_month == 0
    assert "cheaper at 0 GB" in est.break_even_note


def test_hand_worked_break_even_with_a_dear_instance():
    est = estimate(Usage(**{**BASE.__dict__, "nat_instance_type": "c.big"}), TOY,
                   hours_per_month=730, as_of="2000-01-01")
    # NAT instances 2 x 0.10 x 730 = 146.00 (instead of 14.60): hanat total 130.947085 + 131.40 = 262.347085
    assert est.hanat.total == pytest.approx(262.347085)
    # hanat fixed 262.347085 - 100 = 162.347085; NAT GW fixed 80.30; NAT GW adds 0.05 $/GB more:
    # break-even = (162.347085 - 80.30) / 0.05 = 1640.9417 GB/month
    assert est.break_even_gb_per_month == pytest.approx(1640.9417)
    assert est.savings == pytest.approx(230.30 - 262.347085)   # negative: hanat dearer at 1000 GB
    # at the break-even traffic both options cost the same
    at_be = estimate(Usage(**{**BASE.__dict__, "nat_instance_type": "c.big", "gb_per_month": 1640.9417}),
                     TOY, hours_per_month=730, as_of="2000-01-01")
    assert at_be.savings == pytest.approx(0, abs=1e-6)


def test_admin_instance_is_priced_in_both_options_and_leaves_savings_alone():
    with_admin = estimate(Usage(**{**BASE.__dict__, "admin_instance_type": "t.small"}), TOY,
                          hours_per_month=730, as_of="2000-01-01")
    without = estimate(BASE, TOY, hours_per_month=730, as_of="2000-01-01")
    # admin: 0.01 x 730 + 8 x 0.10 + 0.005 x 730 = 7.30 + 0.80 + 3.65 = 11.75 in each option
    assert with_admin.hanat.total - without.hanat.total == pytest.approx(11.75)
    assert with_admin.nat_gateway.total - without.nat_gateway.total == pytest.approx(11.75)
    assert with_admin.savings == pytest.approx(without.savings)


@pytest.mark.parametrize("interval, sweeps", [(5, 11), (10, 6), (7, 8), (55, 1), (60, 1)])
def test_sweeps_per_heartbeat_run(interval, sweeps):
    assert Usage(zones=2, nat_instance_type="t.small", gb_per_month=0, probe_interval_s=interval) \
        .sweeps_per_minute == sweeps


def test_json_shape_has_every_promised_field():
    d = estimate(BASE, TOY, hours_per_month=730, as_of="2000-01-01").to_dict()
    assert {"region", "prices_as_of", "hanat", "nat_gateway", "totals", "savings_usd_per_month",
            "break_even_gb_per_month", "assumptions"} <= set(d)
    assert d["region"] == "toy-1" and d["prices_as_of"] == "2000-01-01"
    assert d["totals"] == {"hanat": 130.95, "nat_gateway": 230.30}
    assert d["savings_usd_per_month"] == 99.35
    assert len(d["hanat"]["lines"]) == 11 and len(d["nat_gateway"]["lines"]) == 4
    assert all({"item", "monthly_usd", "detail"} <= set(line) for line in d["hanat"]["lines"])


def config(region="ap-northeast-1", nat_type="t4g.nano", admin=None, zones=3) -> HanatConfig:
    return HanatConfig(
        stack=StackConfig("demo", region, "10.0.0.0/16"),
        zones=tuple(ZoneConfig(f"{region}{c}", "", "", "") for c in "acd"[:zones]),
        nat=NatConfig(instance_type=nat_type),
        admin=AdminConfig(enabled=admin is not None, instance_type=admin or "t4g.nano"),
        alerts=AlertsConfig(emails=("ops@example.com",)),
    )


def test_shipped_price_table_knows_the_required_regions_and_types():
    table = load_prices()
    assert {"us-east-1", "ap-northeast-1"} <= set(table.regions)
    assert table.as_of and table.hours_per_month == 730
    for region in ("us-east-1", "ap-northeast-1"):
        p = table.region(region)
        for itype in ("t4g.nano", "t4g.micro", "t4g.small", "t3.nano", "t3.micro", "t3.small",
                      "t2.micro", "c6gn.medium"):
            assert p.instance(itype) > 0
        assert p.public_ipv4_hourly == 0.005
        assert p.nat_gateway_hourly > 0 and p.nat_gateway_per_gb > 0


def test_unknown_region_is_named_with_the_known_ones():
    with pytest.raises(InputError) as info:
        estimate_for_config(config(region="eu-north-1"), load_prices(), gb_per_month=10)
    assert info.value.exit_code == 2
    assert "'eu-north-1'" in str(info.value) and "ap-northeast-1" in str(info.value)
    assert "us-east-1" in str(info.value)


def test_every_bad_value_is_named_at_once():
    with pytest.raises(InputError) as info:
        estimate_for_config(config(nat_type="x9.huge", admin="z1.tiny"), load_prices(), gb_per_month=-5,
                            probe_memory_mb=64)
    text = str(info.value)
    assert len(info.value.problems) == 4
    for needle in ("nat.instance_type", "'x9.huge'", "admin.instance_type", "'z1.tiny'", "t4g.nano",
                   "--gb-per-month: -5", "--probe-memory-mb: 64"):
        assert needle in text


def test_disabled_admin_is_not_priced():
    est = estimate_for_config(config(admin=None), load_prices(), gb_per_month=0)
    assert not any("Admin" in line.item for line in est.hanat.lines)


def test_incomplete_price_table_names_every_gap():
    with pytest.raises(ConfigError) as info:
        parse_prices({"as_of": "2026-01-01", "currency": "USD",
                      "regions": {"r-1": {"nat_gateway_hourly": "cheap", "bogus": 1,
                                          "instance_hourly": {"t4g.nano": -1}}}})
    text = str(info.value)
    for needle in ("regions.r-1.nat_gateway_hourly: 'cheap'", "regions.r-1.lambda_gb_second: missing",
                   "regions.r-1.bogus: unknown key", "regions.r-1.instance_hourly.t4g.nano: -1"):
        assert needle in text


@pytest.mark.parametrize("case, run_s, billed_s", [
    ("no-measure-full-timeout", None, 2.0),
    ("measured", 0.0507, 0.051),       # Lambda bills duration rounded up to the millisecond
    ("above-timeout-capped", 5.0, 2.0),
])
def test_probe_billed_duration(case, run_s, billed_s):
    assert replace(BASE, probe_run_s=run_s).probe_billed_s == pytest.approx(billed_s), case


def test_probe_compute_at_the_measured_duration_states_the_timeout_bound():
    est = estimate(replace(BASE, probe_run_s=0.05), TOY, hours_per_month=730, as_of="2000-01-01")
    line = next(x for x in est.hanat.lines if x.item == "Lambda probe compute")
    # 963,600 runs x 0.05 s x 0.125 GB = 6,022.5 GB-s x 0.00001 = 0.060225; at most 2.409 at the 2 s timeout
    assert line.monthly_usd == pytest.approx(0.060225)
    assert "at most 2.41" in line.detail


def test_nat_metrics_are_priced_per_zone_per_metric_of_the_level():
    # CloudWatch pricing, "Metrics": custom metrics are billed per metric per month (controller/cost/prices.toml)
    from dataclasses import replace

    from chalicelib.nat_readings import metrics_per_zone

    off = lines(estimate(BASE, TOY, hours_per_month=730, as_of="x").hanat)
    assert "CloudWatch custom metrics (NAT counters)" not in off        # metrics.level = off: no line, no cost
    on = lines(estimate(replace(BASE, nat_metrics_per_zone=metrics_per_zone("essential")), TOY,
                        hours_per_month=730, as_of="x").hanat)
    assert on["CloudWatch custom metrics (NAT counters)"] == pytest.approx(2 * 11 * 0.30)
    full = lines(estimate(replace(BASE, nat_metrics_per_zone=metrics_per_zone("full")), TOY,
                          hours_per_month=730, as_of="x").hanat)
    assert full["CloudWatch custom metrics (NAT counters)"] == pytest.approx(2 * 22 * 0.30)
