"""Keep the stack's alarms and dashboard on its current NATs: after a replacement publishes a new NAT,
its zone's ``StatusCheckFailed`` alarm and the dashboard's NAT widgets are re-pointed at it. Only what
``hanat deploy`` created is updated (an alarm that does not exist, or a dashboard without the stack's
marker, is left alone); a failure is logged and never stops the replacement."""
from __future__ import annotations

from .. import monitoring
from ..aws import cloudwatch as cw_api
from ..errors import HanatError
from ..observability import logger
from ..topology import Topology
from .deps import Deps


def repoint_nat_alarms(deps: Deps, topology: Topology, az: str) -> bool:
    """Re-point zone ``az``'s NAT alarm and the dashboard at the topology's NAT; True if anything changed."""
    cloudwatch = deps.clients.cloudwatch
    if cloudwatch is None:
        return False
    changed = False
    try:
        name = monitoring.nat_alarm_name(topology.stack, az)
        if any(a["AlarmName"] == name for a in cw_api.alarms_named(cloudwatch, name)):
            cw_api.put_alarm(cloudwatch, monitoring.nat_alarm(topology, az))   # update: its tags stay
            changed = True
        dashboard = monitoring.dashboard_name(topology.stack, topology.region)
        body = cw_api.dashboard_body(cloudwatch, dashboard)
        if body is not None and monitoring.marker(topology.stack, topology.region) in body:
            cw_api.put_dashboard(cloudwatch, dashboard, monitoring.dashboard_body(topology))
            changed = True
    except HanatError as err:
        logger.warning("alarm/dashboard not re-pointed at the new NAT", extra={"zone": az, "error": str(err)})
    return changed
