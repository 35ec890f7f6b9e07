"""The replacement's view of zone health, kept in the controller core's zone records (state table).

A new NAT must earn its routes like a recovering one: ``reset`` stores the zone as DOWN with zero
passes (since = now), so the sweep's normal hysteresis (recover_after passes + min_hold) applies.
Writes go through the core's versioned ``commit``, so a concurrent sweep cannot overwrite the reset.
"""
from __future__ import annotations

from collections.abc import Callable

from ..aws import state as state_store
from ..engine.state import DOWN, UP
from ..errors import ConflictError

RESET_ATTEMPTS = 5


class StateTableHealth:
    """``HealthPort`` backed by the state table; ``failover`` moves a zone's routes away on request."""

    def __init__(self, deps, failover: Callable[[str, str], None] | None = None):
        self._deps = deps
        self._failover = failover

    def _snapshot(self):
        topo = self._deps.topology
        return state_store.load_snapshot(self._deps.clients.dynamodb, topo.table_name, topo.azs,
                                         self._deps.clock())

    def nat_up(self, az: str) -> bool:
        return self._snapshot().zones[az].state.health == UP

    def reset(self, az: str, now: float, reason: str) -> None:
        topo = self._deps.topology
        for attempt in range(RESET_ATTEMPTS):
            snap = self._snapshot()
            state = snap.zones[az].state
            fresh = state.evolve(health=DOWN, fails=0, passes=0, since=now, health_reason=reason)
            try:
                state_store.commit(self._deps.clients.dynamodb, topo.table_name, snap, {az: fresh}, now=now)
                return
            except ConflictError:
                if attempt == RESET_ATTEMPTS - 1:
                    raise
                self._deps.sleep(0.2 * (attempt + 1))

    def request_failover(self, az: str, reason: str) -> None:
        if self._failover is not None:
            self._failover(az, reason)
