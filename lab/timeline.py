"""The lab's timeline: timestamped events the EventBridge emulation, the heartbeat and the drill write."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Event:
    t: float                 # epoch seconds
    event: str               # fault, recover, failover, revert, move, health, instance_state, ...
    zone: str | None = None
    detail: dict = field(default_factory=dict)

    def to_dict(self, origin: float) -> dict:
        return {"t": round(self.t - origin, 3), "event": self.event, "zone": self.zone, **self.detail}


class Timeline:
    """Thread-safe list of timestamped events (the EventBridge emulation, the heartbeat and the drill all write)."""

    def __init__(self, clock=time.time):
        self._clock = clock
        self._lock = threading.Lock()
        self._events: list[Event] = []

    def add(self, event: str, zone: str | None = None, at: float | None = None, **detail) -> Event:
        e = Event(t=self._clock() if at is None else at, event=event, zone=zone, detail=detail)
        with self._lock:
            self._events.append(e)
        return e

    def clear(self) -> None:
        """Forget every event (a session reused for the next drill starts with an empty timeline)."""
        with self._lock:
            self._events.clear()

    def events(self, since: float = 0.0, kinds: Iterable[str] | None = None) -> list[Event]:
        wanted = set(kinds) if kinds is not None else None
        with self._lock:
            return sorted((e for e in self._events if e.t >= since and (wanted is None or e.event in wanted)),
                          key=lambda e: e.t)
