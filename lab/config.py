"""The lab's configuration: any hanat config, made safe and complete for the lab.

Probe targets must live in the lab's own "internet" (documentation ranges inside its namespaces):
targets elsewhere are replaced by the lab's and a note says so. A stack without a Slack webhook
parameter gets one under its own prefix, so the Slack relay is exercised too.

``adopting_config`` turns the lab's settings into the config of a stack that adopts a VPC the lab built
like a VPC module would (``lab.aws.foreignvpc``): ``[stack]`` and ``[[zones]]`` written by ``hanat adopt``'s own
code from what that VPC holds, every other section the lab's.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from bootstrap.adopt.discover import discover, render
from bootstrap.adopt.facts import read_vpc_facts
from bootstrap.config import load_config
from bootstrap.config.schema import HanatConfig
from bootstrap.config.toml_loader import parse_toml
from bootstrap.config.validate import build_config
from chalicelib.naming import parameter_prefix
from lab.dataplane.base import LAB_NETWORKS, LAB_TARGETS

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "examples" / "lab.toml"


# EC2's eventual consistency in the lab's emulator (lab.aws.stale_reads): for this long after a write, the
# controller's and the stack builder's Describe* reads may answer from before it
# (https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html); 0 turns it off.
STALE_READS_S = 1.0


@dataclass(frozen=True)
class LabSettings:
    config: HanatConfig
    source: str
    notes: tuple[str, ...] = ()
    stale_reads_s: float = STALE_READS_S


def is_lab_target(url: str) -> bool:
    """True when ``url``'s host is an address inside the lab's internet."""
    host = urlsplit(url).hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net) for net in LAB_NETWORKS)


def for_the_lab(config: HanatConfig, source: str) -> LabSettings:
    notes = []
    probe = config.probe
    foreign = [t for t in probe.targets if not is_lab_target(t)]
    if foreign:
        notes.append(f"probe targets {', '.join(foreign)} are not lab addresses: the lab uses its own "
                     f"targets {', '.join(LAB_TARGETS)} instead")
        probe = replace(probe, targets=LAB_TARGETS)
    alerts = config.alerts
    if not alerts.slack_webhook_parameter:
        alerts = replace(alerts, slack_webhook_parameter=f"{parameter_prefix(config.stack.name)}slack-webhook")
    return LabSettings(config=replace(config, probe=probe, alerts=alerts), source=source, notes=tuple(notes))


def load_lab_settings(path: str | None = None) -> LabSettings:
    """``path`` (any hanat config) or examples/lab.toml; bad config raises ConfigError (exit 2)."""
    source = str(path or DEFAULT_CONFIG)
    return for_the_lab(load_config(source), source)


def adopting_config(config: HanatConfig, ec2, vpc_id: str) -> HanatConfig:
    """The lab's ``config`` adopting ``vpc_id``: what ``hanat adopt --vpc-id`` writes (the stack named as
    the lab's), with the lab's probe, failover, maintenance, alerts and NAT sections; validated as any
    config is (ConfigError naming every problem)."""
    region = config.stack.region
    found = discover(read_vpc_facts(ec2, vpc_id, region), name=config.stack.name)
    text = render(found, command=f"hanat adopt --vpc-id {vpc_id} --region {region} (lab)", at="lab")
    raw = parse_toml(text, source="hanat adopt (lab)")
    alerts = {"emails": list(config.alerts.emails), "slack_webhook_parameter": config.alerts.slack_webhook_parameter}
    raw.update(probe=config.probe.to_dict(), failover=config.failover.to_dict(),
               maintenance=config.maintenance.to_dict(), alerts=alerts, nat=config.nat.to_table())
    return build_config(raw, source=f"{config.source or 'lab'} adopting {vpc_id}")
