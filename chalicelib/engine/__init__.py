"""The pure decision engine: zone state, hysteresis, placement, flap damping, operator plans.

No boto3, no clock reads, no I/O: every function takes plain data (and ``now``) and returns a Plan.
"""
from .decide import decide, judge_health, revert_hold_s, targets_down
from .manual import plan_manual_failover, plan_pause, plan_resume, plan_revert
from .placement import choose_target, serving_loads
from .plan import FAILOVER, REPAIR, REVERT, Plan, RouteMove, ZoneInput
from .state import (
                    DOWN,
                    HEALTHS,
                    MANUAL_FAILOVER,
                    MODES,
                    NORMAL,
                    NOT_RUNNING_STATES,
                    PAUSED,
                    UNKNOWN,
                    UP,
                    ZoneState,
)

__all__ = [
                    "DOWN",
                    "FAILOVER",
                    "HEALTHS",
                    "MANUAL_FAILOVER",
                    "MODES",
                    "NORMAL",
                    "NOT_RUNNING_STATES",
                    "PAUSED",
                    "REPAIR",
                    "REVERT",
                    "UNKNOWN",
                    "UP",
                    "Plan",
                    "RouteMove",
                    "ZoneInput",
                    "ZoneState",
                    "choose_target",
                    "decide",
                    "judge_health",
                    "plan_manual_failover",
                    "plan_pause",
                    "plan_resume",
                    "plan_revert",
                    "revert_hold_s",
                    "serving_loads",
                    "targets_down",
]
