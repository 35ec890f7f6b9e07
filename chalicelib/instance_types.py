"""The network limits of the instance types a NAT may run on (bandwidth, addresses per interface) and the
capacity arithmetic on them: pure, one table, used by ``plan``/``cost`` (capacity warnings), config
validation (``nat.addresses``) and ``status`` (headroom).

Source, as of 2026-12-05: EC2's own DescribeInstanceTypes answer, ``NetworkInfo.NetworkCards[0]``
``BaselineBandwidthInGbps`` / ``PeakBandwidthInGbps`` and ``NetworkInfo.Ipv4AddressesPerInterface`` (the
figures the EC2 User Guide prints in "Amazon EC2 instance network bandwidth" / "Network specifications"
per family, and "Maximum IP addresses per network interface"). A burstable-network type ("Up to 5
Gigabit") sustains only its *baseline*; it bursts to the peak on network I/O credits for minutes at a
time ("instances ... can use a network I/O credit mechanism to burst beyond their baseline bandwidth",
EC2 User Guide, "Amazon EC2 instance network bandwidth"). A t4g.nano: 32 Mbit/s baseline, 5 Gbit/s burst.
``Ipv4AddressesPerInterface`` counts the primary private address: a t4g.nano's one interface holds 2.
"""
from __future__ import annotations

from dataclasses import dataclass

AS_OF = "2026-12-05"
SOURCE = ("EC2 DescribeInstanceTypes NetworkInfo (EC2 User Guide: 'Amazon EC2 instance network bandwidth', "
          "'Maximum IP addresses per network interface')")


@dataclass(frozen=True)
class NetworkLimits:
    instance_type: str
    baseline_mbps: int        # sustained
    peak_mbps: int            # burst, on network I/O credits
    ipv4_per_interface: int   # primary + secondary private IPv4 addresses on one interface


_TABLE = {  # type: (baseline Mbit/s, peak Mbit/s, IPv4 addresses per interface)
    "t4g.nano": (32, 5000, 2), "t4g.micro": (64, 5000, 2), "t4g.small": (128, 5000, 4),
    "t4g.medium": (256, 5000, 6), "t4g.large": (512, 5000, 12), "t4g.xlarge": (1024, 5000, 15),
    "t3.nano": (32, 5000, 2), "t3.micro": (64, 5000, 2), "t3.small": (128, 5000, 4),
    "t3.medium": (256, 5000, 6), "t3.large": (512, 5000, 12),
    "t3a.nano": (32, 5000, 2), "t3a.micro": (64, 5000, 2), "t3a.small": (128, 5000, 4),
    "t2.nano": (32, 512, 2), "t2.micro": (64, 1024, 2), "t2.small": (128, 1024, 4),
    "c6g.medium": (500, 10000, 4), "c7g.medium": (520, 12500, 4), "m6g.medium": (500, 10000, 4),
    "m7g.medium": (520, 12500, 4),
    "c6gn.medium": (1600, 16000, 4), "c6gn.large": (3000, 25000, 10),
    "c7gn.medium": (3125, 25000, 4), "c7gn.large": (6250, 30000, 10),
}
LIMITS = {name: NetworkLimits(name, *row) for name, row in _TABLE.items()}


def limits(instance_type: str) -> NetworkLimits | None:
    """The type's limits; None for a type the table does not list (callers say so, never guess)."""
    return LIMITS.get(instance_type)


def known_types() -> tuple[str, ...]:
    return tuple(sorted(LIMITS))


def max_nat_addresses(instance_type: str) -> int | None:
    """How many Elastic IPs one NAT of this type can hold: one per private address of its one interface."""
    found = limits(instance_type)
    return found.ipv4_per_interface if found else None


def _family(instance_type: str) -> str:
    return instance_type.split(".", 1)[0]


def _arch_group(instance_type: str) -> str:
    """'arm64' for Graviton families (a 'g' after the generation digit), else 'x86_64': a roll keeps the AMI's
    architecture, so a suggested type must match."""
    family = _family(instance_type)
    digits = [i for i, ch in enumerate(family) if ch.isdigit()]
    return "arm64" if digits and "g" in family[digits[0] + 1:] else "x86_64"


def smallest_fitting(peak_mbps: float, like: str, *, addresses: int = 1) -> str | None:
    """The type of ``like``'s architecture with the lowest baseline that still sustains ``peak_mbps`` and
    holds ``addresses`` addresses on one interface; None when no listed type does."""
    arch = _arch_group(like)
    fits = [lim for lim in LIMITS.values()
            if _arch_group(lim.instance_type) == arch and lim.baseline_mbps >= peak_mbps
            and lim.ipv4_per_interface >= addresses]
    return min(fits, key=lambda lim: (lim.baseline_mbps, lim.instance_type)).instance_type if fits else None


def monthly_average_mbps(gb_per_month: float, hours_per_month: float = 730.0) -> float:
    """A month's traffic spread evenly: GB (10^9 bytes) per month as Mbit/s."""
    return gb_per_month * 8000.0 / (hours_per_month * 3600.0)


def headroom(throughput_mbps: float, instance_type: str) -> float | None:
    """Share of the type's *baseline* still free at ``throughput_mbps`` (1.0 idle, 0.0 at the baseline,
    negative above it, living on burst credits); None for a type the table does not list."""
    found = limits(instance_type)
    if found is None:
        return None
    return 1.0 - throughput_mbps / found.baseline_mbps


def capacity_warnings(instance_type: str, *, peak_mbps: float = 0.0, gb_per_month: float = 0.0,
                      addresses: int = 1) -> list[str]:
    """What ``plan`` and ``cost`` print when the expected traffic exceeds what the NAT sustains, each naming
    the remedy (``hanat roll`` to a type whose baseline fits)."""
    found = limits(instance_type)
    if found is None:
        if peak_mbps or gb_per_month:
            return [(f"nat.instance_type {instance_type!r} is not in hanat's bandwidth table ({SOURCE}, as of "
                    f"{AS_OF}): expected traffic not checked (listed: {', '.join(known_types())})")]
        return []
    out = []
    average = monthly_average_mbps(gb_per_month)
    for what, mbps in (("peak", peak_mbps), ("monthly average", average)):
        if mbps > found.baseline_mbps:
            better = smallest_fitting(mbps, instance_type, addresses=addresses)
            remedy = (f"set nat.instance_type = {better!r} (baseline {LIMITS[better].baseline_mbps} Mbit/s), "
                      "run `hanat up`, then `hanat roll` (docs/runbook.md, section 6)" if better else
                      "no listed single type sustains it: split the traffic over more zones")
            out.append(f"expected {what} traffic {mbps:.0f} Mbit/s exceeds {instance_type}'s baseline bandwidth "
                       f"{found.baseline_mbps} Mbit/s (it bursts to {found.peak_mbps} Mbit/s only while network "
                       f"credits last; {SOURCE}, as of {AS_OF}): {remedy}")
            break   # the peak warning covers the average
    return out
