"""Controller settings: part of the config file and of the topology parameter the Lambdas read."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

REVERT_MODES = ("auto", "manual")

# Targets are URLs: tcp://host:port, http://host[:port]/path, https://host[:port]/path.
DEFAULT_PROBE_TARGETS = (
    "https://checkip.amazonaws.com/",
    "https://aws.amazon.com/",
    "tcp://s3.amazonaws.com:443",
)


@dataclass(frozen=True)
class ProbeSettings:
    interval_s: float = 5
    timeout_s: float = 2
    fail_after: int = 2
    recover_after: int = 3
    min_hold_s: float = 60
    targets: tuple[str, ...] = field(default=DEFAULT_PROBE_TARGETS)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["targets"] = list(self.targets)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ProbeSettings:
        d = dict(d)
        d["targets"] = tuple(d.get("targets", DEFAULT_PROBE_TARGETS))
        return cls(**d)


@dataclass(frozen=True)
class FailoverSettings:
    revert: str = "auto"  # auto | manual
    replace_after_s: float = 300

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> FailoverSettings:
        return cls(**d)
