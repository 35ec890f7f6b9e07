"""The cost model: pure arithmetic from a usage description and a region's prices to itemised lines.

hanat (NAT instances + a serverless controller) is set side by side with NAT Gateways in the same
zones at the same traffic. Both options pay the same data-transfer-out; only NAT Gateways add a
per-GB processing charge, so the NAT Gateway option gets dearer than hanat above a traffic level
(the break-even), solved from the two straight lines cost(gb) = fixed + per_gb * gb.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .prices import RegionPrices

SECONDS_PER_MINUTE = 60


@dataclass(frozen=True)
class Usage:
    """What is priced: the configured stack plus the controller's workload assumptions."""

    zones: int
    nat_instance_type: str
    gb_per_month: float
    probe_interval_s: float = 5
    probe_timeout_s: float = 2
    admin_instance_type: str | None = None   # None: no admin instance
    alert_emails: int = 0
    log_gb_per_month: float = 0.0
    nat_addresses: int = 1                   # Elastic IPs per NAT (nat.addresses)
    nat_metrics_per_zone: int = 0            # custom metrics of [metrics] level, per zone (chalicelib/nat_readings.py)
    # --- assumptions (reported with every estimate) ---
    root_volume_gb: float = 8                # AL2023 AMI root volume, gp3
    heartbeat_run_s: float = 55              # one heartbeat run per minute loops this long
    heartbeat_memory_mb: int = 256           # what `hanat deploy` gives the controller functions
    heartbeat_memory_why: str = ""           # why `hanat deploy` gives it that much (bootstrap/deploy/stage.py)
    probe_memory_mb: int = 128               # ... and each probe function (bootstrap/deploy/stage.py)
    probe_run_s: float | None = None         # a healthy probe's billed duration (None: the full timeout)
    reads_per_sweep: int = 1                 # controller state item, strongly consistent, <= 4 KB
    writes_per_sweep: int = 2                # sweeper lease renewal + state record, each <= 1 KB
    alerts_per_month: int = 10

    @property
    def probe_billed_s(self) -> float:
        """What one probe invocation is billed: its typical duration, never more than the timeout (Lambda
        bills the duration rounded up to the millisecond)."""
        typical = self.probe_timeout_s if self.probe_run_s is None else min(self.probe_run_s, self.probe_timeout_s)
        return math.ceil(typical * 1000) / 1000

    @property
    def sweeps_per_minute(self) -> int:
        """Sweeps started in one heartbeat run: at t = 0, interval, 2*interval ... < run time."""
        return math.ceil(self.heartbeat_run_s / self.probe_interval_s)


@dataclass(frozen=True)
class Line:
    item: str
    monthly_usd: float
    detail: str
    per_gb_usd: float = 0.0     # how much of the line grows with each GB of monthly traffic

    def to_dict(self) -> dict:
        return {"item": self.item, "monthly_usd": round(self.monthly_usd, 4), "detail": self.detail}


@dataclass(frozen=True)
class OptionCost:
    name: str
    lines: tuple[Line, ...]

    @property
    def total(self) -> float:
        return sum(line.monthly_usd for line in self.lines)

    @property
    def per_gb(self) -> float:
        return sum(line.per_gb_usd for line in self.lines)

    def fixed(self, gb_per_month: float) -> float:
        """The part of the total that does not depend on traffic."""
        return self.total - self.per_gb * gb_per_month

    def to_dict(self, gb_per_month: float) -> dict:
        return {"name": self.name, "lines": [line.to_dict() for line in self.lines],
                "total_usd": round(self.total, 4), "fixed_usd": round(self.fixed(gb_per_month), 4),
                "per_gb_usd": round(self.per_gb, 6)}


@dataclass(frozen=True)
class CostEstimate:
    region: str
    prices_as_of: str
    currency: str
    gb_per_month: float
    hanat: OptionCost
    nat_gateway: OptionCost
    break_even_gb_per_month: float | None   # None: NAT Gateways never cost more
    break_even_note: str
    assumptions: tuple[str, ...] = field(default=())
    hanat_spot: OptionCost | None = None    # the same stack with spot NATs (None: no spot price in the table)

    @property
    def savings(self) -> float:
        """What hanat saves per month against NAT Gateways at ``gb_per_month`` (negative: it costs more)."""
        return self.nat_gateway.total - self.hanat.total

    def to_dict(self) -> dict:
        gb = self.gb_per_month
        be = self.break_even_gb_per_month
        return {
            "region": self.region,
            "prices_as_of": self.prices_as_of,
            "currency": self.currency,
            "gb_per_month": gb,
            "hanat": self.hanat.to_dict(gb),
            "nat_gateway": self.nat_gateway.to_dict(gb),
            "totals": {"hanat": round(self.hanat.total, 2), "nat_gateway": round(self.nat_gateway.total, 2)},
            "savings_usd_per_month": round(self.savings, 2),
            "break_even_gb_per_month": None if be is None else round(be, 1),
            "break_even_note": self.break_even_note,
            "assumptions": list(self.assumptions),
            "hanat_spot": self.hanat_spot.to_dict(gb) if self.hanat_spot else None,
            "spot_savings_usd_per_month": (round(self.nat_gateway.total - self.hanat_spot.total, 2)
                                           if self.hanat_spot else None),
        }


def _usd(x: float) -> str:
    """A unit price as people write it: $0.0054, $0.0000166667 (never 1.7e-05)."""
    return "$" + (f"{x:.10f}".rstrip("0").rstrip(".") or "0")


def hanat_lines(u: Usage, p: RegionPrices, hours: float, *, spot: bool = False) -> tuple[Line, ...]:
    """NAT instances, their volumes and addresses, the shared traffic, the admin host, the controller.
    ``spot``: the NATs at the table's estimated spot price (nat.market = "spot")."""
    n = u.zones
    spot_hourly = p.spot(u.nat_instance_type) if spot else None
    nat_hourly = spot_hourly if spot_hourly is not None else p.instance(u.nat_instance_type)
    minutes = hours * SECONDS_PER_MINUTE
    heartbeat_runs = minutes
    sweeps = u.sweeps_per_minute * minutes
    probe_runs = n * sweeps
    heartbeat_gbs = heartbeat_runs * u.heartbeat_run_s * u.heartbeat_memory_mb / 1024
    probe_gbs = probe_runs * u.probe_billed_s * u.probe_memory_mb / 1024
    requests = heartbeat_runs + probe_runs
    reads, writes = sweeps * u.reads_per_sweep, sweeps * u.writes_per_sweep
    emails = u.alerts_per_month * u.alert_emails
    lines = [
        Line("NAT instances (spot)" if spot_hourly is not None else "NAT instances", n * nat_hourly * hours,
             f"{n} x {u.nat_instance_type} x {hours:g} h x {_usd(nat_hourly)}/h"
             + (" (estimated spot price)" if spot_hourly is not None else "")),
        Line("NAT root volumes (EBS gp3)", n * u.root_volume_gb * p.ebs_gp3_gb_month,
             f"{n} x {u.root_volume_gb:g} GB x {_usd(p.ebs_gp3_gb_month)}/GB-month"),
        Line("Public IPv4 (NAT Elastic IPs)", n * u.nat_addresses * p.public_ipv4_hourly * hours,
             f"{n * u.nat_addresses} x {hours:g} h x {_usd(p.public_ipv4_hourly)}/h"),
    ]
    if u.admin_instance_type:
        lines.append(_admin_line(u, p, hours))
    lines += [
        _data_transfer_line(u, p),
        Line("Lambda heartbeat compute", heartbeat_gbs * p.lambda_gb_second,
             f"{heartbeat_runs:,.0f} runs x {u.heartbeat_run_s:g} s x {u.heartbeat_memory_mb} MB"
             f" = {heartbeat_gbs:,.0f} GB-s x {_usd(p.lambda_gb_second)}"),
        Line("Lambda probe compute", probe_gbs * p.lambda_gb_second,
             f"{n} zones x {u.sweeps_per_minute}/min = {probe_runs:,.0f} runs x {u.probe_billed_s:g} s"
             f" x {u.probe_memory_mb} MB = {probe_gbs:,.0f} GB-s x {_usd(p.lambda_gb_second)}"
             + ("" if u.probe_billed_s >= u.probe_timeout_s else
                f" (at most {probe_runs * u.probe_timeout_s * u.probe_memory_mb / 1024 * p.lambda_gb_second:,.2f}"
                f" if every probe ran its {u.probe_timeout_s:g} s timeout and confirmation)")),
        Line("Lambda requests", requests / 1e6 * p.lambda_per_million_requests,
             f"{requests:,.0f} invocations x {_usd(p.lambda_per_million_requests)}/million"),
        Line("DynamoDB reads (on-demand)", reads / 1e6 * p.dynamodb_per_million_rru,
             f"{sweeps:,.0f} sweeps x {u.reads_per_sweep} RRU x {_usd(p.dynamodb_per_million_rru)}/million"),
        Line("DynamoDB writes (on-demand)", writes / 1e6 * p.dynamodb_per_million_wru,
             f"{sweeps:,.0f} sweeps x {u.writes_per_sweep} WRU x {_usd(p.dynamodb_per_million_wru)}/million"),
        Line("SNS alerts", u.alerts_per_month / 1e6 * p.sns_per_million_publishes
             + emails / 1e5 * p.sns_email_per_100k,
             f"{u.alerts_per_month} publishes + {emails} emails (negligible)"),
        Line("CloudWatch Logs ingestion", u.log_gb_per_month * p.logs_ingest_per_gb,
             f"{u.log_gb_per_month:g} GB x {_usd(p.logs_ingest_per_gb)}/GB"
             + ("" if u.log_gb_per_month else " (optional: pass --log-gb-per-month)")),
    ]
    if u.nat_metrics_per_zone:     # [metrics] level essential or full
        lines.append(Line("CloudWatch custom metrics (NAT counters)", n * u.nat_metrics_per_zone * p.cloudwatch_metric_month,
                          f"{n} zones x {u.nat_metrics_per_zone} metrics x {_usd(p.cloudwatch_metric_month)}/metric-month"))
    return tuple(lines)


def _admin_line(u: Usage, p: RegionPrices, hours: float) -> Line:
    """The optional admin instance: built either way, so it is the same line in both options."""
    admin_hourly = p.instance(u.admin_instance_type)
    return Line(
        "Admin instance (same in both options)",
        admin_hourly * hours + u.root_volume_gb * p.ebs_gp3_gb_month + p.public_ipv4_hourly * hours,
        f"{u.admin_instance_type} {hours:g} h x {_usd(admin_hourly)}/h + {u.root_volume_gb:g} GB gp3"
        f" + public IPv4 {hours:g} h x {_usd(p.public_ipv4_hourly)}/h")


def nat_gateway_lines(u: Usage, p: RegionPrices, hours: float) -> tuple[Line, ...]:
    """One NAT Gateway per zone (each with its Elastic IP), per-GB processing, the shared traffic."""
    n, gb = u.zones, u.gb_per_month
    lines = [
        Line("NAT Gateways", n * p.nat_gateway_hourly * hours,
             f"{n} x {hours:g} h x {_usd(p.nat_gateway_hourly)}/h"),
        Line("NAT Gateway data processing", gb * p.nat_gateway_per_gb,
             f"{gb:g} GB x {_usd(p.nat_gateway_per_gb)}/GB", per_gb_usd=p.nat_gateway_per_gb),
        Line("Public IPv4 (NAT Gateway Elastic IPs)", n * p.public_ipv4_hourly * hours,
             f"{n} x {hours:g} h x {_usd(p.public_ipv4_hourly)}/h"),
    ]
    if u.admin_instance_type:
        lines.append(_admin_line(u, p, hours))
    lines.append(_data_transfer_line(u, p))
    return tuple(lines)


def _data_transfer_line(u: Usage, p: RegionPrices) -> Line:
    return Line("Data transfer out to the internet (same in both options)",
                u.gb_per_month * p.data_transfer_out_per_gb,
                f"{u.gb_per_month:g} GB x {_usd(p.data_transfer_out_per_gb)}/GB",
                per_gb_usd=p.data_transfer_out_per_gb)


def break_even(hanat: OptionCost, gateway: OptionCost, gb: float) -> tuple[float | None, str]:
    """Monthly GB above which NAT Gateways cost more than hanat: fixed_h + a*g = fixed_g + b*g."""
    fixed_h, fixed_g = hanat.fixed(gb), gateway.fixed(gb)
    slope = gateway.per_gb - hanat.per_gb
    if fixed_h <= fixed_g:
        return 0.0, ("hanat is already cheaper at 0 GB/month (break-even 0): NAT Gateways cost "
                     f"${fixed_g - fixed_h:,.2f}/month more before any traffic, plus "
                     f"{_usd(slope)} per GB processed")
    if slope <= 0:
        return None, "NAT Gateways stay cheaper at any traffic (no per-GB processing in this price table)"
    g = (fixed_h - fixed_g) / slope
    return g, (f"above {g:,.1f} GB/month NAT Gateways cost more than hanat: hanat's fixed cost is "
               f"${fixed_h - fixed_g:,.2f}/month higher, NAT Gateways add {_usd(slope)} per GB processed")


def estimate(u: Usage, p: RegionPrices, *, hours_per_month: float, as_of: str,
             currency: str = "USD", spot_basis: str = "") -> CostEstimate:
    """Price both options for ``u`` in region ``p`` and find the break-even traffic; hanat with spot NATs
    beside them when the table has a spot price for the NAT type (the break-even stays on-demand's)."""
    hanat = OptionCost("hanat (NAT instances)", hanat_lines(u, p, hours_per_month))
    spot_known = p.spot(u.nat_instance_type) is not None
    hanat_spot = (OptionCost("hanat (spot NAT instances)", hanat_lines(u, p, hours_per_month, spot=True))
                  if spot_known else None)
    gateway = OptionCost("NAT Gateways", nat_gateway_lines(u, p, hours_per_month))
    be, note = break_even(hanat, gateway, u.gb_per_month)
    spot_note = (f"spot NATs, priced as of {as_of}: {spot_basis or 'estimated spot prices'}; a spot NAT "
                 "interrupted by AWS is replaced by the controller, and launches on-demand when spot is refused"
                 if spot_known else f"no spot price for {u.nat_instance_type} in the price table: spot not priced")
    return CostEstimate(
        region=p.region, prices_as_of=as_of, currency=currency, gb_per_month=u.gb_per_month,
        hanat=hanat, nat_gateway=gateway, break_even_gb_per_month=be, break_even_note=note,
        assumptions=(*assumptions(u, hours_per_month, p.lambda_gb_second), spot_note), hanat_spot=hanat_spot,
    )


def assumptions(u: Usage, hours: float, lambda_gb_second: float = 0.0) -> tuple[str, ...]:
    per_100_mb = hours * SECONDS_PER_MINUTE * u.heartbeat_run_s * 100 / 1024 * lambda_gb_second
    why = (f"heartbeat memory {u.heartbeat_memory_mb} MB, {u.heartbeat_memory_why}; each 100 MB more costs "
           f"${per_100_mb:.2f}/month")
    why_line = (why,) if u.heartbeat_memory_why else ()
    return (
        f"{hours:g} hours per month; on-demand list prices, no free tier, no Savings Plans",
        f"{u.gb_per_month:g} GB/month leave the VPC for the internet, spread over {u.zones} zones",
        f"each instance has a root volume of {u.root_volume_gb:g} GB gp3 and one public IPv4 address",
        (f"heartbeat: one run per minute lasting {u.heartbeat_run_s:g} s at {u.heartbeat_memory_mb} MB, "
         f"{u.sweeps_per_minute} sweeps per run (every {u.probe_interval_s:g} s)"),
        *why_line,
        (f"probes: one invocation per zone per sweep at {u.probe_memory_mb} MB, each billed the full timeout "
         f"{u.probe_timeout_s:g} s with its confirmation (an upper bound; healthy probes end sooner)"
         if u.probe_run_s is None else
         f"probes: one invocation per zone per sweep at {u.probe_memory_mb} MB, each billed a healthy probe's "
         f"measured {u.probe_billed_s * 1000:g} ms (bench/sweep.py); the upper bound is the probe timeout "
         f"with its confirmation, {u.probe_timeout_s:g} s, reached only while a NAT's path is failing"),
        (f"DynamoDB on-demand: {u.reads_per_sweep} read and {u.writes_per_sweep} write request units "
         "per sweep"),
        f"SNS: {u.alerts_per_month} alerts per month to {u.alert_emails} email address(es)",
        "cross-zone traffic while a zone is failed over ($0.01/GB each way) is not included",
        "Lambda runs on x86_64 (Chalice default); CloudWatch Logs only if --log-gb-per-month is given",
    )
