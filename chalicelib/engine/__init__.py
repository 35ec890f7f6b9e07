"""The pure decision engine: zone state, hysteresis, placement, flap damping, operator decisions.

No boto3, no clock reads, no I/O: every function takes plain data (and ``now``) and returns a Decision.
"""
from .decide import (
    choose_target,
    decide,
    judge_health,
    revert_allowed,
    revert_hold_s,
    serving_loads,
    targets_down,
)
from .decision import FAILOVER, REPAIR, REVERT, Decision, RouteMove, ZoneInput
from .manual import decide_manual_failover, decide_pause, decide_resume, decide_revert
from .state import (
    DOWN,
    EC2_STATES,
    GONE_STATES,
    HEALTHS,
    LEAVING_STATES,
    MANUAL_FAILOVER,
    MODES,
    NORMAL,
    PAUSED,
    RUNNING,
    UNKNOWN,
    UP,
    ZoneState,
)

__all__ = [
    "DOWN", "EC2_STATES", "FAILOVER", "GONE_STATES", "HEALTHS", "LEAVING_STATES", "MANUAL_FAILOVER", "MODES",
    "NORMAL", "PAUSED", "REPAIR", "REVERT", "RUNNING", "UNKNOWN", "UP",
    "Decision", "RouteMove", "ZoneInput", "ZoneState",
    "choose_target", "decide", "decide_manual_failover", "decide_pause", "decide_resume", "decide_revert",
    "judge_health", "revert_allowed", "revert_hold_s", "serving_loads", "targets_down",
]
