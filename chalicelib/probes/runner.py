"""``run_checks``: every target of one vantage point in parallel; the path passes when ANY answers."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from ..errors import InputError
from ..model import ProbeResult
from .checks import check_target
from .targets import parse_targets


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
