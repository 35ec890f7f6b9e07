"""Outdated NATs: is a NAT instance an old build? (pure: what it runs + what the launch template says
now + now).

A NAT is outdated when it was launched from another launch-template version than the template's current
default, runs another AMI or instance type than that version, was bought in another market than
``nat.market`` (an on-demand fallback when spot was refused), or is older than
``maintenance.max_instance_age_days``. Outdated NATs are shown by ``hanat up`` and ``hanat status`` and
rolled by the controller inside ``maintenance.window``. Nothing here talks to AWS or reads the clock.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..engine.window import DAY_S, older_than


@dataclass(frozen=True)
class NatBuild:
    """What one NAT instance runs. ``template_version`` is "" for an instance not launched from a
    launch template (EC2 tags an instance launched from one with ``aws:ec2launchtemplate:version``)."""

    instance_id: str
    image_id: str = ""
    instance_type: str = ""
    launched_at: float = 0.0          # epoch seconds (EC2's LaunchTime)
    template_id: str = ""
    template_version: str = ""
    market: str = ""                  # spot | on-demand ("" = not known)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class CurrentBuild:
    """What a NAT launched now gets: the stack's launch template, its default version, and that
    version's AMI (an SSM alias already resolved) and instance type ("" = not set in the template)."""

    template_id: str
    version: int
    image_id: str = ""
    instance_type: str = ""
    market: str = ""                  # nat.market ("" = not compared)


def outdated_reasons(nat: NatBuild, current: CurrentBuild | None, now: float, max_age_days: int) -> tuple[str, ...]:
    """Why ``nat`` is outdated (empty: it is not). ``current`` None: the template is unknown, only age counts."""
    reasons: list[str] = []
    if current is not None:
        if not nat.template_version:
            reasons.append(f"not launched from the launch template (current v{current.version})")
        elif nat.template_id != current.template_id:
            reasons.append(f"launch template {nat.template_id} v{nat.template_version} "
                           f"(current {current.template_id} v{current.version})")
        elif nat.template_version != str(current.version):
            reasons.append(f"launch template v{nat.template_version} (current v{current.version})")
        if current.image_id and nat.image_id != current.image_id:
            reasons.append(f"AMI {nat.image_id or '?'} (current {current.image_id})")
        if current.instance_type and nat.instance_type != current.instance_type:
            reasons.append(f"instance type {nat.instance_type or '?'} (current {current.instance_type})")
        # a NAT launched on-demand because spot was refused goes back to spot at its next roll
        if current.market and nat.market and nat.market != current.market:
            reasons.append(f"market {nat.market} (configured {current.market})")
    if nat.launched_at and older_than(nat.launched_at, now, max_age_days):
        reasons.append(f"{int((now - nat.launched_at) // DAY_S)} days old (max {max_age_days})")
    return tuple(reasons)


def first_outdated(order: Sequence[str], reasons: Mapping[str, Sequence[str]]) -> str | None:
    """The first zone (in ``order``) whose NAT is outdated: the one an automatic roll takes next."""
    return next((az for az in order if reasons.get(az)), None)
