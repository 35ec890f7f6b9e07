"""The dated price table (``prices.toml``): load it, check it is complete, look prices up.

Prices live in one TOML file a user can update; a region or an instance type the table does not know
is bad input naming it and listing what the table does know, never a silent zero.
"""
from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType

from chalicelib.errors import ConfigError, InputError

DEFAULT_PRICES_PATH = Path(__file__).with_name("prices.toml")


@dataclass(frozen=True)
class RegionPrices:
    """Every price ``hanat cost`` needs for one region (USD)."""

    region: str
    instance_hourly: Mapping[str, float]
    nat_gateway_hourly: float
    nat_gateway_per_gb: float
    public_ipv4_hourly: float
    data_transfer_out_per_gb: float
    ebs_gp3_gb_month: float
    lambda_gb_second: float
    lambda_per_million_requests: float
    dynamodb_per_million_rru: float
    dynamodb_per_million_wru: float
    sns_per_million_publishes: float
    sns_email_per_100k: float
    logs_ingest_per_gb: float
    cloudwatch_metric_month: float      # one custom metric (name + dimensions) for a month
    # estimated spot prices (optional, see prices.toml)
    spot_hourly: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    def spot(self, instance_type: str) -> float | None:
        """Estimated hourly spot price of ``instance_type`` (None: the table has none)."""
        return self.spot_hourly.get(instance_type)

    def instance(self, instance_type: str) -> float:
        """Hourly price of ``instance_type``; unknown -> InputError listing the known types."""
        try:
            return self.instance_hourly[instance_type]
        except KeyError:
            raise InputError(self.unknown_instance_problem(instance_type)) from None

    def unknown_instance_problem(self, instance_type: str) -> str:
        known = ", ".join(sorted(self.instance_hourly))
        return (f"instance type {instance_type!r} has no price for region {self.region!r} in the price "
                f"table (known: {known})")


SCALAR_PRICE_KEYS = tuple(f.name for f in fields(RegionPrices)
                          if f.name not in ("region", "instance_hourly", "spot_hourly"))


@dataclass(frozen=True)
class PriceTable:
    as_of: str
    currency: str
    hours_per_month: float
    regions: Mapping[str, RegionPrices]
    source: str = ""
    spot_basis: str = ""          # what the spot prices are (the assumption stated with every spot estimate)

    def region(self, name: str) -> RegionPrices:
        """Prices for region ``name``; unknown -> InputError listing the known regions."""
        try:
            return self.regions[name]
        except KeyError:
            raise InputError(self.unknown_region_problem(name)) from None

    def unknown_region_problem(self, name: str) -> str:
        return (f"region {name!r} is not in the price table {self.source or 'prices.toml'} "
                f"(known: {', '.join(sorted(self.regions))})")


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def parse_prices(data: Mapping, *, source: str = "prices.toml") -> PriceTable:
    """Check a parsed price table and freeze it; every missing or bad entry is named at once."""
    problems: list[str] = []
    for key in ("as_of", "currency"):
        if not isinstance(data.get(key), str) or not data.get(key):
            problems.append(f"{key}: missing (a string)")
    hours = data.get("hours_per_month", 730)
    if not _number(hours) or hours == 0:
        problems.append(f"hours_per_month: {hours!r} is not a positive number")
    raw_regions = data.get("regions")
    if not isinstance(raw_regions, Mapping) or not raw_regions:
        problems.append("regions: missing (one [regions.\"<name>\"] table per region)")
        raw_regions = {}
    regions: dict[str, RegionPrices] = {}
    for name, raw in raw_regions.items():
        where = f"regions.{name}"
        if not isinstance(raw, Mapping):
            problems.append(f"{where}: not a table")
            continue
        for key in SCALAR_PRICE_KEYS:
            if key not in raw:
                problems.append(f"{where}.{key}: missing")
            elif not _number(raw[key]):
                problems.append(f"{where}.{key}: {raw[key]!r} is not a non-negative number")
        for key in sorted(set(raw) - set(SCALAR_PRICE_KEYS) - {"instance_hourly", "spot_hourly"}):
            problems.append(f"{where}.{key}: unknown key")
        types = raw.get("instance_hourly")
        if not isinstance(types, Mapping) or not types:
            problems.append(f"{where}.instance_hourly: missing (instance type = hourly price)")
            types = {}
        for itype, price in types.items():
            if not _number(price):
                problems.append(f"{where}.instance_hourly.{itype}: {price!r} is not a non-negative number")
        spot = raw.get("spot_hourly", {})
        if not isinstance(spot, Mapping):
            problems.append(f"{where}.spot_hourly: not a table (instance type = estimated spot price)")
            spot = {}
        for itype, price in spot.items():
            if not _number(price):
                problems.append(f"{where}.spot_hourly.{itype}: {price!r} is not a non-negative number")
        if spot and not isinstance(data.get("spot_basis"), str):
            problems.append(f"spot_basis: missing (what {where}.spot_hourly's prices are: the stated assumption)")
        if not problems:
            regions[name] = RegionPrices(
                region=name,
                instance_hourly=MappingProxyType({k: float(v) for k, v in types.items()}),
                spot_hourly=MappingProxyType({k: float(v) for k, v in spot.items()}),
                **{k: float(raw[k]) for k in SCALAR_PRICE_KEYS},
            )
    if problems:
        raise ConfigError(problems, source=f"price table {source}")
    return PriceTable(as_of=data["as_of"], currency=data["currency"], hours_per_month=float(hours),
                      regions=MappingProxyType(regions), source=source, spot_basis=data.get("spot_basis", ""))


def load_prices(path: str | Path | None = None) -> PriceTable:
    """Read and check the price table (default: the one shipped next to this module)."""
    path = Path(path) if path else DEFAULT_PRICES_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"price table {str(path)!r}: cannot be read ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", source=f"price table {path}") from None
    return parse_prices(data, source=str(path))
