"""What ``probe_<zone>`` does with its event: validate, run the checks, answer with a ProbeResult.

The heartbeat always sends ``targets``, ``timeout_s`` and ``samples`` (how many times the path may be
probed in this invoke: a failure is confirmed at once, a slow sample hedged — probes/samples.py); the
defaults (the topology's probe settings, baked into the function's environment at deploy time; one
sample) serve manual invokes. The probe
makes no AWS call: it runs in the probe subnet, whose only way out is the NAT under test. With
``counters: true`` (the heartbeat's, when ``[metrics]`` is on or gray failures are judged) a probe whose path passed also reads the
NAT's counters from its agent over that same path (probes/counters.py), after the verdict is known.
The event ``{"handoffs": true}`` (a planned move waiting for the NATs, service/handoff_ack.py) runs no
check: it answers ``{"handoffs": <the agent's report> | null, "error": <why not> | null}``.
"""
from __future__ import annotations

from collections.abc import Callable

from ..errors import InputError
from ..settings import MAX_CHAIN_S, MAX_PROBE_TIMEOUT_S, MAX_SAMPLES, ProbeSettings, chain_s
from .counters import fetch_counters, fetch_handoffs
from .samples import run_samples
from .targets import parse_targets

EVENT_KEYS = ("targets", "timeout_s", "samples", "counters")


def validate_probe_event(event, defaults: ProbeSettings) -> tuple[list[str], float, int]:
    """(targets, timeout_s, samples) from the event or the defaults; every bad value named in one
    InputError (``counters`` too: true or false)."""
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
    samples = event.get("samples", 1)
    if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= MAX_SAMPLES:
        problems.append(f"samples must be a whole number from 1 to {MAX_SAMPLES}, got {samples!r}")
    elif not problems and chain_s(timeout_s, samples) > MAX_CHAIN_S:
        problems.append(f"samples {samples} of timeout_s {timeout_s:g} take up to {chain_s(timeout_s, samples):g}s, "
                        f"more than the {MAX_CHAIN_S:g}s one probe invoke may take")
    if not isinstance(event.get("counters", False), bool):
        problems.append(f"counters must be true or false, got {event.get('counters')!r}")
    if not isinstance(targets, list) or not targets:
        problems.append(f"targets must be a non-empty list of URLs, got {targets!r}")
    else:
        try:
            parse_targets(targets)
        except InputError as err:
            problems += err.problems
    if problems:
        raise InputError(problems, title="invalid probe event")
    return targets, float(timeout_s), samples


def handle_probe(zone: str, event, defaults: ProbeSettings, clock: Callable[[], float], *,
                 read_counters: Callable[[], tuple[dict | None, str | None]] = fetch_counters,
                 read_handoffs: Callable[[], tuple[dict | None, str | None]] = fetch_handoffs) -> dict:
    """Probe the zone's path (up to ``samples`` times); the answer is ``ProbeResult.to_dict()``, the
    confirmations included, and the NAT's counters when asked for and the path passed. The event
    ``{"handoffs": true}`` reads the NAT's handoff report instead (the module doc)."""
    if isinstance(event, dict) and "handoffs" in event:
        if event != {"handoffs": True}:
            raise InputError(f"a handoffs read is the event {{\"handoffs\": true}} alone, got {event!r}",
                             title="invalid probe event")
        report, error = read_handoffs()
        return {"handoffs": report, "error": error}
    targets, timeout_s, samples = validate_probe_event(event, defaults)
    answer = run_samples(zone, targets, timeout_s, samples, clock).to_dict()
    if (event or {}).get("counters") and answer["passed"]:
        counters, error = read_counters()
        answer.update({"counters": counters} if counters is not None else {"counters_error": error})
    return answer
