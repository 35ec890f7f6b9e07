"""Pure value rules: each returns what is wrong with a value (to follow the quoted value), or None."""
from __future__ import annotations

import ipaddress
import re

from chalicelib.settings import MARKETS

STACK_NAME_RULE = "1-32 characters of a-z, 0-9 and '-', starting with a letter"
_STACK_NAME = re.compile(r"[a-z][a-z0-9-]{0,31}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+){1,2}-\d{1,2}")
_INSTANCE_TYPE = re.compile(r"[a-z][a-z0-9-]*\.[a-z0-9-]+")
_AMI_ID = re.compile(r"ami-([0-9a-f]{8}|[0-9a-f]{17})")
_SSM_NAME = re.compile(r"(/[A-Za-z0-9_.\-]+)+")
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_IAM_USER_ARN = re.compile(r"arn:aws(-[a-z]+)*:iam::\d{12}:user/([\w+=,.@-]+/)*[\w+=,.@-]+")
# Families that run only paravirtual (PV) AMIs: "Some previous generation instance types, such as T1,
# C1, M1, and M2 do not support Linux HVM AMIs" (docs.aws.amazon.com/AWSEC2/latest/UserGuide/
# virtualization_types.html). Amazon Linux 2023, hanat's NAT AMI, is HVM only.
PV_ONLY_FAMILIES = ("t1", "c1", "m1", "m2")


def parse_cidr(text: str) -> ipaddress.IPv4Network | str:
    """The network, or the problem with ``text`` (syntax, IPv6, host bits set)."""
    if "/" not in text:
        return "must be a CIDR block like 10.0.0.0/16 (address/prefix)"
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            return "is not a valid CIDR block (expected e.g. 10.0.0.0/16)"
        return f"has host bits set (did you mean {loose}?)"
    if network.version != 4:
        return "must be an IPv4 CIDR block"
    return network


def stack_name_problem(name: str) -> str | None:
    return None if _STACK_NAME.fullmatch(name) else f"must be {STACK_NAME_RULE}"


def region_problem(region: str) -> str | None:
    return None if _REGION.fullmatch(region) else "is not an AWS region name (e.g. ap-northeast-1)"


def az_problem(az: str, region: str) -> str | None:
    """An AZ is the region plus one letter, or a Local Zone ``<region>-<name>-<n><letter>``."""
    if re.fullmatch(re.escape(region) + r"([a-z]|-[a-z]+-\d+[a-z])", az):
        return None
    return f"is not an availability zone of region {region} (e.g. {region}a)"


def instance_type_problem(instance_type: str) -> str | None:
    if _INSTANCE_TYPE.fullmatch(instance_type):
        return None
    return "is not an EC2 instance type (family.size, e.g. t4g.nano)"


def market_problem(market: str) -> str | None:
    """``nat.market``: one of the two purchase options hanat launches NATs with."""
    return None if market in MARKETS else f"is not a market (use {' or '.join(repr(m) for m in MARKETS)})"


def pv_only_problem(instance_type: str) -> str | None:
    """Retired for hanat: a type that cannot boot an HVM AMI such as Amazon Linux 2023."""
    if instance_type.split(".", 1)[0] in PV_ONLY_FAMILIES:
        return ("is a previous-generation type that runs only paravirtual (PV) AMIs; hanat's Amazon Linux "
                "2023 AMIs are HVM only (e.g. t4g.nano, t3.nano)")
    return None


# Xen-based (not Nitro) families. Instance tags in instance metadata are refreshed on a running instance only
# on the Nitro System; elsewhere a tag change shows in IMDS after a stop and start (EC2 User Guide, "View tags
# for your EC2 instances using instance metadata"). The NAT agent reads its handoff tags there.
XEN_FAMILIES = frozenset({"t2", "m3", "m4", "c3", "c4", "r3", "r4", "i2", "i3", "d2", "x1", "x1e", "g2", "g3",
                          "g3s", "p2", "p3", "f1", "h1", "cc2", "cr1", "hs1"})


def handoff_note(instance_type: str) -> str | None:
    """A warning for a NAT type whose running instances never see new tags in IMDS (not Nitro)."""
    if instance_type.split(".", 1)[0] in XEN_FAMILIES:
        return (f"nat.instance_type {instance_type!r} is not built on the Nitro System: its instance metadata "
                "does not show new tags while it runs, so planned moves cannot hand open connections back "
                "(they get a TCP reset instead); a Nitro type such as t4g.nano or t3.nano keeps them")
    return None


def ami_problem(ami: str) -> str | None:
    if ami == "" or _AMI_ID.fullmatch(ami):
        return None
    if ami.startswith("resolve:ssm:") and _SSM_NAME.fullmatch(ami[len("resolve:ssm:"):]):
        return None
    return 'must be an AMI id (ami-0123456789abcdef0), "resolve:ssm:/parameter/name" or "" for the default'


def ssm_parameter_problem(name: str) -> str | None:
    if name == "" or _SSM_NAME.fullmatch(name):
        return None
    return 'must be an SSM parameter name starting with "/" (e.g. /hanat/demo/slack-webhook) or ""'


def email_problem(email: str) -> str | None:
    return None if _EMAIL.fullmatch(email) else "is not an e-mail address"


def iam_user_arn_problem(arn: str) -> str | None:
    if _IAM_USER_ARN.fullmatch(arn):
        return None
    return "must be an IAM user ARN (arn:aws:iam::<12 digits>:user/<name>)"


# EC2 resource ids: a prefix, a dash and 8 (older) or 17 lower-case hex digits (e.g. vpc-0123456789abcdef0).
_EC2_ID = r"-([0-9a-f]{8}|[0-9a-f]{17})"
EC2_ID_EXAMPLES = {"vpc": "vpc-0123456789abcdef0", "subnet": "subnet-0123456789abcdef0",
                   "rtb": "rtb-0123456789abcdef0", "nat": "nat-0123456789abcdef0"}


def ec2_id_problem(value: str, prefix: str) -> str | None:
    """What is wrong with ``value`` as the id of an EC2 resource whose ids start with ``prefix-``."""
    if re.fullmatch(re.escape(prefix) + _EC2_ID, value):
        return None
    return f"is not a {prefix}- id (e.g. {EC2_ID_EXAMPLES.get(prefix, prefix + '-0123456789abcdef0')})"
