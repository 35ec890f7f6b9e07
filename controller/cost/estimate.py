"""Join a loaded configuration and the price table to the pure cost model, checking inputs first."""
from __future__ import annotations

import math

from bootstrap.config.schema import HanatConfig
from bootstrap.deploy.stage import HEARTBEAT_MEMORY_MB, HEARTBEAT_MEMORY_WHY, PROBE_MEMORY_MB
from chalicelib.errors import InputError
from chalicelib.nat_readings import metrics_per_zone

from .model import CostEstimate, Usage, estimate
from .prices import PriceTable

# A healthy probe's duration, as `python bench/sweep.py` measures it (the probe handler's call through the
# lab's Invoke endpoint, targets answering after 40 ms, an internet round trip: median 50.4 ms, p95 71.6 ms
# over 48 invokes). A failing probe runs up to its timeout, the stated upper bound.
TYPICAL_PROBE_S = 0.051


def usage_from_config(cfg: HanatConfig, *, gb_per_month: float, log_gb_per_month: float = 0.0,
                      heartbeat_memory_mb: int = HEARTBEAT_MEMORY_MB,
                      probe_memory_mb: int = PROBE_MEMORY_MB,
                      probe_run_s: float | None = TYPICAL_PROBE_S) -> Usage:
    """The stack's priced workload: zones, instance types, probe cadence, alert recipients."""
    return Usage(
        zones=len(cfg.zones),
        nat_instance_type=cfg.nat.instance_type,
        gb_per_month=gb_per_month,
        probe_interval_s=cfg.probe.interval_s,
        probe_timeout_s=cfg.probe.chain_s,   # a failing probe: its timeout and its confirmation
        admin_instance_type=cfg.admin.instance_type if cfg.admin.enabled else None,
        alert_emails=len(cfg.alerts.emails),
        log_gb_per_month=log_gb_per_month,
        nat_addresses=cfg.nat.addresses,
        nat_metrics_per_zone=metrics_per_zone(cfg.metrics.level),
        heartbeat_memory_mb=heartbeat_memory_mb,
        heartbeat_memory_why=HEARTBEAT_MEMORY_WHY if heartbeat_memory_mb == HEARTBEAT_MEMORY_MB else "",
        probe_memory_mb=probe_memory_mb,
        probe_run_s=probe_run_s,
    )


def check_usage(u: Usage, prices: PriceTable, region: str) -> None:
    """Every problem at once: unknown region / instance types, impossible numbers."""
    problems: list[str] = []
    for name, value in (("--gb-per-month", u.gb_per_month), ("--log-gb-per-month", u.log_gb_per_month)):
        if not math.isfinite(value) or value < 0:
            problems.append(f"{name}: {value:g} is not a non-negative number of GB")
    for name, value in (("--heartbeat-memory-mb", u.heartbeat_memory_mb),
                        ("--probe-memory-mb", u.probe_memory_mb)):
        if not 128 <= value <= 10240:
            problems.append(f"{name}: {value} is outside Lambda's 128..10240 MB")
    if u.probe_interval_s <= 0:
        problems.append(f"probe.interval_s: {u.probe_interval_s:g} must be positive")
    if region not in prices.regions:
        problems.append(prices.unknown_region_problem(region))
    else:
        p = prices.regions[region]
        types = [("nat.instance_type", u.nat_instance_type)]
        if u.admin_instance_type:
            types.append(("admin.instance_type", u.admin_instance_type))
        for key, itype in types:
            if itype not in p.instance_hourly:
                problems.append(f"{key}: {p.unknown_instance_problem(itype)}")
    if problems:
        raise InputError(problems, title="cannot estimate the cost")


def estimate_for_config(cfg: HanatConfig, prices: PriceTable, **usage_options) -> CostEstimate:
    """Price ``cfg`` in its own region; bad input raises InputError naming every offending value."""
    u = usage_from_config(cfg, **usage_options)
    check_usage(u, prices, cfg.stack.region)
    p = prices.region(cfg.stack.region)
    return estimate(u, p, hours_per_month=prices.hours_per_month, as_of=prices.as_of,
                    currency=prices.currency, spot_basis=prices.spot_basis)
