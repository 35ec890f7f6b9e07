"""Gray failure: a NAT whose probes pass while its new flows fail is DEGRADED, and the zones it serves
for other zones move off it (pure: readings, the previous gray states, settings and ``now`` in; plan out).

A sweep's look at one NAT is a ``NatReading``: its conntrack table now and what its counters
(``chalicelib.nat_readings``, as hanat-nat-agent reports them) rose by since the previous reading.
A reading is *bad* when new flows fail (``causes``):

- ``conntrack-full``: the table at ``degraded_conntrack_percent`` or more of its limit, or conntrack's
  ``drop``/``early_drop`` rising (the kernel drops a new flow it cannot track: fck-nat issue #40);
- ``port-allocation``: conntrack's ``insert_failed`` rising, source NAT found no free port toward a
  destination (NAT Gateway's ``ErrorPortAllocation``; AWS recommends alarming on any: CloudWatch User
  Guide, "Recommended alarms", NAT gateway; fck-nat issue #144);
- ``drops``: more than ``degraded_drops`` invalid packets dropped since the last reading;
- ``allowance-exceeded``: more than ``degraded_drops`` packets queued or dropped past the ENA
  allowances (``bw_in/bw_out/pps/conntrack_allowance_exceeded``: EC2 User Guide, "Monitor network
  performance for ENA settings on your EC2 instance"; alterNAT issue #108).

Hold times as for health (``judge_health``): DEGRADED after ``degraded_after`` bad readings in a row,
OK again after ``degraded_clear_after`` good ones and ``degraded_min_hold_s`` DEGRADED; a sweep without
a reading (probe failed, counters unreadable) counts for nothing. ``decide_moves`` moves each zone a
DEGRADED NAT serves for another zone: home when its own NAT is UP with headroom, else to the least
loaded NAT with headroom (at most one zone onto each NAT per sweep), else it stays (a degraded NAT beats
none). The NAT's own zone stays. Moves are failovers/reverts, so ``review`` hands their flows off.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace

from ..alerts import Alert
from ..nat_readings import SNAT_PORTS_PER_ADDRESS, increase, table_full_drops
from ..settings import FailoverSettings
from .decide import choose_target, move_alert, moves_routes, serving_loads
from .model import FAILOVER, NORMAL, PAUSED, REVERT, RUNNING, UP, Decision, RouteMove, ZoneInput

OK, DEGRADED = "OK", "DEGRADED"
CONNTRACK_FULL, PORT_ALLOCATION, DROPS, ALLOWANCE = "conntrack-full", "port-allocation", "drops", "allowance-exceeded"
ROLL_REMEDY = "roll the NAT to a larger instance type: set nat.instance_type, `hanat up`, then `hanat roll`"
REMEDIES = {
    CONNTRACK_FULL: ROLL_REMEDY + " (conntrack is sized to memory)",
    PORT_ALLOCATION: "add source addresses: raise nat.addresses (up to 8 Elastic IPs), `hanat up`, then `hanat roll`",
    DROPS: "look at the NAT's drops (docs/runbook.md, 'DEGRADED'); " + ROLL_REMEDY + " if they follow load",
    ALLOWANCE: ROLL_REMEDY + " (its network allowances are the type's)",
}
ENA_KEYS = ("bw_in_allowance_exceeded", "bw_out_allowance_exceeded", "pps_allowance_exceeded",
            "conntrack_allowance_exceeded")


@dataclass(frozen=True)
class NatReading:
    """One sweep's look at the NAT of zone ``az``; a None count is one the NAT cannot read (not zero),
    a None increase one without an earlier reading to compare with."""

    az: str
    conntrack_count: int | None = None
    conntrack_limit: int | None = None
    conntrack_drops: int | None = None      # nat_readings.table_full_drops: drop + early_drop, less insert_failed
    port_errors: int | None = None          # increase of conntrack insert_failed
    invalid_drops: int | None = None        # increase
    allowance_exceeded: int | None = None   # increase of the ENA allowance counters (None: no ENA driver)
    busiest_port_percent: float | None = None
    busiest_destination: str = ""
    throughput_mbps: float | None = None    # both directions, since the previous reading

    @property
    def conntrack_percent(self) -> float | None:
        if self.conntrack_count is None or not self.conntrack_limit:
            return None
        return 100.0 * self.conntrack_count / self.conntrack_limit

    def to_dict(self) -> dict:
        return {**asdict(self), "conntrack_percent": self.conntrack_percent}


@dataclass(frozen=True)
class GrayState:
    """What the controller remembers about one NAT's gray health between sweeps."""

    az: str
    status: str = OK
    bad: int = 0              # bad readings in a row
    good: int = 0             # good readings in a row while DEGRADED
    since: float = 0.0        # when ``status`` last changed
    causes: tuple[str, ...] = ()
    reason: str = ""
    version: int = 0

    def to_dict(self) -> dict:
        return {**asdict(self), "causes": list(self.causes)}

    @classmethod
    def from_dict(cls, d: Mapping) -> GrayState:
        return cls(az=str(d["az"]), status=str(d.get("status", OK)), bad=int(d.get("bad", 0)),
                   good=int(d.get("good", 0)), since=float(d.get("since", 0.0)),
                   causes=tuple(d.get("causes", ())), reason=str(d.get("reason", "")),
                   version=int(d.get("version", 0)))


@dataclass(frozen=True)
class GrayRound:
    """One sweep's judgement: every NAT's new gray state, and which entered or left DEGRADED."""

    states: dict[str, GrayState]
    entered: tuple[str, ...] = ()
    recovered: tuple[str, ...] = ()


def reading(az: str, previous: dict | None, current: dict, elapsed_s: float) -> NatReading:
    """A ``NatReading`` from two successive counter snapshots of the NAT (``previous`` None: the first)."""
    conntrack = current.get("conntrack") or {}
    ports = current.get("ports") or {}
    busiest = max(ports.get("busiest") or [], key=lambda b: b["used"], default=None)
    addresses = ports.get("addresses")
    ena, ena_before = current.get("ena"), (previous or {}).get("ena")
    ena_keys = [k for k in ENA_KEYS if isinstance(ena, dict) and isinstance(ena_before, dict) and k in ena and k in ena_before]
    moved = increase(previous, current, ("forwarded", "from_source", "bytes"), ("forwarded", "from_destination", "bytes"))
    return NatReading(
        az=az, conntrack_count=conntrack.get("count"), conntrack_limit=conntrack.get("max"),
        conntrack_drops=table_full_drops(previous, current),
        port_errors=increase(previous, current, ("conntrack", "insert_failed")),
        invalid_drops=increase(previous, current, ("invalid_drops",)),
        allowance_exceeded=increase(previous, current, *(("ena", k) for k in ena_keys)) if ena_keys else None,
        busiest_port_percent=(100.0 * busiest["used"] / (addresses * SNAT_PORTS_PER_ADDRESS)
                              if busiest and addresses else None),
        busiest_destination=f"{busiest['proto']} {busiest['destination']}:{busiest['port']}" if busiest else "",
        throughput_mbps=moved * 8 / elapsed_s / 1e6 if moved is not None and elapsed_s > 0 else None)


def causes(r: NatReading, s: FailoverSettings) -> tuple[tuple[str, str], ...]:
    """Why new flows through the NAT fail, as (cause, what was seen); empty: they do not."""
    found = []
    use = r.conntrack_percent
    if use is not None and use >= s.degraded_conntrack_percent:
        found.append((CONNTRACK_FULL, f"conntrack {r.conntrack_count}/{r.conntrack_limit} ({use:.0f} %)"))
    elif r.conntrack_drops:
        found.append((CONNTRACK_FULL, f"conntrack dropped {r.conntrack_drops} new flows"))
    if r.port_errors:
        found.append((PORT_ALLOCATION, f"{r.port_errors} port allocation errors"
                                       + (f" (busiest {r.busiest_destination})" if r.busiest_destination else "")))
    if (r.invalid_drops or 0) > s.degraded_drops:
        found.append((DROPS, f"{r.invalid_drops} packets dropped"))
    if (r.allowance_exceeded or 0) > s.degraded_drops:
        found.append((ALLOWANCE, f"{r.allowance_exceeded} packets past the ENA allowances"))
    return tuple(found)


def judge(prev: GrayState, r: NatReading | None, s: FailoverSettings, now: float) -> GrayState:
    """The NAT's gray state after this sweep's reading (None: no reading, nothing changes)."""
    if r is None or s.degraded_after <= 0:
        return prev
    bad = causes(r, s)
    if bad:
        seen = "; ".join(text for _, text in bad)
        state = replace(prev, bad=prev.bad + 1, good=0)
        if prev.status == OK and state.bad >= s.degraded_after:
            return replace(state, status=DEGRADED, since=now, causes=tuple(c for c, _ in bad), reason=seen)
        return state
    if prev.status == DEGRADED:
        good = prev.good + 1
        if good >= s.degraded_clear_after and now - prev.since >= s.degraded_min_hold_s:
            return replace(prev, status=OK, since=now, bad=0, good=0, causes=(),
                           reason=f"{good} good readings in a row")
        return replace(prev, bad=0, good=good)
    return replace(prev, bad=0, good=0)


def judge_all(previous: Mapping[str, GrayState], readings: Mapping[str, NatReading | None],
              s: FailoverSettings, now: float, azs: Sequence[str]) -> GrayRound:
    """Every zone's NAT judged (a zone without a previous state starts OK)."""
    states, entered, recovered = {}, [], []
    for az in azs:
        before = previous.get(az) or GrayState(az=az)
        after = judge(before, readings.get(az), s, now)
        states[az] = after
        if before.status != after.status:
            (entered if after.status == DEGRADED else recovered).append(az)
    return GrayRound(states=states, entered=tuple(entered), recovered=tuple(recovered))


def has_headroom(az: str, zone: ZoneInput, gray: GrayState | None, r: NatReading | None, s: FailoverSettings,
                 baseline_mbps: float | None = None) -> bool:
    """May the NAT of ``az`` take another zone? UP and running, not DEGRADED nor bad this sweep, read this
    sweep, and its conntrack, busiest-destination port and baseline-bandwidth use (when the type's
    baseline is known) under ``headroom_percent``."""
    if zone.state.health != UP or zone.instance_state != RUNNING or r is None or causes(r, s):
        return False
    if gray is not None and (gray.status == DEGRADED or gray.bad):
        return False
    uses = [r.conntrack_percent, r.busiest_port_percent,
            100.0 * r.throughput_mbps / baseline_mbps if baseline_mbps and r.throughput_mbps is not None else None]
    return r.conntrack_percent is not None and all(u < s.headroom_percent for u in uses if u is not None)


def decide_moves(zones: Sequence[ZoneInput], gray: Mapping[str, GrayState], readings: Mapping[str, NatReading | None],
                 s: FailoverSettings, *, now: float, stack: str = "",
                 baselines: Mapping[str, float] | None = None) -> Decision:
    """Move the zones DEGRADED NATs serve for other zones (the decider of one apply: every zone's state,
    the moves and their alerts; ``notes`` say which zones stay and why)."""
    by_az = {z.az: z for z in zones}
    states = {z.az: z.state for z in zones}
    ring = [z.az for z in zones]
    taken: set[str] = set()

    def room(az: str) -> bool:
        return az not in taken and has_headroom(az, by_az[az], gray.get(az), readings.get(az), s,
                                                (baselines or {}).get(az))

    moves, notes = [], []
    for z in zones:
        st = z.state
        server = st.served_by or st.az
        if server == z.az or gray.get(server) is None or gray[server].status != DEGRADED:
            continue
        if st.mode == PAUSED or not moves_routes(st):
            notes.append(f"{z.az} stays on degraded NAT {server}: zone is {st.mode if st.mode == PAUSED else st.adoption}")
            continue
        why = f"NAT {server} DEGRADED ({gray[server].reason})"
        if room(z.az):
            move = RouteMove(z.az, server, z.az, REVERT, f"{why}: back to its own NAT")
            states[z.az] = replace(st, served_by="", mode=NORMAL, hold_until=0.0, last_change=now,
                                   last_reason=move.reason)
        else:
            loads = serving_loads({a: x.served_by or x.az for a, x in states.items()}, exclude=[z.az])
            to = choose_target(z.az, ring, loads, lambda a, away=server: a != away and room(a))
            if to is None:
                notes.append(f"{z.az} stays on degraded NAT {server}: no other NAT has headroom")
                continue
            move = RouteMove(z.az, server, to, FAILOVER, f"{why}: to NAT {to}, which has headroom")
            states[z.az] = replace(st, served_by=to, last_change=now, last_reason=move.reason)
        taken.add(move.to_az)
        moves.append(move)
    alerts = tuple(move_alert(m, by_az, now, stack) for m in moves)
    return Decision(states=states, moves=tuple(moves), alerts=alerts,
                    outcomes=tuple("gray_move" for _ in moves), notes=tuple(notes))


def gray_alert(state: GrayState, r: NatReading | None, nat_id: str, now: float, stack: str) -> Alert:
    """One alert per entry into DEGRADED (the cause and the remedy) and one on recovery."""
    if state.status == DEGRADED:
        remedy = "; ".join(REMEDIES[c] for c in state.causes)
        return Alert(type="degraded", zone=state.az, at=now, stack=stack, from_nat=nat_id or None,
                     reason=f"new flows through NAT {nat_id or state.az} fail: {state.reason}. Remedy: {remedy}",
                     details={"causes": list(state.causes), "remedy": remedy,
                              "reading": r.to_dict() if r else None})
    return Alert(type="recovered", zone=state.az, at=now, stack=stack, from_nat=nat_id or None,
                 reason=f"NAT {nat_id or state.az} copes again: {state.reason}",
                 details={"reading": r.to_dict() if r else None})
