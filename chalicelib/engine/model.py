"""The decision engine's data: a zone's memory (``ZoneState``), one round's inputs (``ZoneInput``)
and its ``Decision`` (new zone states, route moves, alerts, outcomes); plain data, no AWS.

``ZoneState`` is what the controller remembers about one zone between runs; ``ZoneInput`` what was
seen of it this round; the ``Decision`` what the engine decided.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from ..alerts import Alert
from ..probes.results import ProbeResult

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


# The typed fields of a stored zone state (JSON data keeps ints, floats and bools apart only loosely).
INT_FIELDS = ("fails", "passes", "blind", "version")
FLOAT_FIELDS = ("since", "hold_until", "last_change", "handoff_until")
BOOL_FIELDS = ("flap_alerted", "blind_alerted")


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


FAILOVER, REVERT, REPAIR = "failover", "revert", "repair"
# An adopted zone's routes: to its own NAT (cutover) and back to where they pointed before (release).
CUTOVER, RELEASE = "cutover", "release"


@dataclass(frozen=True)
class ZoneInput:
    """One zone as seen this round. The order of zones given to the engine is the ring order."""

    az: str
    state: ZoneState
    nat_instance_id: str = ""
    route_table_ids: tuple[str, ...] = ()
    probe: ProbeResult | None = None      # None: not probed this round
    # re-probes made at once after ``probe`` failed, in order (each an independent sample)
    confirmations: tuple[ProbeResult, ...] = ()
    instance_state: str | None = None     # None: unknown (do not judge on it)
    # For the route-drift check (``decide.review``): the zone's NAT's network interface, its private tables
    # found in EC2 that hanat may write (id, the ENI their default route points at), and whether another
    # run holds the zone's route-write claim now.
    nat_eni_id: str = ""
    tables: tuple[tuple[str, str | None], ...] = ()
    claimed: bool = False
    # The zone's NAT as the gray-failure pass last recorded it (``engine/gray.py``, its record in the state
    # table): why it is DEGRADED ("": it is not), and its conntrack or busiest-destination port use in
    # percent, whichever is higher (None: never read). A failover prefers a NAT with headroom.
    degraded: str = ""
    use_percent: float | None = None


@dataclass(frozen=True)
class RouteMove:
    """Point every private route table of ``zone`` at the NAT of ``to_az`` (a release instead points
    each table at its own target: ``targets``, route table id -> ``nat-...``/``eni-...``/``i-...``/"")."""

    zone: str
    from_az: str
    to_az: str
    kind: str        # failover | revert | repair | cutover | release
    reason: str
    targets: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict:
        d = {"zone": self.zone, "from_az": self.from_az, "to_az": self.to_az, "kind": self.kind,
             "reason": self.reason}
        if self.targets:
            d["targets"] = dict(self.targets)
        return d


@dataclass(frozen=True)
class Decision:
    """The engine's decision: the new state of every zone, the route moves, alerts, outcomes."""

    states: dict[str, ZoneState]
    moves: tuple[RouteMove, ...] = ()
    alerts: tuple[Alert, ...] = ()
    outcomes: tuple[str, ...] = ()
    critical_active: bool = False
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        return {
            "moves": [m.to_dict() for m in self.moves],
            "alerts": [a.to_dict() for a in self.alerts],
            "outcomes": list(self.outcomes),
            "critical_active": self.critical_active,
            "states": {az: s.to_dict() for az, s in self.states.items()},
        }


@dataclass(frozen=True)
class Review:
    """What follows from a decision (``decide.review``): its moves and the route repairs, the zone states
    (moving zones without their earlier handoff), the zones whose move hands open flows back, and the
    moving zones whose earlier handoff the move ends."""

    moves: tuple[RouteMove, ...]
    states: dict[str, ZoneState]
    handoffs: tuple[str, ...] = ()
    ended: tuple[str, ...] = ()
