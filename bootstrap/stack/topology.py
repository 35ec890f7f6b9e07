"""The topology the observed stack amounts to: the contract ``up`` stores for the controller (pure)."""
from __future__ import annotations

from chalicelib.topology import Topology

from ..config.schema import HanatConfig
from .desired import ROLE_NAT_SG, ROLE_PROBE_SG, Desired
from .model import Observed
from .network import network_for


def topology_from(config: HanatConfig, d: Desired, obs: Observed) -> Topology | None:
    """The topology the observed stack amounts to; None while any id is still missing."""
    zone_topology = network_for(d).zone_topology
    try:
        zones = tuple(zone_topology(d, az, obs) for az in d.azs)
        topology = Topology(
            stack=d.stack, region=d.region, vpc_id=obs.vpc["VpcId"], vpc_cidr=d.vpc_cidr,
            table_name=obs.table["TableName"], topic_arn=obs.topic_arn or "",
            topology_parameter=d.topology_parameter, zones=zones,
            probe=config.probe, failover=config.failover, maintenance=config.maintenance,
            launch_template_id=obs.launch_template["LaunchTemplateId"],
            nat_security_group_id=obs.security_groups[ROLE_NAT_SG]["GroupId"],
            probe_security_group_id=obs.security_groups[ROLE_PROBE_SG]["GroupId"],
            slack_webhook_parameter=config.alerts.slack_webhook_parameter,
            metrics=config.metrics.level,
            nat_market=config.nat.market,
        )
    except (KeyError, TypeError):
        return None
    return topology if topology.topic_arn else None
