"""Probe targets are URLs: ``tcp://host:port``, ``http://host[:port]/path``, ``https://host[:port]/path``.

``target_problem`` is the one rule for a target: the probe function applies it to its event and the
config validator (bootstrap/config/validate.py) to ``probe.targets``, so a config that passes
validation is never refused by the probes.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import InputError

SCHEMES = ("tcp", "http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str
    port: int
    path: str = "/"


def target_problem(url) -> str | None:
    """What is wrong with ``url`` as a probe target (a phrase to follow the quoted URL), or None."""
    if not isinstance(url, str) or not url:
        return "must be a non-empty URL string"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parts.scheme not in SCHEMES or "://" not in url:
        return f"has scheme {parts.scheme!r}: must start with tcp://, http:// or https://"
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
    return _host_problem(parts.hostname)


def _host_problem(host: str) -> str | None:
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if len(host) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels):
        return None
    return f"has an invalid host {host!r}"


def parse_target(url: str) -> Target:
    """One target; a bad one raises InputError naming it."""
    problem = target_problem(url)
    if problem:
        raise InputError(f"target {url!r} {problem}")
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(url=url, scheme=parts.scheme, host=parts.hostname or "",
                  port=parts.port or DEFAULT_PORTS[parts.scheme], path=path)


def parse_targets(urls) -> tuple[Target, ...]:
    """Parse every target; bad ones raise one InputError naming each of them."""
    if isinstance(urls, str) or not isinstance(urls, (list, tuple)):
        raise InputError(f"targets must be a list of URLs, got {urls!r}")
    if not urls:
        raise InputError("targets must list at least one URL")
    problems = [f"target {u!r} {problem}" for u in urls if (problem := target_problem(u))]
    if problems:
        raise InputError(problems, title="invalid probe targets")
    return tuple(parse_target(u) for u in urls)
