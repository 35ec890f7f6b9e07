"""``nat.market`` and ``nat.spot_fallback`` (issue 20): defaults, every bad value named, and the settings
carried into the topology the controller reads (an older topology without them reads as on-demand)."""
from __future__ import annotations

import dataclasses

import pytest

from bootstrap.config.validate import build_config
from chalicelib.errors import ConfigError
from chalicelib.settings import MarketSettings
from chalicelib.topology import Topology
from tests.unit.test_alerts import TOPOLOGY
from tests.unit.test_config_validate import BASE, mutate


def test_defaults_are_on_demand_with_fallback_on():
    assert build_config(BASE, source="t").nat.market == MarketSettings(market="on-demand", spot_fallback=True)


@pytest.mark.parametrize("market,fallback", [("spot", True), ("spot", False), ("on-demand", False)])
def test_valid_values(market, fallback):
    raw = mutate(mutate(BASE, "nat.market", market), "nat.spot_fallback", fallback)
    assert build_config(raw, source="t").nat.market == MarketSettings(market=market, spot_fallback=fallback)


@pytest.mark.parametrize("key,value,message", [
    ("nat.market", "Spot", "nat.market 'Spot' is not a market (use 'on-demand' or 'spot')"),
    ("nat.market", "ondemand", "nat.market 'ondemand' is not a market"),
    ("nat.market", 1, "nat.market must be a string, got 1"),
    ("nat.spot_fallback", "yes", "nat.spot_fallback must be true or false, got string 'yes'"),
    ("nat.spot_fallback", 0, "nat.spot_fallback must be true or false, got 0"),
])
def test_bad_values_are_named(key, value, message):
    with pytest.raises(ConfigError) as err:
        build_config(mutate(BASE, key, value), source="t")
    assert any(message in p for p in err.value.problems), err.value.problems


def test_both_bad_values_are_reported_at_once():
    raw = mutate(mutate(BASE, "nat.market", "reserved"), "nat.spot_fallback", "no")
    with pytest.raises(ConfigError) as err:
        build_config(raw, source="t")
    assert [p for p in err.value.problems if p.startswith("nat.")] == [
        "nat.market 'reserved' is not a market (use 'on-demand' or 'spot')",
        "nat.spot_fallback must be true or false, got string 'no'"]


def test_topology_carries_the_market_and_an_older_one_reads_as_on_demand():
    spot = Topology.from_json(Topology.to_json(_with(MarketSettings("spot", False))))
    assert spot.nat_market == MarketSettings("spot", False)
    older = TOPOLOGY.to_dict()
    del older["nat_market"]
    assert Topology.from_dict(older).nat_market == MarketSettings()


def test_plan_label():
    assert [MarketSettings(m, f).label for m, f in (("spot", True), ("spot", False), ("on-demand", True))] == [
        "spot (on-demand if refused)", "spot", "on-demand"]


def _with(market: MarketSettings) -> Topology:
    return dataclasses.replace(TOPOLOGY, nat_market=market)


@pytest.mark.parametrize("changes", [
    {}, {"nat.market": "spot"}, {"nat.market": "spot", "nat.spot_fallback": False}, {"nat.addresses": 2},
    {"nat.ami": "ami-0123456789abcdef0"},
], ids=["defaults", "spot", "spot-no-fallback", "two-addresses", "ami"])
def test_the_nat_table_written_back_validates_to_the_same_settings(changes):
    # lab/config.py's adopting config writes [nat] from the frozen config: the market's keys must sit flat
    raw = BASE
    for key, value in changes.items():
        raw = mutate(raw, key, value)
    nat = build_config(raw, source="t").nat
    assert build_config({**raw, "nat": nat.to_table()}, source="t").nat == nat
