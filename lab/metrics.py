"""The controller's metrics as the lab keeps them: every value put, counted and kept with its time (the
lab has no CloudWatch: the alarms' conditions are evaluated from these points, lab.alarms)."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class MetricPoint:
    """One value the controller put, when (what CloudWatch would store as a datapoint)."""

    t: float
    name: str
    value: float
    unit: str


@dataclass
class Metrics:
    """The controller's metrics, counted and kept with their time."""

    counts: dict[str, float] = field(default_factory=dict)
    points: list[MetricPoint] = field(default_factory=list)
    clock: Callable[[], float] = time.time
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, name: str, value: float, unit: str, dimensions=None) -> None:   # by name, all zones
        with self._lock:
            self.counts[name] = self.counts.get(name, 0) + value
            self.points.append(MetricPoint(self.clock(), name, value, unit))

    def series(self, name: str) -> list[tuple[float, float]]:
        """(time, value) of every point of ``name``, oldest first."""
        with self._lock:
            return [(p.t, p.value) for p in self.points if p.name == name]

    def clear(self) -> None:
        """Forget every count and point (a session reused for the next drill starts with none)."""
        with self._lock:
            self.counts.clear()
            self.points.clear()
