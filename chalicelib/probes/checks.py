"""Probe checks: one target checked with quick retries inside a deadline, and ``run_checks``, every
target of one vantage point in parallel (the path passes when ANY answers).

A NAT path with some packet loss must not look dead: rather than one long attempt (where a lost
SYN costs the kernel's 1 s retransmit), each attempt gets a short timeout and we try again until
the target's overall deadline. The first answer wins.

A path through a dead NAT must fail fast and on time: the target's name is resolved once, each
attempt connects to ONE address (attempts rotate through them), and everything ends at one deadline.
(``socket.create_connection`` would try every resolved address with the full timeout each: 6
addresses x 2 s, past the probe function's Lambda timeout.) HTTP(S) checks
connect to the resolved address themselves and keep the name for the Host header and TLS (SNI and
certificate check). ``run_checks`` returns by ``timeout_s`` + FINISH_MARGIN_S whatever a check is
stuck in (a slow resolver, a server that drips bytes).
"""
from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait

from ..errors import InputError
from .results import ProbeResult, TargetResult
from .targets import Target, parse_targets

MIN_ATTEMPT_S = 0.2        # never shorter than this per attempt (a TLS handshake needs a few RTTs)
ATTEMPTS_PER_TIMEOUT = 3   # aim for about this many attempts inside one timeout
RETRY_PAUSE_S = 0.05       # after a fast failure (refused), pause before the next attempt
FINISH_MARGIN_S = 0.25     # run_checks answers by timeout_s + this, even if a check is still stuck

Address = tuple[int, tuple]                                  # (address family, socket address)
Resolver = Callable[[str, int], list[Address]]              # (host, port) -> addresses, in order
Connector = Callable[[int, tuple, float], socket.socket]    # (family, sockaddr, timeout) -> connected socket


def attempt_timeout(timeout_s: float) -> float:
    return max(MIN_ATTEMPT_S, timeout_s / ATTEMPTS_PER_TIMEOUT)


def resolve_addresses(host: str, port: int) -> list[Address]:
    """Every TCP address of ``host`` (once, in the resolver's order, without repeats)."""
    out: list[Address] = []
    for family, _type, _proto, _name, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        if (family, sockaddr) not in out:
            out.append((family, sockaddr))
    return out


def connect_to(family: int, sockaddr: tuple, timeout: float) -> socket.socket:
    """One TCP connection to one address, within ``timeout``."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(sockaddr)
        return sock
    except BaseException:
        sock.close()
        raise


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to one resolved address, with the target's name for Host and TLS."""

    def __init__(self, target: Target, address: Address, timeout: float, connect: Connector,
                 tls: ssl.SSLContext | None):
        super().__init__(target.host, target.port, timeout=timeout)
        self.default_port = 443 if tls is not None else 80   # Host header: name, and the port if not default
        self._address = address
        self._connect = connect
        self._tls = tls

    def connect(self) -> None:
        sock = self._connect(self._address[0], self._address[1], self.timeout)
        if self._tls is not None:
            try:
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)   # SNI + certificate name
            except BaseException:
                sock.close()
                raise
        self.sock = sock


def _tcp_once(target: Target, address: Address, timeout: float, connect: Connector,
              tls: ssl.SSLContext | None) -> None:
    connect(address[0], address[1], timeout).close()


def _http_once(target: Target, address: Address, timeout: float, connect: Connector,
               tls: ssl.SSLContext | None) -> None:
    """GET the path; any HTTP answer below 500 proves the path (and the target) work."""
    conn = _PinnedConnection(target, address, timeout, connect, tls if target.scheme == "https" else None)
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


def check_target(target: Target, timeout_s: float, *, monotonic=time.monotonic, sleep=time.sleep,
                 resolve: Resolver = resolve_addresses, connect: Connector = connect_to,
                 tls: ssl.SSLContext | None = None) -> TargetResult:
    """Try ``target`` until it answers or ``timeout_s`` has passed; latency is the winning attempt's.

    The name is resolved once; attempt n connects to address n (mod their number), each within a
    short timeout, none past the deadline."""
    once = _tcp_once if target.scheme == "tcp" else _http_once
    if target.scheme == "https" and tls is None:
        tls = ssl.create_default_context()
    deadline = monotonic() + timeout_s
    try:
        addresses = resolve(target.host, target.port)
    except OSError as exc:
        return TargetResult(target=target.url, ok=False, error=f"cannot resolve {target.host}: {_describe(exc)}")
    if not addresses:
        return TargetResult(target=target.url, ok=False, error=f"cannot resolve {target.host}: no address")
    per_attempt = attempt_timeout(timeout_s)
    attempts = 0
    last_error = "timeout"
    while True:
        remaining = deadline - monotonic()
        if remaining <= 0.01:
            break
        address = addresses[attempts % len(addresses)]
        attempts += 1
        started = monotonic()
        try:
            once(target, address, min(per_attempt, remaining), connect, tls)
            return TargetResult(target=target.url, ok=True,
                                latency_ms=round((monotonic() - started) * 1000, 2), attempts=attempts)
        except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
            last_error = _describe(exc)
        if monotonic() - started < RETRY_PAUSE_S:  # failed fast: do not spin
            sleep(min(RETRY_PAUSE_S, max(0.0, deadline - monotonic())))
    return TargetResult(target=target.url, ok=False, latency_ms=None, error=last_error,
                        attempts=max(attempts, 1))


def run_checks(zone: str, targets: Sequence[str], timeout_s: float,
               clock: Callable[[], float], *, resolve: Resolver = resolve_addresses,
               connect: Connector = connect_to) -> ProbeResult:
    """Check all ``targets`` at once, each within ``timeout_s``; ``clock`` stamps the result. Answers
    by ``timeout_s`` + FINISH_MARGIN_S: a check still running then failed ("timeout").

    Bad targets raise InputError (naming each) before any connection is made.
    """
    if not isinstance(timeout_s, (int, float)) or isinstance(timeout_s, bool) or timeout_s <= 0:
        raise InputError(f"timeout_s must be a positive number, got {timeout_s!r}")
    parsed = parse_targets(list(targets))
    at = clock()
    pool = ThreadPoolExecutor(max_workers=len(parsed), thread_name_prefix=f"probe-{zone}")
    try:
        futures = [pool.submit(check_target, t, float(timeout_s), resolve=resolve, connect=connect)
                   for t in parsed]
        done, _ = wait(futures, timeout=float(timeout_s) + FINISH_MARGIN_S)
        results = tuple(f.result() if f in done else TargetResult(target=t.url, ok=False, error="timeout")
                        for f, t in zip(futures, parsed, strict=True))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)   # a stuck check must not hold the answer
    return ProbeResult(zone=zone, passed=any(r.ok for r in results), results=results, at=at)
