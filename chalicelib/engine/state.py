"""The controller's memory of one zone, as the decision engine sees it (plain data, no AWS)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

UP, DOWN, UNKNOWN = "UP", "DOWN", "UNKNOWN"
HEALTHS = (UP, DOWN, UNKNOWN)

NORMAL, PAUSED, MANUAL_FAILOVER = "normal", "paused", "manual-failover"
MODES = (NORMAL, PAUSED, MANUAL_FAILOVER)

# A zone of an adopted VPC (its route tables are the user's): ``adopting`` until its NAT is proven and
# the routes move (cutover), then ``cut-over`` (managed like any zone), ``released`` once its tables
# point at their original targets again (release).
# "" = a zone whose tables hanat built. Only ``cut-over`` zones have routes the controller moves.
ADOPTING, CUT_OVER, RELEASED = "adopting", "cut-over", "released"
ADOPTIONS = (ADOPTING, CUT_OVER, RELEASED)

# Flap damping: this many automatic failovers inside the window double the revert hold each time.
FLAP_WINDOW_S = 15 * 60
FLAP_THRESHOLD = 3

# Blind: a zone whose probe gave no evidence (Lambda's own errors, not the NAT's) this many sweeps in a
# row raises one `blind` alert; its counters stay put meanwhile, and evidence coming back clears it.
BLIND_AFTER_SWEEPS = 3

# EC2 instance states: one vocabulary for the whole controller (EventBridge's state-change events and
# DescribeInstances use the same names). Only a `running` NAT forwards (a `pending` one does not yet).
PENDING, RUNNING, STOPPING, STOPPED, SHUTTING_DOWN, TERMINATED = (
    "pending", "running", "stopping", "stopped", "shutting-down", "terminated")
EC2_STATES = (PENDING, RUNNING, STOPPING, STOPPED, SHUTTING_DOWN, TERMINATED)
# Leaving or left `running`: it forwards nothing and will not again by itself (fail over at once).
LEAVING_STATES = (STOPPING, STOPPED, SHUTTING_DOWN, TERMINATED)
# Never coming back.
GONE_STATES = (SHUTTING_DOWN, TERMINATED)


@dataclass(frozen=True)
class ZoneState:
    """What the controller remembers about zone ``az`` between runs.

    ``served_by`` is the az whose NAT the zone's private routes point at (the zone itself when
    normal). ``version`` is the optimistic-locking counter of the stored record.
    """

    az: str
    health: str = UNKNOWN
    fails: int = 0            # consecutive failed probes
    passes: int = 0           # consecutive passed probes
    since: float = 0.0        # when ``health`` last changed
    health_reason: str = ""   # why ``health`` is what it is ("2 failed probes", "instance stopped")
    served_by: str = ""       # "" means the zone's own NAT
    mode: str = NORMAL
    failovers: tuple[float, ...] = ()   # times of recent automatic failovers (flap window)
    hold_until: float = 0.0   # no automatic revert before this time
    flap_alerted: bool = False
    last_change: float = 0.0  # when the routes last moved
    last_reason: str = ""
    adoption: str = ""        # "" (a zone hanat built) or one of ADOPTIONS
    blind: int = 0            # consecutive sweeps whose probe of this zone gave no evidence
    blind_alerted: bool = False
    # A planned move's connection handoff (chalicelib/engine/handoff.py): the zone's NAT now
    # (``handoff_to``) sends the open flows it does not know to the NAT that held the zone
    # (``handoff_from``) until ``handoff_until`` (epoch seconds; 0 = no handoff).
    handoff_from: str = ""
    handoff_to: str = ""
    handoff_until: float = 0.0
    version: int = 0

    @property
    def server(self) -> str:
        """The az whose NAT serves this zone."""
        return self.served_by or self.az

    @property
    def is_home(self) -> bool:
        return self.server == self.az

    @property
    def has_handoff(self) -> bool:
        return bool(self.handoff_until)

    def without_handoff(self) -> ZoneState:
        return replace(self, handoff_from="", handoff_to="", handoff_until=0.0)

    def evolve(self, **changes) -> ZoneState:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["failovers"] = list(self.failovers)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ZoneState:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        known["failovers"] = tuple(float(t) for t in known.get("failovers", ()))
        for key in ("fails", "passes", "blind", "version"):
            if key in known:
                known[key] = int(known[key])
        for key in ("since", "hold_until", "last_change", "handoff_until"):
            if key in known:
                known[key] = float(known[key])
        for key in ("flap_alerted", "blind_alerted"):
            if key in known:
                known[key] = bool(known[key])
        return cls(**known)
