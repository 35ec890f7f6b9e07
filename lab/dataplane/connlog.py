"""The long-lived connections' log read back (pure): one ``Conn`` per connection, its requests and how it ended.

The clients (lab.dataplane.netns.conns) log one JSON line per event; ``parse_lines`` reads them and
``build`` groups them into ``Conn``. lab.drills.connections computes the drills' figures from them.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
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
