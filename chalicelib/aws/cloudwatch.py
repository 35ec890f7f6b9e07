"""CloudWatch adapter: the stack's alarms and dashboard (created by ``hanat deploy``, re-pointed at a
replaced NAT by the controller, removed by ``hanat down``). The alarm and dashboard contents are
built in ``chalicelib.monitoring``; this module only calls the API."""
from __future__ import annotations

from ..errors import AwsError
from .calls import aws_call, paginate
from .tags import has_stack_tag

DELETE_BATCH = 100   # DeleteAlarms takes at most 100 names per call
DASHBOARD_NOT_FOUND = "ResourceNotFound"   # GetDashboard's DashboardNotFoundError (botocore's model)


def put_alarm(cloudwatch, spec: dict, tags: list[dict] | None = None) -> None:
    """Create or update one alarm (PutMetricAlarm overwrites the whole definition). Tags only count on
    create: "If you are using this operation to update an existing alarm, any tags you specify in this
    parameter are ignored" (PutMetricAlarm API reference)."""
    kwargs = {**spec, **({"Tags": tags} if tags else {})}
    aws_call(f"cloudwatch.PutMetricAlarm {spec['AlarmName']}", cloudwatch.put_metric_alarm, **kwargs)


def alarms_named(cloudwatch, prefix: str) -> list[dict]:
    """Every metric alarm whose name starts with ``prefix``."""
    return paginate(f"cloudwatch.DescribeAlarms {prefix}*", cloudwatch, "describe_alarms", "MetricAlarms",
                    AlarmNamePrefix=prefix, AlarmTypes=["MetricAlarm"])


def alarm_tags(cloudwatch, alarm_arn: str) -> list[dict]:
    return aws_call(f"cloudwatch.ListTagsForResource {alarm_arn}", cloudwatch.list_tags_for_resource,
                    ResourceARN=alarm_arn).get("Tags", [])


def stack_alarms(cloudwatch, prefix: str, stack: str) -> list[dict]:
    """The alarms named ``prefix*`` that carry this stack's tag (others are never touched)."""
    return [a for a in alarms_named(cloudwatch, prefix) if has_stack_tag(alarm_tags(cloudwatch, a["AlarmArn"]), stack)]


def delete_alarms(cloudwatch, names: list[str]) -> None:
    for start in range(0, len(names), DELETE_BATCH):
        batch = names[start:start + DELETE_BATCH]
        aws_call(f"cloudwatch.DeleteAlarms {', '.join(batch)}", cloudwatch.delete_alarms, AlarmNames=batch)


def put_dashboard(cloudwatch, name: str, body: str) -> None:
    aws_call(f"cloudwatch.PutDashboard {name}", cloudwatch.put_dashboard, DashboardName=name, DashboardBody=body)


def dashboard_body(cloudwatch, name: str) -> str | None:
    """The dashboard's JSON body, or None when there is no such dashboard."""
    try:
        resp = aws_call(f"cloudwatch.GetDashboard {name}", cloudwatch.get_dashboard, DashboardName=name)
    except AwsError as err:
        if err.code == DASHBOARD_NOT_FOUND:
            return None
        raise
    return resp["DashboardBody"]


def delete_dashboard(cloudwatch, name: str) -> None:
    aws_call(f"cloudwatch.DeleteDashboards {name}", cloudwatch.delete_dashboards, DashboardNames=[name])
