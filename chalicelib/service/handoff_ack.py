"""Waiting for the NATs to apply a planned move's handoff before its routes move (use-case; issue 21).

``reconcile`` calls ``wait_for_agents`` once ``handoff_open.open_handoffs`` wrote the tags, with what it
wrote (``Plan.written``: NAT -> the zone whose probe subnet is pinned to it, and the tags); a roll's
drain end (``replacement_steps``) with the keys it removed from the sending NAT (each mapped to None:
reported gone), so the Elastic IP moves only once that NAT stopped tunnelling to the old one. Until the
engine's ``handoff_ack.next_step`` says move, each NAT still missing is asked through its zone's probe
function (``Deps.handoff_reader``, aws/lambda_invoke.HandoffReader: no AWS credentials on the NAT), at
most ``failover.handoff_ack_timeout_s``; then the timed wait is what is left. A timeout sends one
``handoff`` alert naming every NAT that did not acknowledge and why (no answer, or other values).
"""
from __future__ import annotations

from collections.abc import Mapping

from ..alerts import Alert
from ..engine.handoff import AGENT_SETTLE_S
from ..engine.handoff_ack import ASK, MOVE, TIMED_OUT, applied_tags, next_step
from ..observability import logger
from .deps import Deps

# NAT id -> (the zone whose probe function reaches it, the handoff tags written to it; None: a key removed)
Written = Mapping[str, tuple[str, Mapping[str, str | None]]]


def wait_for_agents(deps: Deps, written: Written, *, written_at: float, zones: tuple[str, ...] = (),
                    limit_s: float | None = None) -> str:
    """Wait until every NAT of ``written`` reports its tags applied, or the timeout and the timed wait
    passed; the engine's last action (``MOVE``: acknowledged; ``TIMED_OUT``; ``TIMED_WAIT``: no asking).
    ``limit_s``: the run's time left for waiting (the timeout is cut to it, never below the timed wait)."""
    tags = {nat: dict(t) for nat, (_, t) in written.items()}
    timeout_s = float(deps.topology.failover.handoff_ack_timeout_s)
    if limit_s is not None and timeout_s > 0:
        timeout_s = min(timeout_s, max(AGENT_SETTLE_S, limit_s))
    reports: dict[str, object] = {}
    errors: dict[str, str] = {}
    can_ask = deps.handoff_reader is not None and bool(tags)   # nothing to ask about: the timed wait
    missing = tuple(sorted(tags))
    while True:
        if can_ask and timeout_s > 0 and missing:
            _ask(deps, {nat: written[nat][0] for nat in missing}, reports, errors)
        step = next_step(tags, reports, written_at=written_at, now=deps.clock(), timeout_s=timeout_s,
                         settle_s=AGENT_SETTLE_S, can_ask=can_ask)
        if step.action == MOVE:
            logger.info("handoff acknowledged by the NATs", extra={"zone": list(zones), "nat": sorted(tags),
                                                                   "after_s": round(deps.clock() - written_at, 3)})
            return step.action
        if step.action == ASK:
            missing = step.missing
            deps.sleep(step.wait_s)
            continue
        if step.action == TIMED_OUT:
            _alert(deps, step.missing, written, reports, errors, timeout_s, zones)
        if step.wait_s > 0:
            deps.sleep(step.wait_s)
        return step.action


def _ask(deps: Deps, zone_of: Mapping[str, str], reports: dict[str, object], errors: dict[str, str]) -> None:
    """Ask each NAT's zone once (all at once); a NAT's latest report (or error) kept."""
    by_zone: dict[str, list[str]] = {}
    for nat, az in zone_of.items():
        by_zone.setdefault(az, []).append(nat)
    answers = deps.handoff_reader(sorted(by_zone))
    for az, nats in by_zone.items():
        report, error = answers.get(az, (None, "no answer"))
        for nat in nats:
            if report is not None:
                reports[nat] = report
                errors.pop(nat, None)
            else:
                errors[nat] = error or "no report"


def _why(nat: str, written: Written, reports: Mapping[str, object], errors: Mapping[str, str]) -> str:
    if nat in errors:
        return errors[nat]
    applied = applied_tags(reports.get(nat))
    if applied is None:
        return "no handoff report"
    wrong = sorted(k for k, v in written[nat][1].items() if applied.get(k) != v)
    return f"reports other values for {', '.join(wrong)}"


def _alert(deps: Deps, missing: tuple[str, ...], written: Written, reports: Mapping[str, object],
           errors: Mapping[str, str], timeout_s: float, zones: tuple[str, ...]) -> None:
    why = {nat: _why(nat, written, reports, errors) for nat in missing}
    names = ", ".join(f"{nat} ({written[nat][0]})" for nat in missing)
    reason = (f"NAT {names} did not report the handoff applied within {timeout_s:g}s; "
              f"the route moves after the timed wait")
    logger.warning("handoff not acknowledged", extra={"zone": list(zones), "nat": list(missing), "why": why})
    deps.alert_sink(Alert(type="handoff", zone=zones[0] if len(zones) == 1 else None, reason=reason,
                          at=deps.clock(), stack=deps.topology.stack,
                          details={"nats": why, "zones": list(zones), "timeout_s": timeout_s}))
