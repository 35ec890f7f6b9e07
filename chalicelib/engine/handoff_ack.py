"""When a planned move may move its routes: the NATs' acknowledgements of its handoff tags (pure; issue 21).

A planned move writes handoff tags on both NATs (service/handoff_open.py); each NAT's agent reads them
from instance metadata, makes its kernel match them and reports the tags it matches (hanat-nat-agent,
handoffs.json, read through the zone's probe function: no AWS credentials on the NAT). AWS documents no
latency for a tag change to reach instance metadata ("Work with instance tags in instance metadata"),
so the controller asks, and ``next_step`` decides from what the NATs answered:

- every NAT lists every value written to it: ``MOVE`` now;
- some do not and ``timeout_s`` has not passed since the tags were written: ``ASK`` again after
  ``poll_s`` (never past the timeout: the last question is asked at it);
- the timeout passed: ``TIMED_OUT``: wait what is left of the timed wait (``settle_s`` since the tags
  were written), then move; the caller sends one alert naming ``missing``;
- no way to ask (no probe functions: a CLI run without a stage) or ``timeout_s`` 0: ``TIMED_WAIT``,
  the timed wait alone, no alert.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

MOVE, ASK, TIMED_OUT, TIMED_WAIT = "move", "ask", "timed_out", "timed_wait"
ACK_POLL_S = 0.25     # between two questions to the NATs (an agent applies within its 1 s pass)
REPORT_VERSION = 1


@dataclass(frozen=True)
class AckStep:
    """What the waiting move does next: ``action``, after sleeping ``wait_s``; ``missing``: the NATs
    that have not acknowledged (sorted; empty for MOVE and TIMED_WAIT)."""

    action: str
    wait_s: float = 0.0
    missing: tuple[str, ...] = ()


def applied_tags(report) -> dict[str, str] | None:
    """The tags an agent's report (hanat-nat-agent's handoffs.json) says its kernel matches; None when
    it is not such a report (wrong version, ``applied`` not an object of strings)."""
    if not isinstance(report, dict) or report.get("version") != REPORT_VERSION:
        return None
    applied = report.get("applied")
    if not isinstance(applied, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in applied.items()):
        return None
    return dict(applied)


def acknowledged(written: Mapping[str, str | None], report) -> bool:
    """The report lists every tag ``written`` with the value written (a value holds its ``until``, so an
    earlier handoff of the zone never passes for this one), and none written as None (a removed key)."""
    applied = applied_tags(report)
    return applied is not None and all(applied.get(key) == value for key, value in written.items())


def next_step(written: Mapping[str, Mapping[str, str | None]], reports: Mapping[str, object], *, written_at: float,
              now: float, timeout_s: float, settle_s: float, can_ask: bool = True,
              poll_s: float = ACK_POLL_S) -> AckStep:
    """The next step of a planned move waiting for its NATs. ``written``: NAT id -> the handoff tags
    written to it; ``reports``: NAT id -> its agent's latest report (absent or None: no answer);
    ``written_at``/``now``: the clock's seconds; ``timeout_s``: ``failover.handoff_ack_timeout_s``;
    ``settle_s``: the timed wait (``engine.handoff.AGENT_SETTLE_S``)."""
    elapsed = max(0.0, now - written_at)
    left_of_settle = max(0.0, settle_s - elapsed)
    if not can_ask or timeout_s <= 0:
        return AckStep(TIMED_WAIT, left_of_settle)
    missing = tuple(sorted(nat for nat, tags in written.items() if not acknowledged(tags, reports.get(nat))))
    if not missing:
        return AckStep(MOVE)
    if elapsed < timeout_s:
        return AckStep(ASK, min(poll_s, timeout_s - elapsed), missing)
    return AckStep(TIMED_OUT, left_of_settle, missing)
