"""Probe checks: one target checked with quick retries inside a deadline, and ``run_checks``, every
target of one vantage point in parallel (the path passes when ANY answers).

A NAT path with some packet loss must not look dead: rather than one long attempt (where a lost
SYN costs the kernel's 1 s retransmit), each attempt gets a short timeout and we try again until
the target's overall deadline. The first answer wins.
"""
from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from ..errors import InputError
from .results import ProbeResult, TargetResult
from .targets import Target, parse_targets

MIN_ATTEMPT_S = 0.2        # never shorter than this per attempt (a TLS handshake needs a few RTTs)
ATTEMPTS_PER_TIMEOUT = 3   # aim for about this many attempts inside one timeout
RETRY_PAUSE_S = 0.05       # after a fast failure (refused), pause before the next attempt


def attempt_timeout(timeout_s: float) -> float:
    return max(MIN_ATTEMPT_S, timeout_s / ATTEMPTS_PER_TIMEOUT)


def _tcp_once(target: Target, timeout: float) -> None:
    with socket.create_connection((target.host, target.port), timeout=timeout):
        pass


def _http_once(target: Target, timeout: float) -> None:
    """GET the path; any HTTP answer below 500 proves the path (and the target) work."""
    if target.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            target.host, target.port, timeout=timeout, context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
    try:
        conn.request("GET", target.path, headers={"User-Agent": "hanat-probe/1", "Connection": "close"})
        response = conn.getresponse()
        response.read(1024)
        if response.status >= 500:
            raise ConnectionError(f"HTTP {response.status}")
    finally:
        conn.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timeout"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, ConnectionError) else text


def check_target(target: Target, timeout_s: float, *, monotonic=time.monotonic,
                 sleep=time.sleep) -> TargetResult:
    """Try ``target`` until it answers or ``timeout_s`` has passed; latency is the winning attempt's."""
    once = _tcp_once if target.scheme == "tcp" else _http_once
    deadline = monotonic() + timeout_s
    per_attempt = attempt_timeout(timeout_s)
    attempts = 0
    last_error = "timeout"
    while True:
        remaining = deadline - monotonic()
        if remaining <= 0.01:
            break
        attempts += 1
        started = monotonic()
        try:
            once(target, min(per_attempt, remaining))
            return TargetResult(target=target.url, ok=True,
                                latency_ms=round((monotonic() - started) * 1000, 2), attempts=attempts)
        except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
            last_error = _describe(exc)
        if monotonic() - started < RETRY_PAUSE_S:  # failed fast: do not spin
            sleep(min(RETRY_PAUSE_S, max(0.0, deadline - monotonic())))
    return TargetResult(target=target.url, ok=False, latency_ms=None, error=last_error,
                        attempts=max(attempts, 1))


def run_checks(zone: str, targets: Sequence[str], timeout_s: float,
               clock: Callable[[], float]) -> ProbeResult:
    """Check all ``targets`` at once, each within ``timeout_s``; ``clock`` stamps the result.

    Bad targets raise InputError (naming each) before any connection is made.
    """
    if not isinstance(timeout_s, (int, float)) or isinstance(timeout_s, bool) or timeout_s <= 0:
        raise InputError(f"timeout_s must be a positive number, got {timeout_s!r}")
    parsed = parse_targets(list(targets))
    at = clock()
    with ThreadPoolExecutor(max_workers=len(parsed), thread_name_prefix=f"probe-{zone}") as pool:
        results = tuple(pool.map(lambda t: check_target(t, float(timeout_s)), parsed))
    return ProbeResult(zone=zone, passed=any(r.ok for r in results), results=results, at=at)
