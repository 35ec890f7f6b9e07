"""What the long-lived connections saw (pure): figures every drill reports and the connection judges.

The clients (lab.dataplane.netns.conns) log one JSON line per event; ``parse_lines`` reads them and ``build``
groups them into ``Conn`` (one per connection: its requests, how it ended). From those and the route
moves the lab's watcher saw:

- ``connections_open``   connections open at the fault (every zone);
- ``connections_broken`` connections reset, or hung (a wait of ``HUNG_S`` or more without an answer
  and without a reset) since the drill started;
- ``reset_after_s``      per reset: its zone's route move -> the reset;
- ``max_stall_s``        the longest wait of any request without an answer and without a reset (a
  reset ends a wait; a request still unanswered when measured waits until then).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

HUNG_S = 5.0   # a wait this long without an answer or a reset is a hang (the lab answers in ~1 ms; a
#               connection that lost a packet retransmits within 1 s: TCP_RTO_MAX_MS, lab.dataplane.netns.conns)


@dataclass
class Conn:
    zone: str
    c: int
    g: int
    opened: float
    replies: list[tuple[float, float, str | None]] = field(default_factory=list)   # (sent, answered, you)
    reset: tuple[float, float] | None = None      # (sent, reset seen)
    closed: float | None = None                   # closed on purpose (its lifetime ended)

    @property
    def ended(self) -> float | None:
        return self.reset[1] if self.reset else self.closed

    def open_at(self, t: float) -> bool:
        return self.opened <= t and (self.ended is None or self.ended > t)

    def waits(self, now: float, interval_s: float) -> list[tuple[float, float]]:
        """(start, length) of every wait: each request until its answer or reset; a request still
        unanswered at ``now`` (sent one interval after the last answer) waits until ``now``."""
        out = [(t0, t1 - t0) for t0, t1, _ in self.replies]
        if self.reset:
            out.append((self.reset[0], self.reset[1] - self.reset[0]))
        elif self.closed is None:
            last = self.replies[-1][1] + interval_s if self.replies else self.opened
            if now > last:
                out.append((last, now - last))
        return out

    def broke_at(self, now: float, interval_s: float, since: float) -> float | None:
        """When it broke (reset, or the start of a hang) at or after ``since``; None if it did not."""
        if self.reset and self.reset[1] >= since:
            return self.reset[1]
        hung = [s for s, length in self.waits(now, interval_s) if length >= HUNG_S and s + length >= since]
        return hung[0] if hung else None


def parse_lines(lines: Iterable[str], zone: str) -> list[dict]:
    """Events of one zone's clients; a torn line (a client killed mid-write) is skipped."""
    out = []
    for line in lines:
        try:
            d = json.loads(line)
        except json.JSONDecodeError:
            continue
        d["zone"] = zone
        out.append(d)
    return out


def build(events: Iterable[dict]) -> list[Conn]:
    conns: dict[tuple, Conn] = {}
    for e in events:
        key = (e["zone"], e["c"], e["g"])
        if e["ev"] == "open":
            conns[key] = Conn(e["zone"], e["c"], e["g"], float(e["t"]))
            continue
        conn = conns.get(key)
        if conn is None:
            continue
        if e["ev"] == "reply":
            conn.replies.append((float(e["t0"]), float(e["t1"]), e.get("you")))
        elif e["ev"] == "reset":
            conn.reset = (float(e["t0"]), float(e["t1"]))
        elif e["ev"] == "close":
            conn.closed = float(e["t"])
    return sorted(conns.values(), key=lambda c: (c.zone, c.c, c.g))


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
