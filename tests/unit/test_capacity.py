"""Capacity: the bandwidth and addresses-per-interface table (chalicelib/instance_types.py), the warnings
``plan``/``cost`` print, headroom, and the ``nat.addresses`` / ``[traffic]`` settings."""
import pytest

from bootstrap.config.capacity import MAX_NAT_ADDRESSES
from bootstrap.config.validate import build_config
from chalicelib import instance_types as it
from chalicelib.errors import ConfigError


def _raw(**sections):
    raw = {"stack": {"name": "cap", "region": "us-east-1", "vpc_cidr": "10.40.0.0/16"},
           "zones": [{"az": "us-east-1a"}, {"az": "us-east-1b"}]}
    raw.update(sections)
    return raw


def test_t4g_nano_baseline_is_32_mbit_under_a_5_gbit_burst_describe_instance_types():
    # EC2 DescribeInstanceTypes NetworkCards[0]: BaselineBandwidthInGbps 0.032, PeakBandwidthInGbps 5.0
    nano = it.limits("t4g.nano")
    assert (nano.baseline_mbps, nano.peak_mbps, nano.ipv4_per_interface) == (32, 5000, 2)
    assert it.max_nat_addresses("t4g.medium") == 6
    assert it.limits("x9.huge") is None


def test_every_priced_type_has_network_limits():
    from controller.cost.prices import load_prices
    table = load_prices()
    for region in table.regions.values():
        missing = set(region.instance_hourly) - set(it.LIMITS)
        assert not missing, f"{region.region}: no bandwidth figures for {sorted(missing)}"


def test_peak_over_the_baseline_warns_and_names_a_roll_to_a_type_that_fits():
    [warning] = it.capacity_warnings("t4g.nano", peak_mbps=100)
    assert "100 Mbit/s exceeds t4g.nano's baseline bandwidth 32 Mbit/s" in warning
    assert "hanat roll" in warning and "'t4g.small'" in warning      # 128 Mbit/s, smallest arm64 that fits
    [x86] = it.capacity_warnings("t3.nano", peak_mbps=200)
    assert "'t3.medium'" in x86 and "t4g" not in x86                                     # the AMI's architecture is kept


def test_traffic_within_the_baseline_does_not_warn():
    assert it.capacity_warnings("t4g.nano", peak_mbps=30, gb_per_month=5) == []
    assert it.capacity_warnings("t4g.nano") == []


def test_a_monthly_volume_above_the_baseline_warns_even_without_a_peak():
    # 20,000 GB/month is 60.9 Mbit/s on average: more than a t4g.nano sustains
    assert it.monthly_average_mbps(20_000) == pytest.approx(60.88, abs=0.01)
    [warning] = it.capacity_warnings("t4g.nano", gb_per_month=20_000)
    assert "monthly average" in warning and "61 Mbit/s" in warning and "'t4g.micro'" in warning   # 64 Mbit/s


def test_no_type_fits_says_so_and_an_unknown_type_is_named():
    [warning] = it.capacity_warnings("t4g.nano", peak_mbps=50_000)
    assert "no listed single type sustains it" in warning
    [unknown] = it.capacity_warnings("x9.huge", peak_mbps=10)
    assert "'x9.huge' is not in hanat's bandwidth table" in unknown


def test_headroom_is_the_free_share_of_the_baseline():
    assert it.headroom(8, "t4g.nano") == pytest.approx(0.75)
    assert it.headroom(64, "t4g.nano") == pytest.approx(-1.0)        # living on burst credits
    assert it.headroom(1, "x9.huge") is None


def test_nat_addresses_defaults_to_one_and_accepts_up_to_the_interface_limit():
    assert build_config(_raw(), source="t").nat.addresses == 1
    cfg = build_config(_raw(nat={"instance_type": "t4g.medium", "addresses": 6}), source="t")
    assert cfg.nat.addresses == 6


def test_nat_addresses_over_the_types_ip_per_eni_limit_names_both_values():
    # EC2 User Guide "Maximum IP addresses per network interface": t4g.nano holds 2 IPv4 on one interface
    with pytest.raises(ConfigError) as err:
        build_config(_raw(nat={"instance_type": "t4g.nano", "addresses": 3}), source="t")
    text = str(err.value)
    assert "nat.addresses" in text and "3 needs 3 private IPv4" in text and "'t4g.nano' holds at most 2" in text
    assert "'t4g.small'" in text


@pytest.mark.parametrize("bad", [0, MAX_NAT_ADDRESSES + 1, "2", True, 1.5])
def test_nat_addresses_outside_1_to_8_is_refused(bad):
    with pytest.raises(ConfigError, match="nat.addresses"):
        build_config(_raw(nat={"instance_type": "c7gn.large", "addresses": bad}), source="t")


def test_traffic_section_is_read_and_bad_values_named():
    cfg = build_config(_raw(traffic={"gb_per_month": 500, "peak_mbps": 80.5}), source="t")
    assert (cfg.traffic.gb_per_month, cfg.traffic.peak_mbps) == (500.0, 80.5)
    with pytest.raises(ConfigError) as err:
        build_config(_raw(traffic={"gb_per_month": -1, "peak_mbps": "fast", "burst": 1}), source="t")
    text = str(err.value)
    assert "traffic.gb_per_month" in text and "traffic.peak_mbps" in text and "unknown key traffic.burst" in text


def test_nat_user_data_carries_the_address_count_and_refuses_more_than_eight():
    from bootstrap.nat import render
    from chalicelib.errors import InputError
    text = render.nat_script("10.0.0.0/16", 3)
    assert 'HANAT_NAT_ADDRESSES="${HANAT_NAT_ADDRESSES:-3}"' in text and "@@NAT_ADDRESSES@@" not in text
    assert 'HANAT_NAT_ADDRESSES="${HANAT_NAT_ADDRESSES:-1}"' in render.nat_script("10.0.0.0/16")
    with pytest.raises(InputError, match="1 to 8"):
        render.nat_script("10.0.0.0/16", 9)
