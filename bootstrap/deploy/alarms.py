"""``hanat deploy`` watches the watcher: it creates the stack's CloudWatch alarms and dashboard
(contents in ``chalicelib.monitoring``), all notifying the alert topic. ``check_watch`` runs before anything
is deployed and refuses (exit 2, nothing changed) when an alarm or dashboard of the same name exists
that is not the stack's; ``create_watch`` creates or updates them and removes the stack's alarms no
longer wanted (a zone removed). ``hanat down`` removes them (bootstrap/stack/destroy.py)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from chalicelib import monitoring
from chalicelib.aws import cloudwatch as cw_api
from chalicelib.aws.tags import has_stack_tag
from chalicelib.errors import InputError
from chalicelib.naming import STACK_TAG
from chalicelib.topology import Topology


@dataclass
class WatchResult:
    alarms: list[str] = field(default_factory=list)
    dashboard: str = ""
    removed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"alarms": self.alarms, "dashboard": self.dashboard, "removed_alarms": self.removed}


def check_watch(topology: Topology, cloudwatch) -> None:
    """Reads only: InputError naming every alarm or dashboard that has one of the stack's names but is
    not the stack's (hanat never takes over someone else's resource)."""
    stack, region = topology.stack, topology.region
    problems = []
    wanted = set(monitoring.alarm_names(topology))
    for alarm in cw_api.alarms_named(cloudwatch, monitoring.alarm_prefix(stack)):
        if alarm["AlarmName"] in wanted and not has_stack_tag(cw_api.alarm_tags(cloudwatch, alarm["AlarmArn"]), stack):
            problems.append(f"CloudWatch alarm {alarm['AlarmName']} exists but is not tagged {STACK_TAG}={stack}")
    name = monitoring.dashboard_name(stack, region)
    body = cw_api.dashboard_body(cloudwatch, name)
    if body is not None and monitoring.marker(stack, region) not in body:
        problems.append(f"CloudWatch dashboard {name} exists but is not this stack's (no {monitoring.marker(stack, region)!r})")
    if problems:
        raise InputError(problems + ["rename the stack, or delete or rename those resources"],
                         title=f"stack {stack!r}: cannot create its alarms")


def create_watch(topology: Topology, stage: str, cloudwatch,
                 progress: Callable[[str], None] = lambda _m: None) -> WatchResult:
    """Create or update every alarm and the dashboard; delete the stack's alarms no longer wanted."""
    stack = topology.stack
    tags = [{"Key": STACK_TAG, "Value": stack}]
    result = WatchResult()
    for spec in monitoring.alarms(topology, stage):
        cw_api.put_alarm(cloudwatch, spec, tags=tags)
        result.alarms.append(spec["AlarmName"])
    wanted = set(result.alarms)
    stale = [a["AlarmName"] for a in cw_api.stack_alarms(cloudwatch, monitoring.alarm_prefix(stack), stack)
             if a["AlarmName"] not in wanted]
    if stale:
        cw_api.delete_alarms(cloudwatch, stale)
        result.removed = stale
    result.dashboard = monitoring.dashboard_name(stack, topology.region)
    cw_api.put_dashboard(cloudwatch, result.dashboard, monitoring.dashboard_body(topology))
    progress(f"alarms: {len(result.alarms)} notifying {topology.topic_arn}"
             + (f" ({len(stale)} obsolete removed)" if stale else "") + f"; dashboard {result.dashboard}")
    return result
