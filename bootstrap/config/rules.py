"""Pure value rules: each returns what is wrong with a value (to follow the quoted value), or None."""
from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

STACK_NAME_RULE = "1-32 characters of a-z, 0-9 and '-', starting with a letter"
_STACK_NAME = re.compile(r"[a-z][a-z0-9-]{0,31}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+){1,2}-\d{1,2}")
_INSTANCE_TYPE = re.compile(r"[a-z][a-z0-9-]*\.[a-z0-9-]+")
_AMI_ID = re.compile(r"ami-([0-9a-f]{8}|[0-9a-f]{17})")
_SSM_NAME = re.compile(r"(/[A-Za-z0-9_.\-]+)+")
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_IAM_USER_ARN = re.compile(r"arn:aws(-[a-z]+)*:iam::\d{12}:user/([\w+=,.@-]+/)*[\w+=,.@-]+")
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
TARGET_SCHEMES = ("tcp", "http", "https")


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


def host_problem(host: str) -> str | None:
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if len(host) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels):
        return None
    return f"has an invalid host {host!r}"


def target_problem(target: str) -> str | None:
    """Probe targets are ``tcp://host:port``, ``http://host[:port]/...`` or ``https://host[:port]/...``."""
    try:
        parts = urlsplit(target)
        port = parts.port
    except ValueError:
        return "has an invalid host or port"
    if parts.scheme not in TARGET_SCHEMES or "://" not in target:
        return "must start with tcp://, http:// or https://"
    if not parts.hostname:
        return "has no host"
    if parts.username is not None or parts.password is not None:
        return "must not carry user credentials"
    if port == 0:
        return "has an invalid port 0"
    if parts.scheme == "tcp" and port is None:
        return "needs a port (tcp://host:port)"
    if parts.scheme == "tcp" and (parts.path not in ("", "/") or parts.query):
        return "must be tcp://host:port with no path"
    return host_problem(parts.hostname)
