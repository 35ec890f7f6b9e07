"""What the long-lived connections saw (pure): figures every drill reports and the connection judges.

From the connections (lab.dataplane.connlog's ``Conn``, one per connection: its requests, how it ended)
and the route moves the lab's EventBridge emulation saw:

- ``connections_open``   connections open at the fault (every zone);
- ``connections_broken`` connections reset, or hung (a wait of ``HUNG_S`` or more without an answer
  and without a reset) since the drill started;
- ``reset_after_s``      per reset: its zone's route move -> the reset;
- ``max_stall_s``        the longest wait of any request without an answer and without a reset (a
  reset ends a wait; a request still unanswered when measured waits until then).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lab.dataplane.connlog import Conn


@dataclass(frozen=True)
class Move:
    t: float
    zone: str
    kind: str          # failover | revert | move


@dataclass
class ConnFigures:
    connections_open: int
    connections_broken: int
    reset_after_s: list[float]
    max_stall_s: float | None
    broken_by_move: dict[str, int]      # the route move (kind) each broken connection followed

    def to_dict(self) -> dict:
        return {"connections_open": self.connections_open, "connections_broken": self.connections_broken,
                "reset_after_s": self.reset_after_s, "max_stall_s": self.max_stall_s,
                "broken_by_move": self.broken_by_move}


def last_move(moves: Sequence[Move], zone: str, t: float) -> Move | None:
    before = [m for m in moves if m.zone == zone and m.t <= t]
    return before[-1] if before else None


def figures(conns: Sequence[Conn], moves: Sequence[Move], *, start: float, fault: float, now: float,
            interval_s: float = 0.1) -> ConnFigures:
    moves = sorted(moves, key=lambda m: m.t)
    opened = sum(1 for c in conns if c.open_at(fault))
    broken, by_move, resets = 0, {}, []
    stall = None
    for c in conns:
        for s, length in c.waits(now, interval_s):
            if s + length >= start:
                stall = length if stall is None else max(stall, length)
        at = c.broke_at(now, interval_s, start)
        if at is None:
            continue
        broken += 1
        m = last_move(moves, c.zone, at)
        kind = m.kind if m else "no_move"
        by_move[kind] = by_move.get(kind, 0) + 1
        if c.reset and m is not None and c.reset[1] == at:
            resets.append(round(at - m.t, 3))
    return ConnFigures(opened, broken, sorted(resets), None if stall is None else round(stall, 3), by_move)


def broken_since(conns: Sequence[Conn], t: float, now: float, interval_s: float = 0.1,
                 zone: str | None = None) -> int:
    return sum(1 for c in conns if (zone is None or c.zone == zone) and c.broke_at(now, interval_s, t) is not None)


def addresses_after(conns: Sequence[Conn], t: float, *, opened_before: bool, zone: str) -> set[str]:
    """The addresses the server saw on answers sent after ``t``, on the zone's connections opened
    before ``t`` (``opened_before``) or after it."""
    out = set()
    for c in conns:
        if c.zone != zone or (c.opened < t) != opened_before:
            continue
        out.update(you for t0, _, you in c.replies if t0 >= t and you)
    return out


def address_before(c: Conn, t: float) -> str | None:
    seen = [you for t0, _, you in c.replies if t0 < t and you]
    return seen[-1] if seen else None


def old_flows_stay(conns: Sequence[Conn], t: float, zone: str, settle_s: float = 0.5) -> bool | None:
    """Every connection of ``zone`` open across ``t`` (a planned move) kept the address it had before
    (its old NAT still carries it): True/False, None when no connection was open across it."""
    across = [c for c in conns if c.zone == zone and c.open_at(t) and (c.ended is None or c.ended > t + settle_s)]
    if not across:
        return None
    return all(you == address_before(c, t) for c in across for t0, _, you in c.replies if t0 >= t + settle_s)


# --- the roll's connection judge (wired into the roll scenario by the coordinator) ------------------
def judge_roll(conns: Sequence[Conn], *, zone: str, moved_at: float, drain_ended_at: float, now: float,
               interval_s: float = 0.1, reset_within_s: float = 1.0) -> dict[str, bool]:
    """A roll step moved ``zone`` at ``moved_at`` (handoff to the old NAT) and ended the handoff (its
    Elastic IP moves) at ``drain_ended_at``. Connections open at the move that ended before the drain
    ended: none broken. Connections still open then: each gets a reset within ``reset_within_s`` of it
    (none hangs: no wait of that zone after the move longer than the drain end + ``reset_within_s``)."""
    at_move = [c for c in conns if c.zone == zone and c.open_at(moved_at)]
    short = [c for c in at_move if c.ended is not None and c.ended <= drain_ended_at]
    long = [c for c in at_move if c not in short]
    short_ok = all(c.reset is None and c.broke_at(now, interval_s, moved_at) is None for c in short)
    long_reset = all(c.reset is not None and drain_ended_at <= c.reset[1] <= drain_ended_at + reset_within_s
                     for c in long)
    waits_after = [s + length for c in conns if c.zone == zone for s, length in c.waits(now, interval_s)
                   if s + length > moved_at and length >= reset_within_s + interval_s]
    no_hang = all(end <= drain_ended_at + reset_within_s for end in waits_after)
    return {"roll_connections_open_at_move": bool(at_move),
            "roll_no_connection_ending_within_drain_broken": short_ok,
            "roll_longer_connections_reset_after_drain": long_reset,
            "roll_no_connection_hung": no_hang}
