"""Which NATs are outdated (old builds), read from AWS (use-case): each NAT's build (AMI, type, launch
time, launch template version) against the stack's launch template now, judged by the pure
``chalicelib.replacement.outdated``. Shown by ``hanat up`` and ``hanat status``; the roll pass uses it to
roll outdated NATs inside ``maintenance.window``."""
from __future__ import annotations

from dataclasses import dataclass

from ..aws import instances, params
from ..errors import AwsError
from ..observability import logger
from ..replacement.outdated import CurrentBuild, NatBuild, outdated_reasons
from ..topology import Topology

RESOLVE_SSM = "resolve:ssm:"   # a launch template's ImageId may name an SSM parameter, resolved at each launch


@dataclass(frozen=True)
class NatBuildCheck:
    """One zone's NAT: what it runs, what a new one would get, and why it is outdated (empty: it is not)."""

    az: str
    build: NatBuild | None          # None: EC2 does not know the instance (terminated long ago)
    current: CurrentBuild | None
    outdated: tuple[str, ...]     # why (the JSON key stays "stale": hanat status --json reads it)
    age_s: float | None

    def to_dict(self) -> dict:
        current = self.current
        return {
            "instance_id": self.build.instance_id if self.build else None,
            "image_id": self.build.image_id if self.build else None,
            "instance_type": self.build.instance_type if self.build else None,
            "launched_at": self.build.launched_at if self.build else None,
            "age_s": self.age_s,
            "template_version": self.build.template_version if self.build else None,
            "current_template_version": current.version if current else None,
            "current_image_id": current.image_id if current else None,
            "current_instance_type": current.instance_type if current else None,
            "market": self.build.market if self.build else None,
            "current_market": current.market if current else None,
            "stale": list(self.outdated),
        }


def current_build(ec2, ssm, topology: Topology) -> CurrentBuild | None:
    """What a NAT launched now gets (None: the topology names no launch template). An AMI given as
    ``resolve:ssm:<parameter>`` is resolved (when that fails, the AMI is not compared)."""
    if not topology.launch_template_id:
        return None
    version, data = instances.default_launch_template_version(ec2, topology.launch_template_id)
    image = data.get("ImageId", "") or ""
    if image.startswith(RESOLVE_SSM):
        try:
            image = params.resolve_ami(ssm, image[len(RESOLVE_SSM):]) if ssm is not None else ""
        except AwsError as err:
            logger.warning("could not resolve the launch template's AMI alias", extra={"error": str(err)})
            image = ""
    return CurrentBuild(template_id=topology.launch_template_id, version=version, image_id=image,
                        instance_type=data.get("InstanceType", "") or "", market=topology.nat_market.market)


def check_nat_builds(ec2, ssm, topology: Topology, now: float) -> dict[str, NatBuildCheck]:
    """az -> its NAT's build check, for every zone of the topology (two EC2 reads, one SSM read at most)."""
    current = current_build(ec2, ssm, topology)
    builds = instances.describe_builds(ec2, [z.nat_instance_id for z in topology.zones])
    max_days = topology.maintenance.max_instance_age_days
    out = {}
    for zone in topology.zones:
        raw = builds.get(zone.nat_instance_id)
        build = None if raw is None else NatBuild(
            instance_id=raw.instance_id, image_id=raw.image_id, instance_type=raw.instance_type,
            launched_at=raw.launched_at, template_id=raw.template_id, template_version=raw.template_version,
            market=raw.market)
        reasons = outdated_reasons(build, current, now, max_days) if build else ()
        age = (now - build.launched_at) if build and build.launched_at else None
        out[zone.az] = NatBuildCheck(az=zone.az, build=build, current=current, outdated=reasons, age_s=age)
    return out
