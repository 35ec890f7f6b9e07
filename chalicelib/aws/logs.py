"""CloudWatch Logs adapter: the controller's log events, for ``hanat logs`` (Lambda writes each
function's output to the log group ``/aws/lambda/<function name>``)."""
from __future__ import annotations

from dataclasses import dataclass

from .calls import absent_is_none, aws_call

LOG_GROUP_PREFIX = "/aws/lambda/"


@dataclass(frozen=True)
class LogEvent:
    group: str
    stream: str
    at: float          # epoch seconds
    message: str
    event_id: str


def log_group(function_name: str) -> str:
    return f"{LOG_GROUP_PREFIX}{function_name}"


def existing_groups(logs, prefix: str) -> list[str]:
    """Log group names starting with ``prefix`` (the functions that have logged at least once)."""
    groups: list[str] = []
    kwargs = {"logGroupNamePrefix": prefix}
    while True:
        resp = aws_call(f"logs.DescribeLogGroups {prefix}*", logs.describe_log_groups, **kwargs)
        groups += [g["logGroupName"] for g in resp.get("logGroups", [])]
        if not resp.get("nextToken"):
            return groups
        kwargs["nextToken"] = resp["nextToken"]


def events_since(logs, group: str, start: float, end: float | None = None, limit: int = 10_000) -> list[LogEvent]:
    """The group's events from ``start`` (epoch seconds) on, oldest first ([] when the group does not
    exist yet: a function that never ran has no log group)."""
    kwargs = {"logGroupName": group, "startTime": int(start * 1000)}
    if end is not None:
        kwargs["endTime"] = int(end * 1000)
    out: list[LogEvent] = []
    while len(out) < limit:
        resp = absent_is_none(f"logs.FilterLogEvents {group}", logs.filter_log_events, **kwargs)
        if resp is None:
            return []
        out += [LogEvent(group=group, stream=e.get("logStreamName", ""), at=e["timestamp"] / 1000.0,
                         message=e.get("message", ""), event_id=e.get("eventId", ""))
                for e in resp.get("events", [])]
        if not resp.get("nextToken"):
            break
        kwargs["nextToken"] = resp["nextToken"]
    return out[:limit]
