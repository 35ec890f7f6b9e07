"""What ``probe_<zone>`` does with its event: validate, run the checks, answer with a ProbeResult.

The heartbeat always sends ``targets`` and ``timeout_s``; the defaults (the topology's probe
settings, baked into the function's environment at deploy time) serve manual invokes. The probe
makes no AWS call: it runs in the probe subnet, whose only way out is the NAT under test.
"""
from __future__ import annotations

from collections.abc import Callable

from ..errors import InputError
from ..settings import MAX_PROBE_TIMEOUT_S, ProbeSettings
from .checks import run_checks
from .targets import parse_targets

EVENT_KEYS = ("targets", "timeout_s")


def validate_probe_event(event, defaults: ProbeSettings) -> tuple[list[str], float]:
    """(targets, timeout_s) from the event or the defaults; every bad value named in one InputError."""
    if event is None:
        event = {}
    if not isinstance(event, dict):
        raise InputError(f"probe event must be a JSON object, got {type(event).__name__}")
    problems = [f"unknown key {k!r} (allowed: {', '.join(EVENT_KEYS)})" for k in event if k not in EVENT_KEYS]
    targets = event.get("targets", list(defaults.targets))
    timeout_s = event.get("timeout_s", defaults.timeout_s)
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) \
            or not 0 < timeout_s <= MAX_PROBE_TIMEOUT_S:
        problems.append(f"timeout_s must be a number in (0, {MAX_PROBE_TIMEOUT_S:g}], got {timeout_s!r}")
    if not isinstance(targets, list) or not targets:
        problems.append(f"targets must be a non-empty list of URLs, got {targets!r}")
    else:
        try:
            parse_targets(targets)
        except InputError as err:
            problems += err.problems
    if problems:
        raise InputError(problems, title="invalid probe event")
    return targets, float(timeout_s)


def handle_probe(zone: str, event, defaults: ProbeSettings, clock: Callable[[], float]) -> dict:
    """Run the zone's checks; the answer is ``ProbeResult.to_dict()``."""
    targets, timeout_s = validate_probe_event(event, defaults)
    return run_checks(zone, targets, timeout_s, clock).to_dict()
