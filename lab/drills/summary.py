"""The drills' summary for people (what `make demo` ends with): one line per drill, its own figures on
indented lines below, every line within the width given (100 columns by default).

The drill's line holds what every drill measures (result, detection time, RTO, failovers/reverts/false
failovers, alerts, routes, connections open/broken, longest stall); the lines below it hold what differs
from drill to drill: the egress addresses, the failed checks and error of a drill that did not pass, the
calls IAM would deny (each naming action, resource and request context), and the scenario's own figures
(its ``summary``), one clause a line. Pure: reports in, lines of text out.
"""
from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Sequence

from . import scenarios
from .report import DrillReport

WIDTH = 100
INDENT = "    "
MAX_IAM_FINDINGS = 5     # different IAM findings of a drill shown, each naming action, resource and context
# scenario, result, detect, RTO, fail/rev/false, alerts, routes, conns, stall
_ROW = "{:<18} {:<6} {:>8} {:>8} {:>14} {:>6} {:>6} {:>9} {:>8}"
HEADER = _ROW.format("scenario", "result", "detect", "RTO", "fail/rev/false", "alerts", "routes", "conns",
                     "stall")


def figure_summary(report: DrillReport) -> str:
    """The scenario's own figures in one line ("" when it has none or the drill stopped early)."""
    summary = scenarios.REGISTRY[report.scenario].summary
    try:
        return summary(report) if summary else ""
    except (KeyError, TypeError):   # figures of a drill that stopped early
        return ""


def _seconds(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}s"


def drill_line(r: DrillReport) -> str:
    """The drill's one line: the figures every drill has, in the columns of ``HEADER``."""
    conns = "-" if r.connections_open is None else f"{r.connections_open}/{r.connections_broken}"
    return _ROW.format(r.scenario, "passed" if r.passed else "FAILED", _seconds(r.detection_s), _seconds(r.rto_s),
                       f"{r.failovers}/{r.reverts}/{r.false_failovers}", len(r.alerts),
                       "ok" if r.routes_ok else "wrong", conns, _seconds(r.max_stall_s))


def detail_clauses(r: DrillReport) -> list[str]:
    """What is said below the drill's line, one clause each (not yet wrapped)."""
    clauses = [f"egress {r.egress_ip_before or '-'} -> {r.egress_ip_after or '-'}"
               + (f" (during: {', '.join(r.egress_ips_during)})" if r.egress_ips_during else "")]
    if not r.passed:
        failed = [name for name, ok in r.checks.items() if not ok]
        if failed:
            clauses.append("failed: " + ", ".join(failed))
        if r.error:
            clauses.append(f"error: {r.error}")
    clauses += iam_clauses(r.iam_findings)
    clauses += [part for part in clauses_of(figure_summary(r)) if part]
    return clauses


def iam_clauses(findings: Sequence[str]) -> list[str]:
    """The calls IAM would deny, each different one once with how often it was made, at most
    ``MAX_IAM_FINDINGS`` of them."""
    counts = Counter(findings)
    shown = [f"IAM: {finding}" + (f" ({n} calls)" if n > 1 else "") for finding, n in counts.items()]
    more = len(shown) - MAX_IAM_FINDINGS
    return shown[:MAX_IAM_FINDINGS] + ([f"IAM: {more} more (--json lists every call)"] if more > 0 else [])


def clauses_of(figures: str) -> list[str]:
    """A scenario's figures line cut at its "; " separators, except inside parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(figures):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0 and figures.startswith("; ", i):
            parts.append(figures[start:i])
            start = i + 2
    return [*parts, figures[start:]]


def summary_lines(reports: Sequence[DrillReport], width: int = WIDTH) -> list[str]:
    """The whole summary: a title, the column header, then per drill its line and its detail lines."""
    kinds = sorted({r.dataplane for r in reports})
    passed = sum(1 for r in reports if r.passed)
    lines = [f"hanat lab drills: {passed} of {len(reports)} passed ({', '.join(kinds)} data plane)", HEADER]
    for r in reports:
        lines.append(drill_line(r)[:width])
        for clause in detail_clauses(r):
            lines += textwrap.wrap(clause, width=width, initial_indent=INDENT, subsequent_indent=INDENT + "  ",
                                   break_on_hyphens=False)
    return lines
