"""Probe targets are URLs: ``tcp://host:port``, ``http://host[:port]/path``, ``https://host[:port]/path``."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import InputError

SCHEMES = ("tcp", "http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str
    port: int
    path: str = "/"


def _parse_one(url: str) -> Target | str:
    """A Target, or the problem with ``url`` as a sentence."""
    if not isinstance(url, str) or not url:
        return f"target {url!r} must be a non-empty URL string"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"target {url!r} is not a valid URL ({exc})"
    if parts.scheme not in SCHEMES:
        return f"target {url!r} has scheme {parts.scheme!r}; use one of {', '.join(SCHEMES)}"
    if not parts.hostname:
        return f"target {url!r} has no host"
    if parts.scheme == "tcp" and port is None:
        return f"target {url!r} needs a port (tcp://host:port)"
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(url=url, scheme=parts.scheme, host=parts.hostname,
                  port=port or DEFAULT_PORTS[parts.scheme], path=path)


def parse_targets(urls) -> tuple[Target, ...]:
    """Parse every target; bad ones raise one InputError naming each of them."""
    if isinstance(urls, str) or not isinstance(urls, (list, tuple)):
        raise InputError(f"targets must be a list of URLs, got {urls!r}")
    if not urls:
        raise InputError("targets must list at least one URL")
    parsed = [_parse_one(u) for u in urls]
    problems = [p for p in parsed if isinstance(p, str)]
    if problems:
        raise InputError(problems, title="invalid probe targets")
    return tuple(parsed)  # type: ignore[arg-type]
