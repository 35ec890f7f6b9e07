"""`hanat cost` prices spot NATs beside on-demand (issue 20, item 5): hand-worked on round prices, the dated
table's stated assumption, a type without a spot price, and a bad spot entry named."""
from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest

from chalicelib.errors import ConfigError
from controller.cost import estimate, load_prices
from controller.cost.prices import parse_prices
from tests.unit.test_cost_model import BASE, TOY, lines

SPOT_TOY = replace(TOY, spot_hourly=MappingProxyType({"t.small": 0.004}))


def test_spot_option_differs_from_on_demand_only_in_the_nat_instances_line():
    est = estimate(BASE, SPOT_TOY, hours_per_month=730, as_of="2000-01-01", spot_basis="toy spot")
    on_demand, spot = lines(est.hanat), lines(est.hanat_spot)
    assert spot.pop("NAT instances (spot)") == pytest.approx(2 * 0.004 * 730)   # 5.84
    assert on_demand.pop("NAT instances") == pytest.approx(2 * 0.01 * 730)      # 14.60
    assert spot == on_demand                                                    # everything else the same
    assert est.hanat.total - est.hanat_spot.total == pytest.approx(14.60 - 5.84)
    d = est.to_dict()
    assert d["spot_savings_usd_per_month"] == round(est.nat_gateway.total - est.hanat_spot.total, 2)
    assert any("spot NATs, priced as of 2000-01-01: toy spot" in a for a in est.assumptions)


def test_a_type_without_a_spot_price_is_priced_on_demand_only_and_says_so():
    est = estimate(replace(BASE, nat_instance_type="c.big"), SPOT_TOY, hours_per_month=730, as_of="2000-01-01")
    assert est.hanat_spot is None and est.to_dict()["hanat_spot"] is None
    assert any("no spot price for c.big" in a for a in est.assumptions)


def test_the_shipped_table_prices_spot_t4g_at_about_a_third_with_the_assumption_stated():
    prices = load_prices()
    assert "35% of on-demand" in prices.spot_basis and "change per zone and hour" in prices.spot_basis
    for region in prices.regions.values():
        for itype, spot in region.spot_hourly.items():
            assert 0.3 <= spot / region.instance(itype) <= 0.4, (region.region, itype)


def test_bad_spot_entries_are_named():
    data = {"as_of": "2000-01-01", "currency": "USD", "regions": {"toy-1": {
        **{k: 1.0 for k in ("nat_gateway_hourly", "nat_gateway_per_gb", "public_ipv4_hourly",
                            "data_transfer_out_per_gb", "ebs_gp3_gb_month", "lambda_gb_second",
                            "lambda_per_million_requests", "dynamodb_per_million_rru", "dynamodb_per_million_wru",
                            "sns_per_million_publishes", "sns_email_per_100k", "logs_ingest_per_gb")},
        "instance_hourly": {"t.small": 0.01}, "spot_hourly": {"t.small": "cheap"}}}}
    with pytest.raises(ConfigError) as err:
        parse_prices(data)
    problems = "\n".join(err.value.problems)
    assert "regions.toy-1.spot_hourly.t.small: 'cheap' is not a non-negative number" in problems
    assert "spot_basis: missing" in problems
