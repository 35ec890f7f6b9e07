"""What runs after a sweep (the heartbeat's ``then``), while the sweeper lease is still held: the
replacement pass, then the roll pass, then closing expired connection handoffs; none of them lets its
problem fail the heartbeat.

1. ``replacement.run_pass``: advance replacements in progress, start the ones that are due (a NAT
   DOWN or stopped for longer than ``replace_after_s``);
2. ``roll.roll_pass``: a rolling replacement in progress, or an outdated NAT inside
   ``maintenance.window``;
3. ``handoff_close.close_expired_handoffs``: handoffs whose time is up, or whose NATs cannot carry them;
4. ``scheduled_events.look_pass``: EC2's scheduled events for the NATs (read once per period, not per
   sweep): a NAT is rolled before its event.

Returns the topology the next sweep must use (the newest one a step published: a replaced NAT).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from ..engine import ZoneState
from ..errors import HanatError
from ..observability import logger
from ..topology import Topology
from . import handoff_close, roll, scheduled_events
from .deps import Deps
from .replacement import newest_topology, run_pass


def after_sweep(deps: Deps, zone_states: Mapping[str, ZoneState]) -> Topology:
    """Run the passes in order (``zone_states``: what the sweep stored); the topology to sweep with
    next (the newest one a step published, else the one it was given)."""
    topology = deps.topology
    try:
        outcomes = list(run_pass(deps, zone_states, deps.clock()).values())
    except HanatError as err:
        logger.exception("replacement pass failed", extra={"error": str(err)})
        outcomes = []
    try:
        rolled = roll.roll_pass(replace(deps, topology=newest_topology(deps.topology, outcomes)), deps.clock())
        outcomes += rolled.replacements
    except HanatError as err:
        logger.exception("roll pass failed", extra={"error": str(err)})
    try:
        handoff_close.close_expired_handoffs(deps, zone_states, deps.clock())
    except HanatError as err:
        logger.exception("connection handoff cleanup failed", extra={"error": str(err)})
    try:
        scheduled_events.look_pass(replace(deps, topology=newest_topology(deps.topology, outcomes)), deps.clock())
    except HanatError as err:
        logger.exception("scheduled events pass failed", extra={"error": str(err)})
    return newest_topology(topology, outcomes)
