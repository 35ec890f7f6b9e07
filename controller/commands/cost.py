"""``hanat cost``: monthly cost of the configured stack next to NAT Gateways, and the break-even."""
from __future__ import annotations

import click

from bootstrap.config import load_config
from bootstrap.config.capacity import capacity_notes
from bootstrap.deploy.stage import HEARTBEAT_MEMORY_MB, PROBE_MEMORY_MB

from ..cost import estimate_for_config, load_prices
from ..cost.render import print_estimate
from ..views.output import emit_json, out_console, warn

DEFAULT_GB_PER_MONTH = 100.0


def register(cli: click.Group) -> None:
    """Add ``hanat cost`` to the CLI."""
    cli.add_command(cost)


@click.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="hanat configuration file (TOML or DupsWorks settings.cfg).")
@click.option("--gb-per-month", type=float, default=None,
              help="Traffic from the private subnets to the internet, GB per month (all zones) "
                   f"[default: the config's traffic.gb_per_month, else {DEFAULT_GB_PER_MONTH:g}].")
@click.option("--log-gb-per-month", type=float, default=0.0, show_default=True,
              help="CloudWatch Logs ingested by the controller, GB per month (optional line).")
@click.option("--heartbeat-memory-mb", type=int, default=HEARTBEAT_MEMORY_MB, show_default=True,
              help="Memory of the heartbeat Lambda (as `hanat deploy` sets it).")
@click.option("--probe-memory-mb", type=int, default=PROBE_MEMORY_MB, show_default=True,
              help="Memory of each probe Lambda (as `hanat deploy` sets it).")
@click.option("--prices", "prices_path", default=None, type=click.Path(dir_okay=False),
              help="Price table to use instead of the shipped controller/cost/prices.toml.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def cost(config_path: str, gb_per_month: float, log_gb_per_month: float, heartbeat_memory_mb: int,
         probe_memory_mb: int, prices_path: str | None, as_json: bool) -> None:
    """Monthly cost of hanat vs NAT Gateways in the same zones, and the break-even traffic."""
    cfg = load_config(config_path)
    prices = load_prices(prices_path)
    if gb_per_month is None:
        gb_per_month = cfg.traffic.gb_per_month or DEFAULT_GB_PER_MONTH
    est = estimate_for_config(cfg, prices, gb_per_month=gb_per_month, log_gb_per_month=log_gb_per_month,
                              heartbeat_memory_mb=heartbeat_memory_mb, probe_memory_mb=probe_memory_mb)
    capacity = capacity_notes(cfg, gb_per_month=gb_per_month)
    for note in capacity:
        warn(note)
    if as_json:
        emit_json({**est.to_dict(), "capacity_warnings": capacity})
    else:
        print_estimate(est, out_console)
