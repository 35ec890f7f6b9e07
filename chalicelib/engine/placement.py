"""Which healthy NAT takes a zone: deterministic, spreading load across the ring."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence


def choose_target(zone: str, ring: Sequence[str], loads: Mapping[str, int],
                  usable: Callable[[str], bool]) -> str | None:
    """The usable az (not ``zone``) serving the fewest zones; ties go to the first one after
    ``zone`` in ring order. None when no NAT is usable (then nothing should move)."""
    n = len(ring)
    start = ring.index(zone) if zone in ring else -1
    candidates = [az for az in ring if az != zone and usable(az)]
    if not candidates:
        return None
    return min(candidates, key=lambda az: (loads.get(az, 0), (ring.index(az) - start) % n))


def serving_loads(servers: Mapping[str, str], exclude: Sequence[str] = ()) -> dict[str, int]:
    """How many zones each az's NAT serves, from a zone -> serving az map."""
    loads: dict[str, int] = {}
    for zone, server in servers.items():
        if zone not in exclude:
            loads[server] = loads.get(server, 0) + 1
    return loads
