"""The replacement state machine: a pure decision (record + observed facts + now -> next action).

A replacement of one zone's NAT is a chain of small idempotent steps. Each controller run reads the
record and the facts, asks ``decide`` for the next action, performs it, records it, and asks again,
until the answer is to wait. Nothing here talks to AWS or reads the clock: the runner does that.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..engine.handoff import AGENT_SETTLE_S
from ..engine.model import GONE_STATES, LEAVING_STATES, RUNNING

# record.status
REPLACING = "replacing"
DONE = "done"
FAILED = "failed"
FINAL_STATUSES = (DONE, FAILED)

# record.step: where the replacement is (shown by ``hanat status``)
STEP_STARTED = "started"
STEP_BACKOFF = "backoff"          # a launch failed or a new instance was given up on; retry later
STEP_LAUNCHING = "launching"      # run-instances claimed (token recorded), instance id not yet known
STEP_STARTING = "starting"        # instance launched, waiting for it to run and be wired in
STEP_DRAINING = "draining"        # planned: the zone left the old NAT, whose open flows finish before the EIP moves
STEP_PROVING = "proving"          # wired in (EIP, probe route, topology); waiting for probes to prove it
STEP_AWAIT_ROUTES = "await_routes"  # proven UP; waiting for the sweep to revert the zone to it
STEP_RETIRING = "retiring"        # terminating the old instance
STEP_DONE = "done"
STEP_FAILED = "failed"
STEP_CANCELLED = "cancelled"      # stopped by its roll before any traffic moved (status failed)

# actions
WAIT = "wait"
LAUNCH = "launch"
ADOPT = "adopt"                   # a claimed launch whose instance exists (found by launch token)
ABANDON = "abandon"               # terminate the new instance (never healthy / died) and back off
DISABLE_SOURCE_DEST_CHECK = "disable_source_dest_check"
AWAIT_FAILOVER = "await_failover"  # old NAT still serves the zone: it must be failed over first
START_DRAIN = "start_drain"       # planned: record when the zone left the old NAT (the drain starts)
END_HANDOFF = "end_handoff"       # planned: the drain is over; the old NAT's handed-off flows get a reset
MOVE_EIP = "move_eip"
REPIN_PROBE_ROUTE = "repin_probe_route"
PUBLISH = "publish"               # topology parameter -> new instance, zone health -> unproven
MARK_PROVEN = "mark_proven"
RETIRE_OLD = "retire_old"
FINISH = "finish"
GIVE_UP = "give_up"
IDLE = "idle"                     # no replacement in progress



@dataclass(frozen=True)
class ReplacementPolicy:
    """Bounds of a replacement. ``for_replace_after`` derives them from the zone's setting."""

    proving_timeout_s: float = 600.0   # a new instance must be proven UP within this
    backoff_base_s: float = 60.0
    backoff_max_s: float = 1800.0
    max_attempts: int = 5              # launches per replacement before it is marked failed
    launch_claim_grace_s: float = 120.0  # a claimed launch with no visible instance is retried after
    handoff_settle_s: float = AGENT_SETTLE_S  # the Elastic IP moves this long after the handoff ended

    @classmethod
    def for_replace_after(cls, replace_after_s: float) -> ReplacementPolicy:
        return cls(proving_timeout_s=max(600.0, 2.0 * float(replace_after_s)))

    def backoff_s(self, failures: int) -> float:
        """Exponential: base, 2*base, 4*base ... capped."""
        return min(self.backoff_max_s, self.backoff_base_s * 2 ** max(0, failures - 1))


@dataclass(frozen=True)
class Record:
    """One zone's replacement, as stored (pk="replacement", sk=az) with a version for conditional writes."""

    az: str
    status: str = REPLACING
    step: str = STEP_STARTED
    reason: str = ""
    old_instance_id: str = ""
    started_at: float = 0.0
    attempts: int = 0                  # launches tried so far
    failures: int = 0                  # launches that failed or instances given up on
    launch_token: str = ""
    launched_at: float = 0.0
    new_instance_id: str = ""
    new_eni_id: str = ""
    next_attempt_at: float = 0.0
    proven_at: float = 0.0
    finished_at: float = 0.0
    last_error: str = ""
    version: int = 0
    history: tuple[str, ...] = field(default_factory=tuple)
    # A planned replacement (a roll, an operator's replace) of a NAT that still runs: its Elastic IP
    # moves only after ``maintenance.drain_s`` since the zone left it (``drain_until``), so open
    # connections finish through it.
    planned: bool = False
    drain_until: float = 0.0
    roll_id: str = ""                  # the roll this replacement is a step of ("" = none)
    handoff_ended_at: float = 0.0      # planned: when the drain's connection handoff was ended
    console_tail: tuple[str, ...] = ()  # last lines of the console of the last instance given up on
    # planned: the drain lasts at least until then (a spot NAT warned of its interruption serves the flows
    # it holds until EC2 takes it, not only ``maintenance.drain_s``); 0 = drain_s alone
    drain_floor: float = 0.0

    @property
    def active(self) -> bool:
        return self.status == REPLACING

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["history"] = list(self.history)
        d["console_tail"] = list(self.console_tail)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Record:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        known["history"] = tuple(known.get("history", ()))
        known["console_tail"] = tuple(known.get("console_tail", ()))
        return cls(**known)

    @property
    def left_old(self) -> bool:
        """Traffic has left the old NAT for this replacement (the drain started, or the EIP moved):
        stopping now can no longer leave the zone on its old NAT."""
        return bool(self.drain_until) or self.step in (STEP_PROVING, STEP_AWAIT_ROUTES, STEP_RETIRING)

    def moved(self, step: str, now: float, note: str = "", **changes) -> Record:
        """A copy at ``step``; the history keeps the last steps for the status view and debugging."""
        entry = f"{now:.0f} {step}" + (f" {note}" if note else "")
        return replace(self, step=step, history=(self.history + (entry,))[-12:], **changes)


@dataclass(frozen=True)
class InstanceView:
    instance_id: str
    state: str                         # pending | running | stopping | stopped | shutting-down | terminated
    eni_id: str = ""
    source_dest_check: bool = True
    tagged: bool = False               # carries this stack's tag


@dataclass(frozen=True)
class Facts:
    """What the runner observed just now. ``None`` for an instance means it was not found."""

    new_instance: InstanceView | None = None
    token_instance_id: str = ""        # an instance carrying the record's launch token
    old_instance: InstanceView | None = None
    eip_eni_id: str = ""               # the ENI the zone's Elastic IP is associated with
    probe_route_eni_id: str = ""       # the ENI the pinned probe route points at
    topology_instance_id: str = ""     # the zone's NAT in the topology parameter
    old_serves_zone: bool = False      # the zone's private routes still point at the old, running NAT
    nat_up: bool = False               # the zone's (topology) NAT is proven UP by the sweep
    served_by_own: bool = False        # the zone's private routes point at its own (topology) NAT
    revert_auto: bool = True
    handing_off: bool = False          # a zone's open flows are still handed back to the old NAT


@dataclass(frozen=True)
class NextAction:
    action: str
    why: str = ""


def decide(rec: Record | None, facts: Facts, now: float, policy: ReplacementPolicy) -> NextAction:
    """The next thing to do for this zone's replacement (or ``wait``/``idle``)."""
    if rec is None or not rec.active:
        return NextAction(IDLE, "no replacement in progress")
    if not rec.new_instance_id:
        return _decide_launch(rec, facts, now, policy)
    return _decide_wiring(rec, facts, now, policy)


def _decide_launch(rec: Record, facts: Facts, now: float, policy: ReplacementPolicy) -> NextAction:
    if rec.step == STEP_LAUNCHING and rec.launch_token:
        if facts.token_instance_id:
            return NextAction(ADOPT, f"launch {rec.launch_token} produced {facts.token_instance_id}")
        if now - rec.launched_at < policy.launch_claim_grace_s:
            return NextAction(WAIT, "a launch is in flight")
        return NextAction(LAUNCH, "a claimed launch left no instance; launching again with the same token")
    if rec.failures >= policy.max_attempts:
        return NextAction(GIVE_UP, f"{rec.failures} launches failed")
    if now < rec.next_attempt_at:
        return NextAction(WAIT, f"backing off until {rec.next_attempt_at:.0f}")
    return NextAction(LAUNCH, "no replacement instance yet")


def _decide_wiring(rec: Record, facts: Facts, now: float, policy: ReplacementPolicy) -> NextAction:
    inst = facts.new_instance
    proven = (facts.nat_up and facts.topology_instance_id == rec.new_instance_id
              and inst is not None and inst.state == RUNNING)
    if inst is not None and inst.state in LEAVING_STATES:
        return NextAction(ABANDON, f"new instance {rec.new_instance_id} is {inst.state}")
    # the proving time counts from the launch, or from the end of a planned drain (the new NAT cannot be
    # proven before its Elastic IP moves)
    proving_since = max(rec.launched_at, rec.drain_until)
    if not proven and not rec.proven_at and now - proving_since > policy.proving_timeout_s:
        return NextAction(ABANDON, f"new instance {rec.new_instance_id} not proven healthy within "
                                 f"{policy.proving_timeout_s:.0f}s")
    if inst is None or inst.state != RUNNING:
        return NextAction(WAIT, "new instance not running yet")
    if inst.source_dest_check:
        return NextAction(DISABLE_SOURCE_DEST_CHECK, "a NAT must forward traffic")
    if facts.eip_eni_id != inst.eni_id:
        if facts.old_serves_zone:
            return NextAction(AWAIT_FAILOVER, "the old NAT still serves the zone; fail it over first")
        old_runs = facts.old_instance is not None and facts.old_instance.state == RUNNING
        if rec.planned and old_runs and not rec.drain_until:
            return NextAction(START_DRAIN, "the zone left the old NAT: its open connections finish through it")
        if rec.planned and old_runs and now < rec.drain_until:
            return NextAction(WAIT, f"draining the old NAT until {rec.drain_until:.0f}")
        if facts.handing_off:
            return NextAction(END_HANDOFF, "the drain is over: connections still open through the old NAT "
                                           "get a reset before its Elastic IP moves")
        if rec.handoff_ended_at and now < rec.handoff_ended_at + policy.handoff_settle_s:
            return NextAction(WAIT, "the NATs' agents are ending the connection handoff")
        return NextAction(MOVE_EIP, "the zone keeps its egress IP")
    if facts.probe_route_eni_id != inst.eni_id:
        return NextAction(REPIN_PROBE_ROUTE, "probes must test the new NAT")
    if facts.topology_instance_id != rec.new_instance_id:
        return NextAction(PUBLISH, "the controller must know the new NAT")
    if not proven and not rec.proven_at:
        return NextAction(WAIT, "waiting for probes to prove the new NAT")
    if proven and not rec.proven_at:
        return NextAction(MARK_PROVEN, "the probes passed through the new NAT")
    if facts.revert_auto and not facts.served_by_own:
        return NextAction(WAIT, "proven; waiting for the sweep to revert the zone")
    old = facts.old_instance
    if old is not None and old.tagged and old.state not in GONE_STATES:
        return NextAction(RETIRE_OLD, f"old instance {old.instance_id} is {old.state}")
    return NextAction(FINISH, "the zone is served by its new NAT" if facts.served_by_own
                    else "the new NAT is proven (revert=manual)")


def launch_token(stack: str, az: str, started_at: float, attempt: int) -> str:
    """Client token for run-instances: the same for a retried call of the same attempt (<= 64 chars)."""
    return f"hanat-{stack}-{az}-{int(started_at)}-{attempt}"[-64:]
