"""Names derived from the stack name, shared by the bootstrap, the controller and the lab."""
from __future__ import annotations

STACK_TAG = "hanat:stack"
ROLE_TAG = "hanat:role"
ZONE_TAG = "hanat:zone"
# On a NAT's extra Elastic IP (``nat.addresses`` > 1): its index, 1..7, next to role nat-eip and the zone
# (the zone's first Elastic IP carries none).
ADDRESS_TAG = "hanat:address"
# On a route table hanat adopted (it did not build it): with STACK_TAG, the only tags hanat puts on a
# resource it did not create; they let the controller's tag-scoped policy change its default route.
ADOPTED_TAG = "hanat:adopted"
# Connection handoff between NATs on a planned move (the controller writes them on the stack's NAT
# instances; each NAT's agent reads its own from IMDSv2): ``hanat:handoff:<az>[:...]``.
HANDOFF_TAG_PREFIX = "hanat:handoff:"


def topology_parameter(stack: str) -> str:
    return f"/hanat/{stack}/topology"


def parameter_prefix(stack: str) -> str:
    return f"/hanat/{stack}/"


def table_name(stack: str) -> str:
    return f"hanat-{stack}-state"


def topic_name(stack: str) -> str:
    return f"hanat-{stack}-alerts"


def resource_name(stack: str, *parts: str) -> str:
    """Name tag value, e.g. ``hanat-demo-nat-ap-northeast-1a``."""
    return "-".join(["hanat", stack, *parts])


# --- IAM names: IAM is global, so every name hanat gives an IAM resource includes the region (the same
# stack name in two regions must neither share nor delete each other's roles and policies) -------------
def instance_role_name(stack: str, region: str) -> str:
    """The NAT/admin instances' role; its instance profile has the same name (<= 64 characters:
    stack names are at most 32, region names 15)."""
    return resource_name(stack, region, "instance")


def legacy_instance_role_name(stack: str) -> str:
    """What versions before region-qualified names called it (``down`` still removes it)."""
    return resource_name(stack, "instance")


def session_policy_name(stack: str, region: str, user: str) -> str:
    return resource_name(stack, region, "session", user)


def legacy_session_policy_prefix(stack: str) -> str:
    return resource_name(stack, "session", "")


def controller_role_name(stage: str, region: str, kind: str) -> str:
    """The role ``hanat deploy`` makes for a stage's controller functions (``kind`` "controller") or
    probe functions ("probe"); Chalice would name its own roles without the region."""
    return f"{APP_NAME}-{stage}-{region}-{kind}"


def stack_tags(stack: str, role: str, zone: str | None = None, name: str | None = None) -> list[dict]:
    """EC2-style tag list every resource carries."""
    tags = [{"Key": STACK_TAG, "Value": stack}, {"Key": ROLE_TAG, "Value": role}]
    if zone:
        tags.append({"Key": ZONE_TAG, "Value": zone})
    tags.append({"Key": "Name", "Value": name or resource_name(stack, role, *([zone] if zone else []))})
    return tags


# --- the controller's Lambda functions (Chalice names a function <app>-<stage>-<python name>) --------
APP_NAME = "hanat"


def probe_handler_name(zone: str) -> str:
    """The Python name of zone ``zone``'s probe handler in app.py: ``probe_<zone with _>``."""
    return "probe_" + zone.replace("-", "_")


def function_name(stage: str, handler: str) -> str:
    """The deployed Lambda function name of ``handler`` in ``stage``."""
    return f"{APP_NAME}-{stage}-{handler}"


def probe_function_name(stage: str, zone: str) -> str:
    return function_name(stage, probe_handler_name(zone))


# --- the controller functions' environment (written by ``hanat deploy``, read by chalicelib.wiring) -----
ENV_STACK = "HANAT_STACK"
ENV_STAGE = "HANAT_STAGE"
ENV_TOPOLOGY_PARAMETER = "HANAT_TOPOLOGY_PARAMETER"
ENV_ZONES = "HANAT_ZONES"                  # comma-separated azs: one probe function each
ENV_TOPIC_ARN = "HANAT_TOPIC_ARN"          # the alerts topic notify_slack subscribes to
ENV_PROBE_TARGETS = "HANAT_PROBE_TARGETS"  # JSON list: the probe functions' defaults
ENV_PROBE_TIMEOUT = "HANAT_PROBE_TIMEOUT_S"
REQUIRED_ENV = (ENV_STACK, ENV_STAGE, ENV_TOPOLOGY_PARAMETER)
