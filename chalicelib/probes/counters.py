"""What the NAT's agent tells its zone's probe: its counters, the handoffs it applied (one GET each to its listener).

The probe subnet's default route is pinned to its zone's NAT, so ``COUNTERS_URL`` (192.0.2.1, TEST-NET-1,
RFC 5737: never an internet host) reaches that NAT, whose setup-nat.sh redirects it to the agent's
listener (hanat-nat-counters, the agent's library) for sources in the stack's probe subnets only. No AWS
call, no credentials on the NAT. The read is best effort and bounded (``MAX_COUNTERS_BYTES``,
``timeout_s``): a NAT that does not answer gives no counters and an error string, never a failed probe.
What the answer must look like is checked where probe results are parsed (``probes.results.counters_problem``).
``HANDOFFS_URL`` (issue 21) is the agent's handoffs.json, the handoff tags its kernel matches; the
controller judges it (``engine.handoff_ack``).
"""
from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable

from .results import MAX_COUNTERS_BYTES

COUNTERS_ADDRESS, COUNTERS_PORT = "192.0.2.1", 9107     # setup-nat.sh's COUNTERS_ADDRESS/COUNTERS_PORT
COUNTERS_URL = f"http://{COUNTERS_ADDRESS}:{COUNTERS_PORT}/counters.json"
HANDOFFS_URL = f"http://{COUNTERS_ADDRESS}:{COUNTERS_PORT}/handoffs.json"   # hanat-nat-agent's report_handoffs
COUNTERS_TIMEOUT_S = 0.5   # the healthy path answered in ms; well inside the invoke's 3 s wait margin

Opener = Callable[[str, float], bytes]   # (url, timeout) -> at most MAX_COUNTERS_BYTES + 1 bytes of the body


def open_url(url: str, timeout_s: float) -> bytes:
    # no proxy: the request must take the probe subnet's pinned route, nothing else
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout_s) as response:
        return response.read(MAX_COUNTERS_BYTES + 1)


def fetch_counters(timeout_s: float = COUNTERS_TIMEOUT_S, *, url: str = COUNTERS_URL,
                   opener: Opener = open_url) -> tuple[dict | None, str | None]:
    """(counters, None), or (None, why not): the NAT's counters as its agent last wrote them."""
    return _fetch_object("counters", url, timeout_s, opener)


def fetch_handoffs(timeout_s: float = COUNTERS_TIMEOUT_S, *, url: str = HANDOFFS_URL,
                   opener: Opener = open_url) -> tuple[dict | None, str | None]:
    """(report, None), or (None, why not): the handoffs the NAT's agent last reported applied."""
    return _fetch_object("handoffs", url, timeout_s, opener)


def _fetch_object(what: str, url: str, timeout_s: float, opener: Opener) -> tuple[dict | None, str | None]:
    try:
        body = opener(url, timeout_s)
    except (OSError, ValueError) as exc:
        return None, f"{what} unreadable at {url}: {type(exc).__name__}: {exc}"
    if len(body) > MAX_COUNTERS_BYTES:
        return None, f"{what} at {url} larger than {MAX_COUNTERS_BYTES} bytes"
    try:
        found = json.loads(body)
    except ValueError as exc:
        return None, f"{what} at {url} are not JSON ({exc})"
    if not isinstance(found, dict):
        return None, f"{what} at {url} are not a JSON object"
    return found, None
