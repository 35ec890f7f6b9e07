"""Controller settings: part of the config file and of the topology parameter the Lambdas read.

``from_dict`` fills keys a topology was written without (an older hanat) with their defaults and
ignores keys this version does not know (a newer hanat), so topologies survive upgrades both ways.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

REVERT_MODES = ("auto", "manual", "window")
# [metrics] level: what the heartbeat publishes of each NAT's counters (chalicelib/nat_readings.py)
METRICS_LEVELS = ("off", "essential", "full")
# nat.market: the purchase option every NAT launch asks for (RunInstances InstanceMarketOptions MarketType
# "spot", or none for on-demand: EC2 API Reference, InstanceMarketOptionsRequest).
MARKETS = ("on-demand", "spot")
ON_DEMAND, SPOT = MARKETS

# Targets are URLs: tcp://host:port, http://host[:port]/path, https://host[:port]/path.
DEFAULT_PROBE_TARGETS = (
    "https://checkip.amazonaws.com/",
    "https://aws.amazon.com/",
    "tcp://s3.amazonaws.com:443",
)

# The one limit of probe.timeout_s: the config validator (bootstrap/config/validate.py) and the
# probe function (chalicelib/probes/handler.py) both import it. The probe Lambda gets its samples'
# time (a probe and its hedged confirmation: 1.5 x timeout_s, chalicelib/probes/samples.py) + 3 s
# (bootstrap/deploy/stage.py), and the heartbeat (60 s) must still get every zone's answer within
# one invocation.
MAX_PROBE_TIMEOUT_S = 25.0

# A probe invoke samples the path up to ``samples`` times, each next sample started after
# ``HEDGE_SHARE`` of the last one's timeout without an answer (chalicelib/probes/samples.py). The
# longest one invoke may sample: a probe and one hedged confirmation at the longest timeout (the probe
# function's Lambda timeout and the heartbeat's probe round follow from it).
HEDGE_SHARE = 0.5
MAX_CHAIN_S = MAX_PROBE_TIMEOUT_S * (1 + HEDGE_SHARE)
MAX_SAMPLES = 10


def chain_s(timeout_s: float, samples: int) -> float:
    """The longest ``samples`` samples take: the first's timeout, then one hedge interval per further sample."""
    return float(timeout_s) * (1 + (max(1, int(samples)) - 1) * HEDGE_SHARE)


def samples_for(timeout_s: float, fail_after: int) -> int:
    """How many samples the heartbeat asks one probe invoke for: ``fail_after``, as many as fit in
    MAX_CHAIN_S and MAX_SAMPLES (the sweep re-probes for the rest)."""
    n = max(1, min(int(fail_after), MAX_SAMPLES))
    while n > 1 and chain_s(timeout_s, n) > MAX_CHAIN_S:
        n -= 1
    return n


def _known(cls, d: dict) -> dict:
    names = {f.name for f in fields(cls) if f.init}
    return {k: v for k, v in dict(d).items() if k in names}


@dataclass(frozen=True)
class ProbeSettings:
    interval_s: float = 3
    timeout_s: float = 1
    fail_after: int = 2
    recover_after: int = 3
    min_hold_s: float = 60
    targets: tuple[str, ...] = field(default=DEFAULT_PROBE_TARGETS)
    # Derived when made (plain fields, read without a call): the samples the heartbeat asks each probe
    # invoke for (``samples_for``), and the longest one probe invoke takes (its Lambda timeout, the
    # heartbeat's wait and its probe round follow from it).
    samples: int = field(init=False, repr=False, compare=False)
    chain_s: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            n = samples_for(self.timeout_s, self.fail_after)
            longest = chain_s(self.timeout_s, n)
        except (TypeError, ValueError):   # not validated yet: bootstrap/config/validate.py names the problem
            n, longest = 1, 0.0
        object.__setattr__(self, "samples", n)
        object.__setattr__(self, "chain_s", longest)

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.init}
        d["targets"] = list(self.targets)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ProbeSettings:
        d = _known(cls, d)
        d["targets"] = tuple(d.get("targets", DEFAULT_PROBE_TARGETS))
        return cls(**d)


@dataclass(frozen=True)
class FailoverSettings:
    revert: str = "auto"          # auto | manual | window (revert only inside maintenance.window)
    replace_after_s: float = 300
    handoff_s: float = 900        # planned moves hand open flows back to the old NAT this long
    # a planned move waits at most this long for the NATs to report its handoff applied (engine/handoff_ack.py)
    handoff_ack_timeout_s: float = 8.0
    # Gray failure (chalicelib/engine/gray.py): a NAT whose new flows fail is DEGRADED after this many bad
    # sweeps in a row (0 = not judged), OK again after ``degraded_clear_after`` good ones and at least
    # ``degraded_min_hold_s`` DEGRADED; "bad" = conntrack use >= ``degraded_conntrack_percent`` or its drops
    # rising, any port allocation error, or more than ``degraded_drops`` dropped packets / allowance-exceeded
    # counts since the last reading. A NAT takes moved zones while its conntrack, busiest-destination port
    # and baseline-bandwidth use stay under ``headroom_percent``.
    degraded_after: int = 3
    degraded_clear_after: int = 5
    degraded_min_hold_s: float = 300
    degraded_conntrack_percent: float = 95
    degraded_drops: int = 100
    headroom_percent: float = 70

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> FailoverSettings:
        return cls(**_known(cls, d))


@dataclass(frozen=True)
class MaintenanceSettings:
    window: str = ""                  # UTC, grammar in chalicelib/engine/window.py; "" = never automatically
    max_instance_age_days: int = 30   # a NAT older than this is outdated (rolled inside the window); 0 = never
    drain_s: float = 300              # a roll moves a zone's Elastic IP only after this long of handoff

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> MaintenanceSettings:
        return cls(**_known(cls, d))


@dataclass(frozen=True)
class MarketSettings:
    """``nat.market`` and ``nat.spot_fallback``: spot NATs, launched on-demand when EC2 has no spot capacity
    (fallback on); the next launch (a replacement, a roll) asks for spot again."""

    market: str = ON_DEMAND
    spot_fallback: bool = True

    @property
    def label(self) -> str:
        """What ``plan`` shows: "on-demand", "spot", or "spot (on-demand if refused)"."""
        return f"{SPOT} (on-demand if refused)" if self.market == SPOT and self.spot_fallback else self.market

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> MarketSettings:
        return cls(**_known(cls, d))
